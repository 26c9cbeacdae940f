"""DCGAN's generator and discriminator (Radford et al., https://arxiv.org/abs/1511.06434)
as TF-Slim builds them.

Variable names (``Generator/deconv1/weights``, ``Discriminator/conv2/BatchNorm/beta``,
``Discriminator/Conv/weights`` for the discriminator's unnamed last layer), shapes, end
points and arithmetic follow TF-Slim's ``research/slim/nets/dcgan.py``. These are GAN
networks, not classifiers, so ``nets_factory`` does not list them (nor does TF-Slim's).

Both nets work on square images whose side is a power of two: the discriminator halves
the side with each 4x4 stride-2 convolution down to ``1 x 1``; the generator starts from a
4x4 map and doubles it up to ``final_size``.
"""

from __future__ import annotations

import tf_slim as slim

from slimcls.core.compat import tf


def _power_of_two_exponent(value: int) -> int | None:
    """``k`` when ``value == 2**k`` (exactly, with integers), else None."""
    if isinstance(value, int) and value >= 1 and value & (value - 1) == 0:
        return value.bit_length() - 1
    return None


def _batch_norm_scope(is_training: bool, fused_batch_norm: bool):
    return slim.arg_scope(
        [slim.batch_norm],
        is_training=is_training,
        zero_debias_moving_mean=True,
        fused=fused_batch_norm,
    )


def discriminator(
    inputs,
    depth=64,
    is_training=True,
    reuse=None,
    scope="Discriminator",
    fused_batch_norm=False,
):
    """DCGAN's discriminator: one real/fake logit per image.

    ``log2(side)`` 4x4 stride-2 convolutions (``conv1`` ... with ``depth``, ``2 depth``,
    ... channels, leaky ReLU, batch norm from ``conv2`` on) bring the image to ``1 x 1``;
    a linear 1x1 convolution gives the logit.

    Args:
      inputs: ``[batch, side, side, channels]`` float images, ``side`` a power of two
        known when the graph is built.
      depth: channels of the first convolution (doubled by each next one).
      is_training: batch norm uses batch statistics and updates the moving ones.
      reuse: reuse the variables of ``scope``.
      scope: variable scope.
      fused_batch_norm: use the fused batch-norm kernel.

    Returns:
      ``(logits [batch, 1], end_points)`` with end points ``conv1`` ... and ``logits``.

    Raises:
      ValueError: if ``inputs`` is not 4-D, its spatial size is unknown or not square, or
        its side is not a power of two.
    """
    shape = inputs.get_shape()
    shape.assert_has_rank(4)
    shape[1:3].assert_is_fully_defined()
    height, width = shape.as_list()[1:3]
    if height != width:
        raise ValueError(f"Input tensor does not have equal width and height: {height}x{width}")
    num_convs = _power_of_two_exponent(width)
    if num_convs is None:
        raise ValueError(f"Input tensor `width` is not a power of 2: {width}")

    end_points = {}
    with tf.compat.v1.variable_scope(scope, values=[inputs], reuse=reuse):
        with (
            _batch_norm_scope(is_training, fused_batch_norm),
            slim.arg_scope([slim.conv2d], stride=2, kernel_size=4, activation_fn=tf.nn.leaky_relu),
        ):
            net = inputs
            for layer in range(1, num_convs + 1):
                name = f"conv{layer}"
                net = slim.conv2d(
                    net,
                    depth * 2 ** (layer - 1),
                    normalizer_fn=None if layer == 1 else slim.batch_norm,
                    scope=name,
                )
                end_points[name] = net
            # Unnamed in TF-Slim, hence its variables under "Conv".
            logits = slim.conv2d(
                net,
                1,
                kernel_size=1,
                stride=1,
                padding="VALID",
                normalizer_fn=None,
                activation_fn=None,
            )
            logits = end_points["logits"] = tf.reshape(logits, [-1, 1])
    return logits, end_points


def generator(
    inputs,
    depth=64,
    final_size=32,
    num_outputs=3,
    is_training=True,
    reuse=None,
    scope="Generator",
    fused_batch_norm=False,
):
    """DCGAN's generator: a ``[batch, final_size, final_size, num_outputs]`` image from a
    noise vector.

    ``deconv1`` (a 4x4 VALID transposed convolution) turns the ``1 x 1`` noise into a 4x4
    map; each next 4x4 stride-2 transposed convolution doubles the side and halves the
    depth, the last (``deconv<n>``, ``depth`` channels) without batch norm or ReLU; a
    linear 1x1 convolution (``logits``) maps to ``num_outputs`` channels. No tanh: the
    output is the unbounded logits.

    Args:
      inputs: ``[batch, noise_dims]`` noise.
      depth: channels of the last transposed convolution (the first has
        ``depth * final_size / 8``).
      final_size: side of the output, a power of two >= 8.
      num_outputs: channels of the output.
      is_training: batch norm uses batch statistics and updates the moving ones.
      reuse: reuse the variables of ``scope``.
      scope: variable scope.
      fused_batch_norm: use the fused batch-norm kernel.

    Returns:
      ``(logits, end_points)`` with end points ``deconv1`` ... ``deconv<n>`` and
      ``logits``, ``n = log2(final_size) - 1``.

    Raises:
      ValueError: if ``inputs`` is not 2-D or ``final_size`` is not a power of two >= 8.
    """
    inputs.get_shape().assert_has_rank(2)
    exponent = _power_of_two_exponent(final_size)
    if exponent is None:
        raise ValueError(f"`final_size` ({final_size}) must be a power of 2.")
    if final_size < 8:
        raise ValueError(f"`final_size` ({final_size}) must be greater than 8 or equal to it.")
    num_deconvs = exponent - 1

    end_points = {}
    with tf.compat.v1.variable_scope(scope, values=[inputs], reuse=reuse):
        with (
            _batch_norm_scope(is_training, fused_batch_norm),
            slim.arg_scope(
                [slim.conv2d_transpose], normalizer_fn=slim.batch_norm, stride=2, kernel_size=4
            ),
        ):
            net = inputs[:, tf.newaxis, tf.newaxis, :]
            for layer in range(1, num_deconvs + 1):
                name = f"deconv{layer}"
                if layer == 1:  # 1x1 -> 4x4
                    kwargs = {"stride": 1, "padding": "VALID"}
                elif layer == num_deconvs:  # linear, to `depth` channels
                    kwargs = {"normalizer_fn": None, "activation_fn": None}
                else:
                    kwargs = {}
                channels = depth if layer == num_deconvs else depth * 2 ** (num_deconvs - layer)
                net = end_points[name] = slim.conv2d_transpose(net, channels, scope=name, **kwargs)
            logits = end_points["logits"] = slim.conv2d(
                net,
                num_outputs,
                kernel_size=1,
                stride=1,
                padding="VALID",
                normalizer_fn=None,
                activation_fn=None,
                scope="logits",
            )
            logits.get_shape().assert_has_rank(4)
            logits.get_shape().assert_is_compatible_with(
                [None, final_size, final_size, num_outputs]
            )
    return logits, end_points


__all__ = ["discriminator", "generator"]
