"""What a training run recorded about itself: ``flags.txt`` and ``runs.jsonl``.

``<train_dir>/flags.txt`` holds the effective flags of the run's FIRST start, one
``--name=value`` per line (usable as ``--flagfile``), so eval, classify and export can
take the model, preprocessing and image size from the run instead of asking again. Each
later start (a resume, possibly with other flags) appends one JSON line to
``<train_dir>/runs.jsonl``: time, host, argv and the flags that differ from
``flags.txt``. Importing this module is cheap (TensorFlow only for ``gs://``-style paths).
"""

from __future__ import annotations

import datetime
import json
import os
import socket
from collections.abc import Sequence

FLAGS_FILE = "flags.txt"
RUNS_FILE = "runs.jsonl"
_CHECKPOINT_SUFFIXES = (".index", ".meta")


def _is_url(path: str) -> bool:
    return "://" in path


def _isdir(path: str) -> bool:
    if _is_url(path):
        from slimcls.core.compat import tf

        return tf.io.gfile.isdir(path)
    return os.path.isdir(path)


def _read_text(path: str) -> str | None:
    """The file's text, or None when it does not exist or cannot be read."""
    try:
        if _is_url(path):
            from slimcls.core.compat import tf

            with tf.io.gfile.GFile(path) as f:
                return f.read()
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, ValueError):
        return None
    except Exception as e:  # tf.errors.OpError without importing TensorFlow here
        if type(e).__module__.startswith("tensorflow"):
            return None
        raise


def run_dir(checkpoint_path: str) -> str:
    """The training directory of a checkpoint path (the directory itself, or its parent)."""
    path = checkpoint_path.rstrip("/")
    if _isdir(path):
        return path
    return os.path.dirname(path) or "."


def parse_flag_lines(text: str) -> dict[str, str | bool | None]:
    """``--name=value`` -> "value", ``--name`` -> True, ``--noname`` -> False, and
    ``# --name is None`` -> None; other lines (comments) are skipped."""
    values: dict[str, str | bool | None] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("# --") and line.endswith(" is None"):
            values[line[4 : -len(" is None")]] = None
        elif line.startswith("--"):
            name, sep, value = line[2:].partition("=")
            if sep:
                values[name] = value
            elif name.startswith("no"):
                values[name[2:]] = False
            else:
                values[name] = True
    return values


def read_run_flags(path: str) -> dict[str, str | bool | None]:
    """The flags recorded by the run that wrote ``path`` (a train_dir or a checkpoint in it).

    Returns:
      flag name -> recorded text (booleans as True/False, unset flags as None); empty when
      the directory has no ``flags.txt`` (a checkpoint from elsewhere).
    """
    text = _read_text(os.path.join(run_dir(path), FLAGS_FILE))
    return parse_flag_lines(text) if text else {}


def recorded_int(path: str, name: str) -> int | None:
    """An integer flag of the run (e.g. ``max_number_of_steps``), or None."""
    value = read_run_flags(path).get(name)
    try:
        return int(value) if isinstance(value, str) else None
    except ValueError:
        return None


def record_run(train_dir: str, flag_lines: Sequence[str], argv: Sequence[str], command: str) -> str:
    """Records a start of training: ``flags.txt`` the first time, a ``runs.jsonl`` line later.

    Args:
      train_dir: the run's directory (created if missing).
      flag_lines: the effective flags, ``--name=value`` / ``# --name is None`` lines.
      argv: the command line, kept in ``runs.jsonl``.
      command: the command's name, for the header of ``flags.txt``.

    Returns:
      The path written (``flags.txt`` or ``runs.jsonl``).
    """
    from slimcls.core.compat import tf
    from slimcls.core.fileio import write_text_atomic

    tf.io.gfile.makedirs(train_dir)
    now = datetime.datetime.now().isoformat(timespec="seconds")
    flags_path = os.path.join(train_dir, FLAGS_FILE)
    recorded = _read_text(flags_path)
    if recorded is None:
        header = [
            f"# Effective flags of `{command}` at the first start of this run, {now}.",
            f"# Reuse with --flagfile={flags_path}; later starts are in {RUNS_FILE}.",
        ]
        write_text_atomic(flags_path, "\n".join([*header, *flag_lines]) + "\n")
        return flags_path
    before = parse_flag_lines(recorded)
    after = parse_flag_lines("\n".join(flag_lines))
    changed = {
        name: [before.get(name), after.get(name)]
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }
    record = {"time": now, "host": socket.gethostname(), "argv": list(argv), "changed": changed}
    runs_path = os.path.join(train_dir, RUNS_FILE)
    previous = _read_text(runs_path) or ""
    write_text_atomic(runs_path, previous + json.dumps(record, ensure_ascii=False) + "\n")
    return runs_path
