"""pix2pix's U-Net generator and PatchGAN discriminator (Isola et al., "Image-to-Image
Translation with Conditional Adversarial Networks", https://arxiv.org/abs/1611.07004) as
TF-Slim builds them.

``pix2pix_generator``, ``pix2pix_discriminator``, ``pix2pix_arg_scope``, ``upsample``,
``Block`` and ``_default_generator_blocks`` (TF-Slim's tests use it) with the variable
names (``encoder/Conv/weights``, ``decoder/Conv_3/InstanceNorm/gamma``,
``output/Conv/...``; the discriminator's ``conv0`` ... ``conv<n>``: neither net opens a
scope of its own, callers wrap them), shapes, end points and arithmetic of TF-Slim's
``research/slim/nets/pix2pix.py``. Not classifiers, so not in ``nets_factory``.
"""

from __future__ import annotations

import collections
import numbers

import tf_slim as slim

from slimcls.core.compat import tf


def pix2pix_arg_scope() -> dict:
    """Defaults of both nets' (transposed) convolutions: instance norm (epsilon 1e-5, with
    offset and scale) and normal(0, 0.02) kernels.

    Returns:
      An arg-scope dict for ``with slim.arg_scope(pix2pix_arg_scope()):``.
    """
    with slim.arg_scope(
        [slim.conv2d, slim.conv2d_transpose],
        normalizer_fn=slim.instance_norm,
        normalizer_params={"center": True, "scale": True, "epsilon": 0.00001},
        weights_initializer=tf.compat.v1.random_normal_initializer(0, 0.02),
    ) as scope:
        return scope


def upsample(net, num_outputs, kernel_size, method="nn_upsample_conv"):
    """Scales ``net`` up by ``kernel_size`` (``[sy, sx]`` integer factors) to
    ``num_outputs`` channels, with no activation.

    Args:
      net: ``[batch, height, width, channels]``.
      num_outputs: output channels.
      kernel_size: ``[sy, sx]`` scale factors (the name is TF-Slim's).
      method: 'nn_upsample_conv' (nearest-neighbour resize, then a 4x4 SAME convolution)
        or 'conv2d_transpose' (a 4x4 transposed convolution with stride ``kernel_size``).

    Returns:
      The upsampled tensor.

    Raises:
      ValueError: for an unknown ``method``.
    """
    if method == "nn_upsample_conv":
        dynamic_shape = tf.shape(net)
        net = tf.compat.v1.image.resize(
            net,
            [kernel_size[0] * dynamic_shape[1], kernel_size[1] * dynamic_shape[2]],
            method=tf.compat.v1.image.ResizeMethod.NEAREST_NEIGHBOR,
        )
        return slim.conv2d(net, num_outputs, [4, 4], activation_fn=None)
    if method == "conv2d_transpose":
        return slim.conv2d_transpose(
            net, num_outputs, [4, 4], stride=kernel_size, activation_fn=None
        )
    raise ValueError(
        f"Unknown method: [{method}]; expected 'nn_upsample_conv' or 'conv2d_transpose'"
    )


class Block(collections.namedtuple("Block", ["num_filters", "decoder_keep_prob"])):
    """One level of the U-Net: an encoder convolution with ``num_filters`` channels, and
    the decoder upsampling that mirrors it (its input concatenated with that encoder
    output, except at the bottom), followed by dropout when ``decoder_keep_prob > 0``.
    """


def _default_generator_blocks() -> list[Block]:
    """The paper's 256x256 generator down to 2x2: 64-128-256-512-512-512-512 filters;
    dropout (keep 0.5) in the decoder layers of the three shallowest levels."""
    return [Block(64, 0.5), Block(128, 0.5), Block(256, 0.5)] + [Block(512, 0)] * 4


def pix2pix_generator(
    net, num_outputs, blocks=None, upsample_method="nn_upsample_conv", is_training=False
):
    """pix2pix's U-Net generator: ``[batch, height, width, num_outputs]`` logits.

    Encoder: one 4x4 stride-2 convolution per block (leaky ReLU; instance norm, from the
    arg scope, except on the first; the last is linear). Decoder, deepest level first:
    ReLU, then :func:`upsample` to the block's filters (its input, except at the bottom,
    concatenated with the encoder output of that level), then dropout, which stays on
    at inference as in the paper. Output: a 4x4 linear convolution.

    Args:
      net: ``[batch, height, width, channels]`` images; height and width divisible by
        ``2**len(blocks)``.
      num_outputs: channels of the output.
      blocks: list of :class:`Block`; None uses :func:`_default_generator_blocks`.
      upsample_method: :func:`upsample`'s ``method``.
      is_training: unused (the decoder's dropout is always on, as in TF-Slim).

    Returns:
      ``(logits, end_points)`` with end points ``encoder<i>``, ``decoder<i>``, ``logits``
      and ``predictions`` (``tanh`` of the logits).
    """
    del is_training
    blocks = blocks or _default_generator_blocks()
    output_shape = net.get_shape().as_list()
    output_shape[3] = num_outputs
    # TF-Slim reshapes to the static shape; an unknown batch stays unknown here (-1).
    output_shape[0] = -1 if output_shape[0] is None else output_shape[0]

    end_points = {}
    skips = []
    with (
        tf.compat.v1.variable_scope("encoder"),
        slim.arg_scope([slim.conv2d], kernel_size=[4, 4], stride=2, activation_fn=tf.nn.leaky_relu),
    ):
        last = len(blocks) - 1
        for i, block in enumerate(blocks):
            if i == 0:
                kwargs = {"normalizer_fn": None}
            elif i == last:
                kwargs = {"normalizer_fn": None, "activation_fn": None}
            else:
                kwargs = {}
            net = end_points[f"encoder{i}"] = slim.conv2d(net, block.num_filters, **kwargs)
            skips.append(net)

    with tf.compat.v1.variable_scope("decoder"):
        for i, block in enumerate(reversed(blocks)):
            if i > 0:  # the encoder output of the same level (skips[-1] is the bottom)
                net = tf.concat([net, skips[-1 - i]], axis=3)
            net = upsample(tf.nn.relu(net), block.num_filters, [2, 2], method=upsample_method)
            if block.decoder_keep_prob > 0:
                net = slim.dropout(net, keep_prob=block.decoder_keep_prob, is_training=True)
            end_points[f"decoder{i}"] = net

    with tf.compat.v1.variable_scope("output"):
        logits = slim.conv2d(net, num_outputs, [4, 4], activation_fn=None, normalizer_fn=None)
        logits = end_points["logits"] = tf.reshape(logits, output_shape)
        end_points["predictions"] = tf.tanh(logits)
    return logits, end_points


def pix2pix_discriminator(
    net,
    num_filters,
    padding=2,
    pad_mode="REFLECT",
    activation_fn=tf.nn.leaky_relu,
    is_training=False,
):
    """pix2pix's PatchGAN discriminator: a map of real/fake logits, one per patch.

    ``len(num_filters) + 1`` 4x4 VALID convolutions ``conv0`` ... ``conv<n>``, each after
    ``padding`` pixels of ``pad_mode`` padding: stride 2 except the last two, instance
    norm (from the arg scope) except on the first and the last, which is linear with one
    output channel.

    Args:
      net: ``[batch, height, width, channels]`` images.
      num_filters: output channels of ``conv0`` ... ``conv<n-1>``.
      padding: a non-negative int; 0 pads nothing.
      pad_mode: ``tf.pad`` mode: 'CONSTANT', 'REFLECT' or 'SYMMETRIC'.
      activation_fn: activation of all but the last convolution.
      is_training: unused.

    Returns:
      ``(logits [batch, n, n, 1], end_points)`` with end points ``conv0`` ...
      ``conv<n-1>``, ``logits`` and ``predictions`` (the sigmoid of the logits).

    Raises:
      TypeError: if ``padding`` is not an integer.
      ValueError: if ``padding`` is negative.
    """
    del is_training
    if not isinstance(padding, numbers.Integral):
        raise TypeError(f"padding must be an integer, got {padding!r}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    paddings = [[0, 0], [padding, padding], [padding, padding], [0, 0]]

    def conv(net, depth, index, **kwargs):
        name = f"conv{index}"
        if padding:
            with tf.compat.v1.variable_scope(name):
                net = tf.pad(net, tf.constant(paddings, dtype=tf.int32), mode=pad_mode)
        return slim.conv2d(net, depth, scope=name, **kwargs)

    end_points = {}
    num_layers = len(num_filters)
    with slim.arg_scope(
        [slim.conv2d], kernel_size=[4, 4], stride=2, padding="VALID", activation_fn=activation_fn
    ):
        net = end_points["conv0"] = conv(net, num_filters[0], 0, normalizer_fn=None)
        for i in range(1, num_layers - 1):
            net = end_points[f"conv{i}"] = conv(net, num_filters[i], i)
        last = num_layers - 1
        net = end_points[f"conv{last}"] = conv(net, num_filters[-1], last, stride=1)
        logits = end_points["logits"] = conv(
            net, 1, num_layers, stride=1, activation_fn=None, normalizer_fn=None
        )
        end_points["predictions"] = tf.sigmoid(logits)
    return logits, end_points


__all__ = [
    "Block",
    "pix2pix_arg_scope",
    "pix2pix_discriminator",
    "pix2pix_generator",
    "upsample",
]
