"""Inception-ResNet-v2 (https://arxiv.org/abs/1602.07261) with TF-Slim's variable names.

Same scopes, end points, arithmetic, defaults and arg scope as
``research/slim/nets/inception_resnet_v2.py`` (TF-Slim's ``inception_resnet_v2_2016_08_30``
checkpoint, 1001 classes at 299x299, restores by name), written for slimcls. With the
auxiliary head the input must be at least 107x107 (its 5x5 pooling needs a 5x5
``PreAuxLogits``); without it, 75x75.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tf_slim as slim

from slimcls.core.compat import tf

_v1 = tf.compat.v1

#: The trunk's end points, in build order (``final_endpoint`` must be one of them).
END_POINTS = (
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "MaxPool_3a_3x3",
    "Conv2d_3b_1x1",
    "Conv2d_4a_3x3",
    "MaxPool_5a_3x3",
    "Mixed_5b",
    "Mixed_6a",
    "PreAuxLogits",
    "Mixed_7a",
    "Conv2d_7b_1x1",
)


def _chain(net: tf.Tensor, convs: Sequence[tuple[int, object, str]], **last_kwargs) -> tf.Tensor:
    """Applies ``(depth, kernel, scope)`` convs in order; ``last_kwargs`` go to the last."""
    for i, (depth, kernel, scope) in enumerate(convs):
        kwargs = last_kwargs if i == len(convs) - 1 else {}
        net = slim.conv2d(net, depth, kernel, scope=scope, **kwargs)
    return net


def _residual(
    net: tf.Tensor,
    towers: list[tf.Tensor],
    scale: float,
    activation_fn: Callable | None,
) -> tf.Tensor:
    """Projects the concatenated towers back to ``net``'s depth (1x1 conv with biases, no
    batch norm, scope ``Conv2d_1x1``), scales and adds it, then applies ``activation_fn``.
    With relu6 the scaled residual is clipped to [-6, 6] first, as in TF-Slim."""
    mixed = tf.concat(towers, axis=3)
    up = slim.conv2d(
        mixed, net.get_shape()[3], 1, normalizer_fn=None, activation_fn=None, scope="Conv2d_1x1"
    )
    scaled = up * scale
    if activation_fn == tf.nn.relu6:
        scaled = tf.clip_by_value(scaled, -6.0, 6.0)
    net += scaled
    return activation_fn(net) if activation_fn else net


def block35(net, scale=1.0, activation_fn=tf.nn.relu, scope=None, reuse=None):
    """The 35x35 residual block (320 channels)."""
    with _v1.variable_scope(scope, "Block35", [net], reuse=reuse):
        with _v1.variable_scope("Branch_0"):
            t0 = slim.conv2d(net, 32, 1, scope="Conv2d_1x1")
        with _v1.variable_scope("Branch_1"):
            t1 = _chain(net, [(32, 1, "Conv2d_0a_1x1"), (32, 3, "Conv2d_0b_3x3")])
        with _v1.variable_scope("Branch_2"):
            t2 = _chain(
                net, [(32, 1, "Conv2d_0a_1x1"), (48, 3, "Conv2d_0b_3x3"), (64, 3, "Conv2d_0c_3x3")]
            )
        return _residual(net, [t0, t1, t2], scale, activation_fn)


def block17(net, scale=1.0, activation_fn=tf.nn.relu, scope=None, reuse=None):
    """The 17x17 residual block (1088 channels)."""
    with _v1.variable_scope(scope, "Block17", [net], reuse=reuse):
        with _v1.variable_scope("Branch_0"):
            t0 = slim.conv2d(net, 192, 1, scope="Conv2d_1x1")
        with _v1.variable_scope("Branch_1"):
            t1 = _chain(
                net,
                [
                    (128, 1, "Conv2d_0a_1x1"),
                    (160, [1, 7], "Conv2d_0b_1x7"),
                    (192, [7, 1], "Conv2d_0c_7x1"),
                ],
            )
        return _residual(net, [t0, t1], scale, activation_fn)


def block8(net, scale=1.0, activation_fn=tf.nn.relu, scope=None, reuse=None):
    """The 8x8 residual block (2080 channels)."""
    with _v1.variable_scope(scope, "Block8", [net], reuse=reuse):
        with _v1.variable_scope("Branch_0"):
            t0 = slim.conv2d(net, 192, 1, scope="Conv2d_1x1")
        with _v1.variable_scope("Branch_1"):
            t1 = _chain(
                net,
                [
                    (192, 1, "Conv2d_0a_1x1"),
                    (224, [1, 3], "Conv2d_0b_1x3"),
                    (256, [3, 1], "Conv2d_0c_3x1"),
                ],
            )
        return _residual(net, [t0, t1], scale, activation_fn)


def _mixed_5b(net: tf.Tensor) -> tf.Tensor:
    with _v1.variable_scope("Mixed_5b"):
        with _v1.variable_scope("Branch_0"):
            t0 = slim.conv2d(net, 96, 1, scope="Conv2d_1x1")
        with _v1.variable_scope("Branch_1"):
            t1 = _chain(net, [(48, 1, "Conv2d_0a_1x1"), (64, 5, "Conv2d_0b_5x5")])
        with _v1.variable_scope("Branch_2"):
            t2 = _chain(
                net, [(64, 1, "Conv2d_0a_1x1"), (96, 3, "Conv2d_0b_3x3"), (96, 3, "Conv2d_0c_3x3")]
            )
        with _v1.variable_scope("Branch_3"):
            t3 = slim.avg_pool2d(net, 3, stride=1, padding="SAME", scope="AvgPool_0a_3x3")
            t3 = slim.conv2d(t3, 64, 1, scope="Conv2d_0b_1x1")
        return tf.concat([t0, t1, t2, t3], 3)


def _mixed_6a(net: tf.Tensor, stride: int, padding: str) -> tf.Tensor:
    with _v1.variable_scope("Mixed_6a"):
        with _v1.variable_scope("Branch_0"):
            t0 = slim.conv2d(net, 384, 3, stride=stride, padding=padding, scope="Conv2d_1a_3x3")
        with _v1.variable_scope("Branch_1"):
            t1 = _chain(
                net,
                [(256, 1, "Conv2d_0a_1x1"), (256, 3, "Conv2d_0b_3x3"), (384, 3, "Conv2d_1a_3x3")],
                stride=stride,
                padding=padding,
            )
        with _v1.variable_scope("Branch_2"):
            t2 = slim.max_pool2d(net, 3, stride=stride, padding=padding, scope="MaxPool_1a_3x3")
        return tf.concat([t0, t1, t2], 3)


def _mixed_7a(net: tf.Tensor, padding: str) -> tf.Tensor:
    with _v1.variable_scope("Mixed_7a"):
        with _v1.variable_scope("Branch_0"):
            t0 = _chain(
                net,
                [(256, 1, "Conv2d_0a_1x1"), (384, 3, "Conv2d_1a_3x3")],
                stride=2,
                padding=padding,
            )
        with _v1.variable_scope("Branch_1"):
            t1 = _chain(
                net,
                [(256, 1, "Conv2d_0a_1x1"), (288, 3, "Conv2d_1a_3x3")],
                stride=2,
                padding=padding,
            )
        with _v1.variable_scope("Branch_2"):
            t2 = _chain(
                net,
                [(256, 1, "Conv2d_0a_1x1"), (288, 3, "Conv2d_0b_3x3"), (320, 3, "Conv2d_1a_3x3")],
                stride=2,
                padding=padding,
            )
        with _v1.variable_scope("Branch_3"):
            t3 = slim.max_pool2d(net, 3, stride=2, padding=padding, scope="MaxPool_1a_3x3")
        return tf.concat([t0, t1, t2, t3], 3)


def inception_resnet_v2_base(
    inputs: tf.Tensor,
    final_endpoint: str = "Conv2d_7b_1x1",
    output_stride: int = 16,
    align_feature_maps: bool = False,
    scope: str | None = None,
    activation_fn: Callable | None = tf.nn.relu,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """The Inception-ResNet-v2 trunk up to ``final_endpoint`` (one of :data:`END_POINTS`).

    Args:
      inputs: ``[batch, height, width, channels]``.
      final_endpoint: the last end point to build.
      output_stride: 16, or 8 (atrous 17x17 blocks; only up to ``PreAuxLogits``).
      align_feature_maps: SAME instead of VALID padding everywhere (aligned maps).
      scope: variable scope.
      activation_fn: activation after each residual block.

    Returns:
      ``(net, end_points)``.

    Raises:
      ValueError: bad ``final_endpoint`` or ``output_stride``, or ``output_stride=8``
        with an end point after ``PreAuxLogits``.
    """
    if output_stride not in (8, 16):
        raise ValueError(f"output_stride must be 8 or 16, got {output_stride}")
    if final_endpoint not in END_POINTS:
        raise ValueError(f"final_endpoint ({final_endpoint}) not recognized; one of {END_POINTS}")
    if output_stride == 8 and END_POINTS.index(final_endpoint) > END_POINTS.index("PreAuxLogits"):
        raise ValueError("output_stride==8 is only supported up to the PreAuxlogits end_point.")
    padding = "SAME" if align_feature_maps else "VALID"
    atrous = output_stride == 8
    end_points: dict[str, tf.Tensor] = {}
    with _v1.variable_scope(scope, "InceptionResnetV2", [inputs]):
        with slim.arg_scope(
            [slim.conv2d, slim.max_pool2d, slim.avg_pool2d], stride=1, padding="SAME"
        ):
            stem = (
                (
                    "Conv2d_1a_3x3",
                    lambda x, s: slim.conv2d(x, 32, 3, stride=2, padding=padding, scope=s),
                ),
                ("Conv2d_2a_3x3", lambda x, s: slim.conv2d(x, 32, 3, padding=padding, scope=s)),
                ("Conv2d_2b_3x3", lambda x, s: slim.conv2d(x, 64, 3, scope=s)),
                (
                    "MaxPool_3a_3x3",
                    lambda x, s: slim.max_pool2d(x, 3, stride=2, padding=padding, scope=s),
                ),
                ("Conv2d_3b_1x1", lambda x, s: slim.conv2d(x, 80, 1, padding=padding, scope=s)),
                ("Conv2d_4a_3x3", lambda x, s: slim.conv2d(x, 192, 3, padding=padding, scope=s)),
                (
                    "MaxPool_5a_3x3",
                    lambda x, s: slim.max_pool2d(x, 3, stride=2, padding=padding, scope=s),
                ),
            )
            net = inputs
            for name, layer in stem:
                net = layer(net, name)
                end_points[name] = net
                if name == final_endpoint:
                    return net, end_points

            net = _mixed_5b(net)
            end_points["Mixed_5b"] = net
            if final_endpoint == "Mixed_5b":
                return net, end_points
            net = slim.repeat(net, 10, block35, scale=0.17, activation_fn=activation_fn)

            net = _mixed_6a(net, 1 if atrous else 2, padding)
            end_points["Mixed_6a"] = net
            if final_endpoint == "Mixed_6a":
                return net, end_points
            with slim.arg_scope([slim.conv2d], rate=2 if atrous else 1):
                net = slim.repeat(net, 20, block17, scale=0.10, activation_fn=activation_fn)
            end_points["PreAuxLogits"] = net
            if final_endpoint == "PreAuxLogits":
                return net, end_points

            net = _mixed_7a(net, padding)
            end_points["Mixed_7a"] = net
            if final_endpoint == "Mixed_7a":
                return net, end_points
            net = slim.repeat(net, 9, block8, scale=0.20, activation_fn=activation_fn)
            net = block8(net, activation_fn=None)
            net = slim.conv2d(net, 1536, 1, scope="Conv2d_7b_1x1")
            end_points["Conv2d_7b_1x1"] = net
            return net, end_points


def _aux_logits(pre_aux: tf.Tensor, num_classes: int) -> tf.Tensor:
    """The auxiliary classifier on ``PreAuxLogits`` (TF-Slim's scope names, including the
    average pool it calls ``Conv2d_1a_3x3`` and the ``Conv2d_2a_5x5`` sized to fit)."""
    with _v1.variable_scope("AuxLogits"):
        aux = slim.avg_pool2d(pre_aux, 5, stride=3, padding="VALID", scope="Conv2d_1a_3x3")
        aux = slim.conv2d(aux, 128, 1, scope="Conv2d_1b_1x1")
        aux = slim.conv2d(aux, 768, aux.get_shape()[1:3], padding="VALID", scope="Conv2d_2a_5x5")
        aux = slim.flatten(aux)
        return slim.fully_connected(aux, num_classes, activation_fn=None, scope="Logits")


def inception_resnet_v2(
    inputs: tf.Tensor,
    num_classes: int = 1001,
    is_training: bool = True,
    dropout_keep_prob: float = 0.8,
    reuse: bool | None = None,
    scope: str = "InceptionResnetV2",
    create_aux_logits: bool = True,
    activation_fn: Callable | None = tf.nn.relu,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Inception-ResNet-v2 with TF-Slim's names, defaults and end points.

    Args:
      inputs: ``[batch, height, width, 3]`` images in [-1, 1] (299x299 by default).
      num_classes: number of classes (1001 for TF-Slim's checkpoint); 0 or None returns
        the pooled ``[batch, 1, 1, 1536]`` features (no ``AuxLogits`` either).
      is_training: batch-norm mode and dropout.
      dropout_keep_prob: keep probability before the logits.
      reuse: reuse the variables of an earlier call in ``scope``.
      scope: variable scope.
      create_aux_logits: build the auxiliary head on ``PreAuxLogits``.
      activation_fn: activation after each residual block.

    Returns:
      ``(logits [batch, num_classes], end_points)``.
    """
    with _v1.variable_scope(scope, "InceptionResnetV2", [inputs], reuse=reuse) as var_scope:
        with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
            net, end_points = inception_resnet_v2_base(
                inputs, scope=var_scope, activation_fn=activation_fn
            )
            if create_aux_logits and num_classes:
                end_points["AuxLogits"] = _aux_logits(end_points["PreAuxLogits"], num_classes)
            with _v1.variable_scope("Logits"):
                window = net.get_shape()[1:3]
                if window.is_fully_defined():
                    net = slim.avg_pool2d(net, window, padding="VALID", scope="AvgPool_1a_8x8")
                else:
                    net = tf.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")
                end_points["global_pool"] = net
                if not num_classes:
                    return net, end_points
                net = slim.flatten(net)
                net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="Dropout")
                end_points["PreLogitsFlatten"] = net
                logits = slim.fully_connected(net, num_classes, activation_fn=None, scope="Logits")
                end_points["Logits"] = logits
                end_points["Predictions"] = tf.nn.softmax(logits, name="Predictions")
    return logits, end_points


inception_resnet_v2.default_image_size = 299


def inception_resnet_v2_arg_scope(
    weight_decay: float = 0.00004,
    batch_norm_decay: float = 0.9997,
    batch_norm_epsilon: float = 0.001,
    activation_fn: Callable | None = tf.nn.relu,
    batch_norm_updates_collections: str | None = tf.compat.v1.GraphKeys.UPDATE_OPS,
    batch_norm_scale: bool = False,
) -> dict:
    """TF-Slim's arg scope for Inception-ResNet-v2: L2 on weights *and* biases of conv
    and fully connected layers, batch norm after every conv (same keywords as TF-Slim).

    Returns:
      the arg-scope dict for ``with slim.arg_scope(...)``.
    """
    regularizer = slim.l2_regularizer(weight_decay)
    batch_norm_params = {
        "decay": batch_norm_decay,
        "epsilon": batch_norm_epsilon,
        "updates_collections": batch_norm_updates_collections,
        "fused": None,
        "scale": batch_norm_scale,
    }
    with slim.arg_scope(
        [slim.conv2d, slim.fully_connected],
        weights_regularizer=regularizer,
        biases_regularizer=regularizer,
    ):
        with slim.arg_scope(
            [slim.conv2d],
            activation_fn=activation_fn,
            normalizer_fn=slim.batch_norm,
            normalizer_params=batch_norm_params,
        ) as scope:
            return scope
