"""CycleGAN's ResNet generator (Zhu et al., https://arxiv.org/abs/1703.10593) as TF-Slim
builds it.

``cyclegan_generator_resnet``, ``cyclegan_arg_scope`` and ``cyclegan_upsample`` with the
variable names (``input/Conv/weights``, ``encoder/Conv_1/InstanceNorm/beta``,
``residual_blocks/block_0/Conv/weights``, ``decoder/decoder1/upconv/Conv2d_transpose/...``,
``output/Conv/...``: the generator opens no scope of its own, callers wrap it), shapes,
end points and arithmetic of TF-Slim's ``research/slim/nets/cyclegan.py``, after
junyanz/CycleGAN's ``architectures.lua``. Not a classifier, so not in ``nets_factory``.

Layout: reflect-pad + 7x7 convolution; two 3x3 stride-2 convolutions (encoder); residual
blocks at a quarter of the input size; two 2x upsamplings (decoder); reflect-pad + 7x7
linear convolution back to the input's channels, then ``tanh``.
"""

from __future__ import annotations

import numpy as np
import tf_slim as slim

from slimcls.core.compat import tf


def cyclegan_arg_scope(
    instance_norm_center=True,
    instance_norm_scale=True,
    instance_norm_epsilon=0.001,
    weights_init_stddev=0.02,
    weight_decay=0.0,
) -> dict:
    """The convolutions' defaults: instance norm and normal(0, ``weights_init_stddev``)
    kernels, L2-regularised only when ``weight_decay > 0``.

    Args:
      instance_norm_center: instance norm adds a learned offset (``beta``).
      instance_norm_scale: instance norm multiplies by a learned scale (``gamma``).
      instance_norm_epsilon: added to the variance before dividing by it.
      weights_init_stddev: standard deviation of the kernels' initial values.
      weight_decay: L2 factor on the kernels; 0 adds no regulariser at all.

    Returns:
      An arg-scope dict for ``slim.conv2d``.
    """
    regularizer = slim.l2_regularizer(weight_decay) if weight_decay and weight_decay > 0 else None
    with slim.arg_scope(
        [slim.conv2d],
        normalizer_fn=slim.instance_norm,
        normalizer_params={
            "center": instance_norm_center,
            "scale": instance_norm_scale,
            "epsilon": instance_norm_epsilon,
        },
        weights_initializer=tf.compat.v1.random_normal_initializer(0, weights_init_stddev),
        weights_regularizer=regularizer,
    ) as scope:
        return scope


_PAD_ONE = np.array([[0, 0], [1, 1], [1, 1], [0, 0]])
_PAD_THREE = np.array([[0, 0], [3, 3], [3, 3], [0, 0]])


def cyclegan_upsample(
    net, num_outputs, stride, method="conv2d_transpose", pad_mode="REFLECT", align_corners=False
):
    """Scales ``net`` up by ``stride`` (per axis) and maps it to ``num_outputs`` channels,
    inside a variable scope ``upconv``.

    Args:
      net: ``[batch, height, width, channels]``.
      num_outputs: output channels.
      stride: ``[sy, sx]`` integer factors (Python ints or a 2-element tensor).
      method: 'conv2d_transpose' (a 3x3 VALID transposed convolution, its first row and
        column cropped), 'nn_upsample_conv' (nearest-neighbour resize) or
        'bilinear_upsample_conv' (bilinear resize), the resizes followed by ``pad_mode``
        padding of 1 and a 3x3 VALID convolution.
      pad_mode: ``tf.pad`` mode of the resize methods: 'CONSTANT', 'REFLECT' or 'SYMMETRIC'.
      align_corners: of the bilinear resize (corner pixels of input and output aligned).

    Returns:
      The upsampled tensor.

    Raises:
      ValueError: for an unknown ``method``.
    """
    with tf.compat.v1.variable_scope("upconv"):
        dynamic_shape = tf.shape(net)
        new_size = [stride[0] * dynamic_shape[1], stride[1] * dynamic_shape[2]]
        if method == "conv2d_transpose":
            net = slim.conv2d_transpose(
                net, num_outputs, kernel_size=[3, 3], stride=stride, padding="VALID"
            )
            return net[:, 1:, 1:, :]
        if method == "nn_upsample_conv":
            net = tf.compat.v1.image.resize(
                net, new_size, method=tf.compat.v1.image.ResizeMethod.NEAREST_NEIGHBOR
            )
        elif method == "bilinear_upsample_conv":
            net = tf.compat.v1.image.resize_bilinear(net, new_size, align_corners=align_corners)
        else:
            raise ValueError(
                f"Unknown method: [{method}]; expected 'conv2d_transpose', "
                "'nn_upsample_conv' or 'bilinear_upsample_conv'"
            )
        net = tf.pad(net, _PAD_ONE, mode=pad_mode)
        return slim.conv2d(net, num_outputs, kernel_size=[3, 3], padding="VALID")


def _reflect_pad_for(kernel_size) -> np.ndarray:
    """Paddings that keep the spatial size through a VALID ``kernel_size`` convolution
    (the extra row/column of an even kernel goes at the bottom/right)."""
    rows, cols = kernel_size
    return np.array(
        [[0, 0], [(rows - 1) // 2, rows // 2], [(cols - 1) // 2, cols // 2], [0, 0]],
        dtype=np.int32,
    )


def cyclegan_generator_resnet(
    images,
    arg_scope_fn=cyclegan_arg_scope,
    num_resnet_blocks=6,
    num_filters=64,
    upsample_fn=cyclegan_upsample,
    kernel_size=3,
    tanh_linear_slope=0.0,
    is_training=False,
):
    """CycleGAN's ResNet generator: an image of the input's shape.

    Height and width must be multiples of 4 (two stride-2 halvings then two doublings);
    when unknown at graph-building time nothing checks them.

    Args:
      images: ``[batch, height, width, channels]``.
      arg_scope_fn: zero-argument function returning the arg scope every layer is built in.
      num_resnet_blocks: residual blocks in the middle.
      num_filters: channels of the first convolution (2x and 4x in the encoder).
      upsample_fn: ``upsample_fn(net, num_outputs=, stride=)`` of the decoder.
      kernel_size: ``k`` or ``[kh, kw]`` of the encoder's and residual blocks' convolutions.
      tanh_linear_slope: ``predictions = tanh(logits) + slope * logits``.
      is_training: unused (the generator has no batch norm or dropout); kept so all
        generators share one signature.

    Returns:
      ``(predictions, end_points)`` with end points ``encoder_0`` ... ``encoder_2``,
      ``resnet_block_<i>``, ``decoder1``, ``decoder2``, ``logits``, ``predictions``.

    Raises:
      ValueError: if the height or width is known and not a multiple of 4.
    """
    del is_training
    shape = images.shape.as_list()
    for axis, size in (("height", shape[1]), ("width", shape[2])):
        if size and size % 4:
            raise ValueError(f"The input {axis} must be a multiple of 4. Got {size}.")
    channels = shape[3]
    if not isinstance(kernel_size, (list, tuple)):
        kernel_size = [kernel_size, kernel_size]
    same_pad = _reflect_pad_for(kernel_size)

    def padded_conv(net, depth, **kwargs):
        return slim.conv2d(tf.pad(net, same_pad, mode="REFLECT"), depth, **kwargs)

    end_points = {}
    inner_convs = {"kernel_size": kernel_size, "activation_fn": tf.nn.relu}
    with slim.arg_scope(arg_scope_fn()):
        with tf.compat.v1.variable_scope("input"):
            net = tf.pad(images, _PAD_THREE, mode="REFLECT")
            net = end_points["encoder_0"] = slim.conv2d(
                net, num_filters, kernel_size=[7, 7], padding="VALID"
            )

        with (
            tf.compat.v1.variable_scope("encoder"),
            slim.arg_scope([slim.conv2d], stride=2, padding="VALID", **inner_convs),
        ):
            for i, multiplier in ((1, 2), (2, 4)):
                net = end_points[f"encoder_{i}"] = padded_conv(net, num_filters * multiplier)

        with (
            tf.compat.v1.variable_scope("residual_blocks"),
            slim.arg_scope([slim.conv2d], stride=1, padding="VALID", **inner_convs),
        ):
            for block in range(num_resnet_blocks):
                with tf.compat.v1.variable_scope(f"block_{block}"):
                    residual = padded_conv(net, num_filters * 4)
                    residual = padded_conv(residual, num_filters * 4, activation_fn=None)
                    net = end_points[f"resnet_block_{block}"] = net + residual

        with (
            tf.compat.v1.variable_scope("decoder"),
            slim.arg_scope([slim.conv2d], stride=1, **inner_convs),
        ):
            for name, depth in (("decoder1", num_filters * 2), ("decoder2", num_filters)):
                with tf.compat.v1.variable_scope(name):
                    net = end_points[name] = upsample_fn(net, num_outputs=depth, stride=[2, 2])

        with tf.compat.v1.variable_scope("output"):
            net = tf.pad(net, _PAD_THREE, mode="REFLECT")
            logits = slim.conv2d(
                net, channels, [7, 7], activation_fn=None, normalizer_fn=None, padding="VALID"
            )
            # The input's shape, static where known (so unknown sizes stay unknown).
            target_shape = tf.shape(images)
            static = tf.get_static_value(target_shape)
            logits = tf.reshape(logits, static if static is not None else target_shape)
            end_points["logits"] = logits
            end_points["predictions"] = tf.tanh(logits) + logits * tanh_linear_slope
    return end_points["predictions"], end_points


__all__ = ["cyclegan_arg_scope", "cyclegan_generator_resnet", "cyclegan_upsample"]
