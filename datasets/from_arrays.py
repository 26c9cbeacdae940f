"""A dataset directory from in-memory arrays, written as a converter writes one.

For tests, benchmarks and small experiments (``dataset_utils.write_dataset_from_arrays``,
TF-Slim's module, is where its users look). The arrays are checked first, then written
through :class:`~slimcls.datasets.sharded_output.OutputPlan`, the converters' writer: the
shards, ``labels.txt`` and ``dataset.json`` go into a staging folder, every shard is read
back, and only then are they swapped in under the directory's lock. A failure leaves the
directory as it was, and only files slimcls wrote are ever replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from slimcls.core.errors import SlimclsError
from slimcls.datasets import record_format as rf
from slimcls.datasets import sharded_output
from slimcls.datasets.image_codec import encode_png


def write_dataset_from_arrays(
    dataset_dir: str,
    name: str,
    splits: Mapping[str, tuple[np.ndarray, Iterable[int]]],
    class_names: Sequence[str],
    num_shards: int = 1,
    source: Mapping[str, Any] | None = None,
    *,
    overwrite: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Writes a complete dataset directory from in-memory arrays, as the converters do.

    Images are PNG encoded; the output is byte-for-byte a converter's (shards, then
    ``labels.txt``, then ``dataset.json``), and is written through the converters'
    :class:`~slimcls.datasets.sharded_output.OutputPlan` (module docstring).

    Args:
      dataset_dir: output directory (created).
      name: dataset name (``dataset.json`` "name", shard prefix).
      splits: ``{split: (images uint8 [N, H, W, C], labels [N])}``; C is 1 or 3 and equal
        across splits.
      class_names: names of classes ``0..num_classes-1``.
      num_shards: shards per split (capped at the split's size).
      source: optional description stored in ``dataset.json``.
      overwrite: replace a complete dataset already there (the default: the arrays are
        what the caller wants); False: keep it, as a converter without ``--overwrite``.
      log: where the output plan's messages go (default: stderr).

    Returns:
      The ``dataset.json`` contents.

    Raises:
      SlimclsError: arrays of the wrong shape, dtype or labels (before anything is
        written), or a directory holding files of another dataset.
    """
    rf.validate_name(name)
    checked = {
        split: _checked_split(split, *arrays, class_names) for split, arrays in splits.items()
    }
    channels = {int(images.shape[-1]) for images, _ in checked.values()}
    if len(channels) > 1:
        raise SlimclsError(
            f"splits of {name!r} have {sorted(channels)} channels; expected the same in all"
        )
    output = sharded_output.OutputPlan(dataset_dir, name, overwrite, log=log)
    with sharded_output.locked_dataset_dir(dataset_dir, output.log):
        if not output.prepare():  # complete, and not overwrite
            return rf.read_dataset_json(dataset_dir)
        try:
            return _write(output, name, checked, class_names, num_shards, source, channels)
        except BaseException:
            output.discard()
            raise


def _checked_split(
    split: str, images, labels, class_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [N, H, W, C], labels int64 [N])``, or a one-line error."""
    rf.validate_name(split, "split name")
    images = np.asarray(images)
    labels = np.asarray(list(labels), dtype=np.int64)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or images.dtype != np.uint8:
        raise SlimclsError(
            f"split {split!r} images have shape {images.shape} and dtype {images.dtype}; "
            "expected uint8 [N, H, W, 1 or 3]"
        )
    if len(labels) != len(images):
        raise SlimclsError(f"split {split!r} has {len(images)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise SlimclsError(f"split {split!r} has labels outside [0, {len(class_names)})")
    return images, labels


def _write(output, name, checked, class_names, num_shards, source, channels) -> dict[str, Any]:
    """Writes every split into the plan's staging folder, then commits (verify + swap)."""
    counts: dict[str, int] = {}
    shards: dict[str, int] = {}
    shard_counts: dict[str, list[int]] = {}
    for split, (images, labels) in checked.items():
        n_shards = sharded_output.default_num_shards(len(images), num_shards)
        with sharded_output.ShardedWriter(
            output.staging, name, split, n_shards, len(images)
        ) as writer:
            for image, label in zip(images, labels):
                h, w = image.shape[:2]
                writer.write(rf.encode_record(encode_png(image), "png", h, w, int(label)))
        counts[split], shards[split] = writer.count, n_shards
        shard_counts[split] = list(writer.shard_counts)
    return output.commit(
        class_names,
        counts,
        shards,
        shard_counts,
        next(iter(channels), 3),
        source or {"converter": "arrays"},
    )
