"""The train step: a module-level function of the state and one batch.

:func:`train_step` is what each replica runs; :func:`make_step_fn` wraps it in one
``tf.function`` (optionally XLA-compiled) that a ``tf.distribute`` strategy runs per
replica, ``steps_per_call`` times per call, reading batches from a distributed
iterator, so the host is not involved between the steps of one call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from slimcls.core.compat import tf
from slimcls.train.losses import compute_losses
from slimcls.train.state import TrainState

Schedule = Callable[[tf.Tensor], tf.Tensor]


@dataclasses.dataclass(frozen=True)
class StepOptions:
    """The step's constants.

    Attributes:
      num_classes: the net's outputs.
      label_smoothing: TF-Slim's ``--label_smoothing``.
      global_batch_size: examples per step over all replicas (losses are averaged over it).
      num_summary_images: first replica's images returned for image summaries.
    """

    num_classes: int
    label_smoothing: float
    global_batch_size: int
    num_summary_images: int = 0


def train_step(
    state: TrainState,
    schedule: Schedule,
    options: StepOptions,
    images: tf.Tensor,
    labels: tf.Tensor,
) -> dict[str, tf.Tensor]:
    """One optimisation step on one replica's batch; returns its metrics.

    The loss is averaged over the *global* batch and weight decay is added once per
    step in total (each of N replicas adds 1/N of it), so gradients summed over replicas
    equal one device's on the whole batch. Returned metrics are per replica; the caller
    reduces them (sum for the losses, mean for accuracy).
    """
    replicas = tf.distribute.get_replica_context().num_replicas_in_sync
    with tf.GradientTape() as tape:
        logits, end_points = state.model(images, training=True)
        terms = compute_losses(
            logits,
            end_points,
            labels,
            options.num_classes,
            options.label_smoothing,
            state.model.regularization_loss() / replicas,
            global_batch_size=options.global_batch_size,
        )
        loss = terms["total_loss"]
        if state.loss_scale is not None:
            loss = loss * state.loss_scale.scale
    grads = tape.gradient(loss, state.trainable)
    if state.loss_scale is not None:
        grads, finite = state.loss_scale.unscale(grads)
    state.learning_rate.assign(schedule(state.global_step))
    state.optimizer.apply_gradients(
        [(g, v) for g, v in zip(grads, state.trainable) if g is not None]
    )
    if state.loss_scale is not None:
        state.loss_scale.update(finite)
    if state.ema is not None:
        state.ema.update(state.global_step)
    state.global_step.assign_add(1)
    predictions = tf.argmax(logits, axis=-1, output_type=labels.dtype)
    correct = tf.reduce_sum(tf.cast(tf.equal(predictions, labels), tf.float32))
    terms["accuracy"] = correct / options.global_batch_size
    return terms


def make_step_fn(
    state: TrainState,
    strategy: tf.distribute.Strategy,
    schedule: Schedule,
    options: StepOptions,
    jit_compile: bool = False,
    steps_per_call: int = 1,
) -> Callable[..., dict[str, tf.Tensor]]:
    """``step_fn(iterator, num_steps=None) -> metrics`` running several steps in one call.

    ``num_steps`` (an int32 scalar tensor, at most ``steps_per_call``; None:
    ``steps_per_call``) lets the loop end a call exactly on a step where a hook is due
    or the run ends; passing a tensor keeps one traced function for every count.

    Metrics are the last step's, reduced over replicas (losses and accuracy summed
    over replicas, each already divided by the global batch size, so they are global
    means), plus ``learning_rate`` and, with ``num_summary_images``, a few input images.
    """

    def replica_step(images, labels):
        terms = train_step(state, schedule, options, images, labels)
        return terms, images[: options.num_summary_images]

    if jit_compile:  # XLA compiles the computation; reading the iterator stays outside
        replica_step = tf.function(replica_step, jit_compile=True)

    def one_step(iterator):
        images, labels = next(iterator)
        terms, shown = strategy.run(replica_step, args=(images, labels))
        reduced = {
            k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in terms.items()
        }
        return reduced, strategy.experimental_local_results(shown)[0]

    @tf.function
    def multi_step(iterator, num_steps):
        terms, shown = one_step(iterator)
        # A graph loop: no host round trip between these steps.
        for _ in tf.range(num_steps - 1):
            terms, shown = one_step(iterator)
        return _outputs(terms, shown)

    @tf.function
    def single_step(iterator):
        return _outputs(*one_step(iterator))

    def _outputs(terms, shown):
        terms = dict(terms)
        terms["learning_rate"] = state.learning_rate.read_value()
        if options.num_summary_images:
            terms["images"] = shown
        return terms

    def step_fn(iterator, num_steps=None):
        if steps_per_call == 1:
            return single_step(iterator)
        count = steps_per_call if num_steps is None else num_steps
        return multi_step(iterator, tf.constant(count, tf.int32))

    return step_fn
