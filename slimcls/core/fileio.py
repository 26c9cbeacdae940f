"""Small file helpers shared by the converters, training and evaluation."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError

#: Suffix of a file being written; renamed away once complete.
TMP_SUFFIX = ".tmp"


def write_text_atomic(path: str, text: str, temp_path: str | None = None) -> None:
    """Writes UTF-8 ``text`` to a temporary file, then renames it over ``path``.

    Readers never see a half-written file, and a killed writer leaves only the
    temporary one (``path + TMP_SUFFIX`` unless ``temp_path`` names another).
    Paths go through ``tf.io.gfile``, so ``gs://``-style URLs work.
    """
    tmp = temp_path or path + TMP_SUFFIX
    with tf.io.gfile.GFile(tmp, "wb") as f:
        f.write(text.encode("utf-8"))
    tf.io.gfile.rename(tmp, path, overwrite=True)


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
