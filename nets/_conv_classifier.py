"""The classifier shared by TF-Slim's VGG, AlexNet-v2 and OverFeat: ``fc6``-``fc8`` as
convolutions.

Those three nets end the same way, so it lives here once: ``fc6`` (a ``k x k``
convolution over the last pooled map), ``dropout6``, ``fc7`` (``1 x 1``), an optional
spatial mean (``global_pool``), then, unless ``num_classes`` is 0/None, ``dropout7``,
``fc8`` (``1 x 1``, linear) and the optional squeeze of the ``1 x 1`` spatial axes.
Names of variables (``<scope>/fc6/weights``), end points and ops (``fc8/squeezed``,
``global_pool``) are TF-Slim's, so its checkpoints load and its tests pass.

End points: in graph mode (TF1 graphs, ``tf.function``) the layers add their outputs to a
graph collection, as in TF-Slim, whose entries are named by the layers' scopes. Executed
eagerly (the first, variable-creating call of :class:`slimcls.model.slim_model.SlimModel`) that
fails in tf_slim (``max_pool2d``'s name scope is None there) and collections do not exist,
so :class:`EndPoints` records the outputs itself under the same names.
"""

from __future__ import annotations

import tf_slim as slim

from slimcls.core.compat import tf


class EndPoints:
    """The end points of one net call, named ``<net scope>/<layer scope>``.

    Use ``slim.arg_scope([...], outputs_collections=ep.collection)`` around the layers and
    ``ep.add(name, output)`` after each one: in graph mode the collection does the work
    (``add`` is a no-op) and in eager mode ``add`` does (``collection`` is None).
    """

    def __init__(self, scope: tf.compat.v1.VariableScope) -> None:
        self._eager = tf.executing_eagerly()
        self._prefix = scope.name
        self._recorded: dict[str, tf.Tensor] = {}
        self.collection = None if self._eager else scope.original_name_scope + "_end_points"

    def add(self, name: str, net: tf.Tensor) -> tf.Tensor:
        """Records ``net`` as ``<net scope>/<name>`` when executing eagerly; returns it."""
        if self._eager:
            self._recorded[f"{self._prefix}/{name}"] = net
        return net

    def as_dict(self) -> dict[str, tf.Tensor]:
        if self._eager:
            return dict(self._recorded)
        return slim.utils.convert_collection_to_dict(self.collection)


def conv_classifier(
    net: tf.Tensor,
    scope: tf.compat.v1.VariableScope,
    end_points: EndPoints,
    *,
    fc6_kernel: int,
    fc6_depth: int,
    fc6_padding: str,
    num_classes: int | None,
    is_training: bool,
    dropout_keep_prob: float,
    spatial_squeeze: bool,
    global_pool: bool,
    fc8_kwargs: dict | None = None,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Adds ``fc6`` ... ``fc8`` on top of ``net`` inside the net's variable scope.

    Args:
      net: the last pooled feature map.
      scope: the net's open variable scope (``fc8``'s end point is ``<scope.name>/fc8``).
      end_points: the net's end points so far; they become the returned dict once
        ``fc7`` is built (so ``fc8``'s entry is the squeezed tensor, added by hand).
      fc6_kernel: side of ``fc6``'s kernel (the size of the pooled map at the
        published input size, so that ``fc6`` produces ``1 x 1``).
      fc6_depth: ``fc6``'s output depth (``fc7``'s is always 4096).
      fc6_padding: ``fc6``'s padding.
      num_classes: 0 or None returns ``fc7`` (or its global pool) instead of logits.
      is_training: enables the two dropouts.
      dropout_keep_prob: keep probability of both dropouts.
      spatial_squeeze: squeezes ``fc8``'s spatial axes (which fails unless they are 1).
      global_pool: averages ``fc7`` over space, so any input size gives ``1 x 1``.
      fc8_kwargs: extra ``slim.conv2d`` arguments of ``fc8`` (AlexNet and OverFeat give
        it zero biases explicitly).

    Returns:
      ``(net, end_points)``.
    """
    net = slim.conv2d(net, fc6_depth, [fc6_kernel, fc6_kernel], padding=fc6_padding, scope="fc6")
    end_points.add("fc6", net)
    net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout6")
    net = end_points.add("fc7", slim.conv2d(net, 4096, [1, 1], scope="fc7"))
    end_points = end_points.as_dict()
    if global_pool:
        net = tf.reduce_mean(net, axis=[1, 2], keepdims=True, name="global_pool")
        end_points["global_pool"] = net
    if not num_classes:
        return net, end_points
    net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout7")
    net = slim.conv2d(
        net,
        num_classes,
        [1, 1],
        activation_fn=None,
        normalizer_fn=None,
        scope="fc8",
        **(fc8_kwargs or {}),
    )
    if spatial_squeeze:
        net = tf.squeeze(net, [1, 2], name="fc8/squeezed")
    end_points[scope.name + "/fc8"] = net
    return net, end_points
