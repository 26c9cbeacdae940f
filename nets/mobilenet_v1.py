"""MobileNetV1 (https://arxiv.org/abs/1704.04861) with TF-Slim's names and options.

Scopes (``MobilenetV1/Conv2d_0``, ``Conv2d_<i>_depthwise``, ``Conv2d_<i>_pointwise``,
``Logits/Conv2d_1c_1x1``), end points, keyword arguments and arithmetic follow TF-Slim's
``research/slim/nets/mobilenet_v1.py``, so its published checkpoints
(``mobilenet_v1_{1.0,0.75,0.5,0.25}_224``, 1001 classes) load by name.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable, Sequence

import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.nets import inception_utils

#: A full convolution layer of the body (only the first layer is one).
Conv = collections.namedtuple("Conv", ["kernel", "stride", "depth"])
#: A depthwise convolution followed by a 1x1 (pointwise) convolution.
DepthSepConv = collections.namedtuple("DepthSepConv", ["kernel", "stride", "depth"])

_K = [3, 3]
#: The body of MobileNetV1: one 3x3 convolution and 13 depthwise-separable layers.
MOBILENETV1_CONV_DEFS = [
    Conv(kernel=_K, stride=2, depth=32),
    *(
        DepthSepConv(kernel=_K, stride=stride, depth=depth)
        for stride, depth in [
            (1, 64),
            (2, 128),
            (1, 128),
            (2, 256),
            (1, 256),
            (2, 512),
            *[(1, 512)] * 5,
            (2, 1024),
            (1, 1024),
        ]
    ),
]


def _fixed_padding(inputs: tf.Tensor, kernel_size: Sequence[int], rate: int = 1) -> tf.Tensor:
    """Zero-pads so that a VALID convolution gives the output size of a SAME one.

    Unlike SAME, the padding does not depend on the input size, which keeps outputs
    aligned across input sizes (``use_explicit_padding``).
    """
    pads = []
    for k in kernel_size[:2]:
        total = k + (k - 1) * (rate - 1) - 1
        pads.append([total // 2, total - total // 2])
    return tf.pad(inputs, [[0, 0], *pads, [0, 0]])


def mobilenet_v1_base(
    inputs: tf.Tensor,
    final_endpoint: str = "Conv2d_13_pointwise",
    min_depth: int = 8,
    depth_multiplier: float = 1.0,
    conv_defs: Sequence | None = None,
    output_stride: int | None = None,
    use_explicit_padding: bool = False,
    scope: str | None = None,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """The MobileNetV1 body, from ``inputs`` up to ``final_endpoint``.

    Args:
      inputs: ``[batch, height, width, channels]``.
      final_endpoint: last layer to build, ``Conv2d_0`` or ``Conv2d_<i>_depthwise`` /
        ``Conv2d_<i>_pointwise`` for i in 1..13.
      min_depth: smallest channel count when ``depth_multiplier < 1``.
      depth_multiplier: scales every layer's channel count (> 0).
      conv_defs: list of :data:`Conv` / :data:`DepthSepConv` (default
        :data:`MOBILENETV1_CONV_DEFS`).
      output_stride: 8, 16 or 32: stop striding there and dilate later layers instead.
      use_explicit_padding: VALID convolutions on explicitly padded inputs.
      scope: variable scope (default ``MobilenetV1``).

    Returns:
      ``(net, end_points)``.

    Raises:
      ValueError: bad ``final_endpoint``, ``depth_multiplier`` or ``output_stride``.
    """
    if depth_multiplier <= 0:
        raise ValueError("depth_multiplier is not greater than zero.")
    if output_stride is not None and output_stride not in (8, 16, 32):
        raise ValueError("Only allowed output_stride values are 8, 16, 32.")
    depth = lambda d: max(int(d * depth_multiplier), min_depth)
    conv_defs = MOBILENETV1_CONV_DEFS if conv_defs is None else conv_defs
    padding = "VALID" if use_explicit_padding else "SAME"
    end_points: dict[str, tf.Tensor] = {}

    with tf.compat.v1.variable_scope(scope, "MobilenetV1", [inputs]):
        with slim.arg_scope([slim.conv2d, slim.separable_conv2d], padding=padding):
            current_stride, rate = 1, 1
            net = inputs
            for i, conv_def in enumerate(conv_defs):
                # Past output_stride, layers keep stride 1 and dilate instead.
                if output_stride is not None and current_stride == output_stride:
                    layer_stride, layer_rate = 1, rate
                    rate *= conv_def.stride
                else:
                    layer_stride, layer_rate = conv_def.stride, 1
                    current_stride *= conv_def.stride

                if isinstance(conv_def, Conv):
                    name = f"Conv2d_{i}"
                    if use_explicit_padding:
                        net = _fixed_padding(net, conv_def.kernel)
                    net = slim.conv2d(
                        net,
                        depth(conv_def.depth),
                        conv_def.kernel,
                        stride=conv_def.stride,
                        scope=name,
                    )
                    end_points[name] = net
                    if name == final_endpoint:
                        return net, end_points
                elif isinstance(conv_def, DepthSepConv):
                    name = f"Conv2d_{i}_depthwise"
                    if use_explicit_padding:
                        net = _fixed_padding(net, conv_def.kernel, layer_rate)
                    # num_outputs=None: only the depthwise half of separable_conv2d.
                    net = slim.separable_conv2d(
                        net,
                        None,
                        conv_def.kernel,
                        depth_multiplier=1,
                        stride=layer_stride,
                        rate=layer_rate,
                        scope=name,
                    )
                    end_points[name] = net
                    if name == final_endpoint:
                        return net, end_points
                    name = f"Conv2d_{i}_pointwise"
                    net = slim.conv2d(net, depth(conv_def.depth), [1, 1], stride=1, scope=name)
                    end_points[name] = net
                    if name == final_endpoint:
                        return net, end_points
                else:
                    raise ValueError(f"Unknown convolution type {type(conv_def)} for layer {i}")
    raise ValueError(f"Unknown final endpoint {final_endpoint}")


#: TF-Slim's module-level name for the pooling-window rule.
_reduced_kernel_size_for_small_input = inception_utils.reduced_kernel_size


def mobilenet_v1(
    inputs: tf.Tensor,
    num_classes: int = 1000,
    dropout_keep_prob: float = 0.999,
    is_training: bool = True,
    min_depth: int = 8,
    depth_multiplier: float = 1.0,
    conv_defs: Sequence | None = None,
    prediction_fn: Callable = slim.softmax,
    spatial_squeeze: bool = True,
    reuse: bool | None = None,
    scope: str = "MobilenetV1",
    global_pool: bool = False,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """MobileNetV1 for classification.

    Args:
      inputs: ``[batch, height, width, channels]`` images in [-1, 1].
      num_classes: number of classes (1001 for TF-Slim's checkpoints); 0 or None returns
        the pooled features (before dropout).
      dropout_keep_prob: keep probability before the logits.
      is_training: batch-norm mode and dropout.
      min_depth, depth_multiplier, conv_defs: see :func:`mobilenet_v1_base`.
      prediction_fn: turns logits into ``end_points['Predictions']`` (None: skipped).
      spatial_squeeze: ``[batch, classes]`` logits instead of ``[batch, 1, 1, classes]``.
      reuse: reuse the variables of an earlier call in ``scope``.
      scope: variable scope.
      global_pool: average the whole final map instead of a 7x7 window.

    Returns:
      ``(logits, end_points)``.

    Raises:
      ValueError: ``inputs`` is not 4-D.
    """
    rank = len(inputs.get_shape().as_list())
    if rank != 4:
        raise ValueError(f"Invalid input tensor rank, expected 4, was: {rank}")
    with tf.compat.v1.variable_scope(scope, "MobilenetV1", [inputs], reuse=reuse) as var_scope:
        with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
            net, end_points = mobilenet_v1_base(
                inputs,
                scope=var_scope,
                min_depth=min_depth,
                depth_multiplier=depth_multiplier,
                conv_defs=conv_defs,
            )
            with tf.compat.v1.variable_scope("Logits"):
                if global_pool:
                    net = tf.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")
                    end_points["global_pool"] = net
                else:
                    kernel_size = _reduced_kernel_size_for_small_input(net, [7, 7])
                    net = slim.avg_pool2d(net, kernel_size, padding="VALID", scope="AvgPool_1a")
                    end_points["AvgPool_1a"] = net
                if not num_classes:
                    return net, end_points
                net = slim.dropout(net, keep_prob=dropout_keep_prob, scope="Dropout_1b")
                logits = slim.conv2d(
                    net,
                    num_classes,
                    [1, 1],
                    activation_fn=None,
                    normalizer_fn=None,
                    scope="Conv2d_1c_1x1",
                )
                if spatial_squeeze:
                    logits = tf.squeeze(logits, [1, 2], name="SpatialSqueeze")
            end_points["Logits"] = logits
            if prediction_fn:
                end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


mobilenet_v1.default_image_size = 224


def wrapped_partial(func: Callable, *args, **kwargs) -> Callable:
    """``functools.partial`` that keeps ``func``'s name, docstring and attributes."""
    partial_func = functools.partial(func, *args, **kwargs)
    functools.update_wrapper(partial_func, func)
    return partial_func


mobilenet_v1_075 = wrapped_partial(mobilenet_v1, depth_multiplier=0.75)
mobilenet_v1_050 = wrapped_partial(mobilenet_v1, depth_multiplier=0.50)
mobilenet_v1_025 = wrapped_partial(mobilenet_v1, depth_multiplier=0.25)


def mobilenet_v1_arg_scope(
    is_training: bool | None = True,
    weight_decay: float = 0.00004,
    stddev: float = 0.09,
    regularize_depthwise: bool = False,
    batch_norm_decay: float = 0.9997,
    batch_norm_epsilon: float = 0.001,
    batch_norm_updates_collections: str = tf.compat.v1.GraphKeys.UPDATE_OPS,
    normalizer_fn: Callable | None = slim.batch_norm,
) -> dict:
    """TF-Slim's MobileNetV1 defaults: ReLU6, batch norm, L2 on full convolutions only.

    Args:
      is_training: batch-norm mode (None: not set here; the net sets it anyway).
      weight_decay: L2 coefficient of the convolution weights.
      stddev: truncated-normal initializer's standard deviation.
      regularize_depthwise: also apply L2 to the depthwise weights.
      batch_norm_decay, batch_norm_epsilon: batch-norm moving-average decay and epsilon.
      batch_norm_updates_collections: where batch norm puts its update ops.
      normalizer_fn: normalisation after each convolution.

    Returns:
      An arg-scope dict.
    """
    batch_norm_params = {
        "center": True,
        "scale": True,
        "decay": batch_norm_decay,
        "epsilon": batch_norm_epsilon,
        "updates_collections": batch_norm_updates_collections,
    }
    if is_training is not None:
        batch_norm_params["is_training"] = is_training
    regularizer = slim.l2_regularizer(weight_decay)
    with slim.arg_scope(
        [slim.conv2d, slim.separable_conv2d],
        weights_initializer=tf.compat.v1.truncated_normal_initializer(stddev=stddev),
        activation_fn=tf.nn.relu6,
        normalizer_fn=normalizer_fn,
    ):
        with slim.arg_scope([slim.batch_norm], **batch_norm_params):
            with slim.arg_scope([slim.conv2d], weights_regularizer=regularizer):
                with slim.arg_scope(
                    [slim.separable_conv2d],
                    weights_regularizer=regularizer if regularize_depthwise else None,
                ) as sc:
                    return sc
