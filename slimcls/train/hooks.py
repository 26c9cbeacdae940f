"""The training loop's side jobs, one small object each, and what they see.

A hook sees the run at three moments. :meth:`Hook.begin` gets the :class:`Run` (what does
not change while the run lasts: config, state, where checkpoints go).
:meth:`Hook.after_step` gets the run and the step's :class:`StepMetrics`, an immutable
record the loop makes after each call of the step (step, epoch, the metrics, summary
images, the speed the loop measured); it returns a :class:`StopReason` to ask the loop
to stop, or None. :meth:`Hook.end` gets the last step's metrics and the reason the loop
stopped (None: the last step was reached). What a hook reports for the run's
``TrainResult`` comes back through :meth:`Hook.result`. Hooks read nothing another hook
wrote, so their order only decides what happens first (the checkpoint hook runs last).
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from slimcls.config import TrainConfig
from slimcls.core.compat import tf
from slimcls.core.fileio import append_text, write_text_atomic
from slimcls.core.terminal import is_terminal
from slimcls.model import checkpoints
from slimcls.train import summaries
from slimcls.train.losses import TRUE_LABEL_LOSS
from slimcls.train.state import TrainState

log = logging.getLogger("slimcls.train")

LOSS_KEYS = ("cross_entropy", "aux_loss", "regularization", "total_loss")
#: Stop reasons that interrupt the run (a signal): no final validation or check.
SIGNALS = ("SIGINT", "SIGTERM")


@dataclasses.dataclass(frozen=True)
class StopReason:
    """Why a hook asks the loop to stop: ``kind`` is ``"SIGINT"``/``"SIGTERM"`` (a
    signal), ``"early_stopping"`` or ``"peer_stopped"`` (another worker stopped)."""

    kind: str
    detail: str = ""

    @property
    def interrupt(self) -> bool:
        """A signal: it outranks a planned stop asked at the same step."""
        return self.kind in SIGNALS


@dataclasses.dataclass(frozen=True)
class StepMetrics:
    """One step's record, made by the loop after each call of the step function.

    Attributes:
      step: the global step after the call.
      epoch: epochs of the training split done at ``step``.
      values: the step's metrics as floats (losses, ``accuracy``, ``learning_rate``).
      images: the step's summary images (or None).
      examples_per_sec, seconds_per_step: the speed since the last logged step,
        measured by the loop on logged steps (every ``--log_every_n_steps``), else None.
    """

    step: int
    epoch: float = 0.0
    values: Mapping[str, float] = dataclasses.field(default_factory=dict)
    images: Any = None
    examples_per_sec: float | None = None
    seconds_per_step: float | None = None


@dataclasses.dataclass(frozen=True)
class Run:
    """What every hook may read about the run; fixed while it lasts.

    Attributes:
      config, state: the run's configuration and training state.
      save_dir: where checkpoints go (``train_dir`` on the chief).
      start_step: the global step the run (or its resumed part) started at.
      examples_per_epoch, global_batch_size: for epochs and speeds.
    """

    config: TrainConfig
    state: TrainState
    save_dir: str
    start_step: int = 0
    examples_per_epoch: int = 0
    global_batch_size: int = 1

    def epoch_at(self, step: int) -> float:
        return step * self.global_batch_size / max(self.examples_per_epoch, 1)

    def save(self) -> str:
        """Writes a checkpoint of the whole state at the current step; returns it."""
        prefix = checkpoints.save_checkpoint(
            self.state.checkpoint_tensors(),
            self.save_dir,
            self.state.step,
            max_to_keep=self.config.max_checkpoints_to_keep,
        )
        log.info("Saved checkpoint %s", prefix)
        return prefix


class Hook:
    """Does nothing; subclasses override what they need (see the module docstring)."""

    def begin(self, run: Run) -> None:
        pass

    def after_step(self, run: Run, metrics: StepMetrics) -> StopReason | None:
        return None

    def end(self, run: Run, metrics: StepMetrics, stop: StopReason | None) -> None:
        pass

    def result(self) -> dict[str, Any]:
        """Fields of ``TrainResult`` this hook reports (after :meth:`end`)."""
        return {}


def curve_loss(values: Mapping[str, float]) -> float:
    """The ``loss`` of the curves (TensorBoard's ``train/`` run, train_log.csv): the
    cross-entropy of the main logits against the true labels, the quantity the validation
    curve measures; weight decay, the AuxLogits term and label smoothing are left out (the
    whole objective is ``losses/total_loss``)."""
    return values.get(TRUE_LABEL_LOSS, values["cross_entropy"])


def loss_text(values: Mapping[str, float]) -> str:
    keys = ("cross_entropy", "aux_loss", "regularization")
    return ", ".join(f"{k} {values[k]:.4f}" for k in keys if k in values)


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class ProgressHook(Hook):
    """Where the run is: a log line every ``every_n_steps`` with step/total, percent,
    epoch, loss terms, learning rate, speed and ETA; a live bar on a terminal.

    The bar (stderr, redrawn in place) appears only when stderr is a terminal, so logs
    captured to a file or a pipe get plain lines.
    """

    def __init__(self, every_n_steps: int, bar: bool | None = None, stream=None):
        self.every_n_steps = every_n_steps
        self.stream = stream if stream is not None else sys.stderr
        self.bar = is_terminal(self.stream, bar)
        self._start = time.monotonic()
        self._first_step = 0

    def begin(self, run: Run) -> None:
        self._start, self._first_step = time.monotonic(), run.start_step

    def _eta(self, run: Run, step: int) -> str:
        total = run.config.max_number_of_steps
        done = step - self._first_step
        if not total or done <= 0:
            return "?"
        per_step = (time.monotonic() - self._start) / done
        return _duration(per_step * (total - step))

    @staticmethod
    def position(run: Run, metrics: StepMetrics) -> str:
        total, step = run.config.max_number_of_steps, metrics.step
        where = f"step {step}/{total} ({100 * step / total:.0f}%)" if total else f"step {step}"
        return f"{where}, epoch {metrics.epoch:.2f}"

    def after_step(self, run: Run, metrics: StepMetrics) -> None:
        values = metrics.values
        if self.bar:
            total = run.config.max_number_of_steps or 0
            filled = int(30 * metrics.step / total) if total else 0
            self.stream.write(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.position(run, metrics)}, "
                f"loss {values['total_loss']:.4f}, ETA {self._eta(run, metrics.step)}   "
            )
            self.stream.flush()
        if not self.every_n_steps or metrics.step % self.every_n_steps:
            return
        if self.bar:
            self.stream.write("\n")
        log.info(
            "%s: loss = %.4f (%s), accuracy = %.4f, lr = %.6g, %.1f examples/sec, "
            "%.3f sec/step, ETA %s",
            self.position(run, metrics),
            values["total_loss"],
            loss_text(values),
            values["accuracy"],
            values["learning_rate"],
            metrics.examples_per_sec or 0.0,
            metrics.seconds_per_step or 0.0,
            self._eta(run, metrics.step),
        )

    def end(self, run: Run, metrics: StepMetrics, stop: StopReason | None) -> None:
        if self.bar:
            self.stream.write("\n")
            self.stream.flush()


class TrainLog:
    """``train_log.csv``: a row per logged training step and per validation.

    The curves need no TensorBoard: ``pandas.read_csv`` or a spreadsheet reads it. A
    resumed run appends to the same file (the header is written once; rows follow the
    columns of the header already there). ``loss`` is :func:`curve_loss` for training
    rows and the same cross-entropy for validation rows; ``total_loss`` is the whole
    training objective.
    """

    FIELDS = (
        "step",
        "epoch",
        "split",
        "loss",
        "accuracy",
        "cross_entropy",
        "regularization",
        "learning_rate",
        "examples_per_sec",
        "wall_time",
        "total_loss",
    )

    def __init__(self, path: str):
        self.path = path
        self.fields: tuple[str, ...] | None = None

    def open(self) -> None:
        """Keeps an earlier run's columns, or writes the header."""
        header = ""
        if tf.io.gfile.exists(self.path):
            with tf.io.gfile.GFile(self.path, "r") as f:
                header = f.readline().strip()
        if header:
            self.fields = tuple(header.split(","))
        else:
            write_text_atomic(self.path, ",".join(self.FIELDS) + "\n")
            self.fields = self.FIELDS

    def write(self, step: int, epoch: float, split: str, **values: float | None) -> None:
        if self.fields is None:
            self.open()
        row = {"step": step, "epoch": round(epoch, 4), "split": split, **values}
        row["wall_time"] = round(time.time(), 3)
        cells = ["" if row.get(k) is None else _cell(row[k]) for k in self.fields]
        append_text(self.path, ",".join(cells) + "\n")  # a whole row or none


class CsvLogHook(Hook):
    """Appends every ``every_n_steps``-th training step to :class:`TrainLog` ``log``
    (the validation hook writes its rows to the same log)."""

    FIELDS = TrainLog.FIELDS

    def __init__(self, path: str, every_n_steps: int):
        self.log = TrainLog(path)
        self.every_n_steps = every_n_steps or 1

    def begin(self, run: Run) -> None:
        self.log.open()

    def after_step(self, run: Run, metrics: StepMetrics) -> None:
        if metrics.step % self.every_n_steps == 0:
            v = metrics.values
            self.log.write(
                metrics.step,
                metrics.epoch,
                "train",
                loss=curve_loss(v),
                total_loss=v["total_loss"],
                accuracy=v["accuracy"],
                cross_entropy=v["cross_entropy"],
                regularization=v["regularization"],
                learning_rate=v["learning_rate"],
                examples_per_sec=metrics.examples_per_sec,
            )


def _cell(value) -> str:
    if not isinstance(value, float):
        return str(value)
    # 6 significant digits for metrics; timestamps (1.8e9 s) keep their milliseconds.
    return f"{value:.3f}" if abs(value) >= 1e5 else f"{value:.6g}"


class SummaryHook(Hook):
    """TensorBoard summaries in ``train/`` (and the validation hook's ``validation/``).

    Written at the first step, then every ``every_secs`` or ``every_steps``, and at the
    end. ``loss`` and ``accuracy`` are running means over the steps since the last write
    (as Keras does), under the same tags as validation's, so the two overlay in one chart;
    both ``loss`` curves are the cross-entropy against the true labels
    (:func:`curve_loss`). Each loss term, the total with weight decay included, is under
    ``losses/``.
    """

    def __init__(
        self,
        writer,
        every_secs: float,
        every_steps: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.writer = writer
        self.every_secs = every_secs
        self.every_steps = every_steps
        self.clock = clock
        self._last: float | None = None
        self._last_step = 0
        self._sums: dict[str, float] = {}
        self._count = 0

    def begin(self, run: Run) -> None:
        self._last_step = run.start_step

    def _due(self, step: int) -> bool:
        if self._last is None:
            return True
        if self.every_steps and step % self.every_steps == 0:
            return True
        return bool(self.every_secs) and self.clock() - self._last >= self.every_secs

    def after_step(self, run: Run, metrics: StepMetrics) -> None:
        values = metrics.values
        means = {"loss": curve_loss(values), "accuracy": values["accuracy"]}
        means.update((f"losses/{k}", values[k]) for k in LOSS_KEYS if k in values)
        for tag, value in means.items():  # each tag once: total_loss is one of LOSS_KEYS
            self._sums[tag] = self._sums.get(tag, 0.0) + value
        self._count += 1
        if self._due(metrics.step):
            self._write(run, metrics)

    def _write(self, run: Run, metrics: StepMetrics) -> None:
        now, step = self.clock(), metrics.step
        mean = {k: v / self._count for k, v in self._sums.items()}
        with self.writer.writing():
            for tag, value in mean.items():
                summaries.scalar(tag, value, step)
            summaries.scalar("learning_rate", metrics.values["learning_rate"], step)
            if self._last is not None and now > self._last:
                steps_per_sec = (step - self._last_step) / (now - self._last)
                summaries.scalar("global_step/sec", steps_per_sec, step)
                summaries.scalar("examples/sec", steps_per_sec * run.global_batch_size, step)
            if metrics.images is not None and len(metrics.images):
                summaries.images("images", _normalised(metrics.images), step)
        self._last, self._last_step = now, step
        self._sums, self._count = {}, 0

    def end(self, run: Run, metrics: StepMetrics, stop: StopReason | None) -> None:
        if self._count:
            self._write(run, metrics)


def _normalised(images):
    low = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
    high = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
    return (images - low) / tf.maximum(high - low, 1e-6)


class CheckpointHook(Hook):
    """Saves every ``every_secs`` and at the end (also when the loop stops early)."""

    def __init__(self, every_secs: float, clock: Callable[[], float] = time.monotonic):
        self.every_secs = every_secs
        self.clock = clock
        self._last = clock()
        self.checkpoint: str | None = None  # the newest this run wrote

    def begin(self, run: Run) -> None:
        self._last = self.clock()

    def save(self, run: Run) -> None:
        self.checkpoint = run.save()
        self._last = self.clock()

    def after_step(self, run: Run, metrics: StepMetrics) -> None:
        if self.clock() - self._last >= self.every_secs:
            self.save(run)

    def end(self, run: Run, metrics: StepMetrics, stop: StopReason | None) -> None:
        if self.checkpoint is None or checkpoints.step_of(self.checkpoint) != metrics.step:
            self.save(run)

    def result(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint}


class StopOnSignals(Hook):
    """SIGINT/SIGTERM as a :class:`StopReason`: the loop stops after the step.

    Used as a context manager around the loop, which installs the handlers and puts
    them back. A second signal gives up at once (KeyboardInterrupt). Only the main
    thread can install handlers; elsewhere (tests driving the loop from a thread) this
    is a no-op.
    """

    def __init__(self, enabled: bool = True):
        self.pending: StopReason | None = None
        self._old: dict[int, Any] = {}
        self._enabled = enabled and threading.current_thread() is threading.main_thread()

    def __enter__(self) -> StopOnSignals:
        if self._enabled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.pending is not None:
            raise KeyboardInterrupt
        self.pending = StopReason(signal.Signals(signum).name)
        log.warning("%s received: saving a checkpoint and stopping", self.pending.kind)

    def after_step(self, run: Run, metrics: StepMetrics) -> StopReason | None:
        return self.pending

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
