"""Shared pieces of the ResNet family, with TF-Slim's names (``nets.resnet_utils``).

A ResNet here is a list of :class:`Block` records: each names a variable scope
(``block1`` ...), the residual unit function, and one keyword dict per unit. The v1 and v2
modules supply the unit functions; :func:`stack_blocks_dense` runs the blocks and decides
where each downsampling happens, so a net can be asked for a denser output
(``output_stride``) without changing a single variable: strides that would overshoot the
requested density become atrous (dilated) rates instead.

As in TF-Slim, a block downsamples in its *last* unit rather than its first; the result
is the same function of the weights and needs less memory.

Variable names, shapes, end-point names and arithmetic follow TF-Slim's
``research/slim/nets/resnet_utils.py`` (tensorflow/models 0d9ef8d39), so its checkpoints
load by name. ``tf_slim.nets.resnet_utils`` is an older copy without
``store_non_strided_activations`` and the extra ``resnet_arg_scope`` keywords.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence

import tf_slim as slim

from slimcls.core.compat import tf

#: Units per block of each published depth (v1 and v2); blocks 1-3 end with stride 2,
#: block 4 with 1.
UNITS_PER_BLOCK = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3), 200: (3, 24, 36, 3)}

__all__ = ["Block", "subsample", "conv2d_same", "stack_blocks_dense", "resnet_arg_scope"]


class Block(collections.namedtuple("Block", ["scope", "unit_fn", "args"])):
    """One ResNet stage: ``scope`` (variable scope name, e.g. ``"block1"``), ``unit_fn``
    (``unit_fn(net, rate=..., **unit_args) -> net``, a residual unit), and ``args``: a
    list with one keyword dict per unit (``depth``, ``depth_bottleneck``, ``stride`` for
    the bottleneck units).
    """


def subsample(inputs: tf.Tensor, factor: int, scope: str | None = None) -> tf.Tensor:
    """Keeps every ``factor``-th row and column of ``inputs`` (``[batch, h, w, c]``).

    A 1x1 max pool with stride ``factor``, i.e. plain decimation, so an identity shortcut
    lines up with a strided residual branch. ``factor == 1`` returns ``inputs`` itself.
    """
    if factor == 1:
        return inputs
    return slim.max_pool2d(inputs, [1, 1], stride=factor, scope=scope)


def conv2d_same(
    inputs: tf.Tensor,
    num_outputs: int,
    kernel_size: int,
    stride: int,
    rate: int = 1,
    scope: str | None = None,
) -> tf.Tensor:
    """A ``slim.conv2d`` whose strided output is aligned with the input's top-left corner.

    TensorFlow's ``'SAME'`` padding with a stride puts the extra padding row at the bottom
    when the input size is even, which shifts the sampled positions relative to
    "convolve at stride 1, then :func:`subsample`". For ``stride > 1`` this pads the
    input explicitly (half of the dilated kernel's extent before, the rest after) and
    convolves with ``'VALID'``, so the result is exactly that subsampled stride-1 output
    for any input size. ``stride == 1`` is an ordinary ``'SAME'`` convolution.

    Args:
      inputs: ``[batch, height, width, channels]``.
      num_outputs: output channels.
      kernel_size: square kernel side.
      stride: output stride of the convolution.
      rate: atrous (dilation) rate.
      scope: variable scope of the convolution.

    Returns:
      ``[batch, ceil(height / stride), ceil(width / stride), num_outputs]``.
    """
    if stride == 1:
        return slim.conv2d(
            inputs, num_outputs, kernel_size, stride=1, rate=rate, padding="SAME", scope=scope
        )
    dilated_extent = kernel_size + (kernel_size - 1) * (rate - 1)
    before = (dilated_extent - 1) // 2
    after = dilated_extent - 1 - before
    padded = tf.pad(inputs, [[0, 0], [before, after], [before, after], [0, 0]])
    return slim.conv2d(
        padded, num_outputs, kernel_size, stride=stride, rate=rate, padding="VALID", scope=scope
    )


class _StrideTracker:
    """Where the stack stands relative to the requested ``output_stride``.

    ``stride`` is the product of the strides applied so far; once it equals the target,
    every later stride is folded into ``rate`` (the dilation of later convolutions)
    instead of being applied.
    """

    def __init__(self, output_stride: int | None) -> None:
        self.target = output_stride
        self.stride = 1
        self.rate = 1

    @property
    def reached(self) -> bool:
        return self.target is not None and self.stride == self.target

    def applied(self, stride: int) -> None:
        """Records a stride that was really applied; fails if it overshoots the target."""
        self.stride *= stride
        if self.target is not None and self.stride > self.target:
            raise ValueError("The target output_stride cannot be reached.")


@slim.add_arg_scope
def stack_blocks_dense(
    net: tf.Tensor,
    blocks: Sequence[Block],
    output_stride: int | None = None,
    store_non_strided_activations: bool = False,
    outputs_collections: str | None = None,
) -> tf.Tensor:
    """Runs ``blocks`` in order (scopes ``<block.scope>/unit_<i>``) on ``net``.

    Args:
      net: ``[batch, height, width, channels]``.
      blocks: the stages, each a :class:`Block`.
      output_stride: how much smaller (per side) the output may be than ``net``; must be
        a product of the first few unit strides. None applies every stride. Once the
        requested stride is reached, the remaining strides are replaced by atrous
        convolution (the rate multiplies by each skipped stride), so the variables are
        the same for any ``output_stride``.
      store_non_strided_activations: run each block's last unit at stride 1 and
        subsample after recording the block's end point, so the recorded block outputs
        keep the resolution from before that stride (costs more compute in those units;
        the returned ``net`` is unchanged).
      outputs_collections: collection receiving each block's output (named by its scope).

    Returns:
      The last block's output, ``output_stride`` times smaller than ``net`` when given.

    Raises:
      ValueError: if ``output_stride`` is not a product of the leading unit strides.
    """
    tracker = _StrideTracker(output_stride)
    for block in blocks:
        with tf.compat.v1.variable_scope(block.scope, "block", [net]) as block_scope:
            deferred_stride = 1
            last = len(block.args) - 1
            for index, unit_args in enumerate(block.args):
                if store_non_strided_activations and index == last:
                    deferred_stride = unit_args.get("stride", 1)
                    unit_args = dict(unit_args, stride=1)
                with tf.compat.v1.variable_scope(f"unit_{index + 1}", values=[net]):
                    unit_stride = unit_args.get("stride", 1)
                    if tracker.reached:
                        net = block.unit_fn(net, rate=tracker.rate, **dict(unit_args, stride=1))
                        tracker.rate *= unit_stride
                    else:
                        net = block.unit_fn(net, rate=1, **unit_args)
                        tracker.applied(unit_stride)
            net = slim.utils.collect_named_outputs(outputs_collections, block_scope.name, net)
            if tracker.reached:
                tracker.rate *= deferred_stride
            else:
                net = subsample(net, deferred_stride)
                tracker.applied(deferred_stride)
    if output_stride is not None and tracker.stride != output_stride:
        raise ValueError("The target output_stride cannot be reached.")
    return net


def resnet_arg_scope(
    weight_decay: float = 0.0001,
    batch_norm_decay: float = 0.997,
    batch_norm_epsilon: float = 1e-5,
    batch_norm_scale: bool = True,
    activation_fn: Callable | None = tf.nn.relu,
    use_batch_norm: bool = True,
    batch_norm_updates_collections: str | None = tf.compat.v1.GraphKeys.UPDATE_OPS,
) -> dict:
    """TF-Slim's ResNet arg scope (``with slim.arg_scope(resnet_arg_scope()): ...``).

    The batch-norm defaults (decay 0.997, epsilon 1e-5, with gamma) are those of the
    published MSRA ResNets that TF-Slim's checkpoints were converted from.

    Args:
      weight_decay: L2 regularisation of every convolution's weights (0 disables it).
      batch_norm_decay: moving-average decay of the batch-norm statistics.
      batch_norm_epsilon: added to the variance before dividing by it.
      batch_norm_scale: give batch norms a ``gamma`` variable.
      activation_fn: activation after each convolution's normalisation.
      use_batch_norm: normalise convolutions with batch norm (False: plain biases).
      batch_norm_updates_collections: where the moving-statistics updates go (None
        updates them in place).

    Returns:
      The arg-scope dict. Max pools default to ``'SAME'`` padding (as in fb.resnet.torch;
      the paper's own code used ``'VALID'`` for ``pool1``), which keeps feature maps
      aligned with the image for dense prediction.
    """
    batch_norm_params = {
        "decay": batch_norm_decay,
        "epsilon": batch_norm_epsilon,
        "scale": batch_norm_scale,
        "updates_collections": batch_norm_updates_collections,
        "fused": None,  # the fused kernel whenever batch_norm can use it
    }
    with slim.arg_scope(
        [slim.conv2d],
        weights_regularizer=slim.l2_regularizer(weight_decay),
        weights_initializer=slim.variance_scaling_initializer(),
        activation_fn=activation_fn,
        normalizer_fn=slim.batch_norm if use_batch_norm else None,
        normalizer_params=batch_norm_params,
    ):
        with slim.arg_scope([slim.batch_norm], **batch_norm_params):
            with slim.arg_scope([slim.max_pool2d], padding="SAME") as scope:
                return scope


def classification_head(
    net: tf.Tensor,
    end_points: dict,
    scope_name: str,
    num_classes: int | None,
    global_pool: bool,
    spatial_squeeze: bool,
) -> tuple[tf.Tensor, dict]:
    """The part after the last block that ResNet v1 and v2 share (slimcls's helper).

    Global average pooling (``pool5``, end point ``global_pool``), then, when
    ``num_classes`` is non-zero, a 1x1 convolution ``logits`` without activation or
    normalisation (end point ``<scope_name>/logits``), the optional squeeze to
    ``[batch, num_classes]`` (end point ``<scope_name>/spatial_squeeze``) and the
    ``predictions`` softmax. With ``num_classes`` 0 or None, ``net`` is the (pooled)
    feature map.
    """
    if global_pool:
        net = tf.reduce_mean(net, [1, 2], name="pool5", keepdims=True)
        end_points["global_pool"] = net
    if num_classes:
        net = slim.conv2d(
            net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None, scope="logits"
        )
        end_points[scope_name + "/logits"] = net
        if spatial_squeeze:
            net = tf.squeeze(net, [1, 2], name="SpatialSqueeze")
            end_points[scope_name + "/spatial_squeeze"] = net
        end_points["predictions"] = slim.softmax(net, scope="predictions")
    return net, end_points


def bottleneck_block(
    scope: str, unit_fn: Callable, base_depth: int, num_units: int, stride: int
) -> Block:
    """A block of ``num_units`` bottleneck units (``unit_fn``: v1's or v2's) with
    ``base_depth`` inner and ``4 * base_depth`` output channels; only the last unit has
    ``stride``."""
    unit = {"depth": base_depth * 4, "depth_bottleneck": base_depth, "stride": 1}
    return Block(scope, unit_fn, [unit] * (num_units - 1) + [dict(unit, stride=stride)])


def published_blocks(
    depth: int, block_fn: Callable[..., Block], base_depth: Callable[[int], int] = int
) -> list[Block]:
    """The four blocks of a published ResNet-``depth`` (:data:`UNITS_PER_BLOCK`): inner
    depths 64, 128, 256, 512 (mapped through ``base_depth``), strides 2, 2, 2, 1, built by
    ``block_fn(scope, base_depth, num_units, stride)``."""
    return [
        block_fn(f"block{i + 1}", base_depth(64 * 2**i), units, 2 if i < 3 else 1)
        for i, units in enumerate(UNITS_PER_BLOCK[depth])
    ]
