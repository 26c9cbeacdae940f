"""Dataset descriptors built from a converted directory's ``dataset.json``.

TF-Slim kept one Python file per dataset with hand-written split sizes; here the converter
writes ``dataset.json`` and ``labels.txt`` and :func:`get_dataset` only reads them, so a new
dataset needs no code edits (DESIGN.md, "File formats").
"""

from __future__ import annotations

import dataclasses

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.datasets import record_format


@dataclasses.dataclass(frozen=True)
class DatasetDescriptor:
    """Everything train/eval need to read one split of a converted dataset."""

    name: str  # dataset.json "name"
    split_name: str
    dataset_dir: str
    num_samples: int  # records in this split (dataset.json "splits")
    num_classes: int
    labels_to_names: dict[int, str]
    labels_file: str  # full path
    file_pattern: str  # full glob path of this split's shards
    files: tuple[str, ...]  # sorted shard paths
    channels: int  # 1 or 3
    splits: dict[str, int]  # every split and its size


def get_dataset(name: str | None, split_name: str, dataset_dir: str) -> DatasetDescriptor:
    """Returns the descriptor of ``split_name`` of the dataset in ``dataset_dir``.

    Args:
      name: expected dataset name, or None to accept whatever ``dataset.json`` says.
      split_name: e.g. ``"train"``, ``"validation"``, ``"test"``.
      dataset_dir: directory written by ``download_and_convert_data``.

    Raises:
      SlimclsError: missing ``dataset.json``, a name that disagrees with it, an unknown split,
        missing shards or a malformed ``labels.txt``.
    """
    if not dataset_dir:
        raise SlimclsError("dataset_dir is empty; expected a directory holding dataset.json")
    info = record_format.read_dataset_json(dataset_dir)
    held = str(info["name"])
    if name is not None and name != held:
        raise SlimclsError(
            f"dataset_name {name!r} does not match dataset_dir {dataset_dir}, which holds "
            f"dataset {held!r}"
        )
    splits = {str(k): int(v) for k, v in dict(info["splits"]).items()}
    if split_name not in splits:
        raise SlimclsError(
            f"split_name {split_name!r} is not in dataset {held!r}; expected one of "
            f"{sorted(splits)}"
        )
    channels = int(info["channels"])
    if channels not in (1, 3):
        raise SlimclsError(f"dataset.json channels is {channels}; expected 1 or 3")

    file_pattern = record_format.join(dataset_dir, str(info["file_pattern"]) % split_name)
    files = _find_shards(held, split_name, dataset_dir, file_pattern, info)

    labels_file = record_format.join(dataset_dir, str(info["labels_file"]))
    labels_to_names = record_format.read_labels(labels_file)
    num_classes = int(info["num_classes"])
    if sorted(labels_to_names) != list(range(num_classes)):
        raise SlimclsError(
            f"{labels_file} has {len(labels_to_names)} labels; expected ids 0..{num_classes - 1} "
            "as dataset.json num_classes says"
        )
    return DatasetDescriptor(
        name=held,
        split_name=split_name,
        dataset_dir=dataset_dir,
        num_samples=splits[split_name],
        num_classes=num_classes,
        labels_to_names=labels_to_names,
        labels_file=labels_file,
        file_pattern=file_pattern,
        files=files,
        channels=channels,
        splits=splits,
    )


def _find_shards(
    name: str, split: str, dataset_dir: str, file_pattern: str, info: dict
) -> tuple[str, ...]:
    """Sorted shard paths of a split; every ``i`` of ``-of-n`` must be present."""
    regex = record_format.shard_regex(name, split)
    found: dict[int, str] = {}
    totals = set()
    for path in tf.io.gfile.glob(file_pattern):
        m = regex.match(path.replace("\\", "/").rsplit("/", 1)[-1])
        if m:  # the glob also matches e.g. split "train_extra" for "train"
            found[int(m.group(1))] = path
            totals.add(int(m.group(2)))
    expected_n = info.get("shards", {}).get(split)
    if expected_n is None:
        expected_n = totals.pop() if len(totals) == 1 else None
    if not found or expected_n is None:
        raise SlimclsError(
            f"no shards match {file_pattern} for split {split!r}; expected "
            f"{record_format.shard_basename(name, split, 0, 1)}-style files"
        )
    missing = [i for i in range(int(expected_n)) if i not in found]
    if missing or totals - {int(expected_n)}:
        first = record_format.shard_basename(name, split, missing[0] if missing else 0, expected_n)
        raise SlimclsError(
            f"split {split!r} of {dataset_dir} is missing {len(missing) or 'some'} of "
            f"{expected_n} shards (e.g. {first}); convert the dataset again"
        )
    return tuple(found[i] for i in range(int(expected_n)))
