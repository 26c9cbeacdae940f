"""Small file helpers shared by the converters, training and evaluation."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError

#: Suffix of a file being written; renamed away once complete.
TMP_SUFFIX = ".tmp"


def write_text_atomic(path: str, text: str, temp_path: str | None = None) -> None:
    """Writes UTF-8 ``text`` to a temporary file, then renames it over ``path``.

    Readers never see a half-written file, and a killed writer leaves only the
    temporary one (``path + TMP_SUFFIX`` unless ``temp_path`` names another).
    Paths go through ``tf.io.gfile``, so ``gs://``-style URLs work. See
    :func:`write_bytes_atomic` for failures.
    """
    write_bytes_atomic(path, text.encode("utf-8"), temp_path)


def write_bytes_atomic(path: str, data: bytes, temp_path: str | None = None) -> None:
    """Writes ``data`` to a temporary file, then renames it over ``path``.

    A failed write (a full disk, a signal) removes the temporary file and leaves ``path``
    as it was; a full disk is the one-line error of :mod:`slimcls.core.diskspace`.
    """
    from slimcls.core import diskspace

    tmp = temp_path or path + TMP_SUFFIX
    try:
        with diskspace.disk_full_errors(path, len(data)):
            with tf.io.gfile.GFile(tmp, "wb") as f:
                f.write(data)
            tf.io.gfile.rename(tmp, path, overwrite=True)
    except BaseException:
        _remove_quietly(tmp)
        raise


def append_text(path: str, text: str) -> None:
    """Appends UTF-8 ``text`` (whole lines) to ``path``, all of it or nothing.

    A local file that a failed append (a full disk, a signal) left longer is cut back to
    its size before; a full disk is the one-line error of :mod:`slimcls.core.diskspace`.
    URLs (``gs://``) are appended through ``tf.io.gfile``.
    """
    from slimcls.core import diskspace

    data = text.encode("utf-8")
    with diskspace.disk_full_errors(path, len(data)):
        if "://" in path:
            with tf.io.gfile.GFile(path, "a") as f:
                f.write(text)
            return
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            size = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:  # unbuffered: nothing is left to be written at close
                    view = view[os.write(fd, view) :]
            except BaseException:
                try:
                    os.ftruncate(fd, size)
                except OSError:
                    pass
                raise
        finally:
            os.close(fd)


def _remove_quietly(path: str) -> None:
    try:
        if tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)
    except (tf.errors.OpError, OSError):
        pass


#: errno values of a location that cannot be written: no permission, a read-only file system.
_UNWRITABLE_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)


@contextlib.contextmanager
def unwritable_errors(what: str) -> Iterator[None]:
    """Turns "permission denied" or "read-only file system" raised inside the block into one
    line naming ``what`` (e.g. ``"--dataset_dir=/data/x"``) and the path refused.

    Other errors pass through unchanged (a full disk: :mod:`slimcls.core.diskspace`).
    """
    try:
        yield
    except SlimclsError:
        raise
    except OSError as e:
        if e.errno not in _UNWRITABLE_ERRNOS:
            raise
        where = f" {e.filename}" if e.filename else ""
        raise SlimclsError(
            f"{what}: cannot write{where} ({e.strerror}); expected a location you can write"
        ) from None
    except tf.errors.PermissionDeniedError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "permission denied"
        raise SlimclsError(
            f"{what}: cannot write ({first}); expected a location you can write"
        ) from None
