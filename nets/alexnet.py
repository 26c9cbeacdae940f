"""AlexNet v2 ("One weird trick", https://arxiv.org/abs/1404.5997) as TF-Slim builds it.

``alexnet_v2`` and ``alexnet_v2_arg_scope`` with the variable names
(``alexnet_v2/conv1/weights`` ... ``alexnet_v2/fc8/biases``), shapes, end points, op names
and arithmetic of TF-Slim's ``research/slim/nets/alexnet.py``, including its
``global_pool`` argument and ``num_classes=0``/None feature mode. As in TF-Slim, the LRN
layers of the paper are left out and the fully connected layers are convolutions
(``fc6`` a 5x5 VALID one, so 224x224 input gives 1x1 logits).
"""

from __future__ import annotations

import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.nets._conv_classifier import EndPoints, conv_classifier


def alexnet_v2_arg_scope(weight_decay: float = 0.0005) -> dict:
    """TF-Slim's AlexNet defaults: ReLU, L2 ``weight_decay`` on the kernels, biases of
    0.1, SAME convolutions and VALID max pools.

    Returns:
      An arg-scope dict for ``with slim.arg_scope(alexnet_v2_arg_scope()):``.
    """
    with slim.arg_scope(
        [slim.conv2d, slim.fully_connected],
        activation_fn=tf.nn.relu,
        biases_initializer=tf.compat.v1.constant_initializer(0.1),
        weights_regularizer=slim.l2_regularizer(weight_decay),
    ):
        with slim.arg_scope([slim.conv2d], padding="SAME"):
            with slim.arg_scope([slim.max_pool2d], padding="VALID") as scope:
                return scope


def alexnet_v2(
    inputs,
    num_classes=1000,
    is_training=True,
    dropout_keep_prob=0.5,
    spatial_squeeze=True,
    scope="alexnet_v2",
    global_pool=False,
):
    """Builds AlexNet v2: five convolutions (three 3x3 max pools), then fc6-fc8.

    Args:
      inputs: ``[batch, height, width, channels]`` images (224x224 for classification,
        unless ``global_pool``).
      num_classes: number of classes; 0 or None omits ``dropout7``/``fc8`` and returns
        ``fc7``'s output (after ``global_pool`` if set) as features.
      is_training: enables dropout.
      dropout_keep_prob: keep probability of the dropouts after ``fc6`` and ``fc7``.
      spatial_squeeze: squeezes the logits to ``[batch, num_classes]``; needs ``1 x 1``
        logits (224x224 input or ``global_pool``). False gives a map of class scores.
      scope: variable scope.
      global_pool: averages ``fc7``'s output over space before ``fc8`` (not part of the
        original AlexNet), so any input size gives one prediction.

    Returns:
      ``(net, end_points)``: the logits (or features), and a dict from layer names such
      as ``alexnet_v2/conv1``, ``alexnet_v2/pool5``, ``alexnet_v2/fc7``,
      ``alexnet_v2/fc8`` (and ``global_pool``) to their outputs.
    """
    with tf.compat.v1.variable_scope(scope, "alexnet_v2", [inputs]) as var_scope:
        end_points = EndPoints(var_scope)
        with slim.arg_scope(
            [slim.conv2d, slim.fully_connected, slim.max_pool2d],
            outputs_collections=end_points.collection,
        ):
            net = end_points.add(
                "conv1", slim.conv2d(inputs, 64, [11, 11], 4, padding="VALID", scope="conv1")
            )
            net = end_points.add("pool1", slim.max_pool2d(net, [3, 3], 2, scope="pool1"))
            net = end_points.add("conv2", slim.conv2d(net, 192, [5, 5], scope="conv2"))
            net = end_points.add("pool2", slim.max_pool2d(net, [3, 3], 2, scope="pool2"))
            for name, depth in (("conv3", 384), ("conv4", 384), ("conv5", 256)):
                net = end_points.add(name, slim.conv2d(net, depth, [3, 3], scope=name))
            net = end_points.add("pool5", slim.max_pool2d(net, [3, 3], 2, scope="pool5"))
            # The classifier starts from small weights (stddev 0.005) and 0.1 biases; fc8
            # (inside this scope too) gets zero biases.
            with slim.arg_scope(
                [slim.conv2d],
                weights_initializer=tf.compat.v1.truncated_normal_initializer(0.0, 0.005),
                biases_initializer=tf.compat.v1.constant_initializer(0.1),
            ):
                return conv_classifier(
                    net,
                    var_scope,
                    end_points,
                    fc6_kernel=5,
                    fc6_depth=4096,
                    fc6_padding="VALID",
                    num_classes=num_classes,
                    is_training=is_training,
                    dropout_keep_prob=dropout_keep_prob,
                    spatial_squeeze=spatial_squeeze,
                    global_pool=global_pool,
                    fc8_kwargs={"biases_initializer": tf.compat.v1.zeros_initializer()},
                )


alexnet_v2.default_image_size = 224

__all__ = ["alexnet_v2", "alexnet_v2_arg_scope"]
