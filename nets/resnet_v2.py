"""ResNet v2 (He et al. 2016, arXiv:1603.05027) with TF-Slim's names (``nets.resnet_v2``).

v2 units are "full pre-activation": batch norm and ReLU come *before* each convolution
(``preact``), the residual sum is left unactivated, and one batch norm (``postnorm``)
follows the last block. The root ``conv1`` has neither normalisation nor activation, since
the first unit's ``preact`` provides both. ``resnet_v2_{50,101,152,200}`` differ only in
units per block.

Usage, as with TF-Slim::

    with slim.arg_scope(resnet_v2.resnet_arg_scope()):
        logits, end_points = resnet_v2.resnet_v2_50(images, 1001, is_training=False)

Variable names and shapes, end-point names, arguments (and their order) and arithmetic
follow TF-Slim's ``research/slim/nets/resnet_v2.py`` at tensorflow/models 0d9ef8d39, which
(unlike its v1) has no ``store_non_strided_activations``, ``min_base_depth`` or
``depth_multiplier``. ``tf_slim.nets`` has an older copy without ``spatial_squeeze`` and
the ``global_pool`` / ``<scope>/logits`` end points.
"""

from __future__ import annotations

import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.nets import resnet_utils

__all__ = [
    "bottleneck",
    "resnet_arg_scope",
    "resnet_v2",
    "resnet_v2_50",
    "resnet_v2_101",
    "resnet_v2_152",
    "resnet_v2_200",
    "resnet_v2_block",
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
) -> tf.Tensor:
    """The v2 bottleneck unit: ``preact`` (batch norm + ReLU), then 1x1 -> 3x3 (strided)
    -> 1x1 convolutions, plus a shortcut; the sum is returned unactivated.

    The shortcut is the raw (subsampled) input when it already has ``depth`` channels,
    else a strided 1x1 projection of the pre-activated input (no normalisation, no
    activation). The last 1x1 convolution is plain too: the next unit's ``preact`` (or
    the net's ``postnorm``) normalises the sum.

    Args:
      inputs: ``[batch, height, width, channels]``.
      depth: output channels.
      depth_bottleneck: channels of the two inner convolutions.
      stride: downsampling of this unit (in the 3x3 convolution and the shortcut).
      rate: atrous rate of the 3x3 convolution.
      outputs_collections: collection receiving the unit's output.
      scope: variable scope (default ``bottleneck_v2``).

    Returns:
      ``[batch, height / stride, width / stride, depth]``.
    """
    with tf.compat.v1.variable_scope(scope, "bottleneck_v2", [inputs]) as unit_scope:
        depth_in = slim.utils.last_dimension(inputs.get_shape(), min_rank=4)
        preact = slim.batch_norm(inputs, activation_fn=tf.nn.relu, scope="preact")
        if depth == depth_in:
            shortcut = resnet_utils.subsample(inputs, stride, "shortcut")
        else:
            shortcut = slim.conv2d(
                preact,
                depth,
                [1, 1],
                stride=stride,
                normalizer_fn=None,
                activation_fn=None,
                scope="shortcut",
            )
        residual = slim.conv2d(preact, depth_bottleneck, [1, 1], stride=1, scope="conv1")
        residual = resnet_utils.conv2d_same(
            residual, depth_bottleneck, 3, stride, rate=rate, scope="conv2"
        )
        residual = slim.conv2d(
            residual,
            depth,
            [1, 1],
            stride=1,
            normalizer_fn=None,
            activation_fn=None,
            scope="conv3",
        )
        output = shortcut + residual
        return slim.utils.collect_named_outputs(outputs_collections, unit_scope.name, output)


def resnet_v2(
    inputs: tf.Tensor,
    blocks: list[resnet_utils.Block],
    num_classes: int | None = None,
    is_training: bool = True,
    global_pool: bool = True,
    output_stride: int | None = None,
    include_root_block: bool = True,
    spatial_squeeze: bool = True,
    reuse: bool | None = None,
    scope: str | None = None,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Builds a v2 ResNet from ``blocks`` (the ``resnet_v2_<depth>`` functions pick them).

    Args:
      inputs: ``[batch, height, width, channels]``; without the root block, the output
        of a convolution with no activation (the first unit normalises it).
      blocks: the stages, e.g. from :func:`resnet_v2_block`.
      num_classes: classes of the 1x1 ``logits`` convolution; 0 or None builds no
        classifier and returns the features after ``postnorm`` (pooled if
        ``global_pool``).
      is_training: batch-norm mode.
      global_pool: average the last feature map over space (classification); False keeps
        it (dense prediction).
      output_stride: requested input/output size ratio, a multiple of 4 when the root
        block is included (see :func:`resnet_utils.stack_blocks_dense`); None: 32.
      include_root_block: start with the 7x7/2 ``conv1`` and the 3x3/2 ``pool1``.
      spatial_squeeze: return ``[batch, num_classes]`` logits rather than
        ``[batch, 1, 1, num_classes]`` (needs a 1x1 map, e.g. ``global_pool``).
      reuse: reuse the variables of ``scope``.
      scope: variable scope (default ``resnet_v2``).

    Returns:
      ``(net, end_points)`` as in :func:`slimcls.nets.resnet_v1.resnet_v1`
      (``bottleneck_v2`` units; ``postnorm`` is not an end point).

    Raises:
      ValueError: if ``output_stride`` cannot be reached.
    """
    with tf.compat.v1.variable_scope(scope, "resnet_v2", [inputs], reuse=reuse) as net_scope:
        collection = net_scope.original_name_scope + "_end_points"
        with slim.arg_scope(
            [slim.conv2d, bottleneck, resnet_utils.stack_blocks_dense],
            outputs_collections=collection,
        ):
            with slim.arg_scope([slim.batch_norm], is_training=is_training):
                net = inputs
                if include_root_block:
                    if output_stride is not None:
                        if output_stride % 4 != 0:
                            raise ValueError("The output_stride needs to be a multiple of 4.")
                        output_stride //= 4
                    # Pre-activation: the first unit's preact normalises conv1's output.
                    with slim.arg_scope([slim.conv2d], activation_fn=None, normalizer_fn=None):
                        net = resnet_utils.conv2d_same(net, 64, 7, stride=2, scope="conv1")
                    net = slim.max_pool2d(net, [3, 3], stride=2, scope="pool1")
                net = resnet_utils.stack_blocks_dense(net, blocks, output_stride)
                # The units' sums are unactivated: normalise and activate the last one.
                net = slim.batch_norm(net, activation_fn=tf.nn.relu, scope="postnorm")
                end_points = slim.utils.convert_collection_to_dict(collection)
                return resnet_utils.classification_head(
                    net, end_points, net_scope.name, num_classes, global_pool, spatial_squeeze
                )


resnet_v2.default_image_size = 224


def resnet_v2_block(scope: str, base_depth: int, num_units: int, stride: int) -> resnet_utils.Block:
    """A block of ``num_units`` v2 bottlenecks with ``base_depth`` inner and
    ``4 * base_depth`` output channels; only the last unit has ``stride``."""
    return resnet_utils.bottleneck_block(scope, bottleneck, base_depth, num_units, stride)


def _build(depth, inputs, num_classes, is_training, **kw):
    blocks = resnet_utils.published_blocks(depth, resnet_v2_block)
    return resnet_v2(
        inputs, blocks, num_classes, is_training=is_training, include_root_block=True, **kw
    )


def resnet_v2_50(
    inputs,
    num_classes=None,
    is_training=True,
    global_pool=True,
    output_stride=None,
    spatial_squeeze=True,
    reuse=None,
    scope="resnet_v2_50",
):
    """ResNet-50 v2 (blocks of 3, 4, 6, 3 units). Arguments as in :func:`resnet_v2`."""
    return _build(
        50,
        inputs,
        num_classes,
        is_training,
        global_pool=global_pool,
        output_stride=output_stride,
        spatial_squeeze=spatial_squeeze,
        reuse=reuse,
        scope=scope,
    )


def resnet_v2_101(
    inputs,
    num_classes=None,
    is_training=True,
    global_pool=True,
    output_stride=None,
    spatial_squeeze=True,
    reuse=None,
    scope="resnet_v2_101",
):
    """ResNet-101 v2 (blocks of 3, 4, 23, 3 units). Arguments as in :func:`resnet_v2`."""
    return _build(
        101,
        inputs,
        num_classes,
        is_training,
        global_pool=global_pool,
        output_stride=output_stride,
        spatial_squeeze=spatial_squeeze,
        reuse=reuse,
        scope=scope,
    )


def resnet_v2_152(
    inputs,
    num_classes=None,
    is_training=True,
    global_pool=True,
    output_stride=None,
    spatial_squeeze=True,
    reuse=None,
    scope="resnet_v2_152",
):
    """ResNet-152 v2 (blocks of 3, 8, 36, 3 units). Arguments as in :func:`resnet_v2`."""
    return _build(
        152,
        inputs,
        num_classes,
        is_training,
        global_pool=global_pool,
        output_stride=output_stride,
        spatial_squeeze=spatial_squeeze,
        reuse=reuse,
        scope=scope,
    )


def resnet_v2_200(
    inputs,
    num_classes=None,
    is_training=True,
    global_pool=True,
    output_stride=None,
    spatial_squeeze=True,
    reuse=None,
    scope="resnet_v2_200",
):
    """ResNet-200 v2 (blocks of 3, 24, 36, 3 units). Arguments as in :func:`resnet_v2`."""
    return _build(
        200,
        inputs,
        num_classes,
        is_training,
        global_pool=global_pool,
        output_stride=output_stride,
        spatial_squeeze=spatial_squeeze,
        reuse=reuse,
        scope=scope,
    )


for _net in (resnet_v2_50, resnet_v2_101, resnet_v2_152, resnet_v2_200):
    _net.default_image_size = resnet_v2.default_image_size
del _net
