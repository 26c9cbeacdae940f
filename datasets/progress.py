"""Conversion progress (images/s and ETA) and the closing per-class summary."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TextIO

import numpy as np

from slimcls.core.terminal import is_terminal


def _fmt_seconds(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class Progress:
    """Images/s and ETA: a redrawn bar on a terminal, a log line every ``log_every_s`` else."""

    def __init__(
        self,
        total: int | None,
        desc: str,
        stream: TextIO | None = None,
        log_every_s: float = 10.0,
        is_tty: bool | None = None,
        unit: str = "images",
    ):
        self.total = total
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.is_tty = is_terminal(self.stream, is_tty)
        self.log_every_s = log_every_s
        self.unit = unit
        self.n = 0
        self.rejected = 0
        self.start = time.monotonic()
        self._last = self.start
        self._closed = False

    def rate(self) -> float:
        elapsed = time.monotonic() - self.start
        return self.n / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """``desc: kept/total images[, R rejected] (P%), rate, ETA``: the first count is what
        was kept (the summary's count); the percentage and the ETA count rejected ones too."""
        rate = self.rate()
        kept = self.n - self.rejected
        rejected = f", {self.rejected} rejected" if self.rejected else ""
        if self.total:
            eta = (self.total - self.n) / rate if rate > 0 else float("inf")
            pct = 100.0 * self.n / self.total
            return (
                f"{self.desc}: {kept:.0f}/{self.total} {self.unit}{rejected} ({pct:.0f}%), "
                f"{rate:.0f} {self.unit}/s, ETA {_fmt_seconds(eta)}"
            )
        return f"{self.desc}: {kept:.0f} {self.unit}{rejected}, {rate:.0f} {self.unit}/s"

    def _bar(self) -> str:
        width = 30
        frac = min(1.0, self.n / self.total) if self.total else 0.0
        filled = int(frac * width)
        return f"\r[{'#' * filled}{'.' * (width - filled)}] {self.line()}\033[K"

    def update(self, n: int = 1, rejected: int = 0) -> None:
        """``n`` more inputs done, ``rejected`` of them left out (not counted as kept)."""
        self.n += n
        self.rejected += rejected
        now = time.monotonic()
        if self.is_tty:
            if now - self._last >= 0.1:
                self._last = now
                self.stream.write(self._bar())
                self.stream.flush()
        elif now - self._last >= self.log_every_s:
            self._last = now
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        elapsed = time.monotonic() - self.start
        if self.is_tty:
            self.stream.write(self._bar() + "\n")
        else:
            self.stream.write(f"{self.line()} - done in {_fmt_seconds(elapsed)}\n")
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------- summary


def format_summary(
    name: str,
    dataset_dir: str,
    class_names: Sequence[str],
    per_class: Mapping[str, Sequence[int]],
    notes: Sequence[str] = (),
    max_classes: int = 50,
) -> str:
    """The closing summary: images per split and class (min/median/max for many classes)."""
    splits = list(per_class)
    lines = [f"converted dataset {name!r} into {dataset_dir}"]
    total = {s: int(sum(per_class[s])) for s in splits}
    lines.append("  " + ", ".join(f"{s}: {total[s]} images" for s in splits))
    if len(class_names) <= max_classes:
        width = max([len("class")] + [len(str(c)) for c in class_names])
        lines.append("  " + "class".ljust(width) + "".join(f" {s:>10}" for s in splits))
        for i, cname in enumerate(class_names):
            counts = "".join(f" {per_class[s][i]:>10d}" for s in splits)
            lines.append("  " + str(cname).ljust(width) + counts)
    else:
        for s in splits:
            c = np.asarray(per_class[s])
            lines.append(
                f"  {s}: {len(class_names)} classes, images per class min {c.min()}, "
                f"median {int(np.median(c))}, max {c.max()}"
            )
    lines += [f"  {n}" for n in notes]
    return "\n".join(lines)
