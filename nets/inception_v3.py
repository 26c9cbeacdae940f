"""InceptionV3 with TF-Slim's variable names, built on ``tf_slim.nets.inception_v3``.

``tf_slim.nets.inception_v3.inception_v3_base`` (the trunk, ``Conv2d_1a_3x3`` ...
``Mixed_7c``) and ``inception_v3_arg_scope`` are reused as they are: their names and
arithmetic match TF-Slim's research code. tf_slim's classification head lacks what
TF-Slim's ``research/slim`` version gained later, so this module builds the head
(``AuxLogits`` and ``Logits`` scopes, same variable names) and adds:

- ``global_pool=True``: global average pooling instead of the fixed 8x8 window, for
  inputs larger than 299;
- ``num_classes=0``: returns the pooled ``[batch, 1, 1, 2048]`` features;
- the ``AvgPool_1a`` (or ``global_pool``) end point.

One extension: TF-Slim's auxiliary head fails on inputs smaller than 107 pixels (its 5x5
pooling window is bigger than ``Mixed_6e``); here that window shrinks to fit, as TF-Slim
already does for the other windows, so the net accepts inputs down to 75 pixels. For
inputs TF-Slim accepts, nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable

import tf_slim as slim
from tf_slim.nets import inception_v3 as _tf_slim_inception_v3

from slimcls.core.compat import tf
from slimcls.nets import inception_utils

#: The trunk, reused from tf_slim: ``inception_v3_base(inputs, final_endpoint, min_depth,
#: depth_multiplier, scope) -> (net, end_points)``.
inception_v3_base = _tf_slim_inception_v3.inception_v3_base

#: TF-Slim's arg scope (weight decay 4e-5 by default, batch norm decay 0.9997, eps 1e-3):
#: research/slim's shared inception one, with its keywords (``batch_norm_scale`` ...).
inception_v3_arg_scope = inception_utils.inception_arg_scope

_trunc_normal = lambda stddev: tf.compat.v1.truncated_normal_initializer(0.0, stddev)


def _aux_logits(
    mixed_6e: tf.Tensor, num_classes: int, depth: Callable[[int], int], spatial_squeeze: bool
) -> tf.Tensor:
    """The auxiliary classifier on ``Mixed_6e`` (scope ``AuxLogits``), TF-Slim's layers."""
    with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d], stride=1, padding="SAME"):
        with tf.compat.v1.variable_scope("AuxLogits"):
            pool_size = inception_utils.reduced_kernel_size(mixed_6e, [5, 5])
            net = slim.avg_pool2d(
                mixed_6e, pool_size, stride=3, padding="VALID", scope="AvgPool_1a_5x5"
            )
            net = slim.conv2d(net, depth(128), [1, 1], scope="Conv2d_1b_1x1")
            kernel_size = inception_utils.reduced_kernel_size(net, [5, 5])
            net = slim.conv2d(
                net,
                depth(768),
                kernel_size,
                weights_initializer=_trunc_normal(0.01),
                padding="VALID",
                scope="Conv2d_2a_{}x{}".format(*kernel_size),
            )
            net = slim.conv2d(
                net,
                num_classes,
                [1, 1],
                activation_fn=None,
                normalizer_fn=None,
                weights_initializer=_trunc_normal(0.001),
                scope="Conv2d_2b_1x1",
            )
            if spatial_squeeze:
                net = tf.squeeze(net, [1, 2], name="SpatialSqueeze")
    return net


def inception_v3(
    inputs: tf.Tensor,
    num_classes: int = 1000,
    is_training: bool = True,
    dropout_keep_prob: float = 0.8,
    min_depth: int = 16,
    depth_multiplier: float = 1.0,
    prediction_fn: Callable = slim.softmax,
    spatial_squeeze: bool = True,
    reuse: bool | None = None,
    create_aux_logits: bool = True,
    scope: str = "InceptionV3",
    global_pool: bool = False,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """InceptionV3 (http://arxiv.org/abs/1512.00567) with TF-Slim's names and options.

    Args:
      inputs: ``[batch, height, width, 3]`` images in [-1, 1], 299x299 by default, at
        least 75x75.
      num_classes: number of classes (1001 for TF-Slim's ImageNet checkpoints); 0 or
        None returns the pooled features ``[batch, 1, 1, 2048 * depth_multiplier]``
        and builds no classifier (no ``AuxLogits`` either).
      is_training: batch-norm mode and dropout.
      dropout_keep_prob: keep probability before the logits.
      min_depth: smallest channel count when ``depth_multiplier < 1``.
      depth_multiplier: scales every layer's channel count (> 0).
      prediction_fn: turns logits into ``end_points['Predictions']``.
      spatial_squeeze: return ``[batch, num_classes]`` logits instead of
        ``[batch, 1, 1, num_classes]``; needs a 1x1 map before the classifier (inputs up
        to 299 pixels, or ``global_pool``).
      reuse: reuse the variables of an earlier call in ``scope``.
      create_aux_logits: build the auxiliary head (its variables are in TF-Slim's
        checkpoints; ``end_points['AuxLogits']``).
      scope: variable scope.
      global_pool: average over the whole final feature map instead of an 8x8 window.

    Returns:
      ``(logits, end_points)``.

    Raises:
      ValueError: if ``depth_multiplier <= 0``.
    """
    if depth_multiplier <= 0:
        raise ValueError(f"depth_multiplier must be > 0, got {depth_multiplier}")
    depth = lambda d: max(int(d * depth_multiplier), min_depth)

    with tf.compat.v1.variable_scope(
        scope, "InceptionV3", [inputs, num_classes], reuse=reuse
    ) as var_scope:
        with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
            net, end_points = inception_v3_base(
                inputs, scope=var_scope, min_depth=min_depth, depth_multiplier=depth_multiplier
            )
            if create_aux_logits and num_classes:
                end_points["AuxLogits"] = _aux_logits(
                    end_points["Mixed_6e"], num_classes, depth, spatial_squeeze
                )

            return inception_utils.logits_head(
                net,
                end_points,
                num_classes=num_classes,
                global_pool=global_pool,
                pool_kernel=[8, 8],
                global_pool_name="GlobalPool",
                dropout_keep_prob=dropout_keep_prob,
                spatial_squeeze=spatial_squeeze,
                prediction_fn=prediction_fn,
            )


inception_v3.default_image_size = 299
