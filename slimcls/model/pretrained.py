"""``--checkpoint_path=imagenet``: TF-Slim's published checkpoint of ``--model_name``.

:func:`resolve_checkpoint` turns ``imagenet`` into a local checkpoint path (a TF1 V1 file or
a V2 bundle prefix) from the cache, downloading and verifying it first when needed:

* Cache: ``$SLIMCLS_CACHE_DIR``, else ``$XDG_CACHE_HOME/slimcls``, else ``~/.cache/slimcls``;
  each archive's checkpoint lives in ``<cache>/checkpoints/<archive name>/`` next to
  ``slimcls_checkpoint.json`` (what was verified, and the sha256 of every file). That
  directory appears in one rename once complete and verified: it is never half-written.
* ``$SLIMCLS_CHECKPOINT_MIRROR`` (a base URL, or a local folder) replaces the archive's host
  and keeps its file name, for air-gapped sites and tests.
* Download: a progress bar on a terminal (a line every few seconds otherwise), resumed with
  an HTTP Range request after a kill or a dropped connection (a server that ignores Range is
  read from the start), one download per archive however many processes ask at once (the
  others wait on ``<cache>/checkpoints/<archive name>.download/.slimcls.lock``).
* Verification before first use: every archive member is checked (no absolute paths, ``..``,
  links out, devices) and only the checkpoint's files are extracted; the checkpoint's
  variable names and shapes must equal those of slimcls's net (built in a TF1 graph);
  later uses check the recorded sha256s.
* ``imagenet`` means the net's default record in :mod:`slimcls.nets.published` (its first);
  ``imagenet:<name>`` picks another, e.g. ``imagenet:mobilenet_v1_0.25_128`` (the names
  ``python -m slimcls checkpoints`` lists).

Failures are one-line :class:`SlimclsError` messages saying what happened and how to fix it
(download the archive by hand and pass ``--checkpoint_path=FILE``, or set the mirror); a
failed download or verification leaves nothing in the cache.

This module looks records up, installs a download (checking the checkpoint against the net)
and answers the commands; the cache's layout and lock are :mod:`pretrained_cache`'s, the
download and the extraction :mod:`pretrained_fetch`'s.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from slimcls.core.errors import SlimclsError
from slimcls.model import pretrained_cache as cache
from slimcls.model import pretrained_fetch as fetch

# The cache's and the source's public names, where callers have always found them.
from slimcls.model.pretrained_cache import (  # noqa: F401
    CACHE_ENV,
    RECORD_FILE,
    cache_dir,
    cache_record,
    cached_checkpoint,
    entry_dir,
)
from slimcls.model.pretrained_fetch import MIRROR_ENV, posix_basename, source  # noqa: F401

if TYPE_CHECKING:  # importing slimcls.nets imports TensorFlow: only where needed
    from slimcls.nets import published

IMAGENET = "imagenet"
_PART_SUFFIX = ".slimcls-part"
_EXTRACT_PREFIX = "slimcls-extract-"
_MIB = 1 << 20

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def is_published(checkpoint_path: str | None) -> bool:
    """Whether ``checkpoint_path`` names a published checkpoint (``imagenet[:<name>]``)."""
    return bool(checkpoint_path) and (
        checkpoint_path == IMAGENET or checkpoint_path.startswith(IMAGENET + ":")
    )


def lookup(checkpoint_path: str, model_name: str) -> published.PublishedCheckpoint:
    """The published record ``imagenet`` or ``imagenet:<name>`` means for ``model_name``.

    Raises:
      SlimclsError: the net has no published weights (the message lists the nets that
        have), or ``<name>`` is not one of the net's archives.
    """
    from slimcls.nets import published

    records = published.published_for(model_name)
    if not records:
        raise SlimclsError(
            f"--checkpoint_path={checkpoint_path}: --model_name={model_name} has no published "
            "ImageNet checkpoint; the nets with one are "
            + ", ".join(published.models_with_weights())
        )
    _, _, name = checkpoint_path.partition(":")
    if not name:
        return records[0]
    for record in records:
        if record.name == name:
            return record
    raise SlimclsError(
        f"--checkpoint_path={checkpoint_path}: {name!r} is not a published checkpoint of "
        f"{model_name}; expected one of {', '.join(IMAGENET + ':' + r.name for r in records)}"
    )


# --------------------------------------------------------------------------- verification


@functools.lru_cache(maxsize=8)
def net_variables(model_name: str, num_classes: int, image_size: int) -> dict[str, tuple]:
    """The net's variables as a TF1 graph builds them (those slimcls's model restores):
    name -> (shape, trainable).

    Cached per process (a graph build of a big net takes seconds); do not modify the
    returned dict.
    """
    from slimcls.core.compat import tf
    from slimcls.nets import nets_factory

    network_fn = nets_factory.get_network_fn(model_name, num_classes)
    # The variables slimcls's model owns (e.g. NASNet's auxiliary head in evaluation too).
    build_kwargs = dict(nets_factory.get_spec(model_name).build_kwargs)
    with tf.Graph().as_default():
        images = tf.compat.v1.placeholder(tf.float32, [1, image_size, image_size, 3])
        network_fn(images, is_training=False, **build_kwargs)
        trainable = {v.name for v in tf.compat.v1.trainable_variables()}
        return {
            v.op.name: (v.shape.as_list(), v.name in trainable)
            for v in tf.compat.v1.global_variables()
        }


def check_matches_net(
    record: published.PublishedCheckpoint, checkpoint: str
) -> dict[str, bool | int]:
    """Checks that ``checkpoint``'s variables are ``record.model_name``'s, names and shapes.

    Keys beyond the net's variables may only be ``global_step`` and ``<var>/<slot>``
    children of a net variable (moving averages, optimizer slots); keys elsewhere outside
    the net's scope are ignored.

    Returns:
      ``{"moving_averages": bool, "variables": int}``: whether every trainable variable has
      a ``<var>/ExponentialMovingAverage`` shadow.

    Raises:
      SlimclsError: unreadable, another net's checkpoint, or other shapes.
    """
    from slimcls.core.compat import tf
    from slimcls.model import checkpoints

    try:
        reader = tf.train.load_checkpoint(checkpoint)
        shapes = {k: list(v) for k, v in reader.get_variable_to_shape_map().items()}
        for name in sorted(shapes):  # each tensor once: TensorFlow checks its checksum
            reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, IndexError, RuntimeError) as e:
        raise SlimclsError(
            f"the checkpoint in {record.archive} is corrupt or unreadable ({fetch.first_line(e)}); "
            f"{fetch.how_to_fix(record)}"
        ) from None
    net = net_variables(record.model_name, record.num_classes, record.image_size)
    missing = sorted(n for n in net if n not in shapes)
    other = sorted(n for n, (shape, _) in net.items() if n in shapes and shapes[n] != shape)
    scopes = {n.split("/")[0] for n in net}
    extra = sorted(
        k
        for k in shapes
        if k not in net
        and k.split("/")[0] in scopes
        and not any(k.startswith(n + "/") for n in _parents(k) if n in net)
    )
    if missing or other or extra:
        held = checkpoints.describe_model(checkpoint)
        what = f"holds {held}" if held and record.model_name not in held else "does not fit"
        parts = []
        if missing:
            parts.append(f"lacks {len(missing)} of its {len(net)} variables (e.g. {missing[0]})")
        if other:
            n = other[0]
            parts.append(f"has other shapes for {len(other)} (e.g. {n} {shapes[n]} vs {net[n][0]})")
        if extra:
            parts.append(f"has {len(extra)} variables the net lacks (e.g. {extra[0]})")
        raise SlimclsError(
            f"the checkpoint in {record.archive} {what} slimcls's {record.model_name}: "
            f"{'; '.join(parts)}; is the mirror's file another net's? {fetch.how_to_fix(record)}"
        )
    trainable = [n for n, (_, t) in net.items() if t]
    ema = bool(trainable) and all(checkpoints.ema_name(n) in shapes for n in trainable)
    return {"moving_averages": ema, "variables": len(net)}


def _parents(key: str) -> Iterator[str]:
    parts = key.split("/")
    for i in range(len(parts) - 1, 0, -1):
        yield "/".join(parts[:i])


# --------------------------------------------------------------------------- main entry


def resolve_checkpoint(checkpoint_path: str, model_name: str, *, progress: bool = True) -> str:
    """``checkpoint_path`` unchanged, or for ``imagenet[:<name>]`` the local path of
    ``model_name``'s published checkpoint (a V1 file or V2 bundle prefix), downloaded,
    extracted and verified into the cache on first use.

    Args:
      checkpoint_path: a user's checkpoint path, or ``imagenet`` / ``imagenet:<name>``.
      model_name: slimcls's ``--model_name``.
      progress: show a download progress bar on stderr.

    Raises:
      SlimclsError: a net without published weights, an unreachable host or mirror, an
        HTTP error, a truncated or corrupt download, a checkpoint of another net, or a
        cached file that no longer matches its recorded sha256.
    """
    if not is_published(checkpoint_path):
        return checkpoint_path
    record = lookup(checkpoint_path, model_name)
    log = _stderr
    final = entry_dir(record)
    data = cache.read_record(final)
    if data is not None:
        return cache.check_cached(record, final, data)
    work = cache.work_dir(record)
    _check_cache_dir(os.path.dirname(final))
    try:
        with cache.locked(work, record, log):
            data = cache.read_record(final)  # another process may have finished meanwhile
            if data is not None:
                return cache.check_cached(record, final, data)
            if os.path.exists(final):
                raise SlimclsError(
                    f"{final} exists but holds no {RECORD_FILE} (not written by slimcls, or "
                    f"damaged); move it away to let slimcls download {record.archive} there"
                )
            return _fetch_and_install(record, work, final, progress, log)
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(work)  # empty unless a partial download waits to be resumed, or
            # another process has just locked it


def _check_cache_dir(directory: str) -> None:
    """Creates ``<cache>/checkpoints``; a cache that cannot hold it is one line."""
    try:
        os.makedirs(directory, exist_ok=True)
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PermissionError(f"{directory} is not writable")
    except OSError as e:
        raise SlimclsError(
            f"cannot use the checkpoint cache {directory} ({fetch.first_line(e)}); set {CACHE_ENV} "
            "to a directory you can write"
        ) from None


def _fetch_and_install(record, work: str, final: str, progress: bool, log: Log) -> str:
    where = source(record)
    part = os.path.join(work, record.archive + _PART_SUFFIX)
    if fetch.is_url(where):
        log(f"downloading {record.model_name}'s ImageNet checkpoint from {where}")
        try:
            fetch.download(where, part, progress, record, log)
        except SlimclsError:
            _remove(part)
            raise
        archive_path = part
    else:
        if not os.path.isfile(where):
            raise SlimclsError(
                f"{MIRROR_ENV} folder {os.path.dirname(where)} has no {record.archive}; "
                f"put it there (from {record.url}) or unset {MIRROR_ENV}"
            )
        log(f"reading {record.model_name}'s ImageNet checkpoint from {where}")
        archive_path = where
    target = os.path.join(work, _EXTRACT_PREFIX + uuid.uuid4().hex)
    try:
        checkpoint, digests = fetch.extract(record, archive_path, target, log)
        found = check_matches_net(record, checkpoint)
        info = {
            "kind": cache.RECORD_KIND,
            "model_name": record.model_name,
            "name": record.name,
            "url": record.url,
            "source": where,
            "archive_member": record.checkpoint,
            "path": os.path.basename(checkpoint),
            "num_classes": record.num_classes,
            "image_size": record.image_size,
            "moving_averages": found["moving_averages"],
            "variables": found["variables"],
            "files": digests,
            "verified_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with open(os.path.join(target, RECORD_FILE), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=1, sort_keys=True)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.rename(target, final)  # complete and verified: appears in one step
    except BaseException as e:
        shutil.rmtree(target, ignore_errors=True)
        if not isinstance(e, (KeyboardInterrupt, SystemExit)):
            _remove(part)  # a bad archive is not worth resuming; an interrupted one is
        raise
    _remove(part)
    size = sum(os.path.getsize(os.path.join(final, n)) for n in digests)
    log(
        f"verified {record.model_name}'s checkpoint ({found['variables']} variables, "
        f"{size / _MIB:.1f} MiB"
        + (", with moving averages" if found["moving_averages"] else "")
        + f") into {final}"
    )
    return os.path.join(final, os.path.basename(checkpoint))


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


# --------------------------------------------------------------------------- for commands


def uses_moving_averages(checkpoint: str) -> bool:
    """Whether ``checkpoint`` is a cached published checkpoint whose verification found
    moving-average shadows of every trainable variable (restores then start from them, as
    TF-Slim's eval reads them)."""
    data = cache_record(checkpoint)
    return bool(data and data.get("moving_averages"))


def imagenet_class_names(num_classes: int) -> dict[int, str]:
    """Names of a published checkpoint's classes without a labels file.

    TF-Slim's archives hold no labels file, and the synset names cannot be made offline, so
    classes are named by their ImageNet index (0-999, sorted-synset order, as Keras's
    ``decode_predictions`` counts them); with 1001 classes, class 0 is ``background`` and
    class ``i`` is ImageNet index ``i - 1``.
    """
    shift = 1 if num_classes == 1001 else 0
    names = {i: f"imagenet class {i - shift}" for i in range(shift, num_classes)}
    if shift:
        names[0] = "background"
    return names


def published_image_size(checkpoint_path: str, model_name: str) -> int:
    """The image size the published checkpoint's accuracy was measured at: eval, classify and
    export use it unless an image size is given (ResNet V2: 299, not the net's 224)."""
    return lookup(checkpoint_path, model_name).image_size


def labels_offset_for(
    checkpoint_path: str, model_name: str, dataset_classes: int, labels_offset: int
) -> int:
    """The ``labels_offset`` evaluating or classifying a dataset with the published checkpoint
    takes: the given one when the classes match; 1 for TF-Slim's ImageNet (1001 classes,
    0 = background) with a 1000-class net (VGG, ResNet V1), as TF-Slim's README advises.

    Raises:
      SlimclsError: the dataset's classes are not the checkpoint's ImageNet classes.
    """
    record = lookup(checkpoint_path, model_name)
    if dataset_classes - labels_offset == record.num_classes:
        return labels_offset
    if labels_offset == 0 and dataset_classes == 1001 and record.num_classes == 1000:
        _stderr(
            f"{model_name}'s published checkpoint has 1000 classes, the dataset 1001 (0 = "
            "background): using --labels_offset=1"
        )
        return 1
    offset = f" minus --labels_offset={labels_offset}" if labels_offset else ""
    raise SlimclsError(
        f"--checkpoint_path={checkpoint_path}: {model_name}'s published checkpoint has "
        f"{record.num_classes} ImageNet classes, the dataset {dataset_classes}{offset}; use "
        "a checkpoint trained on this dataset (train_image_classifier "
        "--checkpoint_path=imagenet fine-tunes one), or no --dataset_dir to see ImageNet classes"
    )


def finetune_source(
    checkpoint_path: str | None,
    model_name: str,
    num_classes: int,
    exclude_scopes: tuple[str, ...] | list[str] = (),
    *,
    progress: bool = True,
) -> tuple[str | None, list[str], bool, str | None]:
    """What fine-tuning from ``checkpoint_path`` restores.

    For ``imagenet[:<name>]``: the cached checkpoint (downloaded when needed); when the
    model's ``num_classes`` differ from the checkpoint's, the classifier's head scopes are
    added to ``exclude_scopes`` (a new head is trained, so the background class and the
    label offset need no flags); the moving averages when the checkpoint holds them. Any
    other path is returned as it is.

    Returns:
      ``(checkpoint, exclude_scopes, use_moving_averages, note)``; ``note`` is the one line
      to log when head scopes were added, else None.
    """
    scopes = list(exclude_scopes)
    if not is_published(checkpoint_path):
        return checkpoint_path, scopes, False, None
    record = lookup(checkpoint_path, model_name)
    checkpoint = resolve_checkpoint(checkpoint_path, model_name, progress=progress)
    note = None
    if num_classes != record.num_classes:
        added = [s for s in record.head_scopes if s not in scopes]
        scopes += added
        if added:
            background = " (0 = background)" if record.num_classes == 1001 else ""
            note = (
                f"--checkpoint_path={checkpoint_path}: the dataset has {num_classes} classes, "
                f"{model_name}'s published checkpoint {record.num_classes}{background}; not "
                f"restoring {','.join(added)}: a new {num_classes}-class head is trained"
            )
    return checkpoint, scopes, uses_moving_averages(checkpoint), note


# --------------------------------------------------------------------------- listing


def listing(model_name: str | None = None) -> list[dict]:
    """One row per published checkpoint (of ``model_name``, else all), for the
    ``checkpoints`` command: ``model_name``, ``checkpoint_path`` (the flag value that picks
    it), ``archive``, ``image_size``, ``num_classes``, ``top1``, ``top5``, ``cached`` (the
    cached checkpoint's path, or None). Reads no checkpoint and downloads nothing."""
    from slimcls.nets import published

    rows = []
    for record in published.PUBLISHED:
        if model_name and record.model_name != model_name:
            continue
        default = published.default_for(record.model_name) is record
        rows.append(
            {
                "model_name": record.model_name,
                "checkpoint_path": IMAGENET if default else f"{IMAGENET}:{record.name}",
                "archive": record.archive,
                "url": record.url,
                "image_size": record.image_size,
                "num_classes": record.num_classes,
                "top1": record.top1,
                "top5": record.top5,
                "cached": cached_checkpoint(record),
            }
        )
    return rows
