"""One writer per directory: a lock file that names its holder (host and PID).

``with DirLock(path, what="--dataset_dir"):`` puts ``<path>/.slimcls.lock`` in place
atomically: the holder's record (host, PID, time) is written to a private file first and
hard-linked to the lock's name, which fails when a lock is there (``link`` is atomic on
local and NFS file systems), so a reader never sees an empty or half-written lock. A second
writer gets a one-line :class:`SlimclsError` naming the holder.

A lock left by a process that is gone (same host, PID no longer running) is taken over with
a log line, so a ``kill -9`` never leaves a directory locked for good. Taking over is
serialised between the processes of this host by an ``flock`` on the directory (the kernel
drops it when its holder dies, so it never goes stale itself): under it the lock is read
again, removed only when it is still the same dead process's, and replaced by ours. So of
several processes taking over one stale lock at once exactly one holds it; the others are
told who does. Locks of other hosts are never broken automatically: we cannot see their
processes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator

from slimcls.core.errors import SlimclsError

LOCK_FILENAME = ".slimcls.lock"
#: The private file a record is written to before it is linked as the lock:
#: ``.slimcls.lock.<pid>-<32 hex>.new`` (removed at once; a killed writer's is removed later).
_RECORD_RE = re.compile(r"^\.slimcls\.lock\.(\d+)-[0-9a-f]{32}\.new$")
#: How often a lock that cannot be read (being replaced) is read again before giving up.
_ATTEMPTS = 10
#: How long a takeover waits for another process's (the critical section is a few file ops).
_MUTEX_WAIT_S = 10.0


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


@contextlib.contextmanager
def _host_mutex(path: str) -> Iterator[bool]:
    """An exclusive ``flock`` on directory ``path`` among this host's processes.

    Yields False (nothing held) where the file system or platform has no ``flock`` on
    directories; the caller then does not break locks automatically.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield False
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield False
        return
    try:
        deadline = time.monotonic() + _MUTEX_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    yield False
                    return
                time.sleep(0.005)
            except OSError:  # no flock on this file system
                yield False
                return
        yield True
    finally:
        os.close(fd)  # closing drops the flock


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
        self._held: dict | None = None

    def _record(self) -> dict:
        return {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}

    def _read_holder(self) -> dict | None:
        """The lock's record; None when there is no lock, ``{}`` when it cannot be read."""
        try:
            with open(self.lock_path, encoding="utf-8") as f:
                holder = json.load(f)
            return holder if isinstance(holder, dict) else {}
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # garbage, or written by an older slimcls that was killed meanwhile

    def _is_stale(self, holder: dict | None) -> bool:
        pid = (holder or {}).get("pid")
        return (
            (holder or {}).get("host") == socket.gethostname()
            and isinstance(pid, int)
            and not isinstance(pid, bool)
            and not pid_alive(pid)
        )

    def _link(self, record: dict) -> bool:
        """Puts ``record`` in place as the lock; False when a lock is there already."""
        private = os.path.join(self.path, f"{LOCK_FILENAME}.{os.getpid()}-{uuid.uuid4().hex}.new")
        with open(private, "x", encoding="utf-8") as f:
            json.dump(record, f)
        try:
            os.link(private, self.lock_path)
            return True
        except FileExistsError:
            return False
        except OSError as e:  # a file system without hard links: exclusive create instead
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            return self._create(record)
        finally:
            os.remove(private)

    def _create(self, record: dict) -> bool:
        try:
            fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f)
        return True

    def _remove_dead_records(self) -> None:
        """Removes the private record files of writers killed between write and link."""
        try:
            names = os.listdir(self.path)
        except OSError:
            return
        for n in names:
            m = _RECORD_RE.match(n)
            if m and int(m.group(1)) != os.getpid() and not pid_alive(int(m.group(1))):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(self.path, n))

    def _take_over(self, record: dict) -> bool | None:
        """Replaces a dead process's lock by ours, serialised with this host's other
        processes. True: ours now; False: someone else holds it; None: cannot break it."""
        with _host_mutex(self.path) as held:
            if not held:
                return None
            holder = self._read_holder()  # again: another process may have taken over
            if holder is None:
                return self._link(record)
            if not self._is_stale(holder):
                return False
            self.log(
                f"{self.what} {self.path}: taking over the stale lock of pid {holder['pid']} "
                f"on {holder['host']} (that process is gone)"
            )
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.lock_path)
            return self._link(record)

    def _in_use(self, holder: dict) -> SlimclsError:
        if not holder:
            return SlimclsError(
                f"{self.what} {self.path} is locked by {self.lock_path}, which cannot be read; "
                "expected a lock naming its holder: remove that file if no slimcls command "
                "is using the directory"
            )
        pid, host = holder.get("pid"), holder.get("host")
        return SlimclsError(
            f"{self.what} {self.path} is in use by pid {pid} on host {host} (lock file "
            f"{self.lock_path}); expected one writer at a time: wait for it, or remove "
            "the lock file if that process is gone"
        )

    def acquire(self) -> None:
        """Takes the lock (see the module docstring).

        Raises:
          SlimclsError: another live process holds it, or the directory cannot be written.
        """
        try:
            os.makedirs(self.path, exist_ok=True)
            self._remove_dead_records()
            self._acquire()
        except OSError as e:
            raise SlimclsError(
                f"{self.what} {self.path} cannot be written ({e.strerror or e}); expected a "
                "directory you can write"
            ) from None

    def _acquire(self) -> None:
        record = self._record()
        holder: dict | None = None
        for attempt in range(_ATTEMPTS):
            if self._link(record):
                self._held = record
                return
            holder = self._read_holder()
            if holder is None:
                continue  # released meanwhile: try again
            if self._is_stale(holder):
                taken = self._take_over(record)
                if taken:
                    self._held = record
                    return
                if taken is None:
                    raise self._in_use(holder)
                continue  # another process took it over: read who
            if holder:
                raise self._in_use(holder)
            time.sleep(0.01 * (attempt + 1))  # unreadable: an older slimcls still writing it
        raise self._in_use(holder or {})

    def release(self) -> None:
        if self._held is None:
            return
        mine, self._held = self._held, None
        holder = self._read_holder()
        if holder and holder.get("pid") == mine["pid"] and holder.get("since") == mine["since"]:
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
