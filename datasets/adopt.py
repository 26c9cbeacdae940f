"""``--dataset_name=adopt``: describes TF-Slim shards already in ``dataset_dir``.

TF-Slim's converters write no metadata; slimcls reads such a directory as it is (split
sizes from TF-Slim's published numbers, or counted on every run). Adopting it counts every
split's records once (every CRC read) and writes ``dataset.json`` beside the shards (and
``labels.txt`` when there is none), so later runs read the counts instead. No record
file is moved, renamed or rewritten; this runs only when asked.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.core.locking import DirLock
from slimcls.datasets import record_format as rf
from slimcls.datasets import sharded_output, tf_slim_dirs
from slimcls.datasets.converter import Converter, register

#: Class names TF-Slim's converters write into labels.txt (used when it is missing).
TF_SLIM_CLASS_NAMES = {
    "cifar10": [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ],
    "mnist": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
    "flowers": ["daisy", "dandelion", "roses", "sunflowers", "tulips"],
}


def find_splits(dataset_dir: str, name: str | None) -> tuple[str | None, dict[str, list[str]]]:
    """Groups the record files of ``dataset_dir`` by split: ``(dataset name, {split: files})``.

    ``<name>_<split>...`` files give ``name``; ImageNet's ``<split>-NNNNN-of-NNNNN`` none.
    With ``name`` given only its files count (the prefix may contain ``_``).

    Raises:
      SlimclsError: files of several datasets and no ``name`` to choose.
    """
    groups: dict[str | None, dict[str, list[str]]] = {}
    for n in sorted(x.rstrip("/") for x in tf.io.gfile.listdir(dataset_dir)):
        stem = tf_slim_dirs.record_stem(n)
        if stem is None:
            continue
        if name and stem.startswith(name + "_"):
            prefix, split = name, stem[len(name) + 1 :]
        elif name and stem != name and "_" in stem:
            continue  # another dataset's files
        else:
            prefix, _, split = stem.rpartition("_")
            prefix = prefix or None
        groups.setdefault(prefix, {}).setdefault(split, []).append(rf.join(dataset_dir, n))
    if len(groups) > 1 and not name:
        names = sorted(str(k) for k in groups)
        raise SlimclsError(
            f"{dataset_dir} holds the record files of several datasets {names}; expected "
            "--output_name to say which to adopt"
        )
    if not groups:
        return name, {}
    prefix, splits = groups.popitem()
    return prefix or name, splits


@register("adopt")
class AdoptConverter(Converter):
    """Writes ``dataset.json`` (and a missing ``labels.txt``) beside existing TF-Slim shards."""

    def run(self) -> dict[str, Any]:
        cfg = self.config
        d = cfg.dataset_dir
        if not d:
            raise SlimclsError("--dataset_dir is required; expected a directory of TF-Slim shards")
        if not tf.io.gfile.isdir(d):
            raise SlimclsError(
                f"dataset_dir {d} is not a directory; expected one holding TF-Slim shards"
            )
        lock = (
            contextlib.nullcontext()
            if "://" in d
            else DirLock(d, what="--dataset_dir", log=self.log)
        )
        with lock:
            for staging in sharded_output.recover(d, self.log):  # a conversion's leftovers
                self.log(f"removing {staging} (left by an interrupted conversion)")
                tf.io.gfile.rmtree(staging)
            json_path = rf.join(d, rf.DATASET_JSON)
            if tf.io.gfile.exists(json_path) and not cfg.overwrite:
                info = rf.read_dataset_json(d)
                self.log(f"{json_path} already exists; nothing to do (pass --overwrite to redo)")
                return info
            found, splits = find_splits(d, cfg.output_name)
            if not splits:
                raise SlimclsError(
                    f"dataset_dir {d} {tf_slim_dirs.describe_dir(d)}; expected TF-Slim record "
                    "files (<name>_<split>.tfrecord, <name>_<split>_NNNNN-of-NNNNN.tfrecord or "
                    "<split>-NNNNN-of-NNNNN)"
                )
            if found is None:
                found = "imagenet" if set(splits) <= {"train", "validation"} else rf.basename(d)
            name = rf.validate_name(found, "dataset name (--output_name)")
            return self._adopt(d, name, splits)

    def _adopt(self, d: str, name: str, splits: dict[str, list[str]]) -> dict[str, Any]:
        counts: dict[str, int] = {}
        top = -1
        for split, files in sorted(splits.items()):
            tf_slim_dirs.check_complete(files, d, split)
            self.log(f"counting the records of {name} {split} ({len(files)} files)")
            counts[split], split_top = tf_slim_dirs.scan_records(files)
            top = max(top, split_top)
        labels, labels_file = tf_slim_dirs.read_tf_slim_labels(d)
        spec = tf_slim_dirs.TF_SLIM_DATASETS.get(name)
        num_classes = spec.num_classes if spec else max([*labels, top]) + 1
        if num_classes < 1:
            raise SlimclsError(f"{d} has no labelled record and no labels.txt; nothing to adopt")
        notes = []
        if labels_file is None:
            known = TF_SLIM_CLASS_NAMES.get(name, [])
            names = {i: known[i] if i < len(known) else str(i) for i in range(num_classes)}
            rf.write_labels(names, d)
            notes.append(f"wrote {rf.join(d, rf.LABELS_FILENAME)} (there was none)")
        elif sorted(labels) != list(range(num_classes)):
            raise SlimclsError(
                f"{labels_file} has ids {min(labels)}..{max(labels)} ({len(labels)} lines); "
                f"expected 0..{num_classes - 1} for {num_classes} classes"
            )
        first = next(iter(splits.values()))[0]
        channels = spec.channels if spec else tf_slim_dirs.sniff_channels(first)
        info = rf.make_dataset_info(
            name,
            num_classes,
            counts,
            {s: len(f) for s, f in sorted(splits.items())},
            channels,
            {"converter": self.name, "adopted": "TF-Slim record files, unchanged"},
        )
        info["file_pattern"] = _pattern(name, splits)
        info["files"] = {s: [rf.basename(p) for p in f] for s, f in sorted(splits.items())}
        rf.write_dataset_json(d, info)
        self.log(
            f"adopted {d}: dataset {name!r}, {num_classes} classes, "
            + ", ".join(f"{s}: {n}" for s, n in counts.items())
            + "".join(f"; {n}" for n in notes)
        )
        return info


def _pattern(name: str, splits: dict[str, list[str]]) -> str:
    """A ``%s`` glob matching each split's files (what TF-Slim's modules call _FILE_PATTERN)."""
    split, files = next(iter(splits.items()))
    base = rf.basename(files[0])
    prefix = f"{name}_" if base.startswith(f"{name}_{split}") else ""
    rest = base[len(prefix) + len(split) :]
    return prefix + "%s" + re.sub(r"\d{5}-of-\d{5}", "*", rest)
