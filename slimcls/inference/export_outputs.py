"""Where an export goes, and what it may replace.

A SavedModel directory is replaced only when it is empty, or (with ``--overwrite``) an
earlier export that holds nothing else: the export writes :data:`EXPORT_MARKER`, listing
its files, last. A GraphDef file has its ``<output_file>.json`` description, written by
the export too. Anything else is a folder or file of the user's: refused, one line,
nothing changed.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError

#: Written last into every SavedModel directory this module writes: which files it wrote.
#: ``--overwrite`` replaces only a directory holding it and nothing else (or an empty one).
EXPORT_MARKER = ".slimcls-export.json"
#: ``written_by`` of the marker and of ``<output_file>.json``.
WRITTEN_BY = "slimcls export_inference_graph"


def files_under(directory: str) -> list[str]:
    """Every file below ``directory``, relative to it, sorted ('/'-separated)."""
    found = []
    for root, _, files in tf.io.gfile.walk(directory):
        rel = os.path.relpath(root, directory) if "://" not in directory else root[len(directory) :]
        rel = rel.strip("/").replace(os.sep, "/")
        found += [f"{rel}/{f}" if rel and rel != "." else f for f in files]
    return sorted(found)


def read_json(path: str) -> Any:
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except (tf.errors.OpError, OSError, ValueError):
        return None


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def check_output_dir(out: str, overwrite: bool) -> None:
    """``out`` may be written: it does not exist, or it is an empty directory, or (with
    ``overwrite``) an earlier export holding only the files that export wrote.

    Raises:
      SlimclsError: anything else; nothing is changed.
    """
    if not tf.io.gfile.exists(out):
        parent = os.path.dirname(os.path.abspath(out)) if "://" not in out else None
        while parent and not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if parent and not os.path.isdir(parent):
            raise SlimclsError(
                f"--output_dir={out!r} cannot be created: {parent!r} is a file; expected a "
                "directory path"
            )
        return
    if not tf.io.gfile.isdir(out):
        raise SlimclsError(
            f"--output_dir={out!r} is a file; expected a directory (the SavedModel's); "
            "nothing was changed"
        )
    files = files_under(out)
    if not files:
        return  # an empty directory: nothing to lose
    marker = read_json(os.path.join(out, EXPORT_MARKER))
    if not isinstance(marker, dict) or marker.get("written_by") != WRITTEN_BY:
        raise SlimclsError(
            f"--output_dir={out!r} holds {_files(len(files))} (e.g. {files[0]!r}) and is not an "
            f"export of export_inference_graph (no {EXPORT_MARKER}); expected a new or empty "
            "directory (--overwrite replaces only an earlier export): choose another "
            "--output_dir (nothing was changed)"
        )
    written = set(marker.get("files") or ()) | {EXPORT_MARKER}
    others = [f for f in files if f not in written]
    if others:
        raise SlimclsError(
            f"--output_dir={out!r} is an earlier export but also holds {_files(len(others))} "
            f"it did not write (e.g. {others[0]!r}); replacing it would delete them: move them "
            "away or choose another --output_dir (nothing was changed)"
        )
    if not overwrite:
        raise SlimclsError(f"--output_dir={out!r} already exists; pass --overwrite to replace it")


def check_output_file(path: str, overwrite: bool) -> None:
    """``path`` (and its ``.json`` description) may be written.

    Raises:
      SlimclsError: ``path`` is a directory, its folder cannot be made, it exists without
        ``overwrite``, or ``<path>.json`` exists and was not written by this command.
    """
    if path.endswith(("/", os.sep)) or tf.io.gfile.isdir(path):
        raise SlimclsError(
            f"--output_file={path!r} is a directory; expected a file path for the GraphDef, "
            "e.g. --output_file=" + os.path.join(path.rstrip("/" + os.sep), "frozen_graph.pb")
        )
    if "://" not in path:
        parent = os.path.dirname(os.path.abspath(path))
        while not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent):
            raise SlimclsError(
                f"--output_file={path!r} cannot be created: {parent!r} is a file; expected a "
                "file path in a directory"
            )
    if tf.io.gfile.exists(path) and not overwrite:
        raise SlimclsError(f"--output_file={path!r} already exists; pass --overwrite to replace it")
    sidecar = path + ".json"
    if tf.io.gfile.exists(sidecar):
        described = read_json(sidecar)
        if not isinstance(described, dict) or described.get("written_by") != WRITTEN_BY:
            raise SlimclsError(
                f"{sidecar} exists and was not written by export_inference_graph; it is where "
                "the GraphDef's input and output names go: move it away or choose another "
                "--output_file (nothing was changed)"
            )


def remove_tree(path: str) -> None:
    if "://" in path:
        tf.io.gfile.rmtree(path)
    elif os.path.islink(path) or not os.path.isdir(path):
        os.remove(path)
    else:
        shutil.rmtree(path)
