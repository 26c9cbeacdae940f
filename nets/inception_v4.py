"""InceptionV4 (https://arxiv.org/abs/1602.07261) with TF-Slim's variable names.

Same scopes, end points, arithmetic and defaults as ``research/slim/nets/inception_v4.py``
(so TF-Slim's ``inception_v4.ckpt``, 1001 classes at 299x299, restores by name), written
for slimcls. With the auxiliary head the input must be at least 107x107 (the head's 5x5
pooling needs a 5x5 ``Mixed_6h``); without it, 75x75.
"""

from __future__ import annotations

from collections.abc import Sequence

import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.nets import inception_utils

_v1 = tf.compat.v1

#: (depth, kernel, scope) of one conv; a tuple of them is a chain, applied in order.
_Conv = tuple[int, Sequence[int], str]

#: The trunk's end points, in build order (``final_endpoint`` must be one of them).
END_POINTS = (
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "Mixed_3a",
    "Mixed_4a",
    "Mixed_5a",
    *(f"Mixed_5{c}" for c in "bcde"),
    "Mixed_6a",
    *(f"Mixed_6{c}" for c in "bcdefgh"),
    "Mixed_7a",
    *(f"Mixed_7{c}" for c in "bcd"),
)


def _chain(net: tf.Tensor, convs: Sequence[_Conv], **last_kwargs) -> tf.Tensor:
    """Applies ``convs`` in order; ``last_kwargs`` (stride, padding) go to the last one."""
    for i, (depth, kernel, scope) in enumerate(convs):
        kwargs = last_kwargs if i == len(convs) - 1 else {}
        net = slim.conv2d(net, depth, kernel, scope=scope, **kwargs)
    return net


def _avg_pool_branch(net: tf.Tensor, depth: int) -> tf.Tensor:
    """Branch_3 of the Inception-A/B/C blocks: 3x3 average pool then a 1x1 conv."""
    with _v1.variable_scope("Branch_3"):
        net = slim.avg_pool2d(net, [3, 3], scope="AvgPool_0a_3x3")
        return slim.conv2d(net, depth, [1, 1], scope="Conv2d_0b_1x1")


def _same_stride_1():
    return slim.arg_scope([slim.conv2d, slim.avg_pool2d, slim.max_pool2d], stride=1, padding="SAME")


def block_inception_a(inputs: tf.Tensor, scope: str | None = None, reuse=None) -> tf.Tensor:
    """Inception-A (35x35 grid, 384 channels out)."""
    with _same_stride_1(), _v1.variable_scope(scope, "BlockInceptionA", [inputs], reuse=reuse):
        with _v1.variable_scope("Branch_0"):
            b0 = slim.conv2d(inputs, 96, [1, 1], scope="Conv2d_0a_1x1")
        with _v1.variable_scope("Branch_1"):
            b1 = _chain(inputs, [(64, [1, 1], "Conv2d_0a_1x1"), (96, [3, 3], "Conv2d_0b_3x3")])
        with _v1.variable_scope("Branch_2"):
            b2 = _chain(
                inputs,
                [
                    (64, [1, 1], "Conv2d_0a_1x1"),
                    (96, [3, 3], "Conv2d_0b_3x3"),
                    (96, [3, 3], "Conv2d_0c_3x3"),
                ],
            )
        b3 = _avg_pool_branch(inputs, 96)
        return tf.concat([b0, b1, b2, b3], axis=3)


def block_reduction_a(inputs: tf.Tensor, scope: str | None = None, reuse=None) -> tf.Tensor:
    """Reduction-A (35x35 -> 17x17, 1024 channels out)."""
    with _same_stride_1(), _v1.variable_scope(scope, "BlockReductionA", [inputs], reuse=reuse):
        with _v1.variable_scope("Branch_0"):
            b0 = slim.conv2d(inputs, 384, [3, 3], stride=2, padding="VALID", scope="Conv2d_1a_3x3")
        with _v1.variable_scope("Branch_1"):
            b1 = _chain(
                inputs,
                [
                    (192, [1, 1], "Conv2d_0a_1x1"),
                    (224, [3, 3], "Conv2d_0b_3x3"),
                    (256, [3, 3], "Conv2d_1a_3x3"),
                ],
                stride=2,
                padding="VALID",
            )
        with _v1.variable_scope("Branch_2"):
            b2 = slim.max_pool2d(inputs, [3, 3], stride=2, padding="VALID", scope="MaxPool_1a_3x3")
        return tf.concat([b0, b1, b2], axis=3)


def block_inception_b(inputs: tf.Tensor, scope: str | None = None, reuse=None) -> tf.Tensor:
    """Inception-B (17x17 grid, 1024 channels out), factorised 7x7 convolutions."""
    with _same_stride_1(), _v1.variable_scope(scope, "BlockInceptionB", [inputs], reuse=reuse):
        with _v1.variable_scope("Branch_0"):
            b0 = slim.conv2d(inputs, 384, [1, 1], scope="Conv2d_0a_1x1")
        with _v1.variable_scope("Branch_1"):
            b1 = _chain(
                inputs,
                [
                    (192, [1, 1], "Conv2d_0a_1x1"),
                    (224, [1, 7], "Conv2d_0b_1x7"),
                    (256, [7, 1], "Conv2d_0c_7x1"),
                ],
            )
        with _v1.variable_scope("Branch_2"):
            b2 = _chain(
                inputs,
                [
                    (192, [1, 1], "Conv2d_0a_1x1"),
                    (192, [7, 1], "Conv2d_0b_7x1"),
                    (224, [1, 7], "Conv2d_0c_1x7"),
                    (224, [7, 1], "Conv2d_0d_7x1"),
                    (256, [1, 7], "Conv2d_0e_1x7"),
                ],
            )
        b3 = _avg_pool_branch(inputs, 128)
        return tf.concat([b0, b1, b2, b3], axis=3)


def block_reduction_b(inputs: tf.Tensor, scope: str | None = None, reuse=None) -> tf.Tensor:
    """Reduction-B (17x17 -> 8x8, 1536 channels out)."""
    with _same_stride_1(), _v1.variable_scope(scope, "BlockReductionB", [inputs], reuse=reuse):
        with _v1.variable_scope("Branch_0"):
            b0 = _chain(
                inputs,
                [(192, [1, 1], "Conv2d_0a_1x1"), (192, [3, 3], "Conv2d_1a_3x3")],
                stride=2,
                padding="VALID",
            )
        with _v1.variable_scope("Branch_1"):
            b1 = _chain(
                inputs,
                [
                    (256, [1, 1], "Conv2d_0a_1x1"),
                    (256, [1, 7], "Conv2d_0b_1x7"),
                    (320, [7, 1], "Conv2d_0c_7x1"),
                    (320, [3, 3], "Conv2d_1a_3x3"),
                ],
                stride=2,
                padding="VALID",
            )
        with _v1.variable_scope("Branch_2"):
            b2 = slim.max_pool2d(inputs, [3, 3], stride=2, padding="VALID", scope="MaxPool_1a_3x3")
        return tf.concat([b0, b1, b2], axis=3)


def _split_1x3_3x1(net: tf.Tensor, first: str, second: str) -> tf.Tensor:
    """Parallel 1x3 and 3x1 convs (256 each), concatenated: Inception-C's fan-out."""
    return tf.concat(
        [
            slim.conv2d(net, 256, [1, 3], scope=first),
            slim.conv2d(net, 256, [3, 1], scope=second),
        ],
        axis=3,
    )


def block_inception_c(inputs: tf.Tensor, scope: str | None = None, reuse=None) -> tf.Tensor:
    """Inception-C (8x8 grid, 1536 channels out)."""
    with _same_stride_1(), _v1.variable_scope(scope, "BlockInceptionC", [inputs], reuse=reuse):
        with _v1.variable_scope("Branch_0"):
            b0 = slim.conv2d(inputs, 256, [1, 1], scope="Conv2d_0a_1x1")
        with _v1.variable_scope("Branch_1"):
            b1 = slim.conv2d(inputs, 384, [1, 1], scope="Conv2d_0a_1x1")
            b1 = _split_1x3_3x1(b1, "Conv2d_0b_1x3", "Conv2d_0c_3x1")
        with _v1.variable_scope("Branch_2"):
            b2 = _chain(
                inputs,
                [
                    (384, [1, 1], "Conv2d_0a_1x1"),
                    (448, [3, 1], "Conv2d_0b_3x1"),
                    (512, [1, 3], "Conv2d_0c_1x3"),
                ],
            )
            b2 = _split_1x3_3x1(b2, "Conv2d_0d_1x3", "Conv2d_0e_3x1")
        b3 = _avg_pool_branch(inputs, 256)
        return tf.concat([b0, b1, b2, b3], axis=3)


def _stem(net: tf.Tensor, add) -> tf.Tensor | None:
    """Conv2d_1a_3x3 ... Mixed_5a; ``add(name, net)`` records an end point and returns
    True when it is the final one (then the stem stops and returns None)."""
    net = slim.conv2d(net, 32, [3, 3], stride=2, padding="VALID", scope="Conv2d_1a_3x3")
    if add("Conv2d_1a_3x3", net):
        return None
    net = slim.conv2d(net, 32, [3, 3], padding="VALID", scope="Conv2d_2a_3x3")
    if add("Conv2d_2a_3x3", net):
        return None
    net = slim.conv2d(net, 64, [3, 3], scope="Conv2d_2b_3x3")
    if add("Conv2d_2b_3x3", net):
        return None
    with _v1.variable_scope("Mixed_3a"):
        with _v1.variable_scope("Branch_0"):
            b0 = slim.max_pool2d(net, [3, 3], stride=2, padding="VALID", scope="MaxPool_0a_3x3")
        with _v1.variable_scope("Branch_1"):
            b1 = slim.conv2d(net, 96, [3, 3], stride=2, padding="VALID", scope="Conv2d_0a_3x3")
        net = tf.concat([b0, b1], axis=3)
    if add("Mixed_3a", net):
        return None
    with _v1.variable_scope("Mixed_4a"):
        with _v1.variable_scope("Branch_0"):
            b0 = _chain(
                net,
                [(64, [1, 1], "Conv2d_0a_1x1"), (96, [3, 3], "Conv2d_1a_3x3")],
                padding="VALID",
            )
        with _v1.variable_scope("Branch_1"):
            b1 = _chain(
                net,
                [
                    (64, [1, 1], "Conv2d_0a_1x1"),
                    (64, [1, 7], "Conv2d_0b_1x7"),
                    (64, [7, 1], "Conv2d_0c_7x1"),
                    (96, [3, 3], "Conv2d_1a_3x3"),
                ],
                padding="VALID",
            )
        net = tf.concat([b0, b1], axis=3)
    if add("Mixed_4a", net):
        return None
    with _v1.variable_scope("Mixed_5a"):
        with _v1.variable_scope("Branch_0"):
            b0 = slim.conv2d(net, 192, [3, 3], stride=2, padding="VALID", scope="Conv2d_1a_3x3")
        with _v1.variable_scope("Branch_1"):
            b1 = slim.max_pool2d(net, [3, 3], stride=2, padding="VALID", scope="MaxPool_1a_3x3")
        net = tf.concat([b0, b1], axis=3)
    if add("Mixed_5a", net):
        return None
    return net


def inception_v4_base(
    inputs: tf.Tensor, final_endpoint: str = "Mixed_7d", scope: str | None = None
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """The InceptionV4 trunk up to ``final_endpoint`` (one of :data:`END_POINTS`).

    Returns:
      ``(net, end_points)``.

    Raises:
      ValueError: for an unknown ``final_endpoint``.
    """
    if final_endpoint not in END_POINTS:
        raise ValueError(f"Unknown final endpoint {final_endpoint}; expected one of {END_POINTS}")
    end_points: dict[str, tf.Tensor] = {}

    def add(name: str, net: tf.Tensor) -> bool:
        end_points[name] = net
        return name == final_endpoint

    with _v1.variable_scope(scope, "InceptionV4", [inputs]), _same_stride_1():
        net = _stem(inputs, add)
        if net is None:
            return end_points[final_endpoint], end_points
        stages = (
            ("Mixed_5", "bcde", block_inception_a, block_reduction_a),
            ("Mixed_6", "bcdefgh", block_inception_b, block_reduction_b),
            ("Mixed_7", "bcd", block_inception_c, None),
        )
        for prefix, letters, block, reduction in stages:
            for letter in letters:
                net = block(net, prefix + letter)
                if add(prefix + letter, net):
                    return net, end_points
            if reduction is not None:
                name = prefix[:-1] + str(int(prefix[-1]) + 1) + "a"
                net = reduction(net, name)
                if add(name, net):
                    return net, end_points
    raise AssertionError("unreachable: final_endpoint was checked")


def _aux_logits(mixed_6h: tf.Tensor, num_classes: int) -> tf.Tensor:
    """The auxiliary classifier on ``Mixed_6h`` (scope ``AuxLogits``)."""
    with _v1.variable_scope("AuxLogits"):
        net = slim.avg_pool2d(mixed_6h, [5, 5], stride=3, padding="VALID", scope="AvgPool_1a_5x5")
        net = slim.conv2d(net, 128, [1, 1], scope="Conv2d_1b_1x1")
        net = slim.conv2d(net, 768, net.get_shape()[1:3], padding="VALID", scope="Conv2d_2a")
        net = slim.flatten(net)
        return slim.fully_connected(net, num_classes, activation_fn=None, scope="Aux_logits")


def inception_v4(
    inputs: tf.Tensor,
    num_classes: int = 1001,
    is_training: bool = True,
    dropout_keep_prob: float = 0.8,
    reuse: bool | None = None,
    scope: str = "InceptionV4",
    create_aux_logits: bool = True,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """InceptionV4 with TF-Slim's names, defaults and end points.

    Args:
      inputs: ``[batch, height, width, 3]`` images in [-1, 1] (299x299 by default).
      num_classes: number of classes (1001 for TF-Slim's checkpoint); 0 or None returns
        the pooled ``[batch, 1, 1, 1536]`` features (no ``AuxLogits`` either).
      is_training: batch-norm mode and dropout.
      dropout_keep_prob: keep probability before the logits.
      reuse: reuse the variables of an earlier call in ``scope``.
      scope: variable scope.
      create_aux_logits: build the auxiliary head on ``Mixed_6h``.

    Returns:
      ``(logits [batch, num_classes], end_points)``.
    """
    with _v1.variable_scope(scope, "InceptionV4", [inputs], reuse=reuse) as var_scope:
        with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
            net, end_points = inception_v4_base(inputs, scope=var_scope)
            with _same_stride_1():
                if create_aux_logits and num_classes:
                    end_points["AuxLogits"] = _aux_logits(end_points["Mixed_6h"], num_classes)
                with _v1.variable_scope("Logits"):
                    window = net.get_shape()[1:3]
                    if window.is_fully_defined():
                        net = slim.avg_pool2d(net, window, padding="VALID", scope="AvgPool_1a")
                    else:
                        net = tf.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")
                    end_points["global_pool"] = net
                    if not num_classes:
                        return net, end_points
                    net = slim.dropout(net, dropout_keep_prob, scope="Dropout_1b")
                    net = slim.flatten(net, scope="PreLogitsFlatten")
                    end_points["PreLogitsFlatten"] = net
                    logits = slim.fully_connected(
                        net, num_classes, activation_fn=None, scope="Logits"
                    )
                    end_points["Logits"] = logits
                    end_points["Predictions"] = tf.nn.softmax(logits, name="Predictions")
    return logits, end_points


inception_v4.default_image_size = 299

#: TF-Slim's ``inception_v4_arg_scope`` is the shared inception arg scope.
inception_v4_arg_scope = inception_utils.inception_arg_scope
