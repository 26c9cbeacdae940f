"""Writing a dataset directory: the output plan, sharded writers and the metadata files.

:class:`OutputPlan` decides whether a conversion is needed and clears what an interrupted
run left; :func:`locked_dataset_dir` holds the directory while it is written;
:class:`ShardedWriter` writes one split's records into contiguous shards under temporary
names; :func:`write_dataset_metadata` writes ``labels.txt`` and, last, ``dataset.json``.
Names and formats come from :mod:`record_format`. Paths go through ``tf.io.gfile`` so
``gs://``-style outputs work where TensorFlow supports them.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from slimcls.core import diskspace, signals
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.core.fileio import TMP_SUFFIX, write_text_atomic
from slimcls.core.locking import DirLock
from slimcls.datasets import record_format as rf

#: Records per shard when ``num_shards`` is not given (a few MB to ~100 MB per shard).
DEFAULT_RECORDS_PER_SHARD = 5000


def default_num_shards(num_records: int, requested: int | None = None) -> int:
    """``requested`` (capped at the record count), or one shard per 5,000 records."""
    if requested is not None:
        if requested < 1:
            raise SlimclsError(f"num_shards {requested} is invalid; expected a positive integer")
        return max(1, min(requested, num_records))
    return max(1, math.ceil(num_records / DEFAULT_RECORDS_PER_SHARD))


@contextlib.contextmanager
def locked_dataset_dir(dataset_dir: str, log: Callable[[str], None]) -> Iterator[None]:
    """Holds ``dataset_dir``'s lock while a conversion writes it (a URL has no lock file);
    a directory this call created is removed again when a failed run leaves it empty."""
    created = not tf.io.gfile.exists(dataset_dir)
    lock = (
        contextlib.nullcontext()
        if "://" in dataset_dir
        else DirLock(dataset_dir, what="--dataset_dir", log=log)
    )
    try:
        with lock:
            yield
    finally:
        if created and "://" not in dataset_dir:
            with contextlib.suppress(OSError):
                os.rmdir(dataset_dir)  # only an empty directory goes


# --------------------------------------------------------------------------- output plan

STAGING_DIRNAME = rf.STAGING_DIRNAME
_SWAP_FILE = rf.SWAP_FILENAME
#: Names that look like another tool's dataset files (TF-Slim's converters, ImageNet's).
_FOREIGN = re.compile(r"(\.tfrecords?$)|(^(train|validation)-\d{5}-of-\d{5}$)")


def _split_counts(info: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in info.get("splits", {}).items())


def _basenames(info: Mapping[str, Any]) -> list[str]:
    return [rf.basename(p) for p in rf.shard_paths("", info)]


def count_records(path: str) -> int:
    """Reads a TFRecord file to the end, checking every CRC; returns its record count.

    Raises:
      SlimclsError: a truncated or corrupt file (a CRC that does not match).
    """
    try:
        ds = tf.data.TFRecordDataset(path)
        return int(ds.reduce(np.int64(0), lambda n, _: n + 1))
    except (tf.errors.DataLossError, tf.errors.OpError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SlimclsError(
            f"{path} is corrupt ({msg}); expected a complete TFRecord file"
        ) from None


class OutputPlan:
    """Where a conversion writes, and the only code that changes ``dataset_dir``.

    A conversion writes its shards, ``labels.txt``, ``rejected.txt`` and ``dataset.json``
    into ``<dataset_dir>/.slimcls-staging``; :meth:`commit` verifies every shard (record
    counts, CRCs read back) and only then swaps the files in, ``dataset.json`` last. So:

    * a complete dataset of this name: nothing to do unless ``overwrite``;
    * a failed or killed conversion leaves the previous dataset as it was (``--overwrite``
      replaces it only once the new one is complete); its staging folder is removed by the
      next run, and a swap killed half-way is finished by it;
    * only names this tool writes are ever removed: files of another dataset (TF-Slim's
      ``cifar10_train.tfrecord``, a ``labels.txt`` without ``dataset.json``...) make
      :meth:`check` fail with one line naming them, and are left alone;
    * ``dataset.json`` of another name: an error unless ``overwrite``.
    """

    def __init__(self, dataset_dir: str, name: str, overwrite: bool = False, log=None):
        self.dataset_dir = dataset_dir
        self.name = rf.validate_name(name)
        self.overwrite = overwrite
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self.staging = rf.join(dataset_dir, STAGING_DIRNAME)

    def _info(self) -> dict[str, Any] | None:
        if not tf.io.gfile.exists(rf.join(self.dataset_dir, rf.DATASET_JSON)):
            return None
        return rf.read_dataset_json(self.dataset_dir)

    def is_complete(self) -> bool:
        info = self._info()
        if info is None or info["name"] != self.name:
            return False
        if not all(tf.io.gfile.exists(p) for p in rf.shard_paths(self.dataset_dir, info)):
            return False
        return tf.io.gfile.exists(rf.join(self.dataset_dir, info["labels_file"]))

    def _owned(self, info: Mapping[str, Any] | None) -> set[str]:
        """Top-level names of ``dataset_dir`` that belong to the dataset ``info`` describes."""
        if info is None:
            return set()
        return {*_basenames(info), str(info["labels_file"]), rf.REJECTED_FILENAME}

    def check(self) -> None:
        """Recovers an interrupted run, then refuses a directory shared with another dataset.

        Raises:
          SlimclsError: files of another dataset are there, or ``dataset.json`` of another
            name without ``overwrite``.
        """
        if not tf.io.gfile.isdir(self.dataset_dir):
            return
        self._recover()
        info = self._info()
        owned = self._owned(info)
        foreign = sorted(
            n.rstrip("/")
            for n in tf.io.gfile.listdir(self.dataset_dir)
            if n.rstrip("/") not in owned
            and (_FOREIGN.search(n.rstrip("/")) or n.rstrip("/") == rf.LABELS_FILENAME)
        )
        if foreign:
            more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
            raise SlimclsError(
                f"dataset_dir {self.dataset_dir} already holds files of another dataset "
                f"({', '.join(foreign[:3])}{more}); expected an empty directory or one written "
                "by download_and_convert_data (choose another --dataset_dir; nothing was changed)"
            )
        if info is not None and info["name"] != self.name and not self.overwrite:
            raise SlimclsError(
                f"dataset_dir {self.dataset_dir} already holds dataset {info['name']!r}; "
                f"expected an empty directory or one of {self.name!r} (or pass --overwrite)"
            )

    def _recover(self) -> None:
        """Finishes an interrupted swap; removes what an interrupted conversion left."""
        stale = recover(self.dataset_dir, self.log)
        tmp_names = {rf.DATASET_JSON + TMP_SUFFIX, rf.LABELS_FILENAME + TMP_SUFFIX}
        for n in tf.io.gfile.listdir(self.dataset_dir):
            n = n.rstrip("/")
            if n in tmp_names or (
                n.endswith(TMP_SUFFIX) and rf.any_shard_regex(self.name).match(n)
            ):
                stale.append(rf.join(self.dataset_dir, n))
        if stale:
            self.log(
                f"removing {len(stale)} files in {self.dataset_dir} (leftovers of an "
                "interrupted run)"
            )
        for path in stale:
            if tf.io.gfile.isdir(path):
                tf.io.gfile.rmtree(path)
            else:
                tf.io.gfile.remove(path)

    def prepare(self) -> bool:
        """Returns False when the output is already complete (and not ``overwrite``).

        Otherwise checks the directory (:meth:`check`), makes an empty staging folder and
        returns True: the caller writes into :attr:`staging` and calls :meth:`commit`.
        """
        tf.io.gfile.makedirs(self.dataset_dir)
        self.check()
        if self.is_complete() and not self.overwrite:
            self.log(
                f"{self.dataset_dir} already holds the complete dataset {self.name!r} "
                f"({_split_counts(self._info() or {})}); nothing to do (pass --overwrite to "
                "convert again)"
            )
            return False
        tf.io.gfile.makedirs(self.staging)
        return True

    def discard(self) -> None:
        """Removes the staging folder (a failed conversion); the old dataset stays.

        A staging folder whose swap has begun (``swap.json``) is kept: it holds the only
        copy of the new files not moved yet, and any later run finishes the swap.
        """
        if tf.io.gfile.exists(rf.join(self.staging, _SWAP_FILE)):
            self.log(
                f"{self.dataset_dir}: the swap of the new dataset was interrupted; run the "
                "conversion again (or --dataset_name=adopt) to finish it"
            )
            return
        if tf.io.gfile.isdir(self.staging):
            tf.io.gfile.rmtree(self.staging)

    def commit(
        self,
        class_names: Sequence[str],
        counts: Mapping[str, int],
        shards: Mapping[str, int],
        shard_counts: Mapping[str, Sequence[int]],
        channels: int,
        source: Mapping[str, Any],
        single_file: bool = False,
    ) -> dict[str, Any]:
        """Verifies the staged shards, writes the metadata and swaps the new dataset in.

        Args:
          class_names, counts, shards, channels, source, single_file: as for
            :func:`write_dataset_metadata`.
          shard_counts: ``{split: records per shard}`` as written.

        Returns:
          The ``dataset.json`` contents.

        Raises:
          SlimclsError: a shard is missing, corrupt or holds another number of records than
            was written (``dataset.json`` is then not written; the old dataset stays).
        """
        pattern = (
            rf.single_file_pattern_template(self.name)
            if single_file
            else rf.file_pattern_template(self.name)
        )
        layout = {"name": self.name, "file_pattern": pattern, "shards": dict(shards)}
        for split in shards:
            for i, base in enumerate(rf.split_basenames(layout, split)):
                path = rf.join(self.staging, base)
                got = count_records(path)
                want = int(shard_counts[split][i])
                if got != want:
                    raise SlimclsError(
                        f"{path} holds {got} records; expected {want} as written (not marking "
                        "the dataset complete)"
                    )
        info = write_dataset_metadata(
            self.staging, self.name, class_names, counts, shards, channels, source, single_file
        )
        new = [*_basenames(info), rf.LABELS_FILENAME]
        if tf.io.gfile.exists(rf.join(self.staging, rf.REJECTED_FILENAME)):
            new.append(rf.REJECTED_FILENAME)
        old = sorted(self._owned(self._info()))
        swap = {"old": old, "new": new}
        with signals.deferred():  # Ctrl-C or SIGTERM wait the few renames of the swap out
            write_text_atomic(rf.join(self.staging, _SWAP_FILE), json.dumps(swap) + "\n")
            self._swap()
        return info

    def _swap(self) -> None:
        """Moves the staged dataset in, ``dataset.json`` last; safe to repeat after a kill."""
        swap_staged(self.dataset_dir)


def swap_staged(dataset_dir: str) -> None:
    """Moves a staged dataset in (its ``swap.json`` says which names go and come),
    ``dataset.json`` last; safe to repeat after a kill at any point.

    While it runs (and after a kill) there is no ``dataset.json``, so every reader refuses
    the directory (:func:`record_format.check_not_mid_conversion`) until a run finishes it.
    """
    staging = rf.join(dataset_dir, STAGING_DIRNAME)
    with tf.io.gfile.GFile(rf.join(staging, _SWAP_FILE), "rb") as f:
        swap = json.loads(f.read().decode("utf-8"))
    staged_json = rf.join(staging, rf.DATASET_JSON)
    if tf.io.gfile.exists(staged_json):
        final_json = rf.join(dataset_dir, rf.DATASET_JSON)
        if tf.io.gfile.exists(final_json):  # first the marker: the old dataset is gone now
            tf.io.gfile.remove(final_json)
        new = set(swap["new"])
        for name in swap["old"]:
            path = rf.join(dataset_dir, name)
            if name not in new and tf.io.gfile.exists(path):
                tf.io.gfile.remove(path)
        for name in swap["new"]:
            src = rf.join(staging, name)
            if tf.io.gfile.exists(src):
                tf.io.gfile.rename(src, rf.join(dataset_dir, name), overwrite=True)
        tf.io.gfile.rename(staged_json, final_json, overwrite=True)
    tf.io.gfile.rmtree(staging)


def recover(dataset_dir: str, log: Callable[[str], None]) -> list[str]:
    """Finishes a swap a killed conversion left pending; returns its staging folder when
    that conversion was killed before its swap (the caller removes it), else ``[]``.

    Call it holding the directory's lock (no conversion is running then).
    """
    staging = rf.join(dataset_dir, STAGING_DIRNAME)
    if tf.io.gfile.exists(rf.join(staging, _SWAP_FILE)):
        if tf.io.gfile.exists(rf.join(staging, rf.DATASET_JSON)):
            log(f"{dataset_dir}: finishing the interrupted swap of a new dataset")
        swap_staged(dataset_dir)
    return [staging] if tf.io.gfile.isdir(staging) else []


# --------------------------------------------------------------------------- writing


class ShardedWriter:
    """Writes one split's serialized Examples into ``num_shards`` contiguous shards.

    Record ``k`` of ``expected`` goes to shard ``k * num_shards // expected``, so eval reading
    shards in order sees the source order. Each shard is written as ``<shard>.tmp`` and only
    renamed to its final name by :meth:`close`, after every shard is complete. ``expected`` may
    overestimate (rejected images): later shards are then shorter, possibly empty.
    """

    def __init__(
        self,
        dataset_dir: str,
        name: str,
        split: str,
        num_shards: int,
        expected: int,
        single_file: bool = False,
    ):
        self.dataset_dir = dataset_dir
        self.single_file = single_file and int(num_shards) <= 1
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
        if self.single_file:  # TF-Slim's cifar10_train.tfrecord
            return rf.join(self.dataset_dir, rf.single_file_basename(self.name, self.split))
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
        with diskspace.disk_full_errors(self.dataset_dir):  # ENOSPC: one line naming the dir
            while self._index < target:
                self._open(self._index + 1)
            self._writer.write(serialized)
        self.shard_counts[self._index] += 1
        self.count += 1

    def close(self) -> int:
        """Finishes every shard (empty ones included) and renames them; returns the count."""
        if self._closed:
            return self.count
        with diskspace.disk_full_errors(self.dataset_dir):
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


# --------------------------------------------------------------------------- metadata


def write_dataset_metadata(
    dataset_dir: str,
    name: str,
    class_names: Sequence[str],
    splits: Mapping[str, int],
    shards: Mapping[str, int],
    channels: int,
    source: Mapping[str, Any],
    single_file: bool = False,
) -> dict[str, Any]:
    """Writes ``labels.txt``, then ``dataset.json`` (last: it marks the dataset complete).

    Args:
      dataset_dir: the converted dataset's directory (shards already written).
      name, splits, shards, channels, source, single_file: as in
        :func:`record_format.make_dataset_info`.
      class_names: names of classes ``0..num_classes-1``.

    Returns:
      The ``dataset.json`` contents.
    """
    rf.write_labels(dict(enumerate(class_names)), dataset_dir)
    info = rf.make_dataset_info(
        name, len(class_names), splits, shards, channels, source, single_file
    )
    rf.write_dataset_json(dataset_dir, info)
    return info
