"""OverFeat (Sermanet et al., https://arxiv.org/abs/1312.6229), fast model, as TF-Slim
builds it.

``overfeat`` and ``overfeat_arg_scope`` with the variable names (``overfeat/conv1/weights``
... ``overfeat/fc8/biases``), shapes, end points, op names and arithmetic of TF-Slim's
``research/slim/nets/overfeat.py``, including its ``global_pool`` argument and
``num_classes=0``/None feature mode. The fully connected layers are convolutions (``fc6``
a 6x6 VALID one, so 231x231 input gives 1x1 logits).
"""

from __future__ import annotations

import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.nets._conv_classifier import EndPoints, conv_classifier


def overfeat_arg_scope(weight_decay: float = 0.0005) -> dict:
    """TF-Slim's OverFeat defaults: ReLU, L2 ``weight_decay`` on the kernels, zero biases,
    SAME convolutions and VALID max pools.

    Returns:
      An arg-scope dict for ``with slim.arg_scope(overfeat_arg_scope()):``.
    """
    with slim.arg_scope(
        [slim.conv2d, slim.fully_connected],
        activation_fn=tf.nn.relu,
        weights_regularizer=slim.l2_regularizer(weight_decay),
        biases_initializer=tf.compat.v1.zeros_initializer(),
    ):
        with slim.arg_scope([slim.conv2d], padding="SAME"):
            with slim.arg_scope([slim.max_pool2d], padding="VALID") as scope:
                return scope


def overfeat(
    inputs,
    num_classes=1000,
    is_training=True,
    dropout_keep_prob=0.5,
    spatial_squeeze=True,
    scope="overfeat",
    global_pool=False,
):
    """Builds OverFeat: five convolutions (three 2x2 max pools), then fc6-fc8.

    Args:
      inputs: ``[batch, height, width, channels]`` images (231x231 for classification,
        unless ``global_pool``).
      num_classes: number of classes; 0 or None omits ``dropout7``/``fc8`` and returns
        ``fc7``'s output (after ``global_pool`` if set) as features.
      is_training: enables dropout.
      dropout_keep_prob: keep probability of the dropouts after ``fc6`` and ``fc7``.
      spatial_squeeze: squeezes the logits to ``[batch, num_classes]``; needs ``1 x 1``
        logits (231x231 input or ``global_pool``). False gives a map of class scores.
      scope: variable scope.
      global_pool: averages ``fc7``'s output over space before ``fc8`` (not part of the
        original OverFeat), so any input size gives one prediction.

    Returns:
      ``(net, end_points)``: the logits (or features), and a dict from layer names such
      as ``overfeat/conv1``, ``overfeat/pool5``, ``overfeat/fc7``, ``overfeat/fc8`` (and
      ``global_pool``) to their outputs.
    """
    with tf.compat.v1.variable_scope(scope, "overfeat", [inputs]) as var_scope:
        end_points = EndPoints(var_scope)
        with slim.arg_scope(
            [slim.conv2d, slim.fully_connected, slim.max_pool2d],
            outputs_collections=end_points.collection,
        ):
            net = end_points.add(
                "conv1", slim.conv2d(inputs, 64, [11, 11], 4, padding="VALID", scope="conv1")
            )
            net = end_points.add("pool1", slim.max_pool2d(net, [2, 2], scope="pool1"))
            net = end_points.add(
                "conv2", slim.conv2d(net, 256, [5, 5], padding="VALID", scope="conv2")
            )
            net = end_points.add("pool2", slim.max_pool2d(net, [2, 2], scope="pool2"))
            for name, depth in (("conv3", 512), ("conv4", 1024), ("conv5", 1024)):
                net = end_points.add(name, slim.conv2d(net, depth, [3, 3], scope=name))
            net = end_points.add("pool5", slim.max_pool2d(net, [2, 2], scope="pool5"))
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
                    fc6_kernel=6,
                    fc6_depth=3072,
                    fc6_padding="VALID",
                    num_classes=num_classes,
                    is_training=is_training,
                    dropout_keep_prob=dropout_keep_prob,
                    spatial_squeeze=spatial_squeeze,
                    global_pool=global_pool,
                    fc8_kwargs={"biases_initializer": tf.compat.v1.zeros_initializer()},
                )


overfeat.default_image_size = 231

__all__ = ["overfeat", "overfeat_arg_scope"]
