"""The cache of published checkpoints: where each one lives, what was recorded, its lock.

``$SLIMCLS_CACHE_DIR``, else ``$XDG_CACHE_HOME/slimcls``, else ``~/.cache/slimcls``; each
archive's checkpoint lives in ``<cache>/checkpoints/<archive name>/`` next to
``slimcls_checkpoint.json`` (what was verified, and the sha256 of every file), which
:mod:`slimcls.model.pretrained` writes last, once the checkpoint is complete and verified.
A download works in ``<archive name>.download/`` under a lock, so one process downloads an
archive however many ask at once. No TensorFlow here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from slimcls.core.errors import SlimclsError
from slimcls.core.locking import LOCK_FILENAME, DirLock

if TYPE_CHECKING:  # importing slimcls.nets imports TensorFlow: only where needed
    from slimcls.nets import published

CACHE_ENV = "SLIMCLS_CACHE_DIR"
RECORD_FILE = "slimcls_checkpoint.json"
RECORD_KIND = "slimcls published checkpoint"
_BLOCK = 1 << 20

Log = Callable[[str], None]


def cache_dir() -> str:
    """``$SLIMCLS_CACHE_DIR``, else ``$XDG_CACHE_HOME/slimcls``, else ``~/.cache/slimcls``."""
    if os.environ.get(CACHE_ENV):
        return os.path.abspath(os.path.expanduser(os.environ[CACHE_ENV]))
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return os.path.join(os.path.abspath(os.path.expanduser(xdg)), "slimcls")
    return os.path.join(os.path.expanduser("~"), ".cache", "slimcls")


def entry_dir(record: published.PublishedCheckpoint) -> str:
    """Where the record's verified checkpoint lives in the cache."""
    return os.path.join(cache_dir(), "checkpoints", record.name)


def work_dir(record: published.PublishedCheckpoint) -> str:
    """The record's download directory: its lock, the partial archive, the extraction."""
    return entry_dir(record) + ".download"


def read_record(directory: str) -> dict | None:
    """The record slimcls wrote in ``directory`` on verifying it, or None (none, or not ours)."""
    try:
        with open(os.path.join(directory, RECORD_FILE), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("kind") == RECORD_KIND else None


def cached_checkpoint(record: published.PublishedCheckpoint) -> str | None:
    """The cached checkpoint path of ``record`` when it was downloaded and verified, else
    None (its files' sha256s are not checked here: see
    :func:`slimcls.model.pretrained.resolve_checkpoint`)."""
    data = read_record(entry_dir(record))
    return os.path.join(entry_dir(record), data["path"]) if data else None


def cache_record(checkpoint: str) -> dict | None:
    """What slimcls recorded when it verified the cached checkpoint ``checkpoint`` (a path
    :func:`slimcls.model.pretrained.resolve_checkpoint` returned), or None for any other path.

    Keys include ``model_name``, ``num_classes``, ``moving_averages`` (the checkpoint holds
    ``<var>/ExponentialMovingAverage`` shadows of every trainable variable) and ``url``.
    """
    data = read_record(os.path.dirname(os.path.abspath(checkpoint)))
    if data and data.get("path") == os.path.basename(checkpoint):
        return data
    return None


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def check_cached(record: published.PublishedCheckpoint, directory: str, data: dict) -> str:
    """The cached checkpoint path, after checking every file's recorded sha256."""
    files = data.get("files")
    if not isinstance(files, dict) or not files or not isinstance(data.get("path"), str):
        raise SlimclsError(
            f"cached checkpoint {directory}: {RECORD_FILE} is damaged; delete {directory} "
            "to download it again"
        )
    for name, want in sorted(files.items()):
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            raise SlimclsError(
                f"cached checkpoint file {path} is missing; delete {directory} to download "
                f"{record.archive} again"
            )
        got = _sha256(path)
        if got != want:
            raise SlimclsError(
                f"cached checkpoint file {path} has sha256 {got}, not the {want} recorded "
                f"when it was verified (changed or damaged on disk); delete {directory} to "
                f"download {record.archive} again"
            )
    return os.path.join(directory, data["path"])


@contextlib.contextmanager
def locked(directory: str, record, log: Log) -> Iterator[None]:
    """Holds ``directory``'s lock, waiting while another live process holds it."""
    lock = DirLock(directory, what=f"download of {record.archive}", log=log)
    lock_path = os.path.join(directory, LOCK_FILENAME)
    said, unlocked_failures = False, 0
    while True:
        try:
            lock.acquire()
            break
        except (FileNotFoundError, SlimclsError):
            holder = _lock_holder(lock_path)
            if holder is None and not os.path.exists(lock_path):
                # Released meanwhile, or the directory was removed by the process that just
                # finished: try again; a directory that cannot be written fails every time.
                unlocked_failures += 1
                if unlocked_failures >= 20:
                    raise
                time.sleep(0.05)
                continue
            if not said:
                log(
                    f"waiting for pid {holder.get('pid') if holder else '?'} on "
                    f"{holder.get('host') if holder else '?'}, which is getting "
                    f"{record.archive} (lock {lock_path})"
                )
                said = True
            time.sleep(0.2)
    try:
        yield
    finally:
        lock.release()


def _lock_holder(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None
