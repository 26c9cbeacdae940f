"""ResNet v1 (He et al. 2015, arXiv:1512.03385) with TF-Slim's names (``nets.resnet_v1``).

v1 units normalise *after* each convolution and apply the ReLU after the residual sum
(the "original" unit, Fig. 1a of arXiv:1603.05027); projection shortcuts appear only where
the depth changes. ``resnet_v1_{50,101,152,200}`` differ only in units per block.

Usage, as with TF-Slim::

    with slim.arg_scope(resnet_v1.resnet_arg_scope()):
        logits, end_points = resnet_v1.resnet_v1_50(images, 1000, is_training=False)

Dense prediction: ``global_pool=False, output_stride=16`` (and inputs of 32k + 1 pixels
keep the feature corners on the image corners).

Everything a checkpoint or a caller can see (variable names and shapes, end-point names,
arguments and their order, the arithmetic) follows TF-Slim's
``research/slim/nets/resnet_v1.py`` at tensorflow/models 0d9ef8d39. ``tf_slim.nets`` has an
older copy without ``spatial_squeeze``, ``store_non_strided_activations``,
``min_base_depth``, ``depth_multiplier`` and the ``global_pool`` / ``<scope>/logits``
end points.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.nets import resnet_utils

__all__ = [
    "bottleneck",
    "resnet_arg_scope",
    "resnet_v1",
    "resnet_v1_50",
    "resnet_v1_101",
    "resnet_v1_152",
    "resnet_v1_200",
    "resnet_v1_block",
]

resnet_arg_scope = resnet_utils.resnet_arg_scope


@slim.add_arg_scope
def bottleneck(
    inputs: tf.Tensor,
    depth: int,
    depth_bottleneck: int,
    stride: int,
    rate: int = 1,
    outputs_collections: str | None = None,
    scope: str | None = None,
    use_bounded_activations: bool = False,
) -> tf.Tensor:
    """The v1 bottleneck unit: 1x1 -> 3x3 (strided) -> 1x1 convolutions plus a shortcut.

    The shortcut is the (subsampled) input when it already has ``depth`` channels, else a
    strided 1x1 projection. The sum goes through a ReLU.

    Args:
      inputs: ``[batch, height, width, channels]``.
      depth: output channels.
      depth_bottleneck: channels of the two inner convolutions.
      stride: downsampling of this unit (in the 3x3 convolution and the shortcut).
      rate: atrous rate of the 3x3 convolution.
      outputs_collections: collection receiving the unit's output.
      scope: variable scope (default ``bottleneck_v1``).
      use_bounded_activations: ReLU6 on the projection and the sum, with the residual
        clipped to [-6, 6], which quantises better.

    Returns:
      ``[batch, height / stride, width / stride, depth]``.
    """
    with tf.compat.v1.variable_scope(scope, "bottleneck_v1", [inputs]) as unit_scope:
        depth_in = slim.utils.last_dimension(inputs.get_shape(), min_rank=4)
        if depth == depth_in:
            shortcut = resnet_utils.subsample(inputs, stride, "shortcut")
        else:
            shortcut = slim.conv2d(
                inputs,
                depth,
                [1, 1],
                stride=stride,
                activation_fn=tf.nn.relu6 if use_bounded_activations else None,
                scope="shortcut",
            )
        residual = slim.conv2d(inputs, depth_bottleneck, [1, 1], stride=1, scope="conv1")
        residual = resnet_utils.conv2d_same(
            residual, depth_bottleneck, 3, stride, rate=rate, scope="conv2"
        )
        residual = slim.conv2d(residual, depth, [1, 1], stride=1, activation_fn=None, scope="conv3")
        if use_bounded_activations:
            residual = tf.clip_by_value(residual, -6.0, 6.0)
            output = tf.nn.relu6(shortcut + residual)
        else:
            output = tf.nn.relu(shortcut + residual)
        return slim.utils.collect_named_outputs(outputs_collections, unit_scope.name, output)


def resnet_v1(
    inputs: tf.Tensor,
    blocks: list[resnet_utils.Block],
    num_classes: int | None = None,
    is_training: bool | None = True,
    global_pool: bool = True,
    output_stride: int | None = None,
    include_root_block: bool = True,
    spatial_squeeze: bool = True,
    store_non_strided_activations: bool = False,
    reuse: bool | None = None,
    scope: str | None = None,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Builds a v1 ResNet from ``blocks`` (the ``resnet_v1_<depth>`` functions pick them).

    Args:
      inputs: ``[batch, height, width, channels]``.
      blocks: the stages, e.g. from :func:`resnet_v1_block`.
      num_classes: classes of the 1x1 ``logits`` convolution; 0 or None builds no
        classifier and returns the features of the last block (pooled if
        ``global_pool``).
      is_training: batch-norm mode; None leaves it to an enclosing
        ``slim.arg_scope([slim.batch_norm], is_training=...)``.
      global_pool: average the last feature map over space (classification); False keeps
        it (dense prediction).
      output_stride: requested input/output size ratio, a multiple of 4 when the root
        block is included (see :func:`resnet_utils.stack_blocks_dense`); None: 32.
      include_root_block: start with the 7x7/2 ``conv1`` and the 3x3/2 ``pool1``.
      spatial_squeeze: return ``[batch, num_classes]`` logits rather than
        ``[batch, 1, 1, num_classes]`` (needs a 1x1 map, e.g. ``global_pool``).
      store_non_strided_activations: record block outputs before their last stride.
      reuse: reuse the variables of ``scope``.
      scope: variable scope (default ``resnet_v1``).

    Returns:
      ``(net, end_points)``: ``net`` is the logits, or the features when
      ``num_classes`` is 0/None. ``end_points`` maps the scope names of every
      convolution, unit and block (``<scope>/block1/unit_1/bottleneck_v1/conv1`` ...) and
      ``global_pool``, ``<scope>/logits``, ``<scope>/spatial_squeeze``, ``predictions``
      where built, to their outputs.

    Raises:
      ValueError: if ``output_stride`` cannot be reached.
    """
    with tf.compat.v1.variable_scope(scope, "resnet_v1", [inputs], reuse=reuse) as net_scope:
        collection = net_scope.original_name_scope + "_end_points"
        with slim.arg_scope(
            [slim.conv2d, bottleneck, resnet_utils.stack_blocks_dense],
            outputs_collections=collection,
        ):
            training_scope = (
                slim.arg_scope([slim.batch_norm], is_training=is_training)
                if is_training is not None
                else contextlib.nullcontext()
            )
            with training_scope:
                net = inputs
                if include_root_block:
                    if output_stride is not None:
                        if output_stride % 4 != 0:
                            raise ValueError("The output_stride needs to be a multiple of 4.")
                        output_stride //= 4
                    net = resnet_utils.conv2d_same(net, 64, 7, stride=2, scope="conv1")
                    net = slim.max_pool2d(net, [3, 3], stride=2, scope="pool1")
                net = resnet_utils.stack_blocks_dense(
                    net, blocks, output_stride, store_non_strided_activations
                )
                end_points = slim.utils.convert_collection_to_dict(collection)
                return resnet_utils.classification_head(
                    net, end_points, net_scope.name, num_classes, global_pool, spatial_squeeze
                )


resnet_v1.default_image_size = 224


def resnet_v1_block(scope: str, base_depth: int, num_units: int, stride: int) -> resnet_utils.Block:
    """A block of ``num_units`` v1 bottlenecks with ``base_depth`` inner and
    ``4 * base_depth`` output channels; only the last unit has ``stride``."""
    return resnet_utils.bottleneck_block(scope, bottleneck, base_depth, num_units, stride)


def _base_depth_fn(min_base_depth: int, depth_multiplier: float) -> Callable[[int], int]:
    return lambda d: max(int(d * depth_multiplier), min_base_depth)


def _build(depth, inputs, num_classes, is_training, min_base_depth, depth_multiplier, **kw):
    base_depth = _base_depth_fn(min_base_depth, depth_multiplier)
    blocks = resnet_utils.published_blocks(depth, resnet_v1_block, base_depth)
    return resnet_v1(inputs, blocks, num_classes, is_training, include_root_block=True, **kw)


def resnet_v1_50(
    inputs,
    num_classes=None,
    is_training=True,
    global_pool=True,
    output_stride=None,
    spatial_squeeze=True,
    store_non_strided_activations=False,
    min_base_depth=8,
    depth_multiplier=1,
    reuse=None,
    scope="resnet_v1_50",
):
    """ResNet-50 v1 (blocks of 3, 4, 6, 3 units). Arguments as in :func:`resnet_v1`, plus
    ``depth_multiplier`` (scales every unit's channels) and ``min_base_depth`` (the
    smallest bottleneck depth it may scale to)."""
    return _build(
        50,
        inputs,
        num_classes,
        is_training,
        min_base_depth,
        depth_multiplier,
        global_pool=global_pool,
        output_stride=output_stride,
        spatial_squeeze=spatial_squeeze,
        store_non_strided_activations=store_non_strided_activations,
        reuse=reuse,
        scope=scope,
    )


def resnet_v1_101(
    inputs,
    num_classes=None,
    is_training=True,
    global_pool=True,
    output_stride=None,
    spatial_squeeze=True,
    store_non_strided_activations=False,
    min_base_depth=8,
    depth_multiplier=1,
    reuse=None,
    scope="resnet_v1_101",
):
    """ResNet-101 v1 (blocks of 3, 4, 23, 3 units); see :func:`resnet_v1_50`."""
    return _build(
        101,
        inputs,
        num_classes,
        is_training,
        min_base_depth,
        depth_multiplier,
        global_pool=global_pool,
        output_stride=output_stride,
        spatial_squeeze=spatial_squeeze,
        store_non_strided_activations=store_non_strided_activations,
        reuse=reuse,
        scope=scope,
    )


# TF-Slim's 152 and 200 take store_non_strided_activations before spatial_squeeze.
def resnet_v1_152(
    inputs,
    num_classes=None,
    is_training=True,
    global_pool=True,
    output_stride=None,
    store_non_strided_activations=False,
    spatial_squeeze=True,
    min_base_depth=8,
    depth_multiplier=1,
    reuse=None,
    scope="resnet_v1_152",
):
    """ResNet-152 v1 (blocks of 3, 8, 36, 3 units); see :func:`resnet_v1_50`."""
    return _build(
        152,
        inputs,
        num_classes,
        is_training,
        min_base_depth,
        depth_multiplier,
        global_pool=global_pool,
        output_stride=output_stride,
        spatial_squeeze=spatial_squeeze,
        store_non_strided_activations=store_non_strided_activations,
        reuse=reuse,
        scope=scope,
    )


def resnet_v1_200(
    inputs,
    num_classes=None,
    is_training=True,
    global_pool=True,
    output_stride=None,
    store_non_strided_activations=False,
    spatial_squeeze=True,
    min_base_depth=8,
    depth_multiplier=1,
    reuse=None,
    scope="resnet_v1_200",
):
    """ResNet-200 v1 (blocks of 3, 24, 36, 3 units); see :func:`resnet_v1_50`."""
    return _build(
        200,
        inputs,
        num_classes,
        is_training,
        min_base_depth,
        depth_multiplier,
        global_pool=global_pool,
        output_stride=output_stride,
        spatial_squeeze=spatial_squeeze,
        store_non_strided_activations=store_non_strided_activations,
        reuse=reuse,
        scope=scope,
    )


for _net in (resnet_v1_50, resnet_v1_101, resnet_v1_152, resnet_v1_200):
    _net.default_image_size = resnet_v1.default_image_size
del _net
