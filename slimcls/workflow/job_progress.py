"""One progress bar and ETA over a job of several stages (``make_image_classifier``).

Each stage has a size in its own units (images, steps) and an estimate of its seconds per
unit: measured while the stage runs, or derived from what earlier stages measured (the
body's speed on the feature pass predicts fine-tuning steps and evaluation). The ETA is
the sum over the stages still to run. On a terminal the bar is redrawn in place (and
cleared before log lines, see :meth:`JobProgress.attach_to_logging`); elsewhere a line is
written every ``log_every_s`` seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections.abc import Callable
from typing import TextIO

from slimcls.core.terminal import is_terminal


def format_duration(seconds: float | None) -> str:
    """``75`` -> ``1m15s``; None or not finite -> ``?``."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


@dataclasses.dataclass
class Stage:
    """One part of the job.

    Attributes:
      name: shown on the bar ("features", "head", ...).
      total: its size in ``unit``.
      estimate: seconds per unit before the stage measured its own (None: unknown).
      done: units finished.
    """

    name: str
    total: float
    unit: str = "steps"
    estimate: Callable[[], float | None] = lambda: None
    done: float = 0.0
    started: float | None = None
    finished: float | None = None
    detail: str = ""
    _measure_from: tuple[float, float] | None = None  # (time, done) after the first unit

    def measured(self, now: float) -> float | None:
        """Seconds per unit measured so far (after the first units, which may include
        tracing), or None."""
        if self._measure_from is not None and self.done > self._measure_from[1]:
            t0, d0 = self._measure_from
            end = self.finished if self.finished is not None else now
            return (end - t0) / (self.done - d0)
        return None

    def seconds_per_unit(self, now: float) -> float | None:
        """Measured, else estimated (an estimate may use other stages' measurements)."""
        found = self.measured(now)
        return found if found is not None else self.estimate()

    def remaining_seconds(self, now: float) -> float | None:
        if self.finished is not None:
            return 0.0
        rate = self.seconds_per_unit(now)
        return None if rate is None else rate * max(self.total - self.done, 0.0)


class JobProgress:
    """The whole job's progress; see the module docstring.

    Args:
      stages: in the order they run (a stage may be skipped with :meth:`skip`).
      stream: where the bar and lines go (default stderr).
      is_tty: draw a bar (default: ``stream.isatty()``).
      log_every_s: seconds between lines when not drawing a bar.
      clock: for tests.
    """

    def __init__(
        self,
        stages: list[Stage],
        stream: TextIO | None = None,
        is_tty: bool | None = None,
        log_every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stages = {s.name: s for s in stages}
        self.order = [s.name for s in stages]
        self.stream = stream if stream is not None else sys.stderr
        self.is_tty = is_terminal(self.stream, is_tty)
        self.log_every_s = log_every_s
        self.clock = clock
        self.start_time = clock()
        self.current: Stage | None = None
        self._last_draw = -math.inf
        self._bar_shown = False
        self._filter: logging.Filter | None = None

    # ------------------------------------------------------------------ stages

    def stage(self, name: str) -> Stage:
        return self.stages[name]

    def begin(self, name: str, detail: str = "") -> None:
        """Starts stage ``name`` and writes a line saying what it does."""
        stage = self.stages[name]
        stage.started = self.clock()
        stage.detail = detail
        self.current = stage
        index = self.order.index(name) + 1
        self.write_line(f"[{index}/{len(self.order)}] {detail or name}")

    def advance(self, units: float = 1.0, to: float | None = None, detail: str | None = None):
        """Adds ``units`` (or sets the count ``to``) in the current stage; redraws."""
        stage = self.current
        if stage is None:
            return
        stage.done = to if to is not None else stage.done + units
        if detail is not None:
            stage.detail = detail
        if stage._measure_from is None:
            stage._measure_from = (self.clock(), stage.done)
        self._draw()

    def end(self, name: str) -> None:
        stage = self.stages[name]
        stage.done = max(stage.done, stage.total)
        stage.finished = self.clock()
        if self.current is stage:
            self.current = None
        self._draw(force=True)

    def skip(self, name: str) -> None:
        """A stage that does not run (already done, or not asked for)."""
        stage = self.stages[name]
        stage.total = stage.done = 0.0
        stage.finished = stage.started = self.clock()

    def seconds(self, name: str) -> float | None:
        stage = self.stages[name]
        if stage.started is None or stage.finished is None:
            return None
        return stage.finished - stage.started

    # ------------------------------------------------------------------ reporting

    def eta(self) -> float | None:
        """Seconds left for the whole job, or None while some stage cannot be estimated."""
        now = self.clock()
        total = 0.0
        for name in self.order:
            left = self.stages[name].remaining_seconds(now)
            if left is None:
                return None
            total += left
        return total

    def fraction(self) -> float:
        """Share of the job done, by time: elapsed / (elapsed + ETA) (stages done / all
        stages while the ETA is unknown)."""
        eta = self.eta()
        if eta is None:
            finished = sum(1 for s in self.stages.values() if s.finished is not None)
            return finished / max(len(self.stages), 1)
        elapsed = self.clock() - self.start_time
        return 1.0 if elapsed + eta <= 0 else elapsed / (elapsed + eta)

    def line(self) -> str:
        stage = self.current
        where = "done"
        if stage is not None:
            where = f"{stage.detail or stage.name}: {stage.done:.0f}/{stage.total:.0f} {stage.unit}"
        elapsed = format_duration(self.clock() - self.start_time)
        eta = format_duration(self.eta())
        return f"{100 * self.fraction():3.0f}% {where}, elapsed {elapsed}, ETA {eta}"

    def _draw(self, force: bool = False) -> None:
        now = self.clock()
        if self.is_tty:
            if force or now - self._last_draw >= 0.2:
                filled = int(30 * min(1.0, self.fraction()))
                self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.line()}\033[K")
                self.stream.flush()
                self._last_draw, self._bar_shown = now, True
        elif now - self._last_draw >= self.log_every_s:
            self._last_draw = now
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def clear(self) -> None:
        """Removes the bar from the terminal line (before other output)."""
        if self._bar_shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._bar_shown = False

    def write_line(self, text: str) -> None:
        """A line of its own (the bar, if shown, is redrawn below it later)."""
        self.clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def attach_to_logging(self) -> None:
        """Clears the bar before each log record, so log lines do not land on it."""
        progress = self

        class _ClearBar(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                progress.clear()
                return True

        self._filter = _ClearBar()
        for handler in logging.getLogger().handlers:
            handler.addFilter(self._filter)

    def close(self) -> None:
        self.clear()
        if self._filter is not None:
            for handler in logging.getLogger().handlers:
                handler.removeFilter(self._filter)
            self._filter = None
