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
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Mapping, Sequence

import numpy as np

from slimcls.core import diskspace
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.core.fileio import write_text_atomic
from slimcls.core.filesystems import check_file_system

log = logging.getLogger("slimcls.model.checkpoints")

_STEP_RE = re.compile(r"-(\d+)$")
STATE_FILE = "checkpoint"
GLOBAL_STEP = "global_step"
EMA_SUFFIX = "ExponentialMovingAverage"

#: Temporary names: ``<final name>.slimcls-tmp-<32 hex>`` (a bundle's prefix or the state
#: file), so a leftover can only be a name slimcls wrote, never a user's file.
_TEMP_MARKER = ".slimcls-tmp-"
#: A whole basename slimcls gives a temporary file: the marker with its uuid, then nothing
#: or a bundle's own suffix, maybe with TensorFlow's writer's ``.tempstate<n>``.
_OUR_TEMP = re.compile(
    r"^.+\.slimcls-tmp-[0-9a-f]{32}(?:\.index|\.data-\d{5}-of-\d{5})?(?:\.tempstate\d+)?$"
)
#: Temporary names of slimcls 0.2 and older (``<prefix>_temp_<32 hex>``): never taken for
#: checkpoints, but not deleted either (a user's file could look like that).
_OLD_TEMP = re.compile(r"_temp_[0-9a-f]{32}(?:\.|$)")
#: The files of one bundle besides its prefix (TF1 savers also wrote ``.meta``).
_BUNDLE_SUFFIX = re.compile(r"^(?:\.index|\.data-\d{5}-of-\d{5}|\.meta)$")


def _is_temp(path: str) -> bool:
    """Whether ``path`` is a temporary file of a checkpoint write (ours, or older slimcls')."""
    name = os.path.basename(path)
    return bool(_OUR_TEMP.match(name) or _OLD_TEMP.search(name))


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
        if not _is_temp(path):
            prefixes.append(prefix)
    return sorted(prefixes, key=_order)


def _state(directory: str):
    try:
        return tf.train.get_checkpoint_state(directory)
    except (tf.errors.OpError, ValueError):  # unreadable state file: fall back to a scan
        return None


def _order(prefix: str) -> tuple:
    return (step_of(prefix) is None, step_of(prefix) or 0, prefix)


def all_checkpoints(directory: str) -> list[str]:
    """All complete checkpoints in ``directory``, oldest first.

    Those the state file lists and those found on disk: a save killed after its bundle
    was complete but before the state file was replaced still counts.
    """
    if not tf.io.gfile.isdir(directory):
        return []
    found = set(_scan(directory))
    state = _state(directory)
    if state is not None:
        listed = [
            p if os.path.isabs(p) or "://" in p else os.path.join(directory, p)
            for p in state.all_model_checkpoint_paths
        ]
        found.update(p for p in listed if _exists(p))
    return sorted(found, key=_order)


def latest_checkpoint(directory: str) -> str | None:
    """The newest complete checkpoint prefix in ``directory``, or None (not verified: see
    :func:`latest_good_checkpoint`)."""
    found = all_checkpoints(directory)
    return found[-1] if found else None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def verify(prefix: str) -> str | None:
    """Why the checkpoint ``prefix`` is unusable, or None when every tensor reads back.

    Reads each tensor once: TensorFlow's bundle reader checks its crc32c, so a flipped
    bit anywhere (weights, optimizer slots, moving averages) or a truncated data file is
    found here rather than half-way through a restore.
    """
    if not _exists(prefix) and tf.io.gfile.glob(prefix + ".data-*"):
        return f"lacks its index file {os.path.basename(prefix)}.index (an interrupted save?)"
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in sorted(reader.get_variable_to_shape_map()):
            reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, IndexError, RuntimeError) as e:
        return f"fails its checksum or is truncated ({_first_line(e)})"
    return None


def _orphans(directory: str) -> list[str]:
    """Prefixes whose data file is there but whose index is not (not temporary bundles)."""
    found = set()
    for path in tf.io.gfile.glob(os.path.join(directory, "*.data-*-of-*")):
        prefix = re.sub(r"\.data-\d{5}-of-\d{5}$", "", path)
        if not _is_temp(path) and not _exists(prefix):
            found.add(prefix)
    return sorted(found, key=lambda p: (step_of(p) or 0, p))


def latest_good_checkpoint(directory: str, warn=None) -> str | None:
    """The newest checkpoint in ``directory`` that :func:`verify` accepts, or None.

    Each newer bad one (a failed checksum, a truncated data file, a missing index) is
    reported through ``warn`` (default: a logged warning) in one line naming it and the
    checkpoint used instead.

    Raises:
      SlimclsError: the directory holds checkpoints, but none of them is readable (we
        do not silently start over).
    """
    warn = warn or log.warning
    candidates = all_checkpoints(directory)
    newest = step_of(candidates[-1]) if candidates else None
    bad: list[str] = []
    for prefix in _orphans(directory):
        if newest is None or (step_of(prefix) or 0) >= newest:
            bad.append(f"{prefix} {verify(prefix)}")
    for prefix in reversed(candidates):
        problem = verify(prefix)
        if problem is None:
            for line in bad:
                warn(f"checkpoint {line}; using {prefix} instead")
            return prefix
        bad.append(f"{prefix} {problem}")
    if bad:
        raise SlimclsError(
            f"no readable checkpoint in {directory}: {'; '.join(bad)}; expected at least one "
            "complete checkpoint (remove the bad ones to start over)"
        )
    return None


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
        if path.endswith(suffix) and _exists(path[: -len(suffix)]):
            return path[: -len(suffix)]
    m = re.search(r"\.data-\d{5}-of-\d{5}$", path)
    if m:
        path = path[: m.start()]
    if _exists(path) or tf.io.gfile.glob(path + ".data-*"):
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
            f"({_first_line(e)})"
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


def expected_bytes(values: Sequence[tf.Tensor], names: Sequence[str]) -> int:
    """About what a bundle of these tensors takes on disk: their bytes plus the index."""
    data = 0
    for value in values:
        if value.dtype == tf.string:
            data += int(sum(len(b) for b in np.ravel(value.numpy()))) + 8 * int(
                value.shape.num_elements()
            )
        else:
            data += int(value.shape.num_elements()) * value.dtype.size
    index = sum(len(n.encode("utf-8")) + 64 for n in names) + 4096
    return data + index


def _bundle_files(prefix: str) -> list[str]:
    """The files of bundle ``prefix``: its index, data shards and a TF1 ``.meta``; never
    another file whose name starts the same (``model.ckpt-5.notes.txt``)."""
    return [
        path
        for path in tf.io.gfile.glob(prefix + ".*")
        if _BUNDLE_SUFFIX.match(path[len(prefix) :])
    ]


def _bundle_bytes(prefix: str) -> int:
    total = 0
    for path in _bundle_files(prefix):
        try:
            total += int(tf.io.gfile.stat(path).length)
        except tf.errors.OpError:
            pass
    return total


def _make_room(directory: str, old: Sequence[str], needed: int) -> list[str]:
    """Deletes checkpoints that this save would delete anyway, oldest first, when the new one
    does not fit otherwise; returns those deleted.

    Normally old checkpoints go only after the new one is complete (a failed save then loses
    nothing). Only when the disk is too small for ``max_to_keep + 1`` bundles are the ones
    past ``max_to_keep`` removed first; the newest existing checkpoint is never among them,
    so a failed save still leaves a complete checkpoint.

    Raises:
      SlimclsError: the new checkpoint does not fit even then (nothing was deleted).
    """
    free = diskspace.free_bytes(directory)
    if free is None or free >= needed:
        return []
    reclaim = [(p, _bundle_bytes(p)) for p in old]
    if free + sum(n for _, n in reclaim) < needed:
        raise diskspace.disk_full_error(directory, needed, free)
    deleted = []
    for prefix, n in reclaim:
        if free >= needed:
            break
        log.warning(
            "deleting old checkpoint %s before writing the new one: %s free, %s needed",
            prefix,
            diskspace.human(free),
            diskspace.human(needed),
        )
        _delete(prefix)
        free += n
        deleted.append(prefix)
    return deleted


def save_checkpoint(
    tensors: Mapping[str, tf.Variable | tf.Tensor | np.ndarray],
    directory: str,
    step: int,
    max_to_keep: int | None = 5,
    basename: str = "model.ckpt",
) -> str:
    """Writes ``<directory>/<basename>-<step>`` atomically and updates the state file.

    Order: check the free space, write the bundle under a temporary prefix, rename the
    data file(s) and then the index (a bundle is complete once its index exists), write
    the state file, and only then delete checkpoints beyond ``max_to_keep``. A complete
    checkpoint of the same step that reads back is kept rather than overwritten in place,
    so a kill during a repeated save cannot corrupt it.

    Args:
      tensors: checkpoint key -> value (variables are read at call time).
      directory: created if missing.
      step: the global step, part of the file name.
      max_to_keep: keep this many newest checkpoints (None or 0: keep all).

    Returns:
      The new checkpoint prefix.

    Raises:
      SlimclsError: not enough free space (one line naming the path and the bytes needed,
        raised before anything is written when the free space is known) or the disk filled
        up during the write (the temporary bundle is removed).
    """
    tf.io.gfile.makedirs(directory)
    prefix = os.path.join(directory, f"{basename}-{int(step)}")
    temp = f"{prefix}{_TEMP_MARKER}{uuid.uuid4().hex}"
    names = sorted(tensors)
    values = [tf.convert_to_tensor(tensors[n]) for n in names]
    previous = [p for p in all_checkpoints(directory) if p != prefix]
    if _exists(prefix) and verify(prefix) is None:
        log.info("checkpoint %s is already complete; kept as it is", prefix)
    else:
        if _exists(prefix):  # a bad bundle of this step: hide it before replacing its data
            tf.io.gfile.remove(prefix + ".index")
        needed = expected_bytes(values, names)
        doomed = previous[: max(0, len(previous) + 1 - max_to_keep)] if max_to_keep else []
        deleted = _make_room(directory, doomed[: len(previous) - 1], needed)
        previous = [p for p in previous if p not in deleted]
        try:
            with diskspace.disk_full_errors(prefix, needed):
                with tf.device("/cpu:0"):
                    tf.raw_ops.SaveV2(
                        prefix=temp,
                        tensor_names=names,
                        shape_and_slices=[""] * len(names),
                        tensors=values,
                    )
                for data in tf.io.gfile.glob(temp + ".data-*"):
                    tf.io.gfile.rename(data, prefix + data[len(temp) :], overwrite=True)
                tf.io.gfile.rename(temp + ".index", prefix + ".index", overwrite=True)
        except BaseException:
            for path in tf.io.gfile.glob(temp + ".*"):
                _remove_quietly(path)
            raise

    kept = previous + [prefix]
    if max_to_keep:
        stale, kept = kept[:-max_to_keep], kept[-max_to_keep:]
    else:
        stale = []
    for old in stale:
        _delete(old)
    with diskspace.disk_full_errors(os.path.join(directory, STATE_FILE)):
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
    for path in _bundle_files(prefix):
        tf.io.gfile.remove(path)


def _remove_quietly(path: str) -> None:
    try:
        tf.io.gfile.remove(path)
    except tf.errors.OpError:
        pass


def _remove_stale_temps(directory: str) -> None:
    """Removes temporary files left by killed writers (ours finished already).

    Only names of the form slimcls gives them (:data:`_OUR_TEMP`): a user's
    ``meeting_temp_notes.txt`` is never one.
    """
    for path in tf.io.gfile.glob(os.path.join(directory, f"*{_TEMP_MARKER}*")):
        if _OUR_TEMP.match(os.path.basename(path)):
            _remove_quietly(path)
