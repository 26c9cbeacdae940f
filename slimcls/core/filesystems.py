"""Which file systems a path may name: local paths, and URLs TensorFlow has a file system for.

Everything slimcls reads and writes goes through ``tf.io.gfile``, so ``gs://`` works out of
the box and ``s3://`` or ``hdfs://`` where ``tensorflow-io`` registers them. A URL of any
other scheme (``http://``, a typo such as ``gss://``) would fail deep inside TensorFlow with
a long ``UnimplementedError``; :func:`check_file_system` says so in one line up front.
Importing this module is cheap: TensorFlow is imported only when a URL is checked.
"""

from __future__ import annotations

import os

from slimcls.core.errors import SlimclsError

#: Schemes that are local files, whatever TensorFlow registers.
_LOCAL = ("", "file")
#: Schemes ``tensorflow-io`` adds when it is installed (it is imported to register them).
_TENSORFLOW_IO = ("s3", "hdfs", "viewfs", "har", "az", "http", "https")


def scheme_of(path: str) -> str:
    """``"gs://b/x"`` -> ``"gs"``; ``""`` for local paths."""
    return path.split("://", 1)[0].lower() if "://" in path else ""


def registered_schemes() -> list[str]:
    """The URL schemes ``tf.io.gfile`` can open in this process (``tensorflow-io``'s too
    when it is installed)."""
    from slimcls.core.compat import tf

    return sorted(s for s in tf.io.gfile.get_registered_schemes() if s not in _LOCAL)


def check_file_system(path: str | None, flag: str) -> None:
    """Refuses a URL whose file system TensorFlow does not have here, and a path that is
    not UTF-8.

    Args:
      path: a flag's value (None and local paths pass).
      flag: the flag's name, for the message.

    Raises:
      SlimclsError: one line naming the value, the scheme and the supported ones.
    """
    if not path:
        return
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # argv bytes that are not UTF-8 (surrogate escapes)
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        raise SlimclsError(
            f"--{flag}={shown} is not UTF-8; expected a UTF-8 path (TensorFlow's file "
            "functions need one): rename the folder or link to it from a UTF-8 name"
        ) from None
    if "://" not in path:
        return
    scheme = scheme_of(path)
    if scheme in _LOCAL:
        return
    known = registered_schemes()
    if scheme not in known and scheme in _TENSORFLOW_IO:
        try:  # registers s3://, hdfs:// ... with TensorFlow
            import tensorflow_io  # noqa: F401
        except Exception:  # noqa: BLE001  (not installed, or built for another TensorFlow)
            pass
        else:
            known = registered_schemes()
    if scheme in known:
        return
    urls = ", ".join(f"{s}://" for s in known if s != "ram") or "none"
    raise SlimclsError(
        f"--{flag}={path!r}: TensorFlow has no file system for {scheme}:// here; expected a "
        f"local path or a URL of a file system TensorFlow supports (here: {urls}; s3:// and "
        "hdfs:// need the tensorflow-io package)"
    )
