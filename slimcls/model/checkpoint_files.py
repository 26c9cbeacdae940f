"""Which checkpoints a directory holds, and whether each one reads back.

A checkpoint is a TF1 name-based bundle ``<dir>/<basename>-<step>.index`` +
``.data-NNNNN-of-NNNNN`` (plus TensorFlow's ``checkpoint`` state file listing the latest
and kept ones). A bundle is complete once its index exists; a save in progress writes under
a temporary name that only slimcls gives (:data:`TEMP_MARKER`), so a leftover is never
taken for a checkpoint and never confused with a user's file. :func:`verify` reads every
tensor once (TensorFlow checks each one's crc32c); :func:`latest_good_checkpoint` takes the
newest one that passes. Writing is :mod:`checkpoint_save`'s; reading and restoring
:mod:`checkpoints`'.
"""

from __future__ import annotations

import logging
import os
import re

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError

log = logging.getLogger("slimcls.model.checkpoints")

_STEP_RE = re.compile(r"-(\d+)$")
STATE_FILE = "checkpoint"

#: Temporary names: ``<final name>.slimcls-tmp-<32 hex>`` (a bundle's prefix or the state
#: file), so a leftover can only be a name slimcls wrote, never a user's file.
TEMP_MARKER = ".slimcls-tmp-"
#: A whole basename slimcls gives a temporary file: the marker with its uuid, then nothing
#: or a bundle's own suffix, maybe with TensorFlow's writer's ``.tempstate<n>``.
OUR_TEMP = re.compile(
    r"^.+\.slimcls-tmp-[0-9a-f]{32}(?:\.index|\.data-\d{5}-of-\d{5})?(?:\.tempstate\d+)?$"
)
#: Temporary names of slimcls 0.2 and older (``<prefix>_temp_<32 hex>``): never taken for
#: checkpoints, but not deleted either (a user's file could look like that).
_OLD_TEMP = re.compile(r"_temp_[0-9a-f]{32}(?:\.|$)")
#: The files of one bundle besides its prefix (TF1 savers also wrote ``.meta``).
_BUNDLE_SUFFIX = re.compile(r"^(?:\.index|\.data-\d{5}-of-\d{5}|\.meta)$")


def is_temp(path: str) -> bool:
    """Whether ``path`` is a temporary file of a checkpoint write (ours, or older slimcls')."""
    name = os.path.basename(path)
    return bool(OUR_TEMP.match(name) or _OLD_TEMP.search(name))


def step_of(prefix: str) -> int | None:
    """The step encoded in a ``model.ckpt-<step>`` prefix, or None."""
    m = _STEP_RE.search(prefix)
    return int(m.group(1)) if m else None


def exists(prefix: str) -> bool:
    return tf.io.gfile.exists(prefix + ".index")


def _scan(directory: str) -> list[str]:
    """Complete bundles in a directory, oldest step first (ignores temporary ones)."""
    prefixes = []
    for path in tf.io.gfile.glob(os.path.join(directory, "*.index")):
        prefix = path[: -len(".index")]
        if not is_temp(path):
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
        found.update(p for p in listed if exists(p))
    return sorted(found, key=_order)


def latest_checkpoint(directory: str) -> str | None:
    """The newest complete checkpoint prefix in ``directory``, or None (not verified: see
    :func:`latest_good_checkpoint`)."""
    found = all_checkpoints(directory)
    return found[-1] if found else None


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def verify(prefix: str) -> str | None:
    """Why the checkpoint ``prefix`` is unusable, or None when every tensor reads back.

    Reads each tensor once: TensorFlow's bundle reader checks its crc32c, so a flipped
    bit anywhere (weights, optimizer slots, moving averages) or a truncated data file is
    found here rather than half-way through a restore.
    """
    if not exists(prefix) and tf.io.gfile.glob(prefix + ".data-*"):
        return f"lacks its index file {os.path.basename(prefix)}.index (an interrupted save?)"
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in sorted(reader.get_variable_to_shape_map()):
            reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, IndexError, RuntimeError) as e:
        return f"fails its checksum or is truncated ({first_line(e)})"
    return None


def _orphans(directory: str) -> list[str]:
    """Prefixes whose data file is there but whose index is not (not temporary bundles)."""
    found = set()
    for path in tf.io.gfile.glob(os.path.join(directory, "*.data-*-of-*")):
        prefix = re.sub(r"\.data-\d{5}-of-\d{5}$", "", path)
        if not is_temp(path) and not exists(prefix):
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


def bundle_files(prefix: str) -> list[str]:
    """The files of bundle ``prefix``: its index, data shards and a TF1 ``.meta``; never
    another file whose name starts the same (``model.ckpt-5.notes.txt``)."""
    return [
        path
        for path in tf.io.gfile.glob(prefix + ".*")
        if _BUNDLE_SUFFIX.match(path[len(prefix) :])
    ]
