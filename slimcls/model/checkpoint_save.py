"""Writing a checkpoint atomically, and keeping the newest ``max_to_keep``.

A bundle is written under a temporary prefix and renamed (data, then index) before the
state file is replaced, so a killed process never leaves a half-written checkpoint that
looks complete. A save checks the free space first (a shortfall is one line naming the path
and the bytes needed, before anything is written) and deletes old checkpoints only once the
new one is complete, unless the disk cannot hold both (:func:`_make_room`).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Mapping, Sequence

import numpy as np

from slimcls.core import diskspace
from slimcls.core.compat import tf
from slimcls.core.fileio import write_text_atomic
from slimcls.model.checkpoint_files import (
    OUR_TEMP,
    STATE_FILE,
    TEMP_MARKER,
    all_checkpoints,
    bundle_files,
    exists,
    verify,
)

log = logging.getLogger("slimcls.model.checkpoints")


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


def _bundle_bytes(prefix: str) -> int:
    total = 0
    for path in bundle_files(prefix):
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
    previous = [p for p in all_checkpoints(directory) if p != prefix]
    if exists(prefix) and verify(prefix) is None:
        log.info("checkpoint %s is already complete; kept as it is", prefix)
    else:
        deleted = _write_bundle(tensors, prefix, previous, max_to_keep)
        previous = [p for p in previous if p not in deleted]
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


def _write_bundle(
    tensors: Mapping[str, tf.Variable | tf.Tensor | np.ndarray],
    prefix: str,
    previous: Sequence[str],
    max_to_keep: int | None,
) -> list[str]:
    """Writes the bundle ``prefix`` under a temporary prefix, then renames its data file(s)
    and last its index; returns the older checkpoints deleted first to make room.

    On any failure the temporary files go and ``prefix`` is not there.
    """
    directory = os.path.dirname(prefix)
    temp = f"{prefix}{TEMP_MARKER}{uuid.uuid4().hex}"
    names = sorted(tensors)
    values = [tf.convert_to_tensor(tensors[n]) for n in names]
    if exists(prefix):  # a bad bundle of this step: hide it before replacing its data
        tf.io.gfile.remove(prefix + ".index")
    needed = expected_bytes(values, names)
    doomed = previous[: max(0, len(previous) + 1 - max_to_keep)] if max_to_keep else []
    deleted = _make_room(directory, doomed[: len(previous) - 1], needed)
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
    return deleted


def _write_state(directory: str, latest: str, kept: Sequence[str]) -> None:
    """Writes TensorFlow's ``checkpoint`` state file (CheckpointState text proto) atomically.

    Same content as TF1's ``update_checkpoint_state`` (deprecated, and noisy about it),
    with paths relative to ``directory`` as TF1's Saver writes them.
    """
    lines = [f"model_checkpoint_path: {json.dumps(latest)}"]
    lines += [f"all_model_checkpoint_paths: {json.dumps(p)}" for p in kept]
    path = os.path.join(directory, STATE_FILE)
    write_text_atomic(
        path, "\n".join(lines) + "\n", temp_path=f"{path}{TEMP_MARKER}{uuid.uuid4().hex}"
    )


def _delete(prefix: str) -> None:
    for path in bundle_files(prefix):
        tf.io.gfile.remove(path)


def _remove_quietly(path: str) -> None:
    try:
        tf.io.gfile.remove(path)
    except tf.errors.OpError:
        pass


def _remove_stale_temps(directory: str) -> None:
    """Removes temporary files left by killed writers (ours finished already).

    Only names of the form slimcls gives them (:data:`OUR_TEMP`): a user's
    ``meeting_temp_notes.txt`` is never one.
    """
    for path in tf.io.gfile.glob(os.path.join(directory, f"*{TEMP_MARKER}*")):
        if OUR_TEMP.match(os.path.basename(path)):
            _remove_quietly(path)
