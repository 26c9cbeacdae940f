"""Walking user folders safely: symlink loops, duplicates, special files, huge files, odd names.

Folders given to the converters and to ``classify_image`` are user data and may hold
anything: directory symlinks that loop (``a/loop -> ..``), two paths to one file, FIFOs or
devices named ``x.png`` (opening a FIFO blocks forever, reading ``/dev/zero`` never ends),
multi-gigabyte files, and names that are not UTF-8. :func:`walk_files` follows each real
directory once, keeps each real file once and skips everything that is not a regular file
*before* opening it; :func:`read_file` re-checks the opened file and caps the bytes read.
Each skipped entry becomes a :class:`Skipped` record the caller reports.

Local paths are ``str`` (non-UTF-8 bytes kept as surrogate escapes, so ``open`` finds the
file); :func:`display_name` is the escaped, printable form used in every message.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Callable

from slimcls.core.compat import tf

#: Default cap on the bytes read from one input file (``--max_file_bytes``).
DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024


class TooLarge(Exception):
    """A file above the byte cap (message = reason)."""


class NotRegular(Exception):
    """Something that is not a regular file (FIFO, device, socket, directory)."""


@dataclasses.dataclass(frozen=True)
class Skipped:
    """An entry left out of a walk: its path (displayable) and why."""

    path: str
    reason: str

    def line(self, rel: int = 0) -> str:
        """``path<TAB>reason`` (the ``rejected.txt`` form), ``rel`` chars cut off the path."""
        return f"{self.path[rel:]}\t{self.reason}"


def display_name(path: str | bytes) -> str:
    """A printable, UTF-8-encodable form of any path: undecodable bytes as ``\\xNN``."""
    raw = path if isinstance(path, bytes) else os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")


def is_undecodable(path: str) -> bool:
    """True when a name held non-UTF-8 bytes (it then carries surrogate escapes)."""
    try:
        path.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def walk_files(
    top: str,
    *,
    keep_dir: Callable[[str], bool] = lambda name: True,
    keep_file: Callable[[str], bool] = lambda name: True,
    seen_dirs: set[tuple[int, int]] | None = None,
    seen_files: dict[tuple[int, int], str] | None = None,
    skipped: list[Skipped] | None = None,
) -> list[str]:
    """Regular files under ``top``, sorted; each real directory and file visited once.

    Args:
      top: a local directory or a ``tf.io.gfile`` URL (URLs have no symlinks or inodes:
        plain ``tf.io.gfile.walk``).
      keep_dir, keep_file: filters on an entry's name (e.g. hidden names, extensions).
      seen_dirs, seen_files: share these between walks (several class folders) so a
        directory or file reached from two places is still taken once.
      skipped: appended to: entries left out and why (loops and repeated directories are
        left out silently: nothing in them is lost).

    Returns:
      Paths (``str``; non-UTF-8 names keep their bytes as surrogate escapes).
    """
    if "://" in top:
        return _walk_url(top, keep_dir, keep_file)
    walk = _Walk(
        keep_dir,
        keep_file,
        seen_dirs if seen_dirs is not None else set(),
        seen_files if seen_files is not None else {},
        skipped if skipped is not None else [],
    )
    try:
        st = os.stat(top)
    except OSError as e:
        walk.skipped.append(Skipped(display_name(top), f"cannot read: {e.strerror}"))
        return []
    walk.seen_dirs.add((st.st_dev, st.st_ino))
    stack = [top]
    while stack:
        stack.extend(reversed(walk.visit(stack.pop())))
    return sorted(walk.found)


def _walk_url(top: str, keep_dir, keep_file) -> list[str]:
    """A ``tf.io.gfile`` URL's files: no symlinks or inodes there, a plain walk."""
    found = []
    for dirpath, subdirs, names in tf.io.gfile.walk(top):
        subdirs[:] = [d for d in subdirs if keep_dir(d.rstrip("/"))]
        found += [os.path.join(dirpath, n) for n in names if keep_file(n)]
    return sorted(found)


@dataclasses.dataclass
class _Walk:
    """One local walk's filters and what it has seen, kept, and left out."""

    keep_dir: Callable[[str], bool]
    keep_file: Callable[[str], bool]
    seen_dirs: set[tuple[int, int]]
    seen_files: dict[tuple[int, int], str]
    skipped: list[Skipped]
    found: list[str] = dataclasses.field(default_factory=list)

    def visit(self, directory: str) -> list[str]:
        """Takes ``directory``'s files; returns its sub-directories not seen yet, in order."""
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as e:
            self.skipped.append(Skipped(display_name(directory), f"cannot list: {e.strerror}"))
            return []
        subdirs = []
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=True)  # lstat would not see a link's target
            except OSError as e:
                if self.keep_file(entry.name):
                    why = "a broken symlink" if entry.is_symlink() else e.strerror
                    self.skipped.append(Skipped(display_name(entry.path), f"cannot read: {why}"))
                continue
            key = (st.st_dev, st.st_ino)
            if stat.S_ISDIR(st.st_mode):
                if self.keep_dir(entry.name) and key not in self.seen_dirs:
                    self.seen_dirs.add(key)
                    subdirs.append(entry.path)
            elif self.keep_file(entry.name):
                self._take(entry.path, st, key)
        return subdirs

    def _take(self, path: str, st: os.stat_result, key: tuple[int, int]) -> None:
        """A kept name: a regular file seen for the first time is found; else why not."""
        if not stat.S_ISREG(st.st_mode):
            self.skipped.append(Skipped(display_name(path), f"{_kind(st.st_mode)}; not read"))
        elif key in self.seen_files:
            same = display_name(self.seen_files[key])
            self.skipped.append(
                Skipped(display_name(path), f"the same file as {same}; counted once")
            )
        else:
            self.seen_files[key] = path
            self.found.append(path)


def read_file(path: str, max_bytes: int | None = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """Reads a whole regular file, at most ``max_bytes``.

    Opened non-blocking (a FIFO swapped in after the walk cannot hang the open), then
    checked with ``fstat`` before any byte is read.

    Raises:
      NotRegular: the path is not a regular file.
      TooLarge: it holds more than ``max_bytes``.
      OSError: it cannot be opened or read.
    """
    if "://" in path:
        if max_bytes is not None and tf.io.gfile.stat(path).length > max_bytes:
            raise TooLarge(f"larger than --max_file_bytes {max_bytes}; not read")
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(f"{_kind(st.st_mode)}; not read")
        if max_bytes is not None and st.st_size > max_bytes:
            raise TooLarge(f"{st.st_size} bytes, above --max_file_bytes {max_bytes}; not read")
        limit = -1 if max_bytes is None else max_bytes + 1
        data = f.read(limit)  # the file may grow after fstat: the cap holds anyway
    if max_bytes is not None and len(data) > max_bytes:
        raise TooLarge(f"more than --max_file_bytes {max_bytes} bytes; not read")
    return data
