"""What TF-Slim's research code shares between the Inception nets: the arg scope (V1-V4),
and here also the pooling-window rule (V2, V3, MobileNetV1) and the V2/V3 logits head.

``research/slim/nets/inception_utils.inception_arg_scope`` differs from the per-net arg
scopes that ship in the ``tf_slim`` package: it takes ``use_batch_norm``,
``activation_fn``, ``batch_norm_updates_collections`` and ``batch_norm_scale``,
initialises convolutions with ``variance_scaling_initializer()`` and keeps batch-norm
variables out of extra collections. Recipes written for TF-Slim pass those keywords
(e.g. ``batch_norm_scale=True`` to fine-tune with a ``gamma``), so every inception arg
scope in slimcls is this one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tf_slim as slim

from slimcls.core.compat import tf


def inception_arg_scope(
    weight_decay: float = 0.00004,
    use_batch_norm: bool = True,
    batch_norm_decay: float = 0.9997,
    batch_norm_epsilon: float = 0.001,
    activation_fn: Callable | None = tf.nn.relu,
    batch_norm_updates_collections: str | None = tf.compat.v1.GraphKeys.UPDATE_OPS,
    batch_norm_scale: bool = False,
) -> dict:
    """TF-Slim's default arg scope for the inception nets (same keywords and defaults).

    Args:
      weight_decay: L2 coefficient on conv and fully connected weights.
      use_batch_norm: batch norm after every convolution (else no normaliser).
      batch_norm_decay: moving-average decay of the batch-norm statistics.
      batch_norm_epsilon: added to the variance before dividing.
      activation_fn: activation of every convolution.
      batch_norm_updates_collections: where batch norm puts its update ops (None:
        update in place).
      batch_norm_scale: learn a ``gamma`` per channel (adds ``BatchNorm/gamma``).

    Returns:
      the arg-scope dict for ``with slim.arg_scope(...)``.
    """
    if use_batch_norm:
        normalizer_fn = slim.batch_norm
        normalizer_params = {
            "decay": batch_norm_decay,
            "epsilon": batch_norm_epsilon,
            "updates_collections": batch_norm_updates_collections,
            "fused": None,
            "scale": batch_norm_scale,
        }
    else:
        normalizer_fn, normalizer_params = None, {}
    with slim.arg_scope(
        [slim.conv2d, slim.fully_connected],
        weights_regularizer=slim.l2_regularizer(weight_decay),
    ):
        with slim.arg_scope(
            [slim.conv2d],
            weights_initializer=slim.variance_scaling_initializer(),
            activation_fn=activation_fn,
            normalizer_fn=normalizer_fn,
            normalizer_params=normalizer_params,
        ) as scope:
            return scope


def reduced_kernel_size(net: tf.Tensor, kernel_size: Sequence[int]) -> list[int]:
    """The pooling window, shrunk to the feature map when that is smaller (static shapes),
    so inputs below the default size still pool to 1x1. Unknown spatial sizes keep the
    full window, as in TF-Slim."""
    shape = net.get_shape().as_list()
    if shape[1] is None or shape[2] is None:
        return list(kernel_size)
    return [min(shape[1], kernel_size[0]), min(shape[2], kernel_size[1])]


def logits_head(
    net: tf.Tensor,
    end_points: dict,
    *,
    num_classes: int | None,
    global_pool: bool,
    pool_kernel: Sequence[int],
    global_pool_name: str,
    dropout_keep_prob: float,
    spatial_squeeze: bool,
    prediction_fn: Callable,
) -> tuple[tf.Tensor, dict]:
    """InceptionV2's and V3's classifier, in scope ``Logits``: average pool (the
    ``pool_kernel`` window, shrunk for small maps, or the whole map with ``global_pool``),
    then unless ``num_classes`` is 0/None dropout, a 1x1 convolution ``Conv2d_1c_1x1`` and
    the optional squeeze. Returns ``(logits or features, end_points)``; the op name of the
    global mean (``global_pool_name``) is each net's own in TF-Slim.
    """
    with tf.compat.v1.variable_scope("Logits"):
        if global_pool:
            net = tf.reduce_mean(net, [1, 2], keepdims=True, name=global_pool_name)
            end_points["global_pool"] = net
        else:
            kernel_size = reduced_kernel_size(net, pool_kernel)
            net = slim.avg_pool2d(
                net,
                kernel_size,
                padding="VALID",
                scope="AvgPool_1a_{}x{}".format(*kernel_size),
            )
            end_points["AvgPool_1a"] = net
        if not num_classes:
            return net, end_points
        net = slim.dropout(net, keep_prob=dropout_keep_prob, scope="Dropout_1b")
        end_points["PreLogits"] = net
        logits = slim.conv2d(
            net,
            num_classes,
            [1, 1],
            activation_fn=None,
            normalizer_fn=None,
            scope="Conv2d_1c_1x1",
        )
        if spatial_squeeze:
            logits = tf.squeeze(logits, [1, 2], name="SpatialSqueeze")
    end_points["Logits"] = logits
    end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points
