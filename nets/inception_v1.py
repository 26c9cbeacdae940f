"""InceptionV1 / GoogLeNet (Szegedy et al. 2014, arXiv:1409.4842) as TF-Slim builds it.

Everything a checkpoint or a caller can see (variable names and shapes, end-point names,
arguments and their order, the arithmetic) follows TF-Slim's
``research/slim/nets/inception_v1.py`` at tensorflow/models 0d9ef8d39, so its published
``inception_v1.ckpt`` loads by name and its own ``inception_v1_test.py`` passes. The
``tf_slim.nets`` package ships an older copy without ``include_root_block``,
``global_pool`` and the ``num_classes=0`` feature mode.

The nine inception modules differ only in their channel counts, so they are a table
(:data:`_MODULES`) read by one builder instead of nine copies of the same block.

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
    "inception_v1",
    "inception_v1_arg_scope",
    "inception_v1_base",
]

#: research/slim's shared inception arg scope (weight decay 4e-5, batch norm after every
#: convolution, ``batch_norm_scale``, ...).
inception_v1_arg_scope = inception_utils.inception_arg_scope

#: Layers before the first inception module (``include_root_block=False`` drops them).
_ROOT_END_POINTS = (
    "Conv2d_1a_7x7",
    "MaxPool_2a_3x3",
    "Conv2d_2b_1x1",
    "Conv2d_2c_3x3",
    "MaxPool_3a_3x3",
)

#: Channels of each inception module, as in table 1 of the paper:
#: ``(#1x1, (#3x3 reduce, #3x3), (#"5x5" reduce, #"5x5"), pool proj)``. TF-Slim's
#: "5x5" branch is a 3x3 convolution (as in the published checkpoint).
_MODULES = {
    "Mixed_3b": (64, (96, 128), (16, 32), 32),
    "Mixed_3c": (128, (128, 192), (32, 96), 64),
    "Mixed_4b": (192, (96, 208), (16, 48), 64),
    "Mixed_4c": (160, (112, 224), (24, 64), 64),
    "Mixed_4d": (128, (128, 256), (24, 64), 64),
    "Mixed_4e": (112, (144, 288), (32, 64), 64),
    "Mixed_4f": (256, (160, 320), (32, 128), 128),
    "Mixed_5b": (256, (160, 320), (32, 128), 128),
    "Mixed_5c": (384, (192, 384), (48, 128), 128),
}

#: Every end point of :func:`inception_v1_base`, in build order.
_END_POINTS = (
    *_ROOT_END_POINTS,
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


def _trunc_normal(stddev: float):
    return tf.compat.v1.truncated_normal_initializer(0.0, stddev)


def _inception_module(net: tf.Tensor, name: str) -> tf.Tensor:
    """One inception module (variable scope ``name``): four branches concatenated on
    channels."""
    branch_0_depth, (reduce_1, depth_1), (reduce_2, depth_2), pool_depth = _MODULES[name]
    # The published checkpoint names this one layer (Mixed_5b's second "5x5" conv)
    # Conv2d_0a_3x3 where every other module has Conv2d_0b_3x3.
    branch_2_name = "Conv2d_0a_3x3" if name == "Mixed_5b" else "Conv2d_0b_3x3"
    with tf.compat.v1.variable_scope(name):
        with tf.compat.v1.variable_scope("Branch_0"):
            branch_0 = slim.conv2d(net, branch_0_depth, [1, 1], scope="Conv2d_0a_1x1")
        with tf.compat.v1.variable_scope("Branch_1"):
            branch_1 = slim.conv2d(net, reduce_1, [1, 1], scope="Conv2d_0a_1x1")
            branch_1 = slim.conv2d(branch_1, depth_1, [3, 3], scope="Conv2d_0b_3x3")
        with tf.compat.v1.variable_scope("Branch_2"):
            branch_2 = slim.conv2d(net, reduce_2, [1, 1], scope="Conv2d_0a_1x1")
            branch_2 = slim.conv2d(branch_2, depth_2, [3, 3], scope=branch_2_name)
        with tf.compat.v1.variable_scope("Branch_3"):
            branch_3 = slim.max_pool2d(net, [3, 3], scope="MaxPool_0a_3x3")
            branch_3 = slim.conv2d(branch_3, pool_depth, [1, 1], scope="Conv2d_0b_1x1")
        return tf.concat(axis=3, values=[branch_0, branch_1, branch_2, branch_3])


def _layer(net: tf.Tensor, name: str) -> tf.Tensor:
    """Builds the layer whose end point is ``name`` on top of ``net``."""
    if name in _MODULES:
        return _inception_module(net, name)
    if name == "Conv2d_1a_7x7":
        return slim.conv2d(net, 64, [7, 7], stride=2, scope=name)
    if name == "Conv2d_2b_1x1":
        return slim.conv2d(net, 64, [1, 1], scope=name)
    if name == "Conv2d_2c_3x3":
        return slim.conv2d(net, 192, [3, 3], scope=name)
    window = 2 if name == "MaxPool_5a_2x2" else 3  # MaxPool_{2a,3a,4a}_3x3
    return slim.max_pool2d(net, [window, window], stride=2, scope=name)


def inception_v1_base(
    inputs: tf.Tensor,
    final_endpoint: str = "Mixed_5c",
    include_root_block: bool = True,
    scope: str | tf.compat.v1.VariableScope = "InceptionV1",
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """The InceptionV1 trunk, from the input up to ``final_endpoint``.

    Every convolution is followed by what the caller's arg scope gives (batch norm and
    ReLU with :func:`inception_v1_arg_scope`); kernels start from a truncated normal
    (stddev 0.01), as TF-Slim's.

    Args:
      inputs: ``[batch, height, width, channels]``; 224x224 gives a ``7 x 7 x 1024``
        ``Mixed_5c``.
      final_endpoint: the last layer to build, one of ``Conv2d_1a_7x7``,
        ``MaxPool_2a_3x3``, ``Conv2d_2b_1x1``, ``Conv2d_2c_3x3``, ``MaxPool_3a_3x3``,
        ``Mixed_3b``, ``Mixed_3c``, ``MaxPool_4a_3x3``, ``Mixed_4b`` ... ``Mixed_4f``,
        ``MaxPool_5a_2x2``, ``Mixed_5b``, ``Mixed_5c``.
      include_root_block: build the convolutions and poolings before ``Mixed_3b``
        (``Conv2d_1a_7x7`` ... ``MaxPool_3a_3x3``); False feeds ``inputs`` straight
        into ``Mixed_3b`` (and those end points cannot be the final one).
      scope: variable scope.

    Returns:
      ``(net, end_points)``: the output of ``final_endpoint`` and a dict from each
      end-point name built to its output.

    Raises:
      ValueError: if ``final_endpoint`` is not one of the layers built.
    """
    names = _END_POINTS if include_root_block else _END_POINTS[len(_ROOT_END_POINTS) :]
    if final_endpoint not in names:
        raise ValueError(f"Unknown final endpoint {final_endpoint}; expected one of {names}")
    end_points = {}
    with tf.compat.v1.variable_scope(scope, "InceptionV1", [inputs]):
        with slim.arg_scope(
            [slim.conv2d, slim.fully_connected], weights_initializer=_trunc_normal(0.01)
        ):
            with slim.arg_scope([slim.conv2d, slim.max_pool2d], stride=1, padding="SAME"):
                net = inputs
                for name in names:
                    net = _layer(net, name)
                    end_points[name] = net
                    if name == final_endpoint:
                        break
    return net, end_points


def inception_v1(
    inputs: tf.Tensor,
    num_classes: int | None = 1000,
    is_training: bool = True,
    dropout_keep_prob: float = 0.8,
    prediction_fn: Callable = slim.softmax,
    spatial_squeeze: bool = True,
    reuse: bool | None = None,
    scope: str = "InceptionV1",
    global_pool: bool = False,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """InceptionV1 for classification: the trunk, an average pool and a 1x1 classifier.

    Args:
      inputs: ``[batch, height, width, channels]`` images in [-1, 1]; 224x224 by
        default, at least 193x193 unless ``global_pool`` (the 7x7 pool needs a 7x7
        ``Mixed_5c``).
      num_classes: number of classes (1001 for TF-Slim's ImageNet checkpoint); 0 or
        None builds no classifier and returns the pooled ``[batch, 1, 1, 1024]``
        features (before dropout).
      is_training: batch-norm mode and dropout.
      dropout_keep_prob: keep probability of the dropout before the classifier.
      prediction_fn: turns the logits into ``end_points['Predictions']``.
      spatial_squeeze: return ``[batch, num_classes]`` instead of
        ``[batch, 1, 1, num_classes]`` (needs a 1x1 pooled map: 224x224 input or
        ``global_pool``).
      reuse: reuse the variables of an earlier call in ``scope``.
      scope: variable scope.
      global_pool: average over the whole ``Mixed_5c`` map instead of a fixed 7x7
        window, so that any input size gives one prediction.

    Returns:
      ``(logits, end_points)``, or ``(features, end_points)`` when ``num_classes`` is
      0/None. End points: the trunk's, ``AvgPool_0a_7x7`` (or ``global_pool``),
      ``Logits`` and ``Predictions``.
    """
    with tf.compat.v1.variable_scope(scope, "InceptionV1", [inputs], reuse=reuse) as net_scope:
        with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
            net, end_points = inception_v1_base(inputs, scope=net_scope)
            with tf.compat.v1.variable_scope("Logits"):
                if global_pool:
                    net = tf.reduce_mean(net, axis=[1, 2], keepdims=True, name="global_pool")
                    end_points["global_pool"] = net
                else:
                    net = slim.avg_pool2d(net, [7, 7], stride=1, scope="AvgPool_0a_7x7")
                    end_points["AvgPool_0a_7x7"] = net
                if not num_classes:
                    return net, end_points
                net = slim.dropout(net, dropout_keep_prob, scope="Dropout_0b")
                logits = slim.conv2d(
                    net,
                    num_classes,
                    [1, 1],
                    activation_fn=None,
                    normalizer_fn=None,
                    scope="Conv2d_0c_1x1",
                )
                if spatial_squeeze:
                    logits = tf.squeeze(logits, [1, 2], name="SpatialSqueeze")
                end_points["Logits"] = logits
                end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


inception_v1.default_image_size = 224
