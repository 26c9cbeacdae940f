"""Process-pool helpers of the converters: bounded, ordered ``map`` over worker processes."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any


def resolve_num_workers(num_workers: int | None) -> int:
    """None = one worker process per usable core; 0 or 1 = work in this process."""
    if num_workers is None:
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1
    return max(0, int(num_workers))


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """Worker initializer: end this worker when the converting process dies, even by SIGKILL.

    On Linux the kernel delivers SIGKILL to the worker when its parent exits
    (``prctl(PR_SET_PDEATHSIG)``); elsewhere, and as a fallback, a daemon thread polls the
    parent PID once a second. Without this a ``kill -9`` of the converter leaves its
    workers running (orphans adopted by init), still holding memory and CPU.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    # A forked worker inherits the parent's SIGTERM handler (raise Terminated); a SIGTERM
    # sent to the whole process group should simply end the worker.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="slimcls-parent-watchdog", daemon=True).start()


def parallel_map(
    fn: Callable[[Any], Any], chunks: Iterable[Any], num_workers: int | None = None
) -> Iterator[Any]:
    """Yields ``fn(chunk)`` for every chunk, in input order, computed in worker processes.

    Unlike ``multiprocessing.Pool.imap`` (whose feeder thread consumes the whole input at
    once), at most ``2 * num_workers`` chunks are in flight, so memory stays flat however
    long the input stream is. Workers are forked where possible: they inherit the imported
    modules (TensorFlow included) instead of importing them again, and only run PIL/numpy
    code, never TensorFlow ops. ``fn`` must be a module-level function. Workers die with
    this process (:func:`_die_with_parent`).
    """
    workers = resolve_num_workers(num_workers)
    if workers <= 1:
        for chunk in chunks:
            yield fn(chunk)
        return
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
    with ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        pending: deque = deque()
        try:
            for chunk in chunks:
                pending.append(pool.submit(fn, chunk))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
