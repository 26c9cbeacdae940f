"""LeNet: TF-Slim's variant of the MNIST model, with TF-Slim's names and end points.

Variable names (``LeNet/conv1/weights`` ... ``LeNet/fc4/biases``), shapes, end points and
arithmetic follow TF-Slim's ``research/slim/nets/lenet.py`` so its checkpoints load by
name. TF-Slim's MNIST checkpoints were trained on 1-channel 28x28 images: feed them
grayscale (``--use_grayscale``), since ``conv1``'s weights have the input's channel count.
"""

from __future__ import annotations

from collections.abc import Callable

import tf_slim as slim

from slimcls.core.compat import tf


def lenet(
    images: tf.Tensor,
    num_classes: int = 10,
    is_training: bool = False,
    dropout_keep_prob: float = 0.5,
    prediction_fn: Callable = slim.softmax,
    scope: str = "LeNet",
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Builds LeNet: 2 x (5x5 conv, 2x2 max-pool), fc 1024, dropout, logits (``fc4``).

    Args:
      images: ``[batch, height, width, channels]`` float images (28x28 by default).
      num_classes: number of classes; 0 or None returns the ``fc3`` features (before
        dropout) instead of logits.
      is_training: enables dropout.
      dropout_keep_prob: keep probability of the dropout before the logits.
      prediction_fn: turns logits into ``end_points['Predictions']``.
      scope: variable scope.

    Returns:
      ``(logits [batch, num_classes], end_points)``; end points ``conv1``, ``pool1``,
      ``conv2``, ``pool2``, ``Flatten``, ``fc3``, ``dropout3``, ``Logits``,
      ``Predictions``.
    """
    end_points: dict[str, tf.Tensor] = {}
    with tf.compat.v1.variable_scope(scope, "LeNet", [images]):
        net = end_points["conv1"] = slim.conv2d(images, 32, [5, 5], scope="conv1")
        net = end_points["pool1"] = slim.max_pool2d(net, [2, 2], 2, scope="pool1")
        net = end_points["conv2"] = slim.conv2d(net, 64, [5, 5], scope="conv2")
        net = end_points["pool2"] = slim.max_pool2d(net, [2, 2], 2, scope="pool2")
        net = end_points["Flatten"] = slim.flatten(net)
        net = end_points["fc3"] = slim.fully_connected(net, 1024, scope="fc3")
        if not num_classes:
            return net, end_points
        net = end_points["dropout3"] = slim.dropout(
            net, dropout_keep_prob, is_training=is_training, scope="dropout3"
        )
        logits = end_points["Logits"] = slim.fully_connected(
            net, num_classes, activation_fn=None, scope="fc4"
        )
    end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


lenet.default_image_size = 28


def lenet_arg_scope(weight_decay: float = 0.0) -> dict:
    """TF-Slim's LeNet defaults: ReLU, truncated-normal(0.1) weights, L2 on every layer.

    Returns:
      An arg-scope dict for ``with slim.arg_scope(lenet_arg_scope()):``.
    """
    with slim.arg_scope(
        [slim.conv2d, slim.fully_connected],
        weights_regularizer=slim.l2_regularizer(weight_decay),
        weights_initializer=tf.compat.v1.truncated_normal_initializer(stddev=0.1),
        activation_fn=tf.nn.relu,
    ) as sc:
        return sc
