"""Writing a dataset directory: the output plan, sharded writers and the metadata files.

:class:`OutputPlan` decides whether a conversion is needed and clears what an interrupted
run left; :class:`ShardedWriter` writes one split's records into contiguous shards under
temporary names; :func:`write_dataset_metadata` writes ``labels.txt`` and, last,
``dataset.json``. Names and formats come from :mod:`record_format`. Paths go through
``tf.io.gfile`` so ``gs://``-style outputs work where TensorFlow supports them.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TextIO

import numpy as np

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.core.fileio import TMP_SUFFIX
from slimcls.datasets import record_format as rf
from slimcls.datasets.image_codec import encode_png
from slimcls.datasets.parallel import parallel_map
from slimcls.datasets.progress import Progress

#: Records per shard when ``num_shards`` is not given (a few MB to ~100 MB per shard).
DEFAULT_RECORDS_PER_SHARD = 5000


def default_num_shards(num_records: int, requested: int | None = None) -> int:
    """``requested`` (capped at the record count), or one shard per 5,000 records."""
    if requested is not None:
        if requested < 1:
            raise SlimclsError(f"num_shards {requested} is invalid; expected a positive integer")
        return max(1, min(requested, num_records))
    return max(1, math.ceil(num_records / DEFAULT_RECORDS_PER_SHARD))


# --------------------------------------------------------------------------- output plan


def _split_counts(info: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in info.get("splits", {}).items())


class OutputPlan:
    """Decides whether a conversion into ``dataset_dir`` is needed, and cleans up first.

    * complete output (``dataset.json`` of this name, every listed shard present): nothing to
      do unless ``overwrite``;
    * ``dataset.json`` of another name: an error unless ``overwrite``;
    * no ``dataset.json`` but shards, temporary files or labels of this name: leftovers of a
      killed run, removed before converting again.
    """

    def __init__(self, dataset_dir: str, name: str, overwrite: bool = False, log=None):
        self.dataset_dir = dataset_dir
        self.name = rf.validate_name(name)
        self.overwrite = overwrite
        self.log = log or (lambda msg: print(msg, file=sys.stderr))

    def is_complete(self) -> bool:
        path = rf.join(self.dataset_dir, rf.DATASET_JSON)
        if not tf.io.gfile.exists(path):
            return False
        info = rf.read_dataset_json(self.dataset_dir)
        if info["name"] != self.name:
            return False
        if not all(tf.io.gfile.exists(p) for p in rf.shard_paths(self.dataset_dir, info)):
            return False
        return tf.io.gfile.exists(rf.join(self.dataset_dir, info["labels_file"]))

    def prepare(self) -> bool:
        """Returns False when the output is already complete (and not ``overwrite``).

        Otherwise removes stale files and returns True: the caller converts.
        """
        tf.io.gfile.makedirs(self.dataset_dir)
        json_path = rf.join(self.dataset_dir, rf.DATASET_JSON)
        if tf.io.gfile.exists(json_path):
            info = rf.read_dataset_json(self.dataset_dir)
            if info["name"] != self.name and not self.overwrite:
                raise SlimclsError(
                    f"dataset_dir {self.dataset_dir} already holds dataset {info['name']!r}; "
                    f"expected an empty directory or one of {self.name!r} (or pass --overwrite)"
                )
            if info["name"] == self.name and self.is_complete() and not self.overwrite:
                self.log(
                    f"{self.dataset_dir} already holds the complete dataset {self.name!r} "
                    f"({_split_counts(info)}); nothing to do (pass --overwrite to convert again)"
                )
                return False
            # Remove the marker first: if we are killed from here on, the rest is leftovers.
            tf.io.gfile.remove(json_path)
            self._remove_files(str(info["name"]), announce="previous output")
        else:
            self._remove_files(self.name, announce="leftovers of an interrupted run")
        return True

    def _remove_files(self, name: str, announce: str) -> None:
        stale = []
        for pattern in (f"{name}_*.tfrecord", f"{name}_*.tfrecord{TMP_SUFFIX}"):
            stale += tf.io.gfile.glob(rf.join(self.dataset_dir, pattern))
        for fname in (rf.LABELS_FILENAME, rf.REJECTED_FILENAME, rf.DATASET_JSON + TMP_SUFFIX):
            path = rf.join(self.dataset_dir, fname)
            if tf.io.gfile.exists(path):
                stale.append(path)
        if stale:
            self.log(f"removing {len(stale)} files in {self.dataset_dir} ({announce})")
        for path in stale:
            tf.io.gfile.remove(path)


# --------------------------------------------------------------------------- writing


class ShardedWriter:
    """Writes one split's serialized Examples into ``num_shards`` contiguous shards.

    Record ``k`` of ``expected`` goes to shard ``k * num_shards // expected``, so eval reading
    shards in order sees the source order. Each shard is written as ``<shard>.tmp`` and only
    renamed to its final name by :meth:`close`, after every shard is complete. ``expected`` may
    overestimate (rejected images): later shards are then shorter, possibly empty.
    """

    def __init__(self, dataset_dir: str, name: str, split: str, num_shards: int, expected: int):
        self.dataset_dir = dataset_dir
        self.name = name
        self.split = split
        self.num_shards = max(1, int(num_shards))
        self.expected = max(1, int(expected))
        self.count = 0
        self.shard_counts = [0] * self.num_shards
        self._index = -1
        self._writer = None
        self._tmp_paths: list[str] = []
        self._closed = False

    def path(self, i: int) -> str:
        return rf.join(
            self.dataset_dir, rf.shard_basename(self.name, self.split, i, self.num_shards)
        )

    def _open(self, i: int) -> None:
        if self._writer is not None:
            self._writer.close()
        tmp = self.path(i) + TMP_SUFFIX
        self._writer = tf.io.TFRecordWriter(tmp)
        self._tmp_paths.append(tmp)
        self._index = i

    def write(self, serialized: bytes) -> None:
        target = min(self.num_shards - 1, self.count * self.num_shards // self.expected)
        while self._index < target:
            self._open(self._index + 1)
        self._writer.write(serialized)
        self.shard_counts[self._index] += 1
        self.count += 1

    def close(self) -> int:
        """Finishes every shard (empty ones included) and renames them; returns the count."""
        if self._closed:
            return self.count
        while self._index < self.num_shards - 1:
            self._open(self._index + 1)
        self._writer.close()
        self._writer = None
        for i, tmp in enumerate(self._tmp_paths):
            tf.io.gfile.rename(tmp, self.path(i), overwrite=True)
        self._closed = True
        return self.count

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for tmp in self._tmp_paths:
            if tf.io.gfile.exists(tmp):
                tf.io.gfile.remove(tmp)
        self._closed = True

    def __enter__(self) -> ShardedWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_split_records(
    dataset_dir: str,
    name: str,
    split: str,
    num_shards: int,
    expected: int,
    encode_chunk: Callable[[Any], Sequence[bytes]],
    chunks: Iterable[Any],
    num_workers: int | None = None,
    progress_stream: TextIO | None = None,
) -> int:
    """Encodes ``chunks`` in worker processes and writes one split's shards, in order.

    Args:
      dataset_dir, name, split, num_shards, expected: as for :class:`ShardedWriter`.
      encode_chunk: module-level function, chunk -> serialized Examples (see
        :func:`parallel.parallel_map`).
      chunks: the split's input, lazily (memory stays flat).
      num_workers: as for :func:`parallel.parallel_map`.
      progress_stream: where :class:`Progress` reports.

    Returns:
      The number of records written.
    """
    progress = Progress(expected, f"{name} {split}", stream=progress_stream)
    with ShardedWriter(dataset_dir, name, split, num_shards, expected) as writer:
        for serialized in parallel_map(encode_chunk, chunks, num_workers):
            for record in serialized:
                writer.write(record)
            progress.update(len(serialized))
    progress.close()
    return writer.count


# --------------------------------------------------------------------------- metadata


def write_dataset_metadata(
    dataset_dir: str,
    name: str,
    class_names: Sequence[str],
    splits: Mapping[str, int],
    shards: Mapping[str, int],
    channels: int,
    source: Mapping[str, Any],
) -> dict[str, Any]:
    """Writes ``labels.txt``, then ``dataset.json`` (last: it marks the dataset complete).

    Args:
      dataset_dir: the converted dataset's directory (shards already written).
      name, splits, shards, channels, source: as in :func:`record_format.make_dataset_info`.
      class_names: names of classes ``0..num_classes-1``.

    Returns:
      The ``dataset.json`` contents.
    """
    rf.write_labels(dict(enumerate(class_names)), dataset_dir)
    info = rf.make_dataset_info(name, len(class_names), splits, shards, channels, source)
    rf.write_dataset_json(dataset_dir, info)
    return info


def write_dataset_from_arrays(
    dataset_dir: str,
    name: str,
    splits: Mapping[str, tuple[np.ndarray, Iterable[int]]],
    class_names: Sequence[str],
    num_shards: int = 1,
    source: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Writes a complete dataset directory from in-memory arrays, as the converters do.

    For tests and small experiments: images are PNG encoded, shards, ``labels.txt`` and then
    ``dataset.json`` are written exactly like a converter's output.

    Args:
      dataset_dir: output directory (created).
      name: dataset name (``dataset.json`` "name", shard prefix).
      splits: ``{split: (images uint8 [N, H, W, C], labels [N])}``; C is 1 or 3 and equal
        across splits.
      class_names: names of classes ``0..num_classes-1``.
      num_shards: shards per split (capped at the split's size).
      source: optional description stored in ``dataset.json``.

    Returns:
      The ``dataset.json`` contents.
    """
    rf.validate_name(name)
    tf.io.gfile.makedirs(dataset_dir)
    channels = None
    counts: dict[str, int] = {}
    shards: dict[str, int] = {}
    for split, (images, labels) in splits.items():
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
        if channels is not None and images.shape[-1] != channels:
            raise SlimclsError(
                f"split {split!r} has {images.shape[-1]} channels, others {channels}"
            )
        channels = int(images.shape[-1])
        n_shards = default_num_shards(len(images), num_shards)
        with ShardedWriter(dataset_dir, name, split, n_shards, len(images)) as writer:
            for image, label in zip(images, labels):
                h, w = image.shape[:2]
                writer.write(rf.encode_record(encode_png(image), "png", h, w, int(label)))
        counts[split] = writer.count
        shards[split] = n_shards
    return write_dataset_metadata(
        dataset_dir,
        name,
        class_names,
        counts,
        shards,
        channels or 3,
        source or {"converter": "arrays"},
    )
