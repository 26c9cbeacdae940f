"""SmallCNN: the small CNN of the CIFAR and handwriting (HWDB) tutorials slimcls grew from.

3x3 conv 32, 2x2 max-pool, 3x3 conv 64, 2x2 max-pool, flatten, an optional fully
connected layer with dropout, logits; optional batch norm after every hidden layer.
It works on any input size and channel count (1-channel 64x64 handwriting, 3-channel
32x32 CIFAR images).
"""

from __future__ import annotations

from collections.abc import Callable

import tf_slim as slim

from slimcls.core.compat import tf


def small_cnn(
    images: tf.Tensor,
    num_classes: int = 10,
    is_training: bool = False,
    fc_units: int = 512,
    dropout_keep_prob: float = 0.5,
    use_batch_norm: bool = False,
    batch_norm_decay: float = 0.99,
    prediction_fn: Callable = slim.softmax,
    scope: str = "SmallCNN",
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Builds the small CNN.

    Args:
      images: ``[batch, height, width, channels]`` float images.
      num_classes: number of classes; 0 or None returns the pre-logits features.
      is_training: enables dropout and batch-norm statistics updates.
      fc_units: width of the hidden fully connected layer ``fc3``; 0 leaves it out
        (logits then sit directly on the flattened features).
      dropout_keep_prob: keep probability of the dropout after ``fc3``.
      use_batch_norm: adds ``slim.batch_norm`` after each conv and ``fc3`` (its
        variables are ``SmallCNN/<layer>/BatchNorm/...``; the layers then have no biases).
      batch_norm_decay: moving-average decay of the batch-norm statistics.
      prediction_fn: turns logits into ``end_points['Predictions']``.
      scope: variable scope.

    Returns:
      ``(logits [batch, num_classes], end_points)``; end points ``conv1``, ``pool1``,
      ``conv2``, ``pool2``, ``Flatten``, ``fc3`` (when ``fc_units``), ``Logits``,
      ``Predictions``.
    """
    end_points: dict[str, tf.Tensor] = {}
    norm = {}
    if use_batch_norm:
        norm = {
            "normalizer_fn": slim.batch_norm,
            "normalizer_params": {
                "is_training": is_training,
                "decay": batch_norm_decay,
                "scale": True,
            },
        }
    with tf.compat.v1.variable_scope(scope, "SmallCNN", [images]):
        with slim.arg_scope([slim.conv2d, slim.fully_connected], **norm):
            net = end_points["conv1"] = slim.conv2d(images, 32, [3, 3], scope="conv1")
            net = end_points["pool1"] = slim.max_pool2d(net, [2, 2], 2, scope="pool1")
            net = end_points["conv2"] = slim.conv2d(net, 64, [3, 3], scope="conv2")
            net = end_points["pool2"] = slim.max_pool2d(net, [2, 2], 2, scope="pool2")
            net = end_points["Flatten"] = slim.flatten(net)
            if fc_units:
                if use_batch_norm:
                    # tf-slim's fused batch norm (its path for 2-D inputs) needs
                    # ``tensorflow.python.framework.ops.Tensor``, gone in TF 2.21.
                    norm["normalizer_params"] = {**norm["normalizer_params"], "fused": False}
                net = end_points["fc3"] = slim.fully_connected(net, fc_units, scope="fc3", **norm)
                net = slim.dropout(
                    net, dropout_keep_prob, is_training=is_training, scope="dropout3"
                )
        if not num_classes:
            return net, end_points
        logits = slim.fully_connected(net, num_classes, activation_fn=None, scope="logits")
        end_points["Logits"] = logits
        end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


small_cnn.default_image_size = 32


def small_cnn_arg_scope(weight_decay: float = 0.0) -> dict:
    """ReLU layers with Glorot-uniform weights, zero biases and L2 weight decay.

    Returns:
      An arg-scope dict for ``with slim.arg_scope(small_cnn_arg_scope()):``.
    """
    with slim.arg_scope(
        [slim.conv2d, slim.fully_connected],
        activation_fn=tf.nn.relu,
        weights_initializer=tf.compat.v1.glorot_uniform_initializer(),
        weights_regularizer=slim.l2_regularizer(weight_decay) if weight_decay else None,
    ) as sc:
        return sc
