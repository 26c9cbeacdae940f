"""SIGTERM like Ctrl-C, and a few file operations no signal may cut in two.

A scheduler, ``timeout`` or ``docker stop`` ends a process with SIGTERM, whose default
action kills it at once: no ``finally`` block runs, so a conversion would leave its staging
folder, work folder and lock behind. Inside :func:`sigterm_raises` SIGTERM raises
:class:`Terminated` instead, which unwinds like ``KeyboardInterrupt`` (cleanups run) and
the command line reports it in one line with exit status 143. :func:`deferred` holds
SIGINT and SIGTERM back for a moment (a dataset's swap), delivering them right after.

Signal handlers can only be set from the main thread; elsewhere both are no-ops.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

#: Exit status of a command stopped by SIGTERM (128 + 15, what the shell reports).
EXIT_TERMINATED = 143


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt: ``except Exception`` does
    not swallow it, cleanups run, the entry point prints its message and exits 143."""


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def sigterm_raises(message: str = "stopped by SIGTERM") -> Iterator[None]:
    """Within the block SIGTERM raises :class:`Terminated` (``message``), once: a second
    SIGTERM kills at once. A handler someone else installed (or SIG_IGN) is left alone."""
    if not _main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def handle(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated(message)

    signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Holds SIGINT and SIGTERM back while the block runs, then acts on the first one
    received as its handler would have (Ctrl-C: KeyboardInterrupt)."""
    if not _main_thread():
        yield
        return
    received: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    old = {sig: signal.signal(sig, lambda signum, frame: received.append(signum)) for sig in held}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if received:
            signum = received[0]
            handler = old[signum]
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                if signum == signal.SIGINT:
                    raise KeyboardInterrupt
                signal.raise_signal(signum)
