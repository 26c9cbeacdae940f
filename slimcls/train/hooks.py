"""The training loop's side jobs, one small object each.

A hook sees the :class:`Run` (the loop's shared view: config, state, the step just
done and its metrics) at three moments: :meth:`Hook.begin`, :meth:`Hook.after_step` and
:meth:`Hook.end`. The loop itself only runs steps and checks the loss; logging,
summaries, validation and checkpoints are hooks, so a new side job is a new hook.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from slimcls import checkpoints, summaries
from slimcls.config import TrainConfig
from slimcls.core.compat import tf
from slimcls.train.state import TrainState

log = logging.getLogger("slimcls.train")

LOSS_KEYS = ("cross_entropy", "aux_loss", "regularization", "total_loss")


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
    """

    config: TrainConfig
    state: TrainState
    save_dir: str
    step: int = 0
    values: dict[str, float] = dataclasses.field(default_factory=dict)
    images: Any = None
    stop_reason: str | None = None
    checkpoint: str | None = None
    validation_accuracy: float | None = None

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


def loss_text(values: Mapping[str, float]) -> str:
    keys = ("cross_entropy", "aux_loss", "regularization")
    return ", ".join(f"{k} {values[k]:.4f}" for k in keys if k in values)


class LoggingHook(Hook):
    """A log line every ``every_n_steps``: loss terms, learning rate, speed."""

    def __init__(self, every_n_steps: int, batch_size: int):
        self.every_n_steps = every_n_steps
        self.batch_size = batch_size
        self._start = time.monotonic()
        self._steps = 0

    def begin(self, run: Run) -> None:
        self._start, self._steps = time.monotonic(), 0

    def after_step(self, run: Run) -> None:
        self._steps += 1
        if not self.every_n_steps or run.step % self.every_n_steps:
            return
        elapsed = time.monotonic() - self._start
        log.info(
            "step %d: loss = %.4f (%s), lr = %.6g, %.1f examples/sec, %.3f sec/step",
            run.step,
            run.values["total_loss"],
            loss_text(run.values),
            run.values["learning_rate"],
            self._steps * self.batch_size / max(elapsed, 1e-9),
            elapsed / self._steps,
        )
        self._start, self._steps = time.monotonic(), 0


class SummaryHook(Hook):
    """TensorBoard summaries: at the first step, then every ``every_secs``."""

    def __init__(
        self, writer, every_secs: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.writer = writer
        self.every_secs = every_secs
        self.clock = clock
        self._last: float | None = None

    def after_step(self, run: Run) -> None:
        now = self.clock()
        if self._last is not None and now - self._last < self.every_secs:
            return
        self._last = now
        with self.writer.as_default():
            for key in LOSS_KEYS:
                if key in run.values:
                    summaries.scalar(f"losses/{key}", run.values[key], run.step)
            summaries.scalar("learning_rate", run.values["learning_rate"], run.step)
            summaries.scalar("train/accuracy", run.values["accuracy"], run.step)
            if run.images is not None and len(run.images):
                summaries.images("images", _normalised(run.images), run.step)

    def end(self, run: Run) -> None:
        self.writer.flush()


def _normalised(images):
    low = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
    high = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
    return (images - low) / tf.maximum(high - low, 1e-6)


class ValidationHook(Hook):
    """Accuracy on ``split`` every ``every_n_steps`` and at the end of a finished run."""

    def __init__(
        self, validate: Callable[[], tuple[float, int]], every_n_steps: int, split: str, writer
    ) -> None:
        self.validate = validate
        self.writer = writer
        self.every_n_steps = every_n_steps
        self.split = split
        self._last_step: int | None = None

    def _run(self, run: Run) -> None:
        accuracy, n = self.validate()
        log.info(
            "step %d: validation accuracy on %s = %.4f (%d examples)",
            run.step,
            self.split,
            accuracy,
            n,
        )
        with self.writer.as_default():
            summaries.scalar(f"validation/{self.split}/accuracy", accuracy, run.step)
        run.validation_accuracy = accuracy
        self._last_step = run.step

    def after_step(self, run: Run) -> None:
        if self.every_n_steps and run.step % self.every_n_steps == 0:
            self._run(run)

    def end(self, run: Run) -> None:
        if run.stop_reason is None and self._last_step != run.step:
            self._run(run)


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
