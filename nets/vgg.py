"""VGG (Simonyan & Zisserman, https://arxiv.org/abs/1409.1556) as TF-Slim builds it.

``vgg_a`` (configuration A, 11 layers), ``vgg_16`` (D) and ``vgg_19`` (E), with
``vgg_d``/``vgg_e`` as aliases, and ``vgg_arg_scope``. Variable names
(``vgg_16/conv1/conv1_1/weights`` ... ``vgg_16/fc8/biases``), shapes, end points, op
names and arithmetic are those of TF-Slim's ``research/slim/nets/vgg.py``, so its
published checkpoints load by name and its own ``vgg_test.py`` passes. Also as there:
the fully connected layers are convolutions (``fc6`` a 7x7 VALID one, so 224x224 input
gives 1x1 logits), ``global_pool``, ``fc_conv_padding``, ``reuse`` and the
``num_classes=0``/None feature mode (``fc7``'s output, pooled when ``global_pool``).

The three nets differ only in how many 3x3 convolutions each of the five blocks has.
"""

from __future__ import annotations

import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.nets._conv_classifier import EndPoints, conv_classifier

#: Output depth of the convolutions of blocks conv1 ... conv5 (each block ends in a 2x2
#: stride-2 max pool).
_BLOCK_DEPTHS = (64, 128, 256, 512, 512)
#: Convolutions per block for each configuration.
_CONVS_PER_BLOCK = {
    "vgg_a": (1, 1, 2, 2, 2),
    "vgg_16": (2, 2, 3, 3, 3),
    "vgg_19": (2, 2, 4, 4, 4),
}


def vgg_arg_scope(weight_decay: float = 0.0005) -> dict:
    """TF-Slim's VGG defaults: ReLU, L2 ``weight_decay`` on the kernels, zero biases and
    SAME padding for the convolutions.

    Returns:
      An arg-scope dict for ``with slim.arg_scope(vgg_arg_scope()):``.
    """
    with slim.arg_scope(
        [slim.conv2d, slim.fully_connected],
        activation_fn=tf.nn.relu,
        weights_regularizer=slim.l2_regularizer(weight_decay),
        biases_initializer=tf.compat.v1.zeros_initializer(),
    ):
        with slim.arg_scope([slim.conv2d], padding="SAME") as scope:
            return scope


def _vgg(
    config: str,
    inputs,
    num_classes,
    is_training,
    dropout_keep_prob,
    spatial_squeeze,
    reuse,
    scope,
    fc_conv_padding,
    global_pool,
):
    with tf.compat.v1.variable_scope(scope, config, [inputs], reuse=reuse) as var_scope:
        end_points = EndPoints(var_scope)
        with slim.arg_scope(
            [slim.conv2d, slim.fully_connected, slim.max_pool2d],
            outputs_collections=end_points.collection,
        ):
            net = inputs
            blocks = zip(_CONVS_PER_BLOCK[config], _BLOCK_DEPTHS)
            for block, (convs, depth) in enumerate(blocks, start=1):
                # slim.repeat's layout (scope convN/convN_i), unrolled to record each output.
                with tf.compat.v1.variable_scope(f"conv{block}", "Repeat", [net]):
                    for i in range(1, convs + 1):
                        name = f"conv{block}_{i}"
                        net = slim.conv2d(net, depth, [3, 3], scope=name)
                        end_points.add(f"conv{block}/{name}", net)
                net = slim.max_pool2d(net, [2, 2], scope=f"pool{block}")
                end_points.add(f"pool{block}", net)
            return conv_classifier(
                net,
                var_scope,
                end_points,
                fc6_kernel=7,
                fc6_depth=4096,
                fc6_padding=fc_conv_padding,
                num_classes=num_classes,
                is_training=is_training,
                dropout_keep_prob=dropout_keep_prob,
                spatial_squeeze=spatial_squeeze,
                global_pool=global_pool,
            )


_ARGS_DOC = """
    Args:
      inputs: ``[batch, height, width, channels]`` images (224x224 for classification,
        unless ``global_pool`` or ``fc_conv_padding='SAME'``).
      num_classes: number of classes; 0 or None omits ``dropout7``/``fc8`` and returns
        ``fc7``'s output (after ``global_pool`` if set) as features.
      is_training: enables dropout.
      dropout_keep_prob: keep probability of the dropouts after ``fc6`` and ``fc7``.
      spatial_squeeze: squeezes the logits to ``[batch, num_classes]``; needs ``1 x 1``
        logits (224x224 input or ``global_pool``).
      reuse: reuse the variables of ``scope`` (which must then be given).
      scope: variable scope.
      fc_conv_padding: padding of ``fc6``: 'VALID' (a 224x224 input gives ``1 x 1``) or
        'SAME' (a map of input/32 per side, for fully convolutional use).
      global_pool: averages ``fc7``'s output over space before ``fc8`` (not part of the
        original VGG), so any input size gives one prediction.

    Returns:
      ``(net, end_points)``: the logits (or features), and a dict from layer names such
      as ``<scope>/conv1/conv1_1``, ``<scope>/pool5``, ``<scope>/fc7``,
      ``<scope>/fc8`` (and ``global_pool``) to their outputs.
"""


def vgg_a(
    inputs,
    num_classes=1000,
    is_training=True,
    dropout_keep_prob=0.5,
    spatial_squeeze=True,
    reuse=None,
    scope="vgg_a",
    fc_conv_padding="VALID",
    global_pool=False,
):
    return _vgg(
        "vgg_a",
        inputs,
        num_classes,
        is_training,
        dropout_keep_prob,
        spatial_squeeze,
        reuse,
        scope,
        fc_conv_padding,
        global_pool,
    )


def vgg_16(
    inputs,
    num_classes=1000,
    is_training=True,
    dropout_keep_prob=0.5,
    spatial_squeeze=True,
    reuse=None,
    scope="vgg_16",
    fc_conv_padding="VALID",
    global_pool=False,
):
    return _vgg(
        "vgg_16",
        inputs,
        num_classes,
        is_training,
        dropout_keep_prob,
        spatial_squeeze,
        reuse,
        scope,
        fc_conv_padding,
        global_pool,
    )


def vgg_19(
    inputs,
    num_classes=1000,
    is_training=True,
    dropout_keep_prob=0.5,
    spatial_squeeze=True,
    reuse=None,
    scope="vgg_19",
    fc_conv_padding="VALID",
    global_pool=False,
):
    return _vgg(
        "vgg_19",
        inputs,
        num_classes,
        is_training,
        dropout_keep_prob,
        spatial_squeeze,
        reuse,
        scope,
        fc_conv_padding,
        global_pool,
    )


vgg_a.__doc__ = "VGG configuration A (11 weight layers: 8 convolutions + fc6-fc8).\n" + _ARGS_DOC
vgg_16.__doc__ = "VGG configuration D (16 weight layers: 13 convolutions + fc6-fc8).\n" + _ARGS_DOC
vgg_19.__doc__ = "VGG configuration E (19 weight layers: 16 convolutions + fc6-fc8).\n" + _ARGS_DOC
for _net in (vgg_a, vgg_16, vgg_19):
    _net.default_image_size = 224

vgg_d = vgg_16
vgg_e = vgg_19

__all__ = ["vgg_a", "vgg_16", "vgg_19", "vgg_d", "vgg_e", "vgg_arg_scope"]
