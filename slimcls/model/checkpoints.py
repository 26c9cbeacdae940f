"""TF1 name-based checkpoints: the format TF-Slim, its tools and published models use.

A checkpoint is a bundle ``<dir>/model.ckpt-<step>.index`` + ``.data-00000-of-00001``
keyed by TF-Slim variable names (``CifarNet/conv1/weights``), plus TensorFlow's
``checkpoint`` state file listing the latest and kept bundles. ``tf.train.load_checkpoint``,
TF1's ``tf.compat.v1.train.Saver`` and TF-Slim's own eval read what we write, and we read
theirs (V2 bundles and the single-file V1 ``.ckpt`` of older published models).

Writes are atomic: a bundle is written under a temporary prefix and renamed (data, then
index) before the state file is replaced, so a killed process never leaves a half-written
checkpoint that looks complete. A save checks the free space first (a shortfall is one line
naming the path and the bytes needed, before anything is written) and deletes old
checkpoints only once the new one is complete.

Reading a directory (resume, eval, fine-tuning) takes the newest checkpoint that
:func:`verify` accepts: every tensor is read once, so TensorFlow checks each one's crc32c
(a single flipped bit in an optimizer slot counts), and a bundle without its index is
skipped. Bad ones are named in a warning.

This module resolves a ``--checkpoint_path``, reads and restores; finding a directory's
checkpoints is :mod:`checkpoint_files`', writing one :mod:`checkpoint_save`'s (both
re-exported here).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.core.filesystems import check_file_system

# Finding and writing checkpoints live in their own modules; their names stay here too.
from slimcls.model.checkpoint_files import (  # noqa: F401
    STATE_FILE,
    all_checkpoints,
    exists,
    first_line,
    latest_checkpoint,
    latest_good_checkpoint,
    step_of,
    verify,
)
from slimcls.model.checkpoint_files import TEMP_MARKER as _TEMP_MARKER  # noqa: F401
from slimcls.model.checkpoint_save import expected_bytes, save_checkpoint  # noqa: F401

GLOBAL_STEP = "global_step"
EMA_SUFFIX = "ExponentialMovingAverage"


def ema_name(variable_name: str) -> str:
    """The TF-Slim/TF1 name of a variable's moving-average shadow."""
    return f"{variable_name}/{EMA_SUFFIX}"


def resolve_checkpoint(path: str, flag: str = "--checkpoint_path") -> str:
    """Turns a checkpoint file, prefix or directory into a readable checkpoint path.

    Raises:
      SlimclsError: nothing at ``path`` is a checkpoint.
    """
    if not path:
        raise SlimclsError(f"{flag} is empty; expected a checkpoint prefix or a directory")
    check_file_system(path, flag.lstrip("-"))
    if tf.io.gfile.isdir(path):
        found = latest_good_checkpoint(path)
        if found is None:
            raise SlimclsError(
                f"{flag}={path!r} is a directory without checkpoints "
                "(expected model.ckpt-<step>.index files or a 'checkpoint' state file)"
            )
        return found
    for suffix in (".index", ".meta"):
        if path.endswith(suffix) and exists(path[: -len(suffix)]):
            return path[: -len(suffix)]
    m = re.search(r"\.data-\d{5}-of-\d{5}$", path)
    if m:
        path = path[: m.start()]
    if exists(path) or tf.io.gfile.glob(path + ".data-*"):
        problem = verify(path)
        if problem:
            raise SlimclsError(f"{flag}={path!r}: checkpoint {problem}")
        return path
    if tf.io.gfile.exists(path):  # single-file V1 checkpoint (older published models)
        try:
            tf.train.load_checkpoint(path)
            return path
        except (tf.errors.OpError, ValueError) as e:
            raise SlimclsError(f"{flag}={path!r} is not a readable checkpoint: {e}") from None
    raise SlimclsError(
        f"{flag}={path!r} does not exist (expected a checkpoint prefix such as "
        "train_dir/model.ckpt-1000, its .index file, or a directory holding checkpoints)"
    )


def _reader(prefix: str):
    try:
        return tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        raise SlimclsError(f"cannot read checkpoint {prefix!r}: {e}") from None


def read_shapes(prefix: str) -> dict[str, list[int]]:
    """Checkpoint key -> shape."""
    return {k: list(v) for k, v in _reader(prefix).get_variable_to_shape_map().items()}


def read_tensors(prefix: str, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Reads the named tensors; a missing name is a SlimclsError naming it."""
    reader = _reader(prefix)
    missing = [n for n in names if not reader.has_tensor(n)]
    if missing:
        raise SlimclsError(f"checkpoint {prefix!r} has no {_some(missing)}")
    return {n: _get(reader, prefix, n) for n in names}


def _get(reader, prefix: str, name: str) -> np.ndarray:
    """One tensor; a failed checksum or a truncated data file is a one-line SlimclsError."""
    try:
        return reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, IndexError, RuntimeError) as e:
        raise SlimclsError(
            f"checkpoint {prefix!r} fails its checksum or is truncated at {name!r} "
            f"({first_line(e)})"
        ) from None


def global_step_of(prefix: str) -> int | None:
    """The checkpoint's ``global_step`` value (or the step in its name), or None."""
    reader = _reader(prefix)
    if reader.has_tensor(GLOBAL_STEP):
        return int(_get(reader, prefix, GLOBAL_STEP))
    return step_of(prefix)


def _some(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{len(names)} variable(s): {shown}{more}"


def restore_variables(
    variables: Mapping[str, tf.Variable],
    prefix: str,
    name_map: Mapping[str, str] | None = None,
) -> list[str]:
    """Assigns every variable its value from the checkpoint, strictly by name.

    Args:
      variables: variable name -> variable (see ``SlimModel.variables_by_name``).
      prefix: a checkpoint path (see :func:`resolve_checkpoint`).
      name_map: optional variable name -> checkpoint key (e.g. EMA shadows).

    Returns:
      The names restored.

    Raises:
      SlimclsError: a key is missing or has another shape; nothing is assigned then.
    """
    name_map = dict(name_map or {})
    reader = _reader(prefix)
    shapes = reader.get_variable_to_shape_map()
    missing, mismatched = [], []
    for name, var in variables.items():
        key = name_map.get(name, name)
        if key not in shapes:
            missing.append(key)
        elif list(shapes[key]) != var.shape.as_list():
            mismatched.append(f"{key} {list(shapes[key])} vs model {var.shape.as_list()}")
    if missing:
        whose = _whose_model(shapes, variables)
        raise SlimclsError(f"checkpoint {prefix!r} lacks {_some(missing)}{whose}")
    if mismatched:
        raise SlimclsError(f"checkpoint {prefix!r} has other shapes for {_some(mismatched)}")
    values = {name: _get(reader, prefix, name_map.get(name, name)) for name in variables}
    for name, var in variables.items():
        value = values[name]  # all read (and checksummed) before any is assigned
        var.assign(tf.cast(value, var.dtype) if value.dtype != var.dtype.as_numpy_dtype else value)
    return list(variables)


def _net_scopes() -> dict[str, str]:
    """model_name -> the top-level variable scope of its net (``cifarnet`` -> ``CifarNet``)."""
    from slimcls.nets import nets_factory  # lazily: nets import tf_slim

    return {
        name: spec.logits_scopes[0].split("/")[0]
        for name, spec in nets_factory.NETWORKS.items()
        if spec.logits_scopes and not spec.video  # i3d/s3dg share inception_v1's scope
    }


def _nets_in(names) -> list[tuple[str, str]]:
    """(model_name, scope) of the registered nets whose scope tops one of ``names``."""
    scopes = {name.split("/")[0] for name in names}
    return [(net, scope) for net, scope in _net_scopes().items() if scope in scopes]


def describe_model(prefix: str) -> str | None:
    """Which registered net a checkpoint holds, e.g. "a cifarnet model (scope CifarNet)".

    Returns None when no registered net's scope is in the checkpoint.
    """
    found = _nets_in(read_shapes(prefix))
    return " or ".join(f"a {net} model (scope {scope})" for net, scope in found) or None


def _whose_model(shapes: Mapping[str, object], variables: Mapping[str, object]) -> str:
    """``; it holds a cifarnet model (scope CifarNet), not inception_v3`` when the
    checkpoint's net is another registered one than the model's; else empty."""
    held, wanted = _nets_in(shapes), _nets_in(variables)
    if not held or not wanted or set(held) & set(wanted):
        return ""
    holds = " or ".join(f"a {net} model (scope {scope})" for net, scope in held)
    return f"; it holds {holds}, not {' or '.join(net for net, _ in wanted)}"
