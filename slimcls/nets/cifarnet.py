"""CifarNet: TF-Slim's variant of the CIFAR-10 tutorial model, with TF-Slim's names.

The variable names (``CifarNet/conv1/weights`` ... ``CifarNet/logits/biases``), shapes,
end points and arithmetic are TF-Slim's (``research/slim/nets/cifarnet.py``), so its
checkpoints load by name and give the same outputs.
"""

from __future__ import annotations

from collections.abc import Callable

import tf_slim as slim

from slimcls.core.compat import tf

_trunc_normal = lambda stddev: tf.compat.v1.truncated_normal_initializer(stddev=stddev)


def _lrn(net: tf.Tensor, name: str) -> tf.Tensor:
    """The CIFAR-10 tutorial's local response normalisation (depth radius 4).

    TensorFlow has LRN kernels for float32 (and float16 on GPU) only, none for bfloat16:
    in mixed precision it runs in float32 and casts back. It is two cheap element-wise
    passes, so the casts cost little next to the convolutions.
    """
    dtype = net.dtype
    if dtype != tf.float32:
        net = tf.cast(net, tf.float32)
    net = tf.nn.local_response_normalization(
        net, depth_radius=4, bias=1.0, alpha=0.001 / 9.0, beta=0.75, name=name
    )
    return tf.cast(net, dtype) if dtype != tf.float32 else net


def cifarnet(
    images: tf.Tensor,
    num_classes: int = 10,
    is_training: bool = False,
    dropout_keep_prob: float = 0.5,
    prediction_fn: Callable = slim.softmax,
    scope: str = "CifarNet",
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Builds CifarNet: 2 x (5x5 conv 64, 2x2 max-pool, LRN), fc 384, dropout, fc 192, logits.

    Args:
      images: ``[batch, height, width, channels]`` float images (32x32 by default; any
        channel count).
      num_classes: number of classes; 0 or None returns the ``fc4`` features instead of
        logits (TF-Slim's feature mode).
      is_training: enables dropout.
      dropout_keep_prob: keep probability of the dropout after ``fc3``.
      prediction_fn: turns logits into ``end_points['Predictions']``.
      scope: variable scope.

    Returns:
      ``(logits [batch, num_classes], end_points)``; end points ``conv1``, ``pool1``,
      ``conv2``, ``pool2``, ``Flatten``, ``fc3``, ``fc4``, ``Logits``, ``Predictions``.
    """
    end_points: dict[str, tf.Tensor] = {}
    with tf.compat.v1.variable_scope(scope, "CifarNet", [images]):
        net = end_points["conv1"] = slim.conv2d(images, 64, [5, 5], scope="conv1")
        net = end_points["pool1"] = slim.max_pool2d(net, [2, 2], 2, scope="pool1")
        net = _lrn(net, "norm1")
        net = end_points["conv2"] = slim.conv2d(net, 64, [5, 5], scope="conv2")
        net = _lrn(net, "norm2")
        net = end_points["pool2"] = slim.max_pool2d(net, [2, 2], 2, scope="pool2")
        net = end_points["Flatten"] = slim.flatten(net)
        net = end_points["fc3"] = slim.fully_connected(net, 384, scope="fc3")
        net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout3")
        net = end_points["fc4"] = slim.fully_connected(net, 192, scope="fc4")
        if not num_classes:
            return net, end_points
        logits = slim.fully_connected(
            net,
            num_classes,
            biases_initializer=tf.compat.v1.zeros_initializer(),
            weights_initializer=_trunc_normal(1 / 192.0),
            weights_regularizer=None,
            activation_fn=None,
            scope="logits",
        )
        end_points["Logits"] = logits
        end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


cifarnet.default_image_size = 32


def cifarnet_arg_scope(weight_decay: float = 0.004) -> dict:
    """TF-Slim's CifarNet defaults: ReLU, truncated-normal weights, L2 on the fc layers.

    Returns:
      An arg-scope dict for ``with slim.arg_scope(cifarnet_arg_scope()):``.
    """
    with slim.arg_scope(
        [slim.conv2d],
        weights_initializer=_trunc_normal(5e-2),
        activation_fn=tf.nn.relu,
    ):
        with slim.arg_scope(
            [slim.fully_connected],
            biases_initializer=tf.compat.v1.constant_initializer(0.1),
            weights_initializer=_trunc_normal(0.04),
            weights_regularizer=slim.l2_regularizer(weight_decay),
            activation_fn=tf.nn.relu,
        ) as sc:
            return sc
