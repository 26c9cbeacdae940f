"""``train(config)``: checks the run, builds the state, runs steps until done.

The order is chosen so a run that cannot work fails before it costs anything: flags and
dataset first (:mod:`slimcls.train.plan`), then the model and the checkpoint it starts
from, and only then files in ``train_dir`` (through ``on_start``) and the first step.

The loop runs the step function, makes each step's :class:`~slimcls.train.hooks.StepMetrics`
(measuring the speed itself) and hands it to the hooks; it stops at
``--max_number_of_steps`` or when a hook returns a
:class:`~slimcls.train.hooks.StopReason` (on several workers, when they agree:
:class:`~slimcls.train.distribute.AgreedStop`). What the hooks report through
``result()`` makes up the :class:`TrainResult`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from types import MappingProxyType

from slimcls.config import TrainConfig
from slimcls.core import compat
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.inference import split_pass
from slimcls.model import checkpoints
from slimcls.nets import nets_factory
from slimcls.train import bn_check, distribute, hooks, optim, summaries, validation
from slimcls.train.plan import Plan, TrainDirLock, distributed_input, log_start, make_plan
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
    stop_reason: str | None = None  # StopReason.kind: a signal's name, "early_stopping", ...
    best_checkpoint: str | None = None  # by validation accuracy, in <train_dir>/best
    best_validation_accuracy: float | None = None
    # The batch-norm check at the end (see bn_check): accuracies compared, the warning.
    train_mode_accuracy: float | None = None
    eval_mode_accuracy: float | None = None
    batch_norm_warning: str | None = None


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
    checkpoints (see :class:`TrainDirLock`).
    """
    lock = TrainDirLock(config.train_dir)
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


def _seed(config: TrainConfig) -> None:
    # --deterministic's op determinism is turned on (and off) by train(); the input
    # pipeline is already deterministic with a seed.
    if config.random_seed is not None:
        tf.keras.utils.set_random_seed(config.random_seed)


def _train(config: TrainConfig, on_start, lock: TrainDirLock, extra_hooks=()) -> TrainResult:
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
    plan = make_plan(config)
    strategy = plan.strategy
    chief = distribute.is_chief(strategy)
    if chief:  # the other workers of a multi-worker run share it
        lock.acquire()
    _seed(config)
    dataset = distributed_input(config, plan)
    with strategy.scope():
        state = create_state(config, plan.model_plan)
    state.model.sync_batch_norm = config.sync_batch_norm and strategy.num_replicas_in_sync > 1
    log_start(config, plan, state)
    log.info("%s", resume_or_finetune(state, config, plan.model_plan))

    step_fn = _step_fn(config, plan, state)
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
        start_step=state.step,
        examples_per_epoch=int(plan.descriptor.num_samples),
        global_batch_size=plan.global_batch_size,
    )
    stepper = _Stepper(run, step_fn, iter(dataset), plan)
    try:
        return _loop(
            run, stepper, run_hooks, distribute.stop_agreement(strategy, config.log_every_n_steps)
        )
    finally:
        distribute.cleanup(save_dir, config.train_dir)


def _step_fn(config: TrainConfig, plan: Plan, state):
    """The compiled training step of this run (``steps_per_call`` steps per call)."""
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
    return make_step_fn(
        state, plan.strategy, schedule, options, config.jit_compile, config.steps_per_call
    )


def _hooks(config: TrainConfig, plan: Plan, state, chief: bool, save_dir: str) -> list[hooks.Hook]:
    """The side jobs of this run, in the order they run after each step.

    Validation runs before the checkpoint hook (always last), so a run stopped early
    saves the step it stopped at. Non-chief workers of a multi-worker run write no logs
    or summaries in train_dir (their validation summaries go to their scratch ``save_dir``);
    there every worker logs its own speed, and all workers save together.
    """
    workers = distribute.num_workers(plan.strategy)
    run_hooks: list[hooks.Hook] = []
    if workers > 1:
        resolver = plan.strategy.cluster_resolver
        task = f"{resolver.task_type} {resolver.task_id}"
        run_hooks.append(distribute.WorkerSpeedHook(task, workers))
    train_log = None
    if chief:
        csv = hooks.CsvLogHook(os.path.join(config.train_dir, TRAIN_LOG), config.log_every_n_steps)
        train_writer = summaries.SummaryWriter(os.path.join(config.train_dir, "train"))
        run_hooks += [
            hooks.ProgressHook(config.log_every_n_steps, bar=config.progress_bar),
            csv,
            hooks.SummaryHook(
                train_writer, config.save_summaries_secs, config.save_summaries_steps
            ),
        ]
        train_log = csv.log
    if plan.validation is not None:
        validate = validation.make_validation(config, plan.model_plan, plan.validation, state.model)
        writer = summaries.SummaryWriter(
            os.path.join(config.train_dir if chief else save_dir, "validation")
        )
        run_hooks.append(
            validation.ValidationHook(
                validate,
                config.eval_every_n_steps,
                config.validation_split_name,
                writer,
                best_dir=os.path.join(config.train_dir, BEST_DIR) if chief else None,
                patience=config.early_stopping_patience,
                train_log=train_log,
            )
        )
    if chief and bn_check.has_batch_norm(state.model_variables()):
        run_hooks.append(_batch_norm_check(config, plan, state))
    if workers > 1:
        every = config.log_every_n_steps
        run_hooks.append(
            distribute.AgreedCheckpointHook(config.save_interval_secs, plan.strategy, every)
        )
    else:
        run_hooks.append(hooks.CheckpointHook(config.save_interval_secs))
    return run_hooks


def _batch_norm_check(config: TrainConfig, plan: Plan, state) -> bn_check.BatchNormCheckHook:
    """The check at the end: evaluation mode on a few training examples (see bn_check)."""
    check = validation.make_validation(
        config, plan.model_plan, plan.descriptor, state.model, max_examples=bn_check.CHECK_EXAMPLES
    )
    decay = config.batch_norm_decay
    if decay is None:
        decay = nets_factory.default_batch_norm_decay(config.model_name)
    return bn_check.BatchNormCheckHook(lambda: check()[::2], decay)


def _loop(
    run: hooks.Run,
    stepper: _Stepper,
    run_hooks: list[hooks.Hook],
    agree: Callable[[hooks.StopReason | None, int], hooks.StopReason | None] | None = None,
) -> TrainResult:
    """Steps until ``--max_number_of_steps`` or a stop; ``agree`` turns the stop this
    worker's hooks asked for into the one all workers take (None: at once)."""
    config = run.config
    max_steps = config.max_number_of_steps
    if max_steps is not None and run.start_step >= max_steps:
        log.info(
            "global_step %d already reached --max_number_of_steps=%d", run.start_step, max_steps
        )
        return TrainResult(run.start_step, checkpoints.latest_checkpoint(config.train_dir), {})
    metrics = hooks.StepMetrics(run.start_step, run.epoch_at(run.start_step))
    asked = stop = None
    with hooks.StopOnSignals(config.handle_signals) as signals:
        every_hook = [*run_hooks, signals]  # last: it sees a signal that came during the others
        for hook in every_hook:
            hook.begin(run)
        while stop is None and (max_steps is None or metrics.step < max_steps):
            metrics = stepper()
            asked = _first_stop([asked, *(hook.after_step(run, metrics) for hook in every_hook)])
            stop = asked if agree is None else agree(asked, metrics.step)
        for hook in every_hook:
            hook.end(run, metrics, stop)
    stop = _first_stop([stop, signals.pending])  # a signal during the hooks' end counts
    return _result(metrics, stop, stepper, run_hooks)


def _first_stop(reasons) -> hooks.StopReason | None:
    """The stop to take among those asked (in hook order): a signal's first, since an
    interrupted run skips its final validation and checks."""
    asked = [r for r in reasons if r is not None]
    return next((r for r in asked if r.interrupt), asked[0] if asked else None)


def _result(metrics, stop, stepper: _Stepper, run_hooks) -> TrainResult:
    """The run's :class:`TrainResult`: the last step's, and what each hook reports."""
    reported: dict = {}
    for hook in run_hooks:
        reported.update(hook.result())
    return TrainResult(
        metrics.step,
        reported.pop("checkpoint", None),
        dict(metrics.values),
        interrupted_by=stop.kind if stop is not None and stop.interrupt else None,
        step_seconds=stepper.step_seconds,
        step_cpu_seconds=stepper.step_cpu_seconds,
        stop_reason=stop.kind if stop is not None else None,
        **reported,
    )


class _Stepper:
    """Runs the step function and makes each call's :class:`~slimcls.train.hooks.StepMetrics`.

    Measures the speed (on the steps that are logged, over the steps since the last
    one) and the seconds of each call; names the record or shard when the training
    input fails; stops the run on a NaN/Inf loss.
    """

    def __init__(self, run: hooks.Run, step_fn, iterator, plan: Plan) -> None:
        self.run, self.step_fn, self.iterator = run, step_fn, iterator
        self.descriptor, self.num_classes = plan.descriptor, plan.model_plan.num_classes
        self.cadences = _cadences(run.config)
        self.step_seconds: list[float] = []
        self.step_cpu_seconds: list[float] = []
        self._window = (time.monotonic(), run.start_step)
        self._step = run.start_step

    def __call__(self) -> hooks.StepMetrics:
        config = self.run.config
        started, cpu_started = time.perf_counter(), time.process_time()
        num_steps = _steps_this_call(self._step, config, self.cadences)
        try:
            outputs = self.step_fn(self.iterator, num_steps)
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
            raise self._input_error(e) from None
        images = outputs.pop("images", None)
        values = {k: float(v) for k, v in outputs.items()}  # waits for the step
        self._step = step = self.run.state.step
        self.step_seconds.append(time.perf_counter() - started)
        self.step_cpu_seconds.append(time.process_time() - cpu_started)
        if not math.isfinite(values["total_loss"]):
            raise SlimclsError(
                f"loss is {values['total_loss']} at step {step} "
                f"({hooks.loss_text(values)}); stopped without saving, the last good "
                f"checkpoint is {checkpoints.latest_checkpoint(config.train_dir) or 'none'} "
                "(lower --learning_rate, or check the data)"
            )
        epoch = self.run.epoch_at(step)
        return hooks.StepMetrics(step, epoch, MappingProxyType(values), images, *self._speed(step))

    def _speed(self, step: int) -> tuple[float | None, float | None]:
        """(examples/sec, sec/step) since the last logged step, on logged steps."""
        every = self.run.config.log_every_n_steps
        if not every or step % every:
            return None, None
        (started, first), now = self._window, time.monotonic()
        self._window = (now, step)
        steps, elapsed = max(step - first, 1), max(now - started, 1e-9)
        return steps * self.run.global_batch_size / elapsed, elapsed / steps

    def _input_error(self, error: tf.errors.OpError) -> Exception:
        """A failure of the training input as one line naming the shard or record."""
        config = self.run.config
        return split_pass.input_error(
            error,
            self.descriptor,
            num_classes=self.num_classes,
            labels_offset=config.labels_offset,
            max_image_pixels=config.max_image_pixels,
        )


def _cadences(config: TrainConfig) -> tuple[int, ...]:
    """Step multiples where a hook is due (logs, step-based summaries, validation)."""
    every = [config.log_every_n_steps, config.save_summaries_steps]
    if config.validation_split_name:
        every.append(config.eval_every_n_steps)
    return tuple(n for n in every if n)


def _steps_this_call(step: int, config: TrainConfig, step_every: tuple[int, ...]) -> int:
    """Steps of the next call: ``--steps_per_call``, cut short so the call ends exactly on
    the next step where a hook is due or ``--max_number_of_steps``; hooks run between
    calls, so their step cadences hold exactly (time-based ones at the next call's end).
    """
    count = config.steps_per_call
    if count == 1:
        return 1
    for every in step_every:
        count = min(count, every - step % every)
    if config.max_number_of_steps is not None:
        count = min(count, config.max_number_of_steps - step)
    return max(1, count)


__all__ = ["TrainResult", "train"]
