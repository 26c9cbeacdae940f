"""The training loop: a plain :class:`TrainConfig` in, checkpoints and summaries out.

TF-Slim's ``train_image_classifier.py`` semantics on TF2 machinery: a ``tf.distribute``
strategy (one device unless ``TF_CONFIG`` names several workers), a ``tf.function`` train
step (optionally XLA-compiled), ``tf.data`` input, TF1 update rules
(:mod:`slimcls.optim`), and TF1 name-based checkpoints (:mod:`slimcls.checkpoints`)
holding the model variables, ``global_step``, the optimizer slots and the moving-average
shadows under TF-Slim's names, so TF-Slim's eval and a resumed run read them.

Loss (as TF-Slim's): softmax cross-entropy with label smoothing, + 0.4 x the AuxLogits
cross-entropy when the net has AuxLogits, + the nets' weight-decay terms.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from slimcls import checkpoints, finetune, optim, summaries
from slimcls.config import TrainConfig
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.slim_model import variable_name

log = logging.getLogger(__name__)

AUX_LOSS_WEIGHT = 0.4
GLOBAL_STEP = checkpoints.GLOBAL_STEP
#: float16 dynamic loss scaling: start, growth interval (steps), bounds.
_LOSS_SCALE_START, _LOSS_SCALE_GROWTH_STEPS = 2.0**15, 2000


@dataclasses.dataclass
class TrainResult:
    """What a finished (or interrupted) run left behind."""

    global_step: int
    checkpoint: str | None
    losses: dict[str, float]
    validation_accuracy: float | None = None
    interrupted_by: str | None = None  # "SIGINT" / "SIGTERM"
    step_seconds: list[float] = dataclasses.field(default_factory=list)  # wall, per step
    step_cpu_seconds: list[float] = dataclasses.field(default_factory=list)  # process CPU


# ------------------------------------------------------------------------------ losses


def compute_losses(
    logits: tf.Tensor,
    end_points: Mapping[str, tf.Tensor],
    labels: tf.Tensor,
    num_classes: int,
    label_smoothing: float = 0.0,
    regularization: tf.Tensor | None = None,
) -> dict[str, tf.Tensor]:
    """TF-Slim's loss terms, each a float32 scalar (batch mean).

    ``cross_entropy`` uses TF1's label smoothing (``onehot * (1 - s) + s / num_classes``);
    ``aux_loss`` is ``0.4 x`` the same loss on ``end_points['AuxLogits']`` when present;
    ``total_loss`` adds ``regularization`` (weight decay).
    """
    onehot = tf.one_hot(labels, num_classes, dtype=tf.float32)
    if label_smoothing > 0:
        onehot = onehot * (1.0 - label_smoothing) + label_smoothing / num_classes

    def xent(x):
        x = tf.cast(x, tf.float32)
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=onehot, logits=x))

    terms = {"cross_entropy": xent(logits)}
    if "AuxLogits" in end_points:
        terms["aux_loss"] = AUX_LOSS_WEIGHT * xent(end_points["AuxLogits"])
    terms["regularization"] = (
        tf.cast(regularization, tf.float32) if regularization is not None else tf.constant(0.0)
    )
    terms["total_loss"] = tf.add_n(list(terms.values()))
    return terms


# ------------------------------------------------------------------------------ setup


def _check_unsupported(config: TrainConfig) -> None:
    if config.num_clones != 1:
        raise SlimclsError(
            f"--num_clones={config.num_clones} is not supported yet (multi-device training "
            "comes in a later release); use --num_clones=1"
        )
    if config.mixed_precision not in (None, "bfloat16", "float16"):
        raise SlimclsError(
            f"--mixed_precision={config.mixed_precision!r}; expected bfloat16 or float16"
        )
    if config.batch_size < 1:
        raise SlimclsError(f"--batch_size={config.batch_size}; expected at least 1")


def _create_strategy(clone_on_cpu: bool) -> tf.distribute.Strategy:
    """The default one-device strategy, or all workers named in TF_CONFIG."""
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    workers = tf_config.get("cluster", {}).get("worker", [])
    if len(workers) > 1:
        log.info("TF_CONFIG names %d workers: MultiWorkerMirroredStrategy", len(workers))
        return tf.distribute.MultiWorkerMirroredStrategy()
    if clone_on_cpu and tf.config.list_logical_devices("GPU"):
        return tf.distribute.OneDeviceStrategy("/cpu:0")
    # One device: TensorFlow's default strategy (its first GPU, else the CPU) has the least
    # per-step overhead and the same API as the distributed ones.
    return tf.distribute.get_strategy()


def _strategy_text(strategy: tf.distribute.Strategy) -> str:
    if strategy is tf.distribute.get_strategy() and not tf.distribute.has_strategy():
        return "one device (default strategy)"
    return f"{strategy.__class__.__name__} ({strategy.num_replicas_in_sync} replicas)"


def _is_chief(strategy: tf.distribute.Strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def _num_workers(strategy: tf.distribute.Strategy) -> int:
    return int(getattr(strategy.extended, "_num_workers", 1) or 1)


@contextlib.contextmanager
def _float32_variables(compute_dtype: tf.DType):
    """Keeps TF-Slim variables float32 when layers run in ``compute_dtype``.

    tf_slim layers ask for variables of their input's dtype; the custom getter creates
    (or reuses) float32 ones and hands the layer a cast copy (the classic TF1 mixed
    precision recipe), so checkpoints and the optimizer see float32.
    """

    def getter(next_getter, name, shape=None, dtype=None, *args, **kwargs):
        var = next_getter(name, shape, tf.float32, *args, **kwargs)
        return tf.cast(var, compute_dtype) if dtype not in (None, tf.float32) else var

    with tf.compat.v1.variable_scope(
        tf.compat.v1.get_variable_scope(), custom_getter=getter, auxiliary_name_scope=False
    ):
        yield


class _EMA:
    """TF1 ``ExponentialMovingAverage(decay, num_updates=global_step)`` of variables.

    Shadows are float32 ``<var>/ExponentialMovingAverage`` variables, updated after
    every step with ``decay = min(decay, (1 + step) / (10 + step))``.
    """

    def __init__(self, decay: float, variables: Mapping[str, tf.Variable]):
        self.decay = float(decay)
        self.sources = dict(variables)
        self.shadows = {
            checkpoints.ema_name(n): tf.Variable(
                v.read_value(),
                trainable=False,
                name=checkpoints.ema_name(n),
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
            for n, v in self.sources.items()
        }

    def reset(self) -> None:
        for n, v in self.sources.items():
            self.shadows[checkpoints.ema_name(n)].assign(v.read_value())

    def update(self, step: tf.Tensor) -> None:
        step = tf.cast(step, tf.float32)
        decay = tf.minimum(self.decay, (1.0 + step) / (10.0 + step))
        for n, v in self.sources.items():
            shadow = self.shadows[checkpoints.ema_name(n)]
            shadow.assign_sub((1.0 - decay) * (shadow - tf.cast(v, shadow.dtype)))


# ------------------------------------------------------------------------------ train


class _Signals:
    """Turns SIGINT/SIGTERM into a flag the loop checks after each step."""

    def __init__(self, enabled: bool):
        self.received: str | None = None
        self._old: dict[int, Any] = {}
        self._enabled = enabled and threading.current_thread() is threading.main_thread()

    def __enter__(self):
        if self._enabled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.received:  # second signal: give up at once
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name
        log.warning("%s received: saving a checkpoint and stopping", self.received)

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _per_replica_local(strategy, value):
    return strategy.experimental_local_results(value)[0]


def train(config: TrainConfig, on_start: Callable[[], object] | None = None) -> TrainResult:
    """Trains ``config.model_name`` on a converted dataset; see :class:`TrainConfig`.

    ``on_start`` runs once everything is checked and restored, just before the first step
    (the entry point writes ``flags.txt`` there, so a run that fails to start leaves no
    files behind).

    Resumes from the newest checkpoint in ``train_dir`` when there is one (then
    ``checkpoint_path`` is not used, and this is logged); otherwise fine-tunes from
    ``checkpoint_path`` when given. Saves every ``save_interval_secs``, at the end and on
    SIGINT/SIGTERM.

    Raises:
      SlimclsError: bad configuration or data, a checkpoint that does not fit, or a
        NaN/Inf loss (the message names the step; the last good checkpoint is kept).
    """
    from slimcls import input_pipeline
    from slimcls.datasets import dataset_factory
    from slimcls.models import create_model
    from slimcls.nets import nets_factory

    _check_unsupported(config)
    spec = nets_factory.get_spec(config.model_name)
    image_size = int(config.train_image_size or spec.default_image_size)
    nets_factory.check_image_size(config.model_name, image_size, flag="--train_image_size")
    descriptor = dataset_factory.get_dataset(
        config.dataset_name, config.dataset_split_name, config.dataset_dir
    )
    if config.batch_size > descriptor.num_samples:
        raise SlimclsError(
            f"--batch_size={config.batch_size} is larger than split "
            f"{descriptor.split_name!r} of {descriptor.name!r} ({descriptor.num_samples} examples)"
        )
    num_classes = descriptor.num_classes - config.labels_offset
    if num_classes < 1:
        raise SlimclsError(
            f"--labels_offset={config.labels_offset} leaves no classes of {descriptor.num_classes}"
        )
    schedule = optim.learning_rate_schedule(
        config.learning_rate, descriptor.num_samples, config.batch_size, config.max_number_of_steps
    )
    if config.validation_split_name:  # fail now, not after building the model
        dataset_factory.get_dataset(
            config.dataset_name, config.validation_split_name, config.dataset_dir
        )
    if config.random_seed is not None:
        tf.keras.utils.set_random_seed(config.random_seed)

    strategy = _create_strategy(config.clone_on_cpu)
    chief = _is_chief(strategy)
    # Every worker saves (saving may involve collectives); only the chief's files are kept.
    task_id = getattr(getattr(strategy, "cluster_resolver", None), "task_id", 0)
    save_dir = (
        config.train_dir if chief else os.path.join(config.train_dir, f".worker_tmp_{task_id}")
    )
    preprocess = _train_preprocess(config, spec.preprocessing, image_size)

    def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        return input_pipeline.make_dataset(
            descriptor,
            preprocess,
            ctx.get_per_replica_batch_size(config.batch_size),
            is_training=True,
            labels_offset=config.labels_offset,
            shuffle_buffer_size=config.shuffle_buffer_size,
            num_readers=config.num_readers or None,
            num_parallel_calls=config.num_preprocessing_threads or None,
            seed=config.random_seed,
            input_context=ctx,
        )

    dataset = strategy.distribute_datasets_from_function(dataset_fn)
    image_shape = tuple(int(d) for d in dataset.element_spec[0].shape[1:])

    compute_dtype = tf.dtypes.as_dtype(config.mixed_precision or "float32")
    with strategy.scope():
        model = create_model(config.model_name, num_classes, weight_decay=config.weight_decay)
        model.build_variables(image_shape)  # float32, eagerly: variables and regularizers
        if compute_dtype != tf.float32:
            _compute_in(model, compute_dtype)
        model_vars = model.variables_by_name()
        to_train = finetune.variables_to_train(
            model.trainable_variables, list(config.trainable_scopes)
        )
        global_step = tf.Variable(
            0,
            dtype=tf.int64,
            trainable=False,
            name=GLOBAL_STEP,
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )
        lr_var = tf.Variable(
            0.0,
            trainable=False,
            name="learning_rate",
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )
        opt = optim.create_optimizer(config.optimizer, lr_var)
        slots = optim.create_slots(opt, to_train)
        ema = _EMA(config.moving_average_decay, model_vars) if config.moving_average_decay else None
        loss_scale = (
            tf.Variable(_LOSS_SCALE_START, trainable=False, name="loss_scale")
            if compute_dtype == tf.float16
            else None
        )
        good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="good_steps")

    log.info(
        "Training %s (%d variables, %d trained, %d classes) on %s/%s (%d examples), "
        "batch %d, image %dx%d, %s",
        config.model_name,
        len(model_vars),
        len(to_train),
        num_classes,
        descriptor.name,
        descriptor.split_name,
        descriptor.num_samples,
        config.batch_size,
        image_shape[0],
        image_shape[1],
        _strategy_text(strategy),
    )
    _restore(config, model_vars, global_step, slots, ema, spec, num_classes)

    state = {GLOBAL_STEP: global_step, **model_vars, **slots, **(ema.shadows if ema else {})}
    step_fn = _make_train_step(
        config, strategy, model, opt, to_train, global_step, lr_var, schedule, ema,
        num_classes, loss_scale, good_steps,
    )  # fmt: skip
    validate = _make_validation(config, model, image_size, num_classes)
    tf.io.gfile.makedirs(config.train_dir)
    if on_start is not None and chief:
        on_start()
    return _loop(config, strategy, dataset, step_fn, state, global_step, save_dir, validate)


def _compute_in(model, dtype: tf.DType) -> None:
    """Makes the (built) SlimModel's layers compute in ``dtype``; variables stay float32.

    Call after ``build_variables``: the variables (and their weight-decay terms) are then
    created in float32, and later (``tf.function``) calls reuse them through
    :func:`_float32_variables`, which hands each layer a ``dtype`` copy.
    """
    net_fn = model._net_fn  # noqa: SLF001 (wrap the net function once)

    @functools.wraps(net_fn)
    def mixed_net_fn(images, **kwargs):
        with _float32_variables(dtype):
            return net_fn(tf.cast(images, dtype), **kwargs)

    model._net_fn = mixed_net_fn  # noqa: SLF001


def _train_preprocess(config: TrainConfig, default_name: str, image_size: int):
    from slimcls.preprocessing import preprocessing_factory

    name = config.preprocessing_name or default_name
    try:
        fn = preprocessing_factory.get_preprocessing(
            name, is_training=True, use_grayscale=config.use_grayscale
        )
    except SlimclsError:
        raise
    except (KeyError, ValueError) as e:
        raise SlimclsError(f"preprocessing_name {name!r}: {e}") from None
    return lambda image: fn(image, image_size, image_size)


def _restore(config, model_vars, global_step, slots, ema, spec, num_classes) -> None:
    """Resume from train_dir (full state) or fine-tune from checkpoint_path (model only)."""
    latest = checkpoints.latest_checkpoint(config.train_dir)
    if latest:
        if config.checkpoint_path:
            log.warning(
                "--checkpoint_path=%s is not used: train_dir %s already holds checkpoint %s, "
                "training resumes from it",
                config.checkpoint_path,
                config.train_dir,
                os.path.basename(latest),
            )
        keys = set(checkpoints.read_shapes(latest))
        required = {GLOBAL_STEP: global_step, **model_vars}
        checkpoints.restore_variables(required, latest)
        optional = {**slots, **(ema.shadows if ema else {})}
        present = {k: v for k, v in optional.items() if k in keys}
        checkpoints.restore_variables(present, latest)
        absent = sorted(set(optional) - set(present))
        if ema and any(k in absent for k in ema.shadows):
            for name, var in model_vars.items():
                shadow_name = checkpoints.ema_name(name)
                if shadow_name in absent:
                    ema.shadows[shadow_name].assign(var.read_value())
        if absent:
            log.warning(
                "Checkpoint %s lacks %d optimizer/moving-average variables (e.g. %s): they "
                "start fresh (was the optimizer or --moving_average_decay changed?)",
                latest,
                len(absent),
                absent[0],
            )
        log.info("Resumed from %s at step %d", latest, int(global_step.numpy()))
        return
    if config.checkpoint_path:
        report = finetune.restore_for_finetuning(
            model_vars,
            config.checkpoint_path,
            exclude_scopes=list(config.checkpoint_exclude_scopes),
            ignore_missing_vars=config.ignore_missing_vars,
            logits_scopes=spec.logits_scopes,
            num_classes=num_classes,
            background_class=spec.background_class,
        )
        log.info("%s", report.summary())
        if ema:
            ema.reset()  # shadows start at the restored values


def _make_train_step(
    config, strategy, model, opt, to_train, global_step, lr_var, schedule, ema,
    num_classes, loss_scale, good_steps,
):  # fmt: skip
    replicas = strategy.num_replicas_in_sync

    def replica_step(images, labels):
        with tf.GradientTape() as tape:
            logits, end_points = model(images, training=True)
            terms = compute_losses(
                logits,
                end_points,
                labels,
                num_classes,
                config.label_smoothing,
                _regularization(model),
            )
            scaled = terms["total_loss"] / replicas
            if loss_scale is not None:
                scaled = scaled * loss_scale
        grads = tape.gradient(scaled, to_train)
        if loss_scale is not None:
            grads = [g / loss_scale if g is not None else None for g in grads]
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
            grads = [tf.where(finite, g, tf.zeros_like(g)) for g in grads]
        lr_var.assign(schedule(global_step))
        opt.apply_gradients([(g, v) for g, v in zip(grads, to_train) if g is not None])
        if loss_scale is not None:
            _update_loss_scale(loss_scale, good_steps, finite)
        if ema is not None:
            ema.update(global_step)
        global_step.assign_add(1)
        predictions = tf.argmax(logits, axis=-1, output_type=labels.dtype)
        terms["accuracy"] = tf.reduce_mean(tf.cast(tf.equal(predictions, labels), tf.float32))
        terms["learning_rate"] = lr_var.read_value()
        return terms

    @tf.function(jit_compile=config.jit_compile or None)
    def step(images, labels):
        per_replica = strategy.run(replica_step, args=(images, labels))
        return {
            k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in per_replica.items()
        }

    return step


def _regularization(model) -> tf.Tensor:
    """The model's weight-decay terms summed in float32 (mixed precision makes some 16-bit)."""
    losses = [tf.cast(loss, tf.float32) for loss in model.losses]
    return tf.add_n(losses) if losses else tf.constant(0.0)


def _update_loss_scale(loss_scale, good_steps, finite):
    """float16 dynamic loss scaling: halve on overflow, double after 2000 good steps."""
    grow = tf.logical_and(finite, good_steps + 1 >= _LOSS_SCALE_GROWTH_STEPS)
    new_scale = tf.where(
        finite, tf.where(grow, loss_scale * 2.0, loss_scale), tf.maximum(loss_scale / 2.0, 1.0)
    )
    loss_scale.assign(new_scale)
    good_steps.assign(tf.where(tf.logical_and(finite, tf.logical_not(grow)), good_steps + 1, 0))


def _make_validation(config, model, image_size, num_classes):
    """Returns ``validate() -> (accuracy, n)`` on validation_split_name, or None."""
    if not config.validation_split_name:
        return None
    from slimcls import input_pipeline
    from slimcls.datasets import dataset_factory
    from slimcls.nets import nets_factory
    from slimcls.preprocessing import preprocessing_factory

    descriptor = dataset_factory.get_dataset(
        config.dataset_name, config.validation_split_name, config.dataset_dir
    )
    name = config.preprocessing_name or nets_factory.get_spec(config.model_name).preprocessing
    fn = preprocessing_factory.get_preprocessing(
        name, is_training=False, use_grayscale=config.use_grayscale
    )
    dataset = input_pipeline.make_dataset(
        descriptor,
        lambda image: fn(image, image_size, image_size),
        config.batch_size,
        is_training=False,
        labels_offset=config.labels_offset,
        num_parallel_calls=config.num_preprocessing_threads or None,
    )

    @tf.function
    def count(images, labels):
        logits, _ = model(images, training=False)
        predictions = tf.argmax(logits, axis=-1, output_type=labels.dtype)
        return tf.reduce_sum(tf.cast(tf.equal(predictions, labels), tf.int64))

    def validate() -> tuple[float, int]:
        correct = total = 0
        for images, labels in dataset:
            correct += int(count(images, labels))
            total += int(labels.shape[0])
        return correct / max(total, 1), total

    return validate


# ------------------------------------------------------------------------------ loop


def _image_summary(strategy, images, limit):
    images = _per_replica_local(strategy, images)[:limit]
    low = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
    high = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
    return (images - low) / tf.maximum(high - low, 1e-6)


def _loop(config, strategy, dataset, step_fn, state, global_step, save_dir, validate):
    writer = tf.summary.create_file_writer(config.train_dir)
    step = int(global_step.numpy())
    max_steps = config.max_number_of_steps
    last_save = last_summary = time.monotonic()
    window_start, window_steps = time.monotonic(), 0
    summarised_once = False
    saved: str | None = None
    values: dict[str, float] = {}
    accuracy = None

    def save() -> str:
        prefix = checkpoints.save_checkpoint(
            state, save_dir, int(global_step.numpy()), max_to_keep=config.max_checkpoints_to_keep
        )
        log.info("Saved checkpoint %s", prefix)
        return prefix

    if max_steps is not None and step >= max_steps:
        log.info("global_step %d already reached --max_number_of_steps=%d", step, max_steps)
        return TrainResult(step, checkpoints.latest_checkpoint(config.train_dir), {})

    iterator = iter(dataset)
    step_seconds: list[float] = []
    step_cpu_seconds: list[float] = []
    with _Signals(config.handle_signals) as signals, writer.as_default():
        while max_steps is None or step < max_steps:
            started, cpu_started = time.perf_counter(), time.process_time()
            images, labels = next(iterator)
            outputs = step_fn(images, labels)
            step += 1
            window_steps += 1
            values = {k: float(v) for k, v in outputs.items()}  # waits for the step
            step_seconds.append(time.perf_counter() - started)
            step_cpu_seconds.append(time.process_time() - cpu_started)
            if not math.isfinite(values["total_loss"]):
                raise SlimclsError(
                    f"loss is {values['total_loss']} at step {step} "
                    f"({_loss_text(values)}); stopped without saving, the last good checkpoint "
                    f"is {checkpoints.latest_checkpoint(config.train_dir) or 'none'} (lower "
                    "--learning_rate, or check the data)"
                )
            now = time.monotonic()
            if config.log_every_n_steps and step % config.log_every_n_steps == 0:
                elapsed = now - window_start
                log.info(
                    "step %d: loss = %.4f (%s), lr = %.6g, %.1f examples/sec, %.3f sec/step",
                    step,
                    values["total_loss"],
                    _loss_text(values),
                    values["learning_rate"],
                    window_steps * config.batch_size / max(elapsed, 1e-9),
                    elapsed / window_steps,
                )
                window_start, window_steps = time.monotonic(), 0
            if not summarised_once or now - last_summary >= config.save_summaries_secs:
                _write_summaries(values, step, strategy, images, config.num_summary_images)
                summarised_once, last_summary = True, now
            if validate and config.eval_every_n_steps and step % config.eval_every_n_steps == 0:
                accuracy = _run_validation(validate, step, config.validation_split_name)
            if signals.received:
                saved = save()
                return TrainResult(
                    step, saved, values, accuracy, signals.received, step_seconds, step_cpu_seconds
                )
            if now - last_save >= config.save_interval_secs:
                saved, last_save = save(), time.monotonic()
        if validate and (accuracy is None or step % (config.eval_every_n_steps or 1) != 0):
            accuracy = _run_validation(validate, step, config.validation_split_name)
        if saved is None or checkpoints.step_of(saved) != step:
            saved = save()
        writer.flush()
    return TrainResult(step, saved, values, accuracy, None, step_seconds, step_cpu_seconds)


def _loss_text(values: Mapping[str, float]) -> str:
    keys = ("cross_entropy", "aux_loss", "regularization")
    return ", ".join(f"{k} {values[k]:.4f}" for k in keys if k in values)


def _write_summaries(values, step, strategy, images, num_images) -> None:
    for key in ("cross_entropy", "aux_loss", "regularization", "total_loss"):
        if key in values:
            summaries.scalar(f"losses/{key}", values[key], step)
    summaries.scalar("learning_rate", values["learning_rate"], step)
    summaries.scalar("train/accuracy", values["accuracy"], step)
    if num_images:
        summaries.images("images", _image_summary(strategy, images, num_images), step)


def _run_validation(validate, step, split) -> float:
    accuracy, n = validate()
    log.info("step %d: validation accuracy on %s = %.4f (%d examples)", step, split, accuracy, n)
    summaries.scalar(f"validation/{split}/accuracy", accuracy, step)
    return accuracy


def variable_names(variables) -> list[str]:
    """TF-Slim names of a list of variables (for logs and tests)."""
    return [variable_name(v) for v in variables]
