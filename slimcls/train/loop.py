"""``train(config)``: checks the run, builds the state, runs steps until done.

The order is chosen so a run that cannot work fails before it costs anything: flags and
dataset first, then the model and the checkpoint it starts from, and only then files in
``train_dir`` (through ``on_start``) and the first step.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Sequence

from slimcls.config import TrainConfig
from slimcls.core import compat
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.core.locking import DirLock
from slimcls.datasets import dataset_factory
from slimcls.model import checkpoints, memory_bounds, model_detect, modeling, run_info
from slimcls.nets import nets_factory
from slimcls.reader import input_pipeline, record_checks
from slimcls.train import bn_check, distribute, hooks, optim, precision, summaries
from slimcls.train.state import create_state, resume_or_finetune
from slimcls.train.step import StepOptions, make_step_fn

log = logging.getLogger("slimcls.train")

#: Every logged step (and validation) as a CSV row, in train_dir.
TRAIN_LOG = "train_log.csv"
#: Sub-directory of train_dir holding the best checkpoint by validation accuracy.
BEST_DIR = "best"


@dataclasses.dataclass
class TrainResult:
    """What a finished (or interrupted) run left behind."""

    global_step: int
    checkpoint: str | None
    losses: dict[str, float]
    validation_accuracy: float | None = None
    interrupted_by: str | None = None  # "SIGINT" / "SIGTERM"
    step_seconds: list[float] = dataclasses.field(default_factory=list)  # wall, per call
    step_cpu_seconds: list[float] = dataclasses.field(default_factory=list)  # process CPU
    stop_reason: str | None = None  # a signal's name, or "early_stopping"
    best_checkpoint: str | None = None  # by validation accuracy, in <train_dir>/best
    best_validation_accuracy: float | None = None
    # The batch-norm check at the end (see bn_check): accuracies compared, the warning.
    train_mode_accuracy: float | None = None
    eval_mode_accuracy: float | None = None
    batch_norm_warning: str | None = None


def _check(config: TrainConfig) -> None:
    for name in ("num_clones", "batch_size", "steps_per_call"):
        if getattr(config, name) < 1:
            raise SlimclsError(f"--{name}={getattr(config, name)}; expected at least 1")


def train(
    config: TrainConfig,
    on_start: Callable[[], object] | None = None,
    extra_hooks: Sequence[hooks.Hook] = (),
) -> TrainResult:
    """Trains ``config.model_name`` on a converted dataset; see :func:`_train`.

    ``extra_hooks`` run after the run's own hooks, before the checkpoint hook (a caller's
    progress display, for example).

    Holds ``train_dir``'s lock from just before the state is built to the end, so a
    second training into the same directory fails at once instead of interleaving
    checkpoints (see :class:`_TrainDirLock`).
    """
    lock = _TrainDirLock(config.train_dir)
    determinism_before = None
    if config.deterministic and config.random_seed is not None:
        # Deterministic kernels everywhere (a nondeterministic op then fails loudly
        # instead of drifting), for this run only: restored when it ends.
        determinism_before = compat.op_determinism(True)
    try:
        return _train(config, on_start, lock, tuple(extra_hooks))
    finally:
        lock.release()
        if determinism_before is not None:
            compat.op_determinism(determinism_before)


class _TrainDirLock:
    """:class:`DirLock` on ``train_dir``, taken late, released always.

    Taken once the flags and the dataset are checked; a failed start removes the
    ``train_dir`` that only the lock created, so it leaves no files. URLs are not locked
    (we cannot see remote processes); that is logged.
    """

    def __init__(self, train_dir: str):
        self.train_dir = train_dir
        self._lock: DirLock | None = None
        self._created = False

    def acquire(self) -> None:
        if "://" in self.train_dir:
            log.warning(
                "--train_dir %s is a URL: not locked against a second training", self.train_dir
            )
            return
        self._created = not os.path.isdir(self.train_dir)
        self._lock = DirLock(self.train_dir, what="--train_dir", log=log.warning)
        try:
            self._lock.acquire()
        except BaseException:
            self._lock = None
            self._remove_if_unused()
            raise

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
            self._remove_if_unused()

    def _remove_if_unused(self) -> None:
        if self._created:
            try:
                os.rmdir(self.train_dir)  # only when empty
            except OSError:
                pass


@dataclasses.dataclass
class _Plan:
    """What a run trains on, checked before anything is built or written."""

    descriptor: dataset_factory.DatasetDescriptor
    validation: dataset_factory.DatasetDescriptor | None
    model_plan: modeling.ModelPlan
    strategy: tf.distribute.Strategy
    global_batch_size: int


def _plan(config: TrainConfig) -> _Plan:
    """Checks flags, dataset, model and batch; creates the strategy.

    Raises:
      SlimclsError: anything that cannot work, before any file is written.
    """
    _check(config)
    _check_resumed_model(config)
    # Before any TensorFlow op: logical CPU devices and the collective ops of a multi-worker
    # strategy can only be set up at program start (reading a dataset can create tensors).
    distribute.configure_local_devices(config.num_clones, config.clone_on_cpu)
    strategy = distribute.create_strategy(config.num_clones, config.clone_on_cpu)
    descriptor = dataset_factory.get_dataset(
        config.dataset_name, config.dataset_split_name, config.dataset_dir
    )
    model_plan = modeling.plan(
        config.model_name,
        descriptor.num_classes,
        preprocessing_name=config.preprocessing_name,
        image_size=config.train_image_size,
        channels=int(descriptor.channels or 3),
        use_grayscale=config.use_grayscale,
        labels_offset=config.labels_offset,
        compute_dtype=precision.compute_dtype(config.mixed_precision, config.model_name),
        batch_norm_decay=config.batch_norm_decay,
    )
    # --batch_size is per clone (TF-Slim): a step trains on the global batch, and the
    # epoch-based schedule counts global batches.
    replicas = strategy.num_replicas_in_sync
    global_batch_size = config.batch_size * replicas
    on_gpu = bool(tf.config.list_logical_devices("GPU")) and not config.clone_on_cpu
    memory_bounds.check(  # an image size that cannot fit fails now, not after minutes
        size_flag="--train_image_size",
        image_size=model_plan.image_size,
        channels=1 if config.use_grayscale else int(descriptor.channels or 3),
        batch_size=global_batch_size,
        model_name=config.model_name,
        default_size=model_plan.spec.default_image_size,
        training=True,
        on_gpu=on_gpu,
    )
    if global_batch_size > descriptor.num_samples:
        times = f" x {replicas} replicas = {global_batch_size}" if replicas > 1 else ""
        raise SlimclsError(
            f"--batch_size={config.batch_size}{times} is larger than split "
            f"{descriptor.split_name!r} of {descriptor.name!r} ({descriptor.num_samples} examples)"
        )
    validation = None
    if config.validation_split_name:  # fail now, not after building the model
        validation = dataset_factory.get_dataset(
            config.dataset_name, config.validation_split_name, config.dataset_dir
        )
    if config.deterministic and config.random_seed is None:
        raise SlimclsError("--deterministic needs --random_seed (e.g. --random_seed=0)")
    input_pipeline.check_shards(descriptor)  # cut shards: fail before any step
    if validation is not None:
        input_pipeline.check_shards(validation)
    return _Plan(descriptor, validation, model_plan, strategy, global_batch_size)


def _check_resumed_model(config: TrainConfig) -> None:
    """A run is resumed with the net it trained: another ``--model_name`` is an error
    saying both ways out (a new ``--train_dir``, or the run's ``--model_name``).

    The run's net is the one in its ``flags.txt``, else (a directory of checkpoints from
    elsewhere) the one its newest checkpoint holds.
    """
    if "://" not in config.train_dir and not os.path.isdir(config.train_dir):
        return
    latest = checkpoints.latest_checkpoint(config.train_dir)
    if latest is None:
        return
    recorded = run_info.read_run_flags(config.train_dir).get("model_name")
    if isinstance(recorded, str) and recorded:
        held, what = [recorded], f"a run of {recorded} (its flags.txt)"
    else:
        held, scope = model_detect.nets_holding(latest)
        what = f"checkpoints of {model_detect.describe(held, scope)}"
    if not held or config.model_name in held:
        return
    fix = f"--model_name={held[0]}" if len(held) == 1 else f"--model_name=<one of {held}>"
    raise SlimclsError(
        f"--train_dir={config.train_dir} holds {what}, newest {os.path.basename(latest)}, "
        f"not --model_name={config.model_name}: to train {config.model_name}, pass a new "
        f"--train_dir; to continue this run, pass {fix}"
    )


def _seed(config: TrainConfig) -> None:
    # --deterministic's op determinism is turned on (and off) by train(); the input
    # pipeline is already deterministic with a seed.
    if config.random_seed is not None:
        tf.keras.utils.set_random_seed(config.random_seed)


def _train(config: TrainConfig, on_start, lock: _TrainDirLock, extra_hooks=()) -> TrainResult:
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
    plan = _plan(config)
    strategy = plan.strategy
    chief = distribute.is_chief(strategy)
    if chief:  # the other workers of a multi-worker run share it
        lock.acquire()
    _seed(config)
    dataset = _distributed_input(config, plan)
    with strategy.scope():
        state = create_state(config, plan.model_plan)
    state.model.sync_batch_norm = config.sync_batch_norm and strategy.num_replicas_in_sync > 1
    _log_start(config, plan, state)
    log.info("%s", resume_or_finetune(state, config, plan.model_plan))

    schedule = optim.learning_rate_schedule(
        config.learning_rate,
        plan.descriptor.num_samples,
        plan.global_batch_size,
        config.max_number_of_steps,
    )
    options = StepOptions(
        num_classes=plan.model_plan.num_classes,
        label_smoothing=config.label_smoothing,
        global_batch_size=plan.global_batch_size,
        num_summary_images=config.num_summary_images,
    )
    step_fn = make_step_fn(
        state, strategy, schedule, options, config.jit_compile, config.steps_per_call
    )
    save_dir = config.train_dir if chief else distribute.worker_dir(config.train_dir, strategy)
    tf.io.gfile.makedirs(config.train_dir)
    if on_start is not None and chief:
        on_start()
    run_hooks = _hooks(config, plan, state, chief, save_dir)
    run_hooks[-1:-1] = extra_hooks  # the checkpoint hook stays last
    run = hooks.Run(
        config,
        state,
        save_dir,
        examples_per_epoch=int(plan.descriptor.num_samples),
        global_batch_size=plan.global_batch_size,
        step=state.step,
    )
    try:
        return _loop(run, step_fn, iter(dataset), run_hooks)
    finally:
        distribute.cleanup(save_dir, config.train_dir)


def _distributed_input(config: TrainConfig, plan: _Plan):
    """The training split as a distributed dataset: each worker reads its own part.

    Batches are copied to each replica's device ahead of the step (a small per-replica
    buffer), so the step does not wait for host-to-device transfers.
    """
    descriptor = plan.descriptor
    preprocess = plan.model_plan.train_input_fn()
    cores = distribute.input_parallelism()
    cache = _cache_images(config, plan, preprocess)

    def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        if ctx.num_input_pipelines > 1:
            how = "by file" if len(descriptor.files) >= ctx.num_input_pipelines else "by record"
            log.info(
                "Input: worker %d of %d reads its shard of %s/%s %s (%d files)",
                ctx.input_pipeline_id,
                ctx.num_input_pipelines,
                descriptor.name,
                descriptor.split_name,
                how,
                len(descriptor.files),
            )
        dataset = input_pipeline.make_dataset(
            descriptor,
            preprocess,
            ctx.get_per_replica_batch_size(plan.global_batch_size),
            is_training=True,
            labels_offset=config.labels_offset,
            shuffle_buffer_size=config.shuffle_buffer_size,
            num_readers=config.num_readers or None,
            num_parallel_calls=config.num_preprocessing_threads or None,
            seed=config.random_seed,
            input_context=ctx,
            cache=cache,
            num_classes=plan.model_plan.num_classes,
            max_image_pixels=config.max_image_pixels,
        )
        options = tf.data.Options()
        # tf.data's threads sized from the cores this process may use (its affinity: a
        # container's or Slurm's share), not the host's.
        options.threading.private_threadpool_size = cores
        return dataset.with_options(options)

    input_options = tf.distribute.InputOptions(
        experimental_fetch_to_device=True, experimental_per_replica_buffer_size=2
    )
    return plan.strategy.distribute_datasets_from_function(dataset_fn, options=input_options)


def _cache_images(config: TrainConfig, plan: _Plan, preprocess) -> bool:
    """Whether the training pipeline keeps its decoded images in memory; logs the choice."""
    workers = distribute.num_workers(plan.strategy)  # each caches its own part
    choice = input_pipeline.cache_choice(
        config.cache_images,
        preprocess,
        int(plan.descriptor.channels),
        -(-int(plan.descriptor.num_samples) // workers),
    )
    if choice is None:
        return False
    cache, nbytes, limit = choice
    log.info(
        "Input: %s the decoded training images in memory (%.0f MB%s)",
        "caching" if cache else "not caching",
        nbytes / 1e6,
        "" if cache else f", above --cache_images=auto's limit of {limit / 1e6:.0f} MB",
    )
    return cache


def _log_start(config: TrainConfig, plan: _Plan, state) -> None:
    image_shape = plan.model_plan.image_shape
    log.info(
        "Training %s (%d variables, %d trained, %d classes) on %s/%s (%d examples), "
        "batch %d per replica (%d global), image %dx%d, %s, %s",
        config.model_name,
        len(state.model_variables()),
        len(state.trainable),
        plan.model_plan.num_classes,
        plan.descriptor.name,
        plan.descriptor.split_name,
        plan.descriptor.num_samples,
        config.batch_size,
        plan.global_batch_size,
        image_shape[0],
        image_shape[1],
        plan.model_plan.compute_dtype,
        distribute.describe(plan.strategy),
    )


def _hooks(config: TrainConfig, plan: _Plan, state, chief: bool, save_dir: str) -> list[hooks.Hook]:
    """The side jobs of this run, in the order they run after each step.

    Validation runs before the checkpoint hook (always last), so a run stopped early
    saves the step it stopped at. Non-chief workers of a multi-worker run write no logs
    or summaries in train_dir (their validation summaries go to their scratch ``save_dir``);
    there every worker logs its own speed, and all workers decide saving and stopping
    together.
    """
    validation, strategy = plan.validation, plan.strategy
    workers = distribute.num_workers(strategy)
    run_hooks: list[hooks.Hook] = []
    if workers > 1:
        resolver = strategy.cluster_resolver
        run_hooks.append(
            distribute.WorkerSpeedHook(
                config.log_every_n_steps,
                f"{resolver.task_type} {resolver.task_id}",
                plan.global_batch_size // workers,
            )
        )
    if chief:
        run_hooks.append(hooks.ProgressHook(config.log_every_n_steps, bar=config.progress_bar))
        run_hooks.append(
            hooks.CsvLogHook(os.path.join(config.train_dir, TRAIN_LOG), config.log_every_n_steps)
        )
        train_writer = summaries.SummaryWriter(os.path.join(config.train_dir, "train"))
        run_hooks.append(
            hooks.SummaryHook(train_writer, config.save_summaries_secs, config.save_summaries_steps)
        )
    if validation is not None:
        writer = summaries.SummaryWriter(
            os.path.join(config.train_dir if chief else save_dir, "validation")
        )
        run_hooks.append(
            hooks.ValidationHook(
                _make_validation(config, plan.model_plan, validation, state.model),
                config.eval_every_n_steps,
                config.validation_split_name,
                writer,
                best_dir=os.path.join(config.train_dir, BEST_DIR) if chief else None,
                patience=config.early_stopping_patience,
            )
        )
    if chief and bn_check.has_batch_norm(state.model_variables()):
        check = _make_validation(
            config,
            plan.model_plan,
            plan.descriptor,
            state.model,
            max_examples=bn_check.CHECK_EXAMPLES,
        )
        decay = config.batch_norm_decay
        if decay is None:
            decay = nets_factory.default_batch_norm_decay(config.model_name)
        run_hooks.append(bn_check.BatchNormCheckHook(lambda: check()[::2], decay))
    if workers > 1:
        run_hooks.append(
            distribute.AgreedCheckpointHook(
                config.save_interval_secs, strategy, config.log_every_n_steps
            )
        )
    else:
        run_hooks.append(hooks.CheckpointHook(config.save_interval_secs))
    return run_hooks


def _loop(run: hooks.Run, step_fn, iterator, run_hooks: list[hooks.Hook]) -> TrainResult:
    config = run.config
    max_steps = config.max_number_of_steps
    if max_steps is not None and run.step >= max_steps:
        log.info("global_step %d already reached --max_number_of_steps=%d", run.step, max_steps)
        return TrainResult(run.step, checkpoints.latest_checkpoint(config.train_dir), {})
    step_seconds: list[float] = []
    step_cpu_seconds: list[float] = []
    # Multi-worker: a stop (signal, early stopping) takes effect once all workers agreed.
    agreed = next((h for h in run_hooks if isinstance(h, distribute.AgreedCheckpointHook)), None)
    for hook in run_hooks:
        hook.begin(run)
    with hooks.StopOnSignals(run, config.handle_signals):
        while (max_steps is None or run.step < max_steps) and not (
            agreed.stop if agreed is not None else run.stop_reason is not None
        ):
            started, cpu_started = time.perf_counter(), time.process_time()
            num_steps = _steps_this_call(run, config, step_every=_cadences(config))
            try:
                outputs = step_fn(iterator, num_steps)
            except tf.errors.DataLossError as e:  # tf.data does not name the file
                raise _data_loss(e, config) from None
            except tf.errors.InvalidArgumentError as e:  # a bad record: name it
                raise (_bad_record(e, config, [config.dataset_split_name]) or e) from None
            run.images = outputs.pop("images", None)
            run.values = {k: float(v) for k, v in outputs.items()}  # waits for the step
            run.step = run.state.step
            step_seconds.append(time.perf_counter() - started)
            step_cpu_seconds.append(time.process_time() - cpu_started)
            if not math.isfinite(run.values["total_loss"]):
                raise SlimclsError(
                    f"loss is {run.values['total_loss']} at step {run.step} "
                    f"({hooks.loss_text(run.values)}); stopped without saving, the last good "
                    f"checkpoint is {checkpoints.latest_checkpoint(config.train_dir) or 'none'} "
                    "(lower --learning_rate, or check the data)"
                )
            try:
                for hook in run_hooks:
                    hook.after_step(run)
            except tf.errors.DataLossError as e:  # validation reading a damaged shard
                raise _data_loss(e, config) from None
            except tf.errors.InvalidArgumentError as e:  # a bad validation record
                raise (_bad_record(e, config, [config.validation_split_name]) or e) from None
        for hook in run_hooks:
            hook.end(run)
    signal_stop = run.stop_reason if run.stop_reason in ("SIGINT", "SIGTERM") else None
    check = next((h for h in run_hooks if isinstance(h, bn_check.BatchNormCheckHook)), None)
    return TrainResult(
        run.step,
        run.checkpoint,
        run.values,
        run.validation_accuracy,
        signal_stop,
        step_seconds,
        step_cpu_seconds,
        stop_reason=run.stop_reason,
        best_checkpoint=run.best_checkpoint,
        best_validation_accuracy=run.best_accuracy,
        train_mode_accuracy=check.train_accuracy if check else None,
        eval_mode_accuracy=check.eval_accuracy if check else None,
        batch_norm_warning=check.warning if check else None,
    )


def _data_loss(error: tf.errors.DataLossError, config: TrainConfig) -> SlimclsError:
    """Names the damaged shard of the training or validation split (one line)."""
    splits = [config.dataset_split_name, config.validation_split_name]
    files = []
    for split in filter(None, splits):
        files += dataset_factory.get_dataset(config.dataset_name, split, config.dataset_dir).files
    return input_pipeline.data_loss_error(error, files, f"--dataset_dir={config.dataset_dir}")


def _bad_record(error: tf.errors.OpError, config: TrainConfig, splits) -> SlimclsError | None:
    """Names the record of ``splits`` that failed the input pipeline (one line), or None
    when ``error`` did not come from the input."""
    if not record_checks.is_input_error(error):
        return None
    descriptors = [
        dataset_factory.get_dataset(config.dataset_name, split, config.dataset_dir)
        for split in filter(None, splits)
    ]
    if not descriptors:
        return None
    first = descriptors[0]
    return record_checks.input_error(
        error,
        [path for d in descriptors for path in d.files],
        channels=int(first.channels or 3),
        num_classes=int(first.num_classes) - config.labels_offset,
        labels_offset=config.labels_offset,
        max_pixels=config.max_image_pixels,
        what=f"split {first.split_name!r} of {config.dataset_dir}",
    )


def _cadences(config: TrainConfig) -> tuple[int, ...]:
    """Step multiples where a hook is due (logs, step-based summaries, validation)."""
    every = [config.log_every_n_steps, config.save_summaries_steps]
    if config.validation_split_name:
        every.append(config.eval_every_n_steps)
    return tuple(n for n in every if n)


def _steps_this_call(run: hooks.Run, config: TrainConfig, step_every: tuple[int, ...]) -> int:
    """Steps of the next call: ``--steps_per_call``, cut short so the call ends exactly on
    the next step where a hook is due or ``--max_number_of_steps``; hooks run between
    calls, so their step cadences hold exactly (time-based ones at the next call's end).
    """
    count = config.steps_per_call
    if count == 1:
        return 1
    for every in step_every:
        count = min(count, every - run.step % every)
    if config.max_number_of_steps is not None:
        count = min(count, config.max_number_of_steps - run.step)
    return max(1, count)


def _make_validation(config: TrainConfig, model_plan, descriptor, model, max_examples=None):
    """Returns ``validate() -> (accuracy, mean loss, n)`` over every example once (the
    first ``max_examples`` batches' worth, rounded up to whole batches, when given)."""
    dataset = input_pipeline.make_dataset(
        descriptor,
        model_plan.preprocess_fn(is_training=False),
        config.batch_size,
        is_training=False,
        labels_offset=config.labels_offset,
        num_parallel_calls=config.num_preprocessing_threads or None,
        num_classes=model_plan.num_classes,
        max_image_pixels=config.max_image_pixels,
    )
    if max_examples is not None:
        dataset = dataset.take(-(-max_examples // config.batch_size))

    @tf.function
    def count(images, labels):
        logits, _ = model(images, training=False)
        predictions = tf.argmax(logits, axis=-1, output_type=labels.dtype)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        correct = tf.reduce_sum(tf.cast(tf.equal(predictions, labels), tf.int64))
        return correct, tf.reduce_sum(tf.cast(losses, tf.float64))

    def validate() -> tuple[float, float, int]:
        correct = total = 0
        loss_sum = 0.0
        for images, labels in dataset:
            batch_correct, batch_loss = count(images, labels)
            correct += int(batch_correct)
            loss_sum += float(batch_loss)
            total += int(labels.shape[0])
        return correct / max(total, 1), loss_sum / max(total, 1), total

    return validate


__all__ = ["TrainResult", "train"]
