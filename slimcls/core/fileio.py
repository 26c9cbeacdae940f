"""Small file helpers shared by the converters, training and evaluation."""

from __future__ import annotations

from slimcls.core.compat import tf

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
