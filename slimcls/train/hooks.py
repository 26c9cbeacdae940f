"""The training loop's side jobs, one small object each.

A hook sees the :class:`Run` (the loop's shared view: config, state, the step just
done and its metrics) at three moments: :meth:`Hook.begin`, :meth:`Hook.after_step` and
:meth:`Hook.end`. The loop itself only runs steps and checks the loss; logging,
summaries, validation and checkpoints are hooks, so a new side job is a new hook.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from slimcls.train import summaries
from slimcls.model import checkpoints
from slimcls.config import TrainConfig
from slimcls.core.compat import tf
from slimcls.core.fileio import write_text_atomic
from slimcls.train.losses import TRUE_LABEL_LOSS
from slimcls.train.state import TrainState

log = logging.getLogger("slimcls.train")

LOSS_KEYS = ("cross_entropy", "aux_loss", "regularization", "total_loss")
#: Written beside the best checkpoint: its step, accuracy and loss.
BEST_INFO = "best.json"


@dataclasses.dataclass
class Run:
    """What the loop and its hooks share.

    Attributes:
      config, state: the run's configuration and training state.
      save_dir: where checkpoints go (``train_dir`` on the chief).
      step: the global step after the last step.
      values: the last step's metrics as floats.
      images: the last step's summary images (or None).
      stop_reason: set to stop the loop after the current step ("SIGINT", ...).
      checkpoint: the newest checkpoint this run wrote.
      validation_accuracy: the last validation result.
      best_checkpoint, best_accuracy: the best validation so far (with validation).
      examples_per_epoch, global_batch_size: for the epoch count and speeds.
      examples_per_sec: the last logged speed.
      csv: the train_log.csv writer (validation rows go there too).
    """

    config: TrainConfig
    state: TrainState
    save_dir: str
    examples_per_epoch: int = 0
    global_batch_size: int = 1
    step: int = 0
    values: dict[str, float] = dataclasses.field(default_factory=dict)
    images: Any = None
    stop_reason: str | None = None
    checkpoint: str | None = None
    validation_accuracy: float | None = None
    best_checkpoint: str | None = None
    best_accuracy: float | None = None
    examples_per_sec: float | None = None
    csv: Any = None

    @property
    def epoch(self) -> float:
        return self.step * self.global_batch_size / max(self.examples_per_epoch, 1)

    def save(self) -> str:
        """Writes a checkpoint of the whole state at the current step."""
        self.checkpoint = checkpoints.save_checkpoint(
            self.state.checkpoint_tensors(),
            self.save_dir,
            self.state.step,
            max_to_keep=self.config.max_checkpoints_to_keep,
        )
        log.info("Saved checkpoint %s", self.checkpoint)
        return self.checkpoint


class Hook:
    """Does nothing; subclasses override what they need."""

    def begin(self, run: Run) -> None:
        pass

    def after_step(self, run: Run) -> None:
        pass

    def end(self, run: Run) -> None:
        pass


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
        self.bar = self.stream.isatty() if bar is None else bar
        self._window_start = self._start = time.monotonic()
        self._window_steps = 0
        self._first_step = self._window_first = 0

    def begin(self, run: Run) -> None:
        self._window_start = self._start = time.monotonic()
        self._window_steps, self._first_step = 0, run.step
        self._window_first = run.step

    def _eta(self, run: Run) -> str:
        total = run.config.max_number_of_steps
        done = run.step - self._first_step
        if not total or done <= 0:
            return "?"
        per_step = (time.monotonic() - self._start) / done
        return _duration(per_step * (total - run.step))

    def position(self, run: Run) -> str:
        total = run.config.max_number_of_steps
        where = (
            f"step {run.step}/{total} ({100 * run.step / total:.0f}%)"
            if total
            else (f"step {run.step}")
        )
        return f"{where}, epoch {run.epoch:.2f}"

    def after_step(self, run: Run) -> None:
        # Steps, not calls: with --steps_per_call one call runs several steps.
        self._window_steps = run.step - self._window_first
        if self.bar:
            total = run.config.max_number_of_steps or 0
            filled = int(30 * run.step / total) if total else 0
            self.stream.write(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.position(run)}, "
                f"loss {run.values['total_loss']:.4f}, ETA {self._eta(run)}   "
            )
            self.stream.flush()
        if not self.every_n_steps or run.step % self.every_n_steps:
            return
        elapsed = time.monotonic() - self._window_start
        run.examples_per_sec = self._window_steps * run.global_batch_size / max(elapsed, 1e-9)
        if self.bar:
            self.stream.write("\n")
        log.info(
            "%s: loss = %.4f (%s), accuracy = %.4f, lr = %.6g, %.1f examples/sec, "
            "%.3f sec/step, ETA %s",
            self.position(run),
            run.values["total_loss"],
            loss_text(run.values),
            run.values["accuracy"],
            run.values["learning_rate"],
            run.examples_per_sec,
            elapsed / self._window_steps,
            self._eta(run),
        )
        self._window_start, self._window_steps = time.monotonic(), 0
        self._window_first = run.step

    def end(self, run: Run) -> None:
        if self.bar:
            self.stream.write("\n")
            self.stream.flush()


class CsvLogHook(Hook):
    """Appends every logged training step, and every validation, to ``train_log.csv``.

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

    def __init__(self, path: str, every_n_steps: int):
        self.path = path
        self.every_n_steps = every_n_steps or 1
        self.fields: tuple[str, ...] = self.FIELDS

    def begin(self, run: Run) -> None:
        header = ""
        if tf.io.gfile.exists(self.path):
            with tf.io.gfile.GFile(self.path, "r") as f:
                header = f.readline().strip()
        if header:  # an earlier run's file: keep its columns
            self.fields = tuple(header.split(","))
        else:
            with tf.io.gfile.GFile(self.path, "w") as f:
                f.write(",".join(self.FIELDS) + "\n")
        run.csv = self

    def write(self, run: Run, split: str, **values: float | None) -> None:
        row = {"step": run.step, "epoch": round(run.epoch, 4), "split": split, **values}
        row["wall_time"] = round(time.time(), 3)
        cells = ["" if row.get(k) is None else _cell(row[k]) for k in self.fields]
        with tf.io.gfile.GFile(self.path, "a") as f:
            f.write(",".join(cells) + "\n")

    def after_step(self, run: Run) -> None:
        if run.step % self.every_n_steps == 0:
            v = run.values
            self.write(
                run,
                "train",
                loss=curve_loss(v),
                total_loss=v["total_loss"],
                accuracy=v["accuracy"],
                cross_entropy=v["cross_entropy"],
                regularization=v["regularization"],
                learning_rate=v["learning_rate"],
                examples_per_sec=run.examples_per_sec,
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
        self._last_step = run.step

    def _due(self, run: Run) -> bool:
        if self._last is None:
            return True
        if self.every_steps and run.step % self.every_steps == 0:
            return True
        return bool(self.every_secs) and self.clock() - self._last >= self.every_secs

    def after_step(self, run: Run) -> None:
        means = {"loss": curve_loss(run.values), "accuracy": run.values["accuracy"]}
        means.update((f"losses/{k}", run.values[k]) for k in LOSS_KEYS if k in run.values)
        for tag, value in means.items():  # each tag once: total_loss is one of LOSS_KEYS
            self._sums[tag] = self._sums.get(tag, 0.0) + value
        self._count += 1
        if self._due(run):
            self._write(run)

    def _write(self, run: Run) -> None:
        now = self.clock()
        mean = {k: v / self._count for k, v in self._sums.items()}
        with self.writer.as_default():
            for tag, value in mean.items():
                summaries.scalar(tag, value, run.step)
            summaries.scalar("learning_rate", run.values["learning_rate"], run.step)
            if self._last is not None and now > self._last:
                steps_per_sec = (run.step - self._last_step) / (now - self._last)
                summaries.scalar("global_step/sec", steps_per_sec, run.step)
                summaries.scalar("examples/sec", steps_per_sec * run.global_batch_size, run.step)
            if run.images is not None and len(run.images):
                summaries.images("images", _normalised(run.images), run.step)
        self._last, self._last_step = now, run.step
        self._sums, self._count = {}, 0

    def end(self, run: Run) -> None:
        if self._count:
            self._write(run)
        self.writer.flush()


def _normalised(images):
    low = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
    high = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
    return (images - low) / tf.maximum(high - low, 1e-6)


class ValidationHook(Hook):
    """Accuracy and loss on a split every ``every_n_steps`` and at the end of the run.

    Keeps the best checkpoint by accuracy in ``<train_dir>/best/`` (apart from the
    rotating ones, with ``best.json``) and, with ``patience``, stops the run after that
    many evaluations without improvement.
    """

    def __init__(
        self,
        validate: Callable[[], tuple[float, float, int]],
        every_n_steps: int,
        split: str,
        writer,
        best_dir: str | None = None,
        patience: int | None = None,
    ) -> None:
        self.validate = validate
        self.every_n_steps = every_n_steps
        self.split = split
        self.writer = writer
        self.best_dir = best_dir
        self.patience = patience
        self.best_accuracy: float | None = None
        self.best_checkpoint: str | None = None
        self._since_best = 0
        self._last_step: int | None = None

    def begin(self, run: Run) -> None:
        if self.best_dir:
            info = _read_json(os.path.join(self.best_dir, BEST_INFO))
            if info:  # a resumed run keeps the best of its earlier part
                self.best_accuracy = info.get("accuracy")
                self.best_checkpoint = info.get("checkpoint")

    def _run(self, run: Run) -> None:
        accuracy, loss, n = self.validate()
        log.info(
            "step %d: validation on %s: accuracy = %.4f, loss = %.4f (%d examples)",
            run.step,
            self.split,
            accuracy,
            loss,
            n,
        )
        with self.writer.as_default():
            summaries.scalar("accuracy", accuracy, run.step)
            summaries.scalar("loss", loss, run.step)
        self.writer.flush()
        if run.csv is not None:
            run.csv.write(run, "validation", loss=loss, accuracy=accuracy, cross_entropy=loss)
        run.validation_accuracy = accuracy
        self._last_step = run.step
        if self.best_accuracy is None or accuracy > self.best_accuracy:
            self.best_accuracy, self._since_best = accuracy, 0
            if self.best_dir:
                self._save_best(run, accuracy, loss)
        else:
            self._since_best += 1
            if self.patience and self._since_best >= self.patience and not run.stop_reason:
                log.info(
                    "early stopping: %d evaluations without a better accuracy than %.4f "
                    "(--early_stopping_patience=%d)",
                    self._since_best,
                    self.best_accuracy,
                    self.patience,
                )
                run.stop_reason = "early_stopping"

    def _save_best(self, run: Run, accuracy: float, loss: float) -> None:
        self.best_checkpoint = checkpoints.save_checkpoint(
            run.state.checkpoint_tensors(), self.best_dir, run.state.step, max_to_keep=1
        )
        info = {
            "checkpoint": self.best_checkpoint,
            "global_step": run.state.step,
            "accuracy": accuracy,
            "loss": loss,
            "split": self.split,
        }
        write_text_atomic(os.path.join(self.best_dir, BEST_INFO), json.dumps(info) + "\n")
        log.info("best checkpoint so far: %s (accuracy %.4f)", self.best_checkpoint, accuracy)

    def after_step(self, run: Run) -> None:
        if self.every_n_steps and run.step % self.every_n_steps == 0:
            self._run(run)

    def end(self, run: Run) -> None:
        if run.stop_reason in (None, "early_stopping") and self._last_step != run.step:
            self._run(run)
        run.best_checkpoint = self.best_checkpoint
        run.best_accuracy = self.best_accuracy


def _read_json(path: str) -> dict | None:
    try:
        with tf.io.gfile.GFile(path) as f:
            return json.loads(f.read())
    except (tf.errors.OpError, ValueError):
        return None


class CheckpointHook(Hook):
    """Saves every ``every_secs``, when the loop stops early, and at the end."""

    def __init__(self, every_secs: float, clock: Callable[[], float] = time.monotonic):
        self.every_secs = every_secs
        self.clock = clock
        self._last = clock()

    def begin(self, run: Run) -> None:
        self._last = self.clock()

    def after_step(self, run: Run) -> None:
        if run.stop_reason is None and self.clock() - self._last >= self.every_secs:
            run.save()
            self._last = self.clock()

    def end(self, run: Run) -> None:
        if run.checkpoint is None or checkpoints.step_of(run.checkpoint) != run.step:
            run.save()


class StopOnSignals:
    """Turns SIGINT/SIGTERM into ``run.stop_reason``; the loop stops after the step.

    A second signal gives up at once (KeyboardInterrupt). Only the main thread can
    install handlers; elsewhere (tests driving the loop from a thread) this is a no-op.
    """

    def __init__(self, run: Run, enabled: bool = True):
        self.run = run
        self._old: dict[int, Any] = {}
        self._enabled = enabled and threading.current_thread() is threading.main_thread()

    def __enter__(self) -> StopOnSignals:
        if self._enabled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.run.stop_reason:
            raise KeyboardInterrupt
        self.run.stop_reason = signal.Signals(signum).name
        log.warning("%s received: saving a checkpoint and stopping", self.run.stop_reason)

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
