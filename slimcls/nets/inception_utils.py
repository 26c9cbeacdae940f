"""The arg scope TF-Slim's research code shares between InceptionV1, V2, V3 and V4.

``research/slim/nets/inception_utils.inception_arg_scope`` differs from the per-net arg
scopes that ship in the ``tf_slim`` package: it takes ``use_batch_norm``,
``activation_fn``, ``batch_norm_updates_collections`` and ``batch_norm_scale``,
initialises convolutions with ``variance_scaling_initializer()`` and keeps batch-norm
variables out of extra collections. Recipes written for TF-Slim pass those keywords
(e.g. ``batch_norm_scale=True`` to fine-tune with a ``gamma``), so every inception arg
scope in slimcls is this one.
"""

from __future__ import annotations

from collections.abc import Callable

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
