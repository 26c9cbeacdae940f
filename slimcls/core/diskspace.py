"""Disk full, reported as one line that names the path and the bytes needed.

A full disk surfaces in many shapes: ``OSError(ENOSPC)`` from Python writes, a
``tf.errors.ResourceExhaustedError``/``UnknownError`` whose text says "No space left on
device" from TensorFlow's file system, or a half-written file nobody notices. Writers of
large files (checkpoints, dataset shards) call :func:`check_free` before they start, so a
shortfall is reported before anything is written, and wrap the write in
:func:`disk_full_errors` so a disk that fills up anyway (other writers, quotas) still gives
the same one line instead of a traceback.

Free space is known for local paths only (``shutil.disk_usage``); for URLs (``gs://``) the
check is skipped and only the write errors are translated.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator

from slimcls.core.errors import SlimclsError

#: errno values that mean "the file system (or the user's quota) is full".
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
#: How TensorFlow's file systems spell those errors in an OpError's message.
_FULL_TEXTS = ("no space left on device", "disk quota exceeded")


def free_bytes(path: str) -> int | None:
    """Bytes free for ``path`` (its nearest existing parent), or None when unknown (URLs)."""
    if "://" in path:
        return None
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            return None
        probe = parent
    try:
        return int(shutil.disk_usage(probe).free)
    except OSError:
        return None


def human(n: int) -> str:
    """``123456789`` -> ``"117.7 MiB (123456789 bytes)"``; small sizes stay in bytes."""
    n = int(n)
    if n < 1024:
        return f"{n} bytes"
    value, unit = float(n), "KiB"
    for unit in ("KiB", "MiB", "GiB", "TiB"):  # noqa: B007  (unit is used below)
        value /= 1024
        if value < 1024:
            break
    return f"{value:.1f} {unit} ({n} bytes)"


def disk_full_error(path: str, needed: int | None, free: int | None = None) -> SlimclsError:
    """The one-line error for a write to ``path`` that does not fit."""
    if free is None:
        free = free_bytes(path)
    need = f"writing it needs {human(needed)}" if needed is not None else "it needs more space"
    have = f", {human(free)} free" if free is not None else ""
    return SlimclsError(
        f"no space left on the device of {path}: {need}{have}; free some space "
        "(or write elsewhere) and run again"
    )


def check_free(path: str, needed: int) -> None:
    """Raises the disk-full error now when ``needed`` bytes do not fit at ``path``.

    Unknown free space (URLs) passes: the write itself will tell.
    """
    free = free_bytes(path)
    if free is not None and free < needed:
        raise disk_full_error(path, needed, free)


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` (OSError or a TensorFlow OpError) means the disk is full."""
    if isinstance(error, OSError) and error.errno in _FULL_ERRNOS:
        return True
    text = str(error).lower()
    return type(error).__module__.startswith("tensorflow") and any(t in text for t in _FULL_TEXTS)


@contextlib.contextmanager
def disk_full_errors(path: str, needed: int | None = None) -> Iterator[None]:
    """Turns a disk-full error raised inside the block into :func:`disk_full_error`.

    Other errors pass through unchanged. Converters wrap shard writes in it, checkpoints
    their saves.
    """
    try:
        yield
    except SlimclsError:
        raise
    except Exception as e:  # noqa: BLE001  (only disk-full errors are translated)
        if is_disk_full(e):
            raise disk_full_error(path, needed) from None
        raise
