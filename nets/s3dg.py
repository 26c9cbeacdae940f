"""S3D-G, the gated separable 3-D Inception net (Xie, Sun, Huang, Tu and Murphy,
"Rethinking Spatiotemporal Feature Learning", https://arxiv.org/abs/1712.04851).

A video net: the input is a clip ``[batch, time, height, width, 3]`` (224x224 frames;
Kinetics clips of 64 frames in the paper), not an image, so slimcls's image commands refuse
it; it is here for TF-Slim's Python API (``nets_factory.get_network_fn('s3dg', ...)``).

:func:`s3dg_base` is also the trunk of I3D (:mod:`slimcls.nets.i3d`): InceptionV1's layers
and scopes in 3-D, where ``temporal_conv_startat`` chooses the first layer with a temporal
extent (3) and ``gating_startat`` the first self-gated one. Same scopes, end points,
arithmetic and defaults as ``research/slim/nets/s3dg.py``, written for slimcls.
"""

from __future__ import annotations

from collections.abc import Callable

import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.nets import i3d_utils

_v1 = tf.compat.v1

conv3d_spatiotemporal = i3d_utils.conv3d_spatiotemporal
inception_block_v1_3d = i3d_utils.inception_block_v1_3d
arg_scope = slim.arg_scope

_DATA_FORMATS = ("NDHWC", "NCDHW")

#: Channels of each Inception block: Branch_0 1x1; Branch_1 1x1 then 3x3; Branch_2 1x1
#: then 3x3; Branch_3 (after the max pool) 1x1 (InceptionV1's table).
_BLOCKS = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
#: Max pools between the stages: (kernel, stride) as [time, height, width].
_POOLS = {
    "MaxPool_2a_3x3": ([1, 3, 3], [1, 2, 2]),
    "MaxPool_3a_3x3": ([1, 3, 3], [1, 2, 2]),
    "MaxPool_4a_3x3": ([3, 3, 3], [2, 2, 2]),
    "MaxPool_5a_2x2": ([2, 2, 2], [2, 2, 2]),
}

#: The trunk's end points, in build order (``final_endpoint`` must be one of them).
END_POINTS = (
    "Conv2d_1a_7x7",
    "MaxPool_2a_3x3",
    "Conv2d_2b_1x1",
    "Conv2d_2c_3x3",
    "MaxPool_3a_3x3",
    "Mixed_3b",
    "Mixed_3c",
    "MaxPool_4a_3x3",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_4f",
    "MaxPool_5a_2x2",
    "Mixed_5b",
    "Mixed_5c",
)


def trunc_normal(stddev: float):
    """Truncated-normal initialiser with mean 0 (the trunk's and the gates' weights)."""
    return _v1.truncated_normal_initializer(0.0, stddev)


def video_batch_norm_params(decay: float, epsilon: float, **extra) -> dict:
    """Batch norm as in TF-Slim's video nets: unfused, statistics also in ``moving_vars``."""
    return {
        "decay": decay,
        "epsilon": epsilon,
        "fused": False,
        **extra,
        "variables_collections": {
            "beta": None,
            "gamma": None,
            "moving_mean": ["moving_vars"],
            "moving_variance": ["moving_vars"],
        },
    }


def video_arg_scope(weight_decay: float, batch_norm_params: dict, separable_conv3d: bool) -> dict:
    """Every 3-D conv: L2 ``weight_decay``, ReLU, batch norm (``batch_norm_params``);
    :func:`conv3d_spatiotemporal` factorised when ``separable_conv3d``."""
    with arg_scope(
        [slim.conv3d, conv3d_spatiotemporal],
        weights_regularizer=slim.l2_regularizer(weight_decay),
        activation_fn=tf.nn.relu,
        normalizer_fn=slim.batch_norm,
        normalizer_params=batch_norm_params,
    ):
        with arg_scope([conv3d_spatiotemporal], separable=separable_conv3d) as scope:
            return scope


def s3dg_arg_scope(
    weight_decay: float = 1e-7,
    batch_norm_decay: float = 0.999,
    batch_norm_epsilon: float = 0.001,
) -> dict:
    """TF-Slim's arg scope for S3D-G: separable 3-D convs with batch norm and ReLU.

    Args:
      weight_decay: L2 coefficient on the convolution weights.
      batch_norm_decay: moving-average decay of the batch-norm statistics.
      batch_norm_epsilon: added to the variance before dividing.

    Returns:
      An arg-scope dict for ``with slim.arg_scope(...)``.
    """
    params = video_batch_norm_params(batch_norm_decay, batch_norm_epsilon)
    return video_arg_scope(weight_decay, params, separable_conv3d=True)


def _spatial_axes(data_format: str) -> tuple[int, int, int, int]:
    return tuple(data_format.index(axis) for axis in "DHWC")


def self_gating(input_tensor: tf.Tensor, scope: str, data_format: str = "NDHWC") -> tf.Tensor:
    """S3D-G's feature gating: each channel scaled by a sigmoid of the clip's mean features.

    The features are averaged over time and space, mixed by a 1x1x1 convolution without
    biases (``<scope>/self_gating/transformer_W``, truncated-normal 0.01), and the sigmoid
    of that, broadcast back over time and space, multiplies the input. Needs static time,
    height and width.

    TF-Slim pools and tiles with height and width swapped, which fails for non-square
    frames; here the true extent is used (the same result for square frames).

    Args:
      input_tensor: ``[batch, time, height, width, channels]`` (or NCDHW).
      scope: prefix of the gate's scopes (the gated layer's name).
      data_format: ``"NDHWC"`` or ``"NCDHW"``.

    Returns:
      A tensor of the input's shape.
    """
    axis_t, axis_h, axis_w, axis_c = _spatial_axes(data_format)
    shape = input_tensor.get_shape().as_list()
    extent = [shape[axis_t], shape[axis_h], shape[axis_w]]
    pooled = slim.avg_pool3d(
        input_tensor,
        extent,
        stride=1,
        data_format=data_format,
        scope=f"{scope}/self_gating/avg_pool3d",
    )
    gates = slim.conv3d(
        pooled,
        shape[axis_c],
        [1, 1, 1],
        activation_fn=None,
        normalizer_fn=None,
        biases_initializer=None,
        data_format=data_format,
        weights_initializer=trunc_normal(0.01),
        scope=f"{scope}/self_gating/transformer_W",
    )
    multiples = list(extent)
    multiples.insert(0, 1)
    multiples.insert(axis_c, 1)
    gates = tf.nn.sigmoid(tf.tile(gates, multiples))
    return tf.multiply(gates, input_tensor)


def s3dg_base(
    inputs: tf.Tensor,
    first_temporal_kernel_size: int = 3,
    temporal_conv_startat: str | None = "Conv2d_2c_3x3",
    gating_startat: str | None = "Conv2d_2c_3x3",
    final_endpoint: str = "Mixed_5c",
    min_depth: int = 16,
    depth_multiplier: float = 1.0,
    data_format: str = "NDHWC",
    scope="InceptionV1",
) -> tuple[tf.Tensor, dict]:
    """The I3D/S3D-G trunk, from the clip up to ``final_endpoint``.

    Layers before ``temporal_conv_startat`` have no temporal extent (``1 x k x k``
    kernels, i.e. 2-D convolutions frame by frame); from it on, the 3x3 convolutions are
    ``3 x 3 x 3`` (factorised when the arg scope says ``separable``). Layers from
    ``gating_startat`` on are self-gated. A name that is not a gateable layer
    (``Conv2d_2c_3x3`` or a ``Mixed_*`` block) turns the option off. Names are
    InceptionV1's, so an image InceptionV1 checkpoint maps onto the variables.

    Args:
      inputs: ``[batch, time, height, width, channels]`` (or NCDHW).
      first_temporal_kernel_size: time extent of ``Conv2d_1a_7x7``: 1, 3, 5 or 7.
      temporal_conv_startat: first layer with temporal convolutions (see above).
      gating_startat: first self-gated layer; None: no gating.
      final_endpoint: the last layer built, one of :data:`END_POINTS`.
      min_depth: fewest channels of any convolution (binding when ``depth_multiplier`` < 1).
      depth_multiplier: scales every convolution's channels; must be > 0.
      data_format: ``"NDHWC"`` or ``"NCDHW"``.
      scope: variable scope (a name or a VariableScope to re-enter).

    Returns:
      ``(net, end_points)``: the ``final_endpoint`` tensor and every end point built.

    Raises:
      ValueError: an unknown ``final_endpoint`` or ``data_format``, ``depth_multiplier``
        <= 0, or a ``first_temporal_kernel_size`` other than 1, 3, 5 or 7.
    """
    if data_format not in _DATA_FORMATS:
        raise ValueError(f"data_format {data_format!r}; expected one of {_DATA_FORMATS}")
    if depth_multiplier <= 0:
        raise ValueError("depth_multiplier is not greater than zero.")
    if first_temporal_kernel_size not in (1, 3, 5, 7):
        raise ValueError("first_temporal_kernel_size can only be 1, 3, 5 or 7.")
    if final_endpoint not in END_POINTS:
        raise ValueError(f"Unknown final endpoint {final_endpoint}")

    def depth(channels: int) -> int:
        return max(int(channels * depth_multiplier), min_depth)

    def gating_fn(net: tf.Tensor, scope: str) -> tf.Tensor:
        return self_gating(net, scope, data_format=data_format)

    end_points = {}
    temporal_size = 1  # becomes 3 at temporal_conv_startat
    gate: Callable | None = None  # becomes gating_fn at gating_startat

    def layer(name: str, net: tf.Tensor) -> tf.Tensor:
        nonlocal temporal_size, gate
        if name in _POOLS:
            kernel, stride = _POOLS[name]
            return slim.max_pool3d(net, kernel, stride=stride, scope=name)
        if name == "Conv2d_1a_7x7":  # never separable: slow and no better this early
            kernel = [first_temporal_kernel_size, 7, 7]
            return conv3d_spatiotemporal(
                net, depth(64), kernel, stride=2, separable=False, scope=name
            )
        if name == "Conv2d_2b_1x1":
            return slim.conv3d(net, depth(64), [1, 1, 1], scope=name)
        if name == temporal_conv_startat:
            temporal_size = 3
        if name == gating_startat:
            gate = gating_fn
        if name == "Conv2d_2c_3x3":
            net = conv3d_spatiotemporal(net, depth(192), [temporal_size, 3, 3], scope=name)
            return net if gate is None else self_gating(net, name, data_format=data_format)
        return inception_block_v1_3d(
            net,
            *(depth(channels) for channels in _BLOCKS[name]),
            temporal_kernel_size=temporal_size,
            self_gating_fn=gate,
            data_format=data_format,
            scope=name,
        )

    with _v1.variable_scope(scope, "InceptionV1", [inputs]):
        with arg_scope([slim.conv3d], weights_initializer=trunc_normal(0.01)):
            with arg_scope(
                [slim.conv3d, slim.max_pool3d, conv3d_spatiotemporal],
                stride=1,
                data_format=data_format,
                padding="SAME",
            ):
                net = inputs
                for name in END_POINTS:
                    net = end_points[name] = layer(name, net)
                    if name == final_endpoint:
                        return net, end_points
    raise AssertionError("unreachable: final_endpoint was checked")


def s3dg(
    inputs: tf.Tensor,
    num_classes: int = 1000,
    first_temporal_kernel_size: int = 3,
    temporal_conv_startat: str | None = "Conv2d_2c_3x3",
    gating_startat: str | None = "Conv2d_2c_3x3",
    final_endpoint: str = "Mixed_5c",
    min_depth: int = 16,
    depth_multiplier: float = 1.0,
    dropout_keep_prob: float = 0.8,
    is_training: bool = True,
    prediction_fn: Callable = slim.softmax,
    spatial_squeeze: bool = True,
    reuse=None,
    data_format: str = "NDHWC",
    scope="InceptionV1",
) -> tuple[tf.Tensor, dict]:
    """S3D-G: :func:`s3dg_base` then InceptionV1's classifier, averaged over time.

    Designed for 224x224 frames. See :func:`s3dg_base` for the trunk's arguments.

    Args:
      inputs: a clip ``[batch, time, height, width, channels]`` (or NCDHW).
      num_classes: classifier outputs (400 for Kinetics-400).
      dropout_keep_prob: kept share of activations before the classifier (training).
      is_training: batch norm and dropout in training mode.
      prediction_fn: ``Predictions`` end point from the logits.
      spatial_squeeze: logits ``[batch, classes]``; False: ``[batch, 1, 1, classes]``.
      reuse: reuse the variables of ``scope``.
      scope: variable scope.

    Returns:
      ``(logits, end_points)`` with the trunk's end points plus ``Logits`` and
      ``Predictions``.
    """
    if data_format not in _DATA_FORMATS:
        raise ValueError(f"data_format {data_format!r}; expected one of {_DATA_FORMATS}")
    with _v1.variable_scope(scope, "InceptionV1", [inputs, num_classes], reuse=reuse) as scope:
        with arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
            net, end_points = s3dg_base(
                inputs,
                first_temporal_kernel_size=first_temporal_kernel_size,
                temporal_conv_startat=temporal_conv_startat,
                gating_startat=gating_startat,
                final_endpoint=final_endpoint,
                min_depth=min_depth,
                depth_multiplier=depth_multiplier,
                data_format=data_format,
                scope=scope,
            )
            logits = video_classifier(
                net,
                num_classes,
                dropout_keep_prob,
                spatial_squeeze,
                prediction_fn,
                end_points,
                data_format=data_format,
            )
    return logits, end_points


def video_classifier(
    net: tf.Tensor,
    num_classes: int,
    dropout_keep_prob: float,
    spatial_squeeze: bool,
    prediction_fn: Callable,
    end_points: dict,
    data_format: str | None = None,
) -> tf.Tensor:
    """The classifier of I3D and S3D-G, under scope ``Logits``.

    A ``2 x 7 x 7`` average pool (capped at the map's extent, stride 1, VALID), dropout,
    a 1x1x1 convolution to ``num_classes`` with biases, then the mean over the remaining
    time steps; ``spatial_squeeze`` drops the 1x1 space. Adds the ``Logits`` and
    ``Predictions`` end points.

    Args:
      data_format: the layout of ``net``; the classifier runs channels-last (NCDHW
        features are transposed first) and tells its pool and convolution so (S3D-G).
        None: NDHWC features, the layout left to the arg scope (I3D, as in TF-Slim).

    Returns:
      The logits.
    """
    layout = {} if data_format is None else {"data_format": "NDHWC"}
    with _v1.variable_scope("Logits"):
        if data_format == "NCDHW":
            net = tf.transpose(a=net, perm=[0, 2, 3, 4, 1])
        kernel = i3d_utils.reduced_kernel_size_3d(net, [2, 7, 7])
        net = slim.avg_pool3d(net, kernel, stride=1, scope="AvgPool_0a_7x7", **layout)
        net = slim.dropout(net, dropout_keep_prob, scope="Dropout_0b")
        logits = slim.conv3d(
            net,
            num_classes,
            [1, 1, 1],
            activation_fn=None,
            normalizer_fn=None,
            scope="Conv2d_0c_1x1",
            **layout,
        )
        logits = tf.reduce_mean(input_tensor=logits, axis=1)  # over time
        if spatial_squeeze:
            logits = tf.squeeze(logits, [1, 2], name="SpatialSqueeze")
        end_points["Logits"] = logits
        end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits


s3dg.default_image_size = 224
