"""Runs TF-Slim-style net functions as TF2 trackable models with TF-Slim variable names.

A TF-Slim net is a function ``net(images, num_classes, is_training, ...) -> (logits,
end_points)`` that creates its variables with ``tf.compat.v1.get_variable`` under
``variable_scope``. :class:`SlimModel` calls it inside
``tf.compat.v1.keras.utils.track_tf1_style_variables``, which captures those variables
once (keeping their exact names, e.g. ``CifarNet/conv1/weights``) and reuses them on
every later call, eagerly, inside ``tf.function`` (with or without XLA) and under
``tf.distribute`` strategies. Regularizers added by ``weights_regularizer`` appear in
:attr:`SlimModel.losses`; BatchNorm moving statistics update when ``training=True``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from slimcls.core.compat import tf

NetFn = Callable[..., tuple[tf.Tensor, Mapping[str, tf.Tensor]]]


def variable_name(variable: tf.Variable) -> str:
    """The TF-Slim / checkpoint name of a variable: its graph name without ``:0``."""
    name = variable.name
    return name[:-2] if name.endswith(":0") else name


@contextlib.contextmanager
def float32_variables(compute_dtype: tf.DType) -> Iterator[None]:
    """Keeps TF-Slim variables float32 while its layers compute in ``compute_dtype``.

    tf_slim layers ask for variables of their input's dtype; this custom getter creates
    (or reuses) float32 ones and hands the layer a cast copy (the classic TF1 mixed
    precision recipe), so checkpoints, regularizers and the optimizer see float32.
    """

    def getter(next_getter, name, shape=None, dtype=None, *args, **kwargs):
        var = next_getter(name, shape, tf.float32, *args, **kwargs)
        return tf.cast(var, compute_dtype) if dtype not in (None, tf.float32) else var

    with tf.compat.v1.variable_scope(
        tf.compat.v1.get_variable_scope(), custom_getter=getter, auxiliary_name_scope=False
    ):
        yield


@contextlib.contextmanager
def synchronized_batch_norm() -> Iterator[None]:
    """Makes ``tf_slim.batch_norm`` normalise with the moments of the global batch.

    tf_slim's ``batch_norm`` has no synchronisation option, but (unfused, with its default
    update collection) it builds the Keras legacy ``BatchNormalization`` layer, whose
    synchronized mode all-reduces the per-replica sums of ``x`` and ``x**2`` (and counts)
    in the replica context before computing mean and variance. Inside this context that
    layer class is swapped for one that is unfused and synchronized; variable names and
    moving-average updates are unchanged (the moving statistics then agree on every
    replica). Outside a strategy it is a no-op numerically.
    """
    import tf_slim as slim
    from tensorflow.python.layers import normalization as layers_normalization
    from tf_keras.src.legacy_tf_layers import normalization as legacy

    class SyncBatchNormalization(legacy.BatchNormalization):
        def __init__(self, *args, **kwargs):
            kwargs["fused"] = False
            super().__init__(*args, **kwargs)
            # The V1 layer drops a ``synchronized`` argument, but the moments code it
            # shares with V2 (``_sync_calculate_mean_and_var``) only reads this attribute.
            self.synchronized = True

    had = "BatchNormalization" in vars(layers_normalization)
    previous = vars(layers_normalization).get("BatchNormalization")
    layers_normalization.BatchNormalization = SyncBatchNormalization
    try:
        # fused=False: tf_slim's own fused kernel computes the moments inside one op.
        with slim.arg_scope([slim.batch_norm], fused=False):
            yield
    finally:
        if had:
            layers_normalization.BatchNormalization = previous
        else:  # back to the module's lazy __getattr__
            del layers_normalization.BatchNormalization


class SlimModel(tf.keras.layers.Layer):
    """A trackable model around a TF-Slim net function.

    Args:
      net_fn: ``net_fn(images, num_classes=..., is_training=..., **net_kwargs)``
        returning ``(logits, end_points)``.
      num_classes: passed to ``net_fn``; 0 asks TF-Slim nets for pre-logits features.
      arg_scope: optional zero-argument callable returning a ``tf_slim.arg_scope``
        context manager, e.g. ``lambda: slim.arg_scope(cifarnet_arg_scope(4e-3))`` or
        ``nets_factory.arg_scope_fn("cifarnet", 4e-3)``.
      net_kwargs: extra keyword arguments for ``net_fn``.
      compute_dtype: dtype the layers compute in (``bfloat16``/``float16`` for mixed
        precision); variables stay float32 and logits come back float32.
      name: Keras layer name (does not appear in variable names).
    """

    def __init__(
        self,
        net_fn: NetFn,
        num_classes: int,
        arg_scope: Callable[[], Any] | None = None,
        net_kwargs: Mapping[str, Any] | None = None,
        compute_dtype: str | tf.DType = "float32",
        name: str = "slim_model",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self._net_fn = net_fn
        self.num_classes = num_classes
        self._arg_scope = arg_scope
        self._net_kwargs = dict(net_kwargs or {})
        self.compute_dtype_ = tf.dtypes.as_dtype(compute_dtype)
        self._variables_built = False
        self._num_decay_terms = 0
        #: Training calls normalise with global-batch moments (see synchronized_batch_norm).
        self.sync_batch_norm = False

    @tf.compat.v1.keras.utils.track_tf1_style_variables
    def call(self, images: tf.Tensor, training: bool = False, features: bool = False):
        """Returns ``(logits, end_points)`` for a batch of preprocessed images.

        Logits (and AuxLogits) are float32 whatever the compute dtype, so losses and
        metrics are computed in float32. ``features=True`` calls the net with
        ``num_classes=0`` instead: the first result is then its pre-logits features (what
        its classifier layer takes), computed with this model's variables (nothing new is
        created), also as float32.
        """
        scope = self._arg_scope() if self._arg_scope else contextlib.nullcontext()
        # The first (building) call always runs in float32: variables, and the weight-decay
        # terms of their regularizers, are created once in float32, eagerly; the custom
        # getter of later calls then only reuses them (it cannot create them eagerly).
        mixed = self._variables_built and self.compute_dtype_ != tf.float32
        precision = float32_variables(self.compute_dtype_) if mixed else contextlib.nullcontext()
        sync = (
            synchronized_batch_norm()
            if self.sync_batch_norm and training
            else contextlib.nullcontext()
        )
        with scope, precision, sync:
            logits, end_points = self._net_fn(
                tf.cast(images, self.compute_dtype_) if mixed else images,
                num_classes=0 if features else self.num_classes,
                is_training=training,
                **self._net_kwargs,
            )
        end_points = dict(end_points)
        if mixed:
            logits = tf.cast(logits, tf.float32)
            if "AuxLogits" in end_points:
                end_points["AuxLogits"] = tf.cast(end_points["AuxLogits"], tf.float32)
        return logits, end_points

    def build_variables(self, image_shape: tuple[int, int, int]) -> None:
        """Creates all variables with one eval-mode call on a zero batch.

        Call this eagerly (under ``strategy.scope()`` when distributing) before the
        first ``tf.function`` step, so variables are created once, outside replicas.
        """
        self(tf.zeros((1, *image_shape), tf.float32), training=False)
        self._variables_built = True
        self._num_decay_terms = len(self.losses)

    def variables_by_name(self) -> dict[str, tf.Variable]:
        """All variables (trainable and not) keyed by their TF-Slim names."""
        return {variable_name(v): v for v in self.variables}

    def regularization_loss(self) -> tf.Tensor:
        """Sum of the net's weight-decay terms in float32 (0.0 when it has none).

        Only the terms recorded when the variables were built count: they are callables of
        the float32 variables. In mixed precision the legacy layers add one more term per
        call, on the 16-bit copy of each weight; summing ``self.losses`` would count weight
        decay twice.
        """
        terms = self.losses[: self._num_decay_terms] if self._variables_built else self.losses
        losses = [tf.cast(loss, tf.float32) for loss in terms]
        return tf.add_n(losses) if losses else tf.constant(0.0)
