"""InceptionV2 / BN-Inception (Ioffe & Szegedy 2015, arXiv:1502.03167) as TF-Slim builds it.

Everything a checkpoint or a caller can see (variable names and shapes, end-point names,
arguments and their order, the arithmetic) follows TF-Slim's
``research/slim/nets/inception_v2.py`` at tensorflow/models 0d9ef8d39, so its published
``inception_v2.ckpt`` loads by name and its own ``inception_v2_test.py`` passes. The
``tf_slim.nets`` package ships an older copy without ``use_separable_conv``,
``data_format``, ``include_root_block``, ``global_pool`` and the ``num_classes=0``
feature mode.

The ten inception modules come in two shapes (the "normal" one with four branches and the
grid-reduction one with three), so they are two tables (:data:`_MODULES`,
:data:`_REDUCTIONS`) read by two builders. Channel counts are the paper's (table 1),
scaled by ``depth_multiplier`` and floored at ``min_depth``.

End points are a plain dict filled as the layers are built (no graph collections), so they
are the same in TF1 graphs, in ``tf.function`` and when executed eagerly (the first call
of :class:`slimcls.model.slim_model.SlimModel`).
"""

from __future__ import annotations

from collections.abc import Callable

import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.nets import inception_utils

__all__ = [
    "inception_v2",
    "inception_v2_arg_scope",
    "inception_v2_base",
]

#: research/slim's shared inception arg scope (weight decay 4e-5, batch norm after every
#: convolution, ``batch_norm_scale``, ...).
inception_v2_arg_scope = inception_utils.inception_arg_scope

#: Layers before the first inception module (``include_root_block=False`` drops them).
_ROOT_END_POINTS = (
    "Conv2d_1a_7x7",
    "MaxPool_2a_3x3",
    "Conv2d_2b_1x1",
    "Conv2d_2c_3x3",
    "MaxPool_3a_3x3",
)

#: Four-branch modules at stride 1: ``(#1x1, (#3x3 reduce, #3x3), (#double 3x3 reduce,
#: #double 3x3), pooling of Branch_3, pool proj)``.
_MODULES = {
    "Mixed_3b": (64, (64, 64), (64, 96), "avg", 32),
    "Mixed_3c": (64, (64, 96), (64, 96), "avg", 64),
    "Mixed_4b": (224, (64, 96), (96, 128), "avg", 128),
    "Mixed_4c": (192, (96, 128), (96, 128), "avg", 128),
    "Mixed_4d": (160, (128, 160), (128, 160), "avg", 96),
    "Mixed_4e": (96, (128, 192), (160, 192), "avg", 96),
    "Mixed_5b": (352, (192, 320), (160, 224), "avg", 128),
    "Mixed_5c": (352, (192, 320), (192, 224), "max", 128),
}

#: Three-branch modules that halve the grid: ``((#3x3 reduce, #3x3 stride 2),
#: (#double 3x3 reduce, #double 3x3))``, plus a stride-2 max pool.
_REDUCTIONS = {
    "Mixed_4a": ((128, 160), (64, 96)),
    "Mixed_5a": ((128, 192), (192, 256)),
}

#: Every end point of :func:`inception_v2_base`, in build order.
_END_POINTS = (
    *_ROOT_END_POINTS,
    "Mixed_3b",
    "Mixed_3c",
    "Mixed_4a",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_5a",
    "Mixed_5b",
    "Mixed_5c",
)


def _trunc_normal(stddev: float):
    return tf.compat.v1.truncated_normal_initializer(0.0, stddev)


def _reduce(net: tf.Tensor, depth: int) -> tf.Tensor:
    """The 1x1 "reduce" convolution that opens a branch (TF-Slim starts these kernels
    from a truncated normal with stddev 0.09)."""
    return slim.conv2d(
        net, depth, [1, 1], weights_initializer=_trunc_normal(0.09), scope="Conv2d_0a_1x1"
    )


def _module(net: tf.Tensor, name: str, depth: Callable[[int], int], concat_dim: int) -> tf.Tensor:
    """A four-branch module (variable scope ``name``), branches concatenated on
    channels."""
    branch_0_depth, (reduce_1, depth_1), (reduce_2, depth_2), pool, pool_depth = _MODULES[name]
    with tf.compat.v1.variable_scope(name):
        with tf.compat.v1.variable_scope("Branch_0"):
            branch_0 = slim.conv2d(net, depth(branch_0_depth), [1, 1], scope="Conv2d_0a_1x1")
        with tf.compat.v1.variable_scope("Branch_1"):
            branch_1 = _reduce(net, depth(reduce_1))
            branch_1 = slim.conv2d(branch_1, depth(depth_1), [3, 3], scope="Conv2d_0b_3x3")
        with tf.compat.v1.variable_scope("Branch_2"):
            branch_2 = _reduce(net, depth(reduce_2))
            branch_2 = slim.conv2d(branch_2, depth(depth_2), [3, 3], scope="Conv2d_0b_3x3")
            branch_2 = slim.conv2d(branch_2, depth(depth_2), [3, 3], scope="Conv2d_0c_3x3")
        with tf.compat.v1.variable_scope("Branch_3"):
            if pool == "max":
                branch_3 = slim.max_pool2d(net, [3, 3], scope="MaxPool_0a_3x3")
            else:
                branch_3 = slim.avg_pool2d(net, [3, 3], scope="AvgPool_0a_3x3")
            branch_3 = slim.conv2d(
                branch_3,
                depth(pool_depth),
                [1, 1],
                weights_initializer=_trunc_normal(0.1),
                scope="Conv2d_0b_1x1",
            )
        return tf.concat(axis=concat_dim, values=[branch_0, branch_1, branch_2, branch_3])


def _reduction(
    net: tf.Tensor, name: str, depth: Callable[[int], int], concat_dim: int
) -> tf.Tensor:
    """A grid-reduction module (variable scope ``name``): two strided convolution
    branches and a strided max pool, concatenated on channels."""
    (reduce_0, depth_0), (reduce_1, depth_1) = _REDUCTIONS[name]
    with tf.compat.v1.variable_scope(name):
        with tf.compat.v1.variable_scope("Branch_0"):
            branch_0 = _reduce(net, depth(reduce_0))
            branch_0 = slim.conv2d(
                branch_0, depth(depth_0), [3, 3], stride=2, scope="Conv2d_1a_3x3"
            )
        with tf.compat.v1.variable_scope("Branch_1"):
            branch_1 = _reduce(net, depth(reduce_1))
            branch_1 = slim.conv2d(branch_1, depth(depth_1), [3, 3], scope="Conv2d_0b_3x3")
            branch_1 = slim.conv2d(
                branch_1, depth(depth_1), [3, 3], stride=2, scope="Conv2d_1a_3x3"
            )
        with tf.compat.v1.variable_scope("Branch_2"):
            branch_2 = slim.max_pool2d(net, [3, 3], stride=2, scope="MaxPool_1a_3x3")
        return tf.concat(axis=concat_dim, values=[branch_0, branch_1, branch_2])


def _first_conv(
    inputs: tf.Tensor, depth: Callable[[int], int], use_separable_conv: bool
) -> tf.Tensor:
    """``Conv2d_1a_7x7``: a 7x7 stride-2 convolution to ``depth(64)`` channels.

    As a separable convolution, each input channel gets ``min(depth(64) // 3, 8)``
    depthwise filters (TF-Slim's choice: no more intermediate channels than output
    channels for 3-channel input). Its arguments are given explicitly because the inception
    arg scopes do not cover ``separable_conv2d`` (it has biases and no batch norm).
    """
    if use_separable_conv:
        return slim.separable_conv2d(
            inputs,
            depth(64),
            [7, 7],
            depth_multiplier=min(int(depth(64) / 3), 8),
            stride=2,
            padding="SAME",
            weights_initializer=_trunc_normal(1.0),
            scope="Conv2d_1a_7x7",
        )
    return slim.conv2d(
        inputs,
        depth(64),
        [7, 7],
        stride=2,
        weights_initializer=_trunc_normal(1.0),
        scope="Conv2d_1a_7x7",
    )


def _layer(
    net: tf.Tensor,
    name: str,
    depth: Callable[[int], int],
    use_separable_conv: bool,
    concat_dim: int,
) -> tf.Tensor:
    """Builds the layer whose end point is ``name`` on top of ``net``."""
    if name in _MODULES:
        return _module(net, name, depth, concat_dim)
    if name in _REDUCTIONS:
        return _reduction(net, name, depth, concat_dim)
    if name == "Conv2d_1a_7x7":
        return _first_conv(net, depth, use_separable_conv)
    if name == "Conv2d_2b_1x1":
        return slim.conv2d(
            net, depth(64), [1, 1], weights_initializer=_trunc_normal(0.1), scope=name
        )
    if name == "Conv2d_2c_3x3":
        return slim.conv2d(net, depth(192), [3, 3], scope=name)
    return slim.max_pool2d(net, [3, 3], stride=2, scope=name)  # MaxPool_{2a,3a}_3x3


def inception_v2_base(
    inputs: tf.Tensor,
    final_endpoint: str = "Mixed_5c",
    min_depth: int = 16,
    depth_multiplier: float = 1.0,
    use_separable_conv: bool = True,
    data_format: str = "NHWC",
    include_root_block: bool = True,
    scope: str | tf.compat.v1.VariableScope | None = None,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """The InceptionV2 trunk, from the input up to ``final_endpoint``.

    Args:
      inputs: ``[batch, height, width, channels]`` (``[batch, channels, height, width]``
        with ``data_format='NCHW'``); 224x224 gives a ``7 x 7 x 1024`` ``Mixed_5c``, any
        side from 32 works.
      final_endpoint: the last layer to build, one of ``Conv2d_1a_7x7``,
        ``MaxPool_2a_3x3``, ``Conv2d_2b_1x1``, ``Conv2d_2c_3x3``, ``MaxPool_3a_3x3``,
        ``Mixed_3b``, ``Mixed_3c``, ``Mixed_4a`` ... ``Mixed_4e``, ``Mixed_5a``,
        ``Mixed_5b``, ``Mixed_5c``.
      min_depth: smallest channel count of any convolution when ``depth_multiplier``
        shrinks them.
      depth_multiplier: scales every convolution's channel count (> 0).
      use_separable_conv: ``Conv2d_1a_7x7`` is a depthwise-separable convolution (as in
        TF-Slim's checkpoint); False makes it an ordinary one.
      data_format: 'NHWC' or 'NCHW' (the latter only with ``use_separable_conv=False``:
        tf_slim's separable convolution is NHWC only). Only convolutions and poolings
        are told the layout; a batch norm from the caller's arg scope still normalises
        the last axis, as in TF-Slim.
      include_root_block: build the layers before ``Mixed_3b`` (``Conv2d_1a_7x7`` ...
        ``MaxPool_3a_3x3``); False feeds ``inputs`` straight into ``Mixed_3b`` (and those
        end points cannot be the final one).
      scope: variable scope (default ``InceptionV2``).

    Returns:
      ``(net, end_points)``: the output of ``final_endpoint`` and a dict from each
      end-point name built to its output.

    Raises:
      ValueError: if ``depth_multiplier <= 0``, ``data_format`` is neither 'NHWC' nor
        'NCHW', 'NCHW' is asked for with ``use_separable_conv``, or ``final_endpoint``
        is not one of the layers built.
    """
    if depth_multiplier <= 0:
        raise ValueError(f"depth_multiplier must be greater than zero, got {depth_multiplier}")
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"data_format must be either NHWC or NCHW, got {data_format!r}")
    if data_format == "NCHW" and use_separable_conv:
        raise ValueError(
            "data_format='NCHW' needs use_separable_conv=False: the separable convolution "
            "only supports NHWC"
        )
    names = _END_POINTS if include_root_block else _END_POINTS[len(_ROOT_END_POINTS) :]
    if final_endpoint not in names:
        raise ValueError(f"Unknown final endpoint {final_endpoint}; expected one of {names}")
    depth = lambda d: max(int(d * depth_multiplier), min_depth)
    concat_dim = 3 if data_format == "NHWC" else 1

    end_points = {}
    with tf.compat.v1.variable_scope(scope, "InceptionV2", [inputs]):
        with slim.arg_scope(
            [slim.conv2d, slim.max_pool2d, slim.avg_pool2d],
            stride=1,
            padding="SAME",
            data_format=data_format,
        ):
            net = inputs
            for name in names:
                net = _layer(net, name, depth, use_separable_conv, concat_dim)
                end_points[name] = net
                if name == final_endpoint:
                    break
    return net, end_points


#: TF-Slim's module-level name for the pooling-window rule.
_reduced_kernel_size_for_small_input = inception_utils.reduced_kernel_size


def inception_v2(
    inputs: tf.Tensor,
    num_classes: int | None = 1000,
    is_training: bool = True,
    dropout_keep_prob: float = 0.8,
    min_depth: int = 16,
    depth_multiplier: float = 1.0,
    prediction_fn: Callable = slim.softmax,
    spatial_squeeze: bool = True,
    reuse: bool | None = None,
    scope: str = "InceptionV2",
    global_pool: bool = False,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """InceptionV2 for classification: the trunk, an average pool and a 1x1 classifier.

    The trunk is built with its defaults (separable ``Conv2d_1a_7x7``, NHWC), as TF-Slim's
    does; use :func:`inception_v2_base` for the other variants.

    Args:
      inputs: ``[batch, height, width, channels]`` images in [-1, 1]; 224x224 by
        default. Smaller inputs work too: the final 7x7 pool shrinks to the map.
      num_classes: number of classes (1001 for TF-Slim's ImageNet checkpoint); 0 or
        None builds no classifier and returns the pooled ``[batch, 1, 1, 1024]``
        features (before dropout).
      is_training: batch-norm mode and dropout.
      dropout_keep_prob: keep probability of the dropout before the classifier.
      min_depth: smallest channel count when ``depth_multiplier`` shrinks them.
      depth_multiplier: scales every convolution's channel count (> 0).
      prediction_fn: turns the logits into ``end_points['Predictions']``.
      spatial_squeeze: return ``[batch, num_classes]`` instead of
        ``[batch, 1, 1, num_classes]`` (needs a 1x1 pooled map: inputs up to 224 or
        ``global_pool``).
      reuse: reuse the variables of an earlier call in ``scope``.
      scope: variable scope.
      global_pool: average over the whole ``Mixed_5c`` map instead of a 7x7 window, so
        that any input size gives one prediction.

    Returns:
      ``(logits, end_points)``, or ``(features, end_points)`` when ``num_classes`` is
      0/None. End points: the trunk's, ``AvgPool_1a`` (or ``global_pool``),
      ``PreLogits``, ``Logits`` and ``Predictions``.

    Raises:
      ValueError: if ``depth_multiplier <= 0``.
    """
    if depth_multiplier <= 0:
        raise ValueError(f"depth_multiplier must be greater than zero, got {depth_multiplier}")
    with tf.compat.v1.variable_scope(scope, "InceptionV2", [inputs], reuse=reuse) as net_scope:
        with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
            net, end_points = inception_v2_base(
                inputs, scope=net_scope, min_depth=min_depth, depth_multiplier=depth_multiplier
            )
            return inception_utils.logits_head(
                net,
                end_points,
                num_classes=num_classes,
                global_pool=global_pool,
                pool_kernel=[7, 7],
                global_pool_name="global_pool",
                dropout_keep_prob=dropout_keep_prob,
                spatial_squeeze=spatial_squeeze,
                prediction_fn=prediction_fn,
            )


inception_v2.default_image_size = 224
