"""CifarNet: TF-Slim's variant of the CIFAR-10 tutorial model, with TF-Slim's names.

The variable names (``CifarNet/conv1/weights`` ... ``CifarNet/logits/biases``), shapes,
end points and arithmetic are TF-Slim's (``research/slim/nets/cifarnet.py``), so its
checkpoints load by name and give the same outputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tf_slim as slim

from slimcls.core.compat import tf

_trunc_normal = lambda stddev: tf.compat.v1.truncated_normal_initializer(stddev=stddev)


def _band(depth: int, radius: int) -> np.ndarray:
    """``[depth, depth]`` 0/1 matrix: entry (i, j) is 1 when channels i and j are at most
    ``radius`` apart, so ``squares @ band`` sums each channel's window (symmetric)."""
    idx = np.arange(depth)
    return (np.abs(idx[:, None] - idx[None, :]) <= radius).astype(np.float32)


def local_response_normalization(
    net: tf.Tensor,
    depth_radius: int = 4,
    bias: float = 1.0,
    alpha: float = 0.001 / 9.0,
    beta: float = 0.75,
    name: str | None = None,
) -> tf.Tensor:
    """``tf.nn.local_response_normalization`` with the same forward arithmetic and a fast
    gradient; always computed in float32 (cast back to the input's dtype).

    ``out = x * exp(-beta * log(bias + alpha * sum_window(x^2)))``: the window sum is a
    matmul with a 0/1 band matrix and the power is ``exp(log(.) * -beta)``, as TensorFlow's
    CPU kernel computes it, so the forward pass matches ``tf.nn`` to float32 rounding
    (Grappler may turn ``log(1 + a)`` into the more exact ``log1p``).

    Why not ``tf.nn``: its CPU gradient kernel (``LRNGrad``) walks the window per element
    and costs ~4x its forward pass; LRN forward and backward were a quarter of CifarNet's
    float32 training step in a profile. The gradient here is the closed form
    ``g * n - 2 * alpha * beta * x * band(g * out / t)`` (``t`` the normaliser,
    ``n = t^-beta``): one more matmul and element-wise ops, ~3x faster. TensorFlow has no
    bfloat16 LRN kernel either, hence float32.
    """
    dtype = net.dtype
    x = tf.cast(net, tf.float32) if dtype != tf.float32 else net
    depth = int(x.shape[-1])
    coef = 2.0 * alpha * beta

    @tf.custom_gradient
    def lrn(x):
        band = tf.constant(_band(depth, depth_radius))
        t = tf.tensordot(tf.square(x), band, 1) * alpha + bias
        n = tf.exp(tf.math.log(t) * -beta)
        out = x * n

        def grad(g):
            return g * n - coef * x * tf.tensordot(g * out / t, band, 1)

        return out, grad

    with tf.name_scope(name or "LRN"):
        out = lrn(x)
    return tf.cast(out, dtype) if dtype != tf.float32 else out


def _lrn(net: tf.Tensor, name: str) -> tf.Tensor:
    """The CIFAR-10 tutorial's local response normalisation (depth radius 4)."""
    return local_response_normalization(
        net, depth_radius=4, bias=1.0, alpha=0.001 / 9.0, beta=0.75, name=name
    )


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
