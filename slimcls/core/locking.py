"""One writer per directory: a lock file that names its holder (host and PID).

``with DirLock(path, what="--dataset_dir"):`` creates ``<path>/.slimcls.lock`` exclusively
(``O_CREAT | O_EXCL``, atomic on local and NFS v3+ file systems). A second writer gets a
one-line :class:`SlimclsError` naming the holder. A lock left by a process that is gone
(same host, PID no longer running) is taken over with a log line, so a ``kill -9`` never
leaves a directory locked for good. Locks on other hosts are never broken automatically:
we cannot see their processes.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from collections.abc import Callable

from slimcls.core.errors import SlimclsError

LOCK_FILENAME = ".slimcls.lock"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:  # a zombie (killed, not yet reaped) holds nothing
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:
        return True


class DirLock:
    """Exclusive ownership of a directory for one process (see the module docstring).

    Args:
      path: the directory (created when missing).
      what: how messages name it, e.g. ``"--dataset_dir"`` or ``"--train_dir"``.
      log: where the stale-lock takeover is reported (default: stderr).
    """

    def __init__(
        self, path: str, what: str = "directory", log: Callable[[str], None] | None = None
    ):
        if "://" in path:
            raise SlimclsError(f"{what} {path} is a URL; locking needs a local directory")
        self.path = path
        self.what = what
        self.lock_path = os.path.join(path, LOCK_FILENAME)
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self._held = False

    def _record(self) -> dict:
        return {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}

    def _read_holder(self) -> dict | None:
        try:
            with open(self.lock_path, encoding="utf-8") as f:
                holder = json.load(f)
            return holder if isinstance(holder, dict) else {}
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # unreadable: being written, or garbage

    def acquire(self) -> None:
        os.makedirs(self.path, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._read_holder()
                if holder is None:
                    continue  # released meanwhile: try again
                host, pid = holder.get("host"), holder.get("pid")
                if host == socket.gethostname() and isinstance(pid, int) and not pid_alive(pid):
                    self.log(
                        f"{self.what} {self.path}: taking over the stale lock of pid {pid} on "
                        f"{host} (that process is gone)"
                    )
                    try:
                        os.remove(self.lock_path)
                    except FileNotFoundError:
                        pass
                    continue
                raise SlimclsError(
                    f"{self.what} {self.path} is in use by pid {pid} on host {host} (lock file "
                    f"{self.lock_path}); expected one writer at a time: wait for it, or remove "
                    "the lock file if that process is gone"
                ) from None
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self._record(), f)
            self._held = True
            return
        raise SlimclsError(f"{self.what} {self.path}: could not take the lock {self.lock_path}")

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        holder = self._read_holder()
        if holder and holder.get("pid") == os.getpid():
            try:
                os.remove(self.lock_path)
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise

    def __enter__(self) -> DirLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
