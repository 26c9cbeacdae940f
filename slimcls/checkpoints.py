"""TF1 name-based checkpoints: the format TF-Slim, its tools and published models use.

A checkpoint is a bundle ``<dir>/model.ckpt-<step>.index`` + ``.data-00000-of-00001``
keyed by TF-Slim variable names (``CifarNet/conv1/weights``), plus TensorFlow's
``checkpoint`` state file listing the latest and kept bundles. ``tf.train.load_checkpoint``,
TF1's ``tf.compat.v1.train.Saver`` and TF-Slim's own eval read what we write, and we read
theirs (V2 bundles and the single-file V1 ``.ckpt`` of older published models).

Writes are atomic: a bundle is written under a temporary prefix and renamed (data, then
index) before the state file is replaced, so a killed process never leaves a half-written
checkpoint that looks complete.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Mapping, Sequence

import numpy as np

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.core.fileio import write_text_atomic

_STEP_RE = re.compile(r"-(\d+)$")
_TEMP_MARKER = "_temp_"
STATE_FILE = "checkpoint"
GLOBAL_STEP = "global_step"
EMA_SUFFIX = "ExponentialMovingAverage"


def ema_name(variable_name: str) -> str:
    """The TF-Slim/TF1 name of a variable's moving-average shadow."""
    return f"{variable_name}/{EMA_SUFFIX}"


def step_of(prefix: str) -> int | None:
    """The step encoded in a ``model.ckpt-<step>`` prefix, or None."""
    m = _STEP_RE.search(prefix)
    return int(m.group(1)) if m else None


def _exists(prefix: str) -> bool:
    return tf.io.gfile.exists(prefix + ".index")


def _scan(directory: str) -> list[str]:
    """Complete bundles in a directory, oldest step first (ignores temporary ones)."""
    prefixes = []
    for path in tf.io.gfile.glob(os.path.join(directory, "*.index")):
        prefix = path[: -len(".index")]
        if _TEMP_MARKER not in os.path.basename(prefix):
            prefixes.append(prefix)
    return sorted(prefixes, key=lambda p: (step_of(p) is None, step_of(p) or 0, p))


def _state(directory: str):
    try:
        return tf.train.get_checkpoint_state(directory)
    except (tf.errors.OpError, ValueError):  # unreadable state file: fall back to a scan
        return None


def all_checkpoints(directory: str) -> list[str]:
    """All complete checkpoints in ``directory``, oldest first."""
    if not tf.io.gfile.isdir(directory):
        return []
    state = _state(directory)
    if state is not None:
        listed = [
            p if os.path.isabs(p) or "://" in p else os.path.join(directory, p)
            for p in state.all_model_checkpoint_paths
        ]
        listed = [p for p in listed if _exists(p)]
        if listed:
            return listed
    return _scan(directory)


def latest_checkpoint(directory: str) -> str | None:
    """The newest complete checkpoint prefix in ``directory``, or None."""
    if not tf.io.gfile.isdir(directory):
        return None
    found = tf.train.latest_checkpoint(directory)
    if found and _exists(found):
        return found
    scanned = _scan(directory)
    return scanned[-1] if scanned else None


def resolve_checkpoint(path: str, flag: str = "--checkpoint_path") -> str:
    """Turns a checkpoint file, prefix or directory into a readable checkpoint path.

    Raises:
      SlimclsError: nothing at ``path`` is a checkpoint.
    """
    if not path:
        raise SlimclsError(f"{flag} is empty; expected a checkpoint prefix or a directory")
    if tf.io.gfile.isdir(path):
        found = latest_checkpoint(path)
        if found is None:
            raise SlimclsError(
                f"{flag}={path!r} is a directory without checkpoints "
                "(expected model.ckpt-<step>.index files or a 'checkpoint' state file)"
            )
        return found
    for suffix in (".index", ".meta"):
        if path.endswith(suffix) and _exists(path[: -len(suffix)]):
            return path[: -len(suffix)]
    m = re.search(r"\.data-\d{5}-of-\d{5}$", path)
    if m and _exists(path[: m.start()]):
        return path[: m.start()]
    if _exists(path):
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
    return {n: reader.get_tensor(n) for n in names}


def global_step_of(prefix: str) -> int | None:
    """The checkpoint's ``global_step`` value (or the step in its name), or None."""
    reader = _reader(prefix)
    if reader.has_tensor(GLOBAL_STEP):
        return int(reader.get_tensor(GLOBAL_STEP))
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
    for name, var in variables.items():
        value = reader.get_tensor(name_map.get(name, name))
        var.assign(tf.cast(value, var.dtype) if value.dtype != var.dtype.as_numpy_dtype else value)
    return list(variables)


def _net_scopes() -> dict[str, str]:
    """model_name -> the top-level variable scope of its net (``cifarnet`` -> ``CifarNet``)."""
    from slimcls.nets import nets_factory  # lazily: nets import tf_slim

    return {
        name: spec.logits_scopes[0].split("/")[0]
        for name, spec in nets_factory.NETWORKS.items()
        if spec.logits_scopes
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


def save_checkpoint(
    tensors: Mapping[str, tf.Variable | tf.Tensor | np.ndarray],
    directory: str,
    step: int,
    max_to_keep: int | None = 5,
    basename: str = "model.ckpt",
) -> str:
    """Writes ``<directory>/<basename>-<step>`` atomically and updates the state file.

    Args:
      tensors: checkpoint key -> value (variables are read at call time).
      directory: created if missing.
      step: the global step, part of the file name.
      max_to_keep: keep this many newest checkpoints (None or 0: keep all).

    Returns:
      The new checkpoint prefix.
    """
    tf.io.gfile.makedirs(directory)
    prefix = os.path.join(directory, f"{basename}-{int(step)}")
    temp = f"{prefix}{_TEMP_MARKER}{uuid.uuid4().hex}"
    names = sorted(tensors)
    values = [tf.convert_to_tensor(tensors[n]) for n in names]
    with tf.device("/cpu:0"):
        tf.raw_ops.SaveV2(
            prefix=temp, tensor_names=names, shape_and_slices=[""] * len(names), tensors=values
        )
    for data in tf.io.gfile.glob(temp + ".data-*"):
        tf.io.gfile.rename(data, prefix + data[len(temp) :], overwrite=True)
    tf.io.gfile.rename(temp + ".index", prefix + ".index", overwrite=True)

    kept = [p for p in all_checkpoints(directory) if p != prefix] + [prefix]
    if max_to_keep:
        for old in kept[:-max_to_keep]:
            _delete(old)
        kept = kept[-max_to_keep:]
    _write_state(directory, os.path.basename(prefix), [os.path.basename(p) for p in kept])
    _remove_stale_temps(directory)
    return prefix


def _write_state(directory: str, latest: str, kept: Sequence[str]) -> None:
    """Writes TensorFlow's ``checkpoint`` state file (CheckpointState text proto) atomically.

    Same content as TF1's ``update_checkpoint_state`` (deprecated, and noisy about it),
    with paths relative to ``directory`` as TF1's Saver writes them.
    """
    lines = [f"model_checkpoint_path: {json.dumps(latest)}"]
    lines += [f"all_model_checkpoint_paths: {json.dumps(p)}" for p in kept]
    path = os.path.join(directory, STATE_FILE)
    write_text_atomic(
        path, "\n".join(lines) + "\n", temp_path=f"{path}{_TEMP_MARKER}{uuid.uuid4().hex}"
    )


def _delete(prefix: str) -> None:
    for path in tf.io.gfile.glob(prefix + ".*"):
        if _TEMP_MARKER not in path:
            tf.io.gfile.remove(path)


def _remove_stale_temps(directory: str) -> None:
    """Removes temporary bundles left by killed writers (ours finished already)."""
    for path in tf.io.gfile.glob(os.path.join(directory, f"*{_TEMP_MARKER}*")):
        try:
            tf.io.gfile.remove(path)
        except tf.errors.NotFoundError:
            pass
