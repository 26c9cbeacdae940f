"""Dataset descriptors: TF-Slim's ``get_dataset`` for converted and for TF-Slim directories.

TF-Slim kept one Python file per dataset with hand-written split sizes; slimcls' converters
write ``dataset.json`` and ``labels.txt`` and :func:`get_dataset` reads them, so a new
dataset needs no code edits (the README's "Dataset format"). A directory written by TF-Slim's
own converters has no ``dataset.json``; it is read as it is (nothing is written into it):

* by the built-in names TF-Slim users pass (``cifar10``, ``flowers``, ``mnist``,
  ``imagenet``): TF-Slim's file patterns, published split sizes and class counts
  (:data:`tf_slim_dirs.TF_SLIM_DATASETS`; :mod:`tf_slim_dirs` finds and counts the files);
* any other directory of TF-Slim-format shards (``<name>_<split>.tfrecord``,
  ``<name>_<split>_NNNNN-of-NNNNN.tfrecord``, ``<split>-NNNNN-of-NNNNN``): records are
  counted (every run; ``download_and_convert_data --dataset_name=adopt`` records the counts
  in a ``dataset.json`` once), classes come from ``labels.txt`` or the largest label.

The returned :class:`DatasetDescriptor` is what ``input_pipeline.make_dataset`` reads and
also a ``tf_slim`` ``slim.dataset.Dataset`` (``data_sources``, ``reader``, ``decoder``,
``num_samples``, ``items_to_descriptions``, ``num_classes``, ``labels_to_names``), so
TF-Slim code using ``DatasetDataProvider`` keeps working.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from tf_slim.data import dataset as slim_dataset
from tf_slim.data import tfexample_decoder

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.core.filesystems import check_file_system
from slimcls.datasets import record_format, tf_slim_dirs

# TF-Slim directories' names, where callers have always found them.
from slimcls.datasets.tf_slim_dirs import (  # noqa: F401
    RECORD_FILE,
    TF_SLIM_DATASETS,
    TfSlimSpec,
    check_complete,
    describe_dir,
    find_tf_slim_split,
    read_tf_slim_labels,
    record_stem,
    scan_records,
    sniff_channels,
    split_file_regex,
)

log = logging.getLogger("slimcls.datasets")

#: Where a descriptor's split sizes came from.
SIZES_FROM_JSON = "dataset.json"
SIZES_PUBLISHED = "TF-Slim's published sizes"
SIZES_COUNTED = "counted"


@dataclasses.dataclass(frozen=True)
class DatasetDescriptor(slim_dataset.Dataset):
    """Everything train/eval need to read one split; also a ``slim.dataset.Dataset``.

    ``tf_slim``'s ``Dataset.__init__`` only stores its arguments as attributes; this class
    stores the same attributes (``data_sources``, ``reader``, ``decoder``, ``num_samples``,
    ``items_to_descriptions``) as dataclass fields, so ``DatasetDataProvider`` reads it.
    """

    name: str  # dataset.json "name" (or the TF-Slim dataset's name)
    split_name: str
    dataset_dir: str
    num_samples: int  # records in this split
    num_classes: int
    labels_to_names: dict[int, str]  # empty when there is no labels.txt
    labels_file: str | None  # full path; None when the directory has none
    file_pattern: str  # full glob path of this split's files
    files: tuple[str, ...]  # sorted file paths
    channels: int  # 1 or 3
    splits: dict[str, int]  # every known split and its size
    data_sources: tuple[str, ...] = ()  # TF-Slim's name for ``files``
    reader: Any = None  # TF-Slim's reader class (tf.compat.v1.TFRecordReader)
    decoder: Any = None  # slim.tfexample_decoder.TFExampleDecoder
    items_to_descriptions: dict[str, str] = dataclasses.field(default_factory=dict)
    sizes_from: str = SIZES_FROM_JSON  # dataset.json, TF-Slim's published sizes or counted


def make_decoder(
    spec: TfSlimSpec | None = None, channels: int = 3
) -> tfexample_decoder.TFExampleDecoder:
    """TF-Slim's ``TFExampleDecoder`` (its keys_to_features and items_to_handlers).

    ``spec`` None: the generic decoder of slimcls' own records (any size, png/jpeg,
    ``channels``).
    """
    fmt = spec.default_format if spec else "png"
    keys_to_features: dict[str, Any] = {
        record_format.KEY_ENCODED: tf.io.FixedLenFeature((), tf.string, default_value=""),
        record_format.KEY_FORMAT: tf.io.FixedLenFeature((), tf.string, default_value=fmt),
        record_format.KEY_LABEL: tf.io.FixedLenFeature(
            [], tf.int64, default_value=tf.zeros([], dtype=tf.int64)
        ),
    }
    channels = spec.channels if spec else channels
    image = tfexample_decoder.Image(
        shape=list(spec.image_shape) if spec and spec.image_shape else None, channels=channels
    )
    items_to_handlers: dict[str, Any] = {
        "image": image,
        "label": tfexample_decoder.Tensor(record_format.KEY_LABEL),
    }
    if spec is not None and spec.name == "imagenet":
        keys_to_features["image/class/text"] = tf.io.FixedLenFeature(
            [], tf.string, default_value=""
        )
        for key in ("xmin", "ymin", "xmax", "ymax"):
            keys_to_features[f"image/object/bbox/{key}"] = tf.io.VarLenFeature(tf.float32)
        keys_to_features["image/object/class/label"] = tf.io.VarLenFeature(tf.int64)
        items_to_handlers["label_text"] = tfexample_decoder.Tensor("image/class/text")
        items_to_handlers["object/bbox"] = tfexample_decoder.BoundingBox(
            ["ymin", "xmin", "ymax", "xmax"], "image/object/bbox/"
        )
        items_to_handlers["object/label"] = tfexample_decoder.Tensor("image/object/class/label")
    return tfexample_decoder.TFExampleDecoder(keys_to_features, items_to_handlers)


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What every command knows of a dataset directory before choosing a split.

    The one reading of a ``dataset_dir`` that train, eval (through :func:`get_dataset`),
    classify and export share, so they accept and refuse the same directories.
    """

    name: str | None  # dataset.json "name", the TF-Slim dataset's, or None (unknown)
    dataset_dir: str
    num_classes: int | None  # None: not known from the directory (the checkpoint says)
    channels: int | None  # None: not known (decode as colour)
    labels_to_names: dict[int, str]  # empty without labels.txt
    labels_file: str | None
    splits: dict[str, int]  # known split sizes (empty when they would have to be counted)
    sizes_from: str
    info: dict[str, Any] = dataclasses.field(default_factory=dict)  # dataset.json, if any


def get_dataset_info(name: str | None, dataset_dir: str) -> DatasetInfo:
    """Reads ``dataset_dir`` as :func:`get_dataset` does, without choosing a split.

    A converted directory: its (validated) ``dataset.json`` and ``labels.txt``. A TF-Slim
    directory (no ``dataset.json``): its ``labels.txt``, and for a built-in ``name``
    (``cifar10``, ``flowers``, ``mnist``, ``imagenet``) TF-Slim's class count and sizes.

    Raises:
      SlimclsError: a directory a conversion left half-way, a ``name`` that disagrees
        with the directory, a malformed ``dataset.json`` or ``labels.txt``, or a directory
        holding no dataset at all.
    """
    if not dataset_dir:
        raise SlimclsError("dataset_dir is empty; expected a directory holding dataset.json")
    check_file_system(dataset_dir, "dataset_dir")
    record_format.check_not_mid_conversion(dataset_dir)
    if tf.io.gfile.exists(record_format.join(dataset_dir, record_format.DATASET_JSON)):
        return _converted_info(name, dataset_dir)
    return _tf_slim_info(name, dataset_dir)


def _converted_info(name: str | None, dataset_dir: str) -> DatasetInfo:
    """A converted directory: its validated ``dataset.json`` and ``labels.txt``."""
    info = record_format.read_dataset_json(dataset_dir)
    held = str(info["name"])
    if name is not None and name != held:
        raise SlimclsError(
            f"dataset_name {name!r} does not match dataset_dir {dataset_dir}, which holds "
            f"dataset {held!r}"
        )
    labels_file = record_format.join(dataset_dir, str(info["labels_file"]))
    labels = record_format.read_labels(labels_file)
    num_classes = int(info["num_classes"])
    channels = int(info["channels"])  # validated: 1 or 3
    if sorted(labels) != list(range(num_classes)):
        raise SlimclsError(
            f"{labels_file} has {len(labels)} labels; expected ids 0..{num_classes - 1} "
            "as dataset.json num_classes says"
        )
    return DatasetInfo(
        name=held,
        dataset_dir=dataset_dir,
        num_classes=num_classes,
        channels=channels,
        labels_to_names=labels,
        labels_file=labels_file,
        splits={str(k): int(v) for k, v in dict(info["splits"]).items()},
        sizes_from=SIZES_FROM_JSON,
        info=info,
    )


def _tf_slim_info(name: str | None, dataset_dir: str) -> DatasetInfo:
    """A TF-Slim directory: its ``labels.txt``, and TF-Slim's counts for a built-in ``name``."""
    labels, labels_file = read_tf_slim_labels(dataset_dir)
    records = [n for n in tf_slim_dirs.listdir(dataset_dir) if record_stem(n)]
    if not labels_file and not records:
        raise SlimclsError(
            f"{record_format.join(dataset_dir, record_format.DATASET_JSON)} does not exist and "
            f"{dataset_dir} {describe_dir(dataset_dir)}; expected a converted dataset or a "
            "directory of TF-Slim record files (convert one with download_and_convert_data)"
        )
    spec = TF_SLIM_DATASETS.get(name) if name else None
    if name and records:
        pattern = spec.file_pattern % "*" if spec else f"{name}_*"
        if not tf.io.gfile.glob(record_format.join(dataset_dir, pattern)):
            raise SlimclsError(
                f"dataset_name {name!r} does not match dataset_dir {dataset_dir}, which "
                f"{describe_dir(dataset_dir)} and no {pattern} file"
            )
    return DatasetInfo(
        name=name,
        dataset_dir=dataset_dir,
        num_classes=spec.num_classes if spec else None,  # counted per split by get_dataset
        channels=spec.channels if spec else None,
        labels_to_names=labels,
        labels_file=labels_file,
        splits=dict(spec.splits) if spec else {},
        sizes_from=SIZES_PUBLISHED if spec else SIZES_COUNTED,
    )


def get_dataset(
    name: str | None,
    split_name: str,
    dataset_dir: str,
    file_pattern: str | None = None,
    reader: Any = None,
) -> DatasetDescriptor:
    """Returns the descriptor of ``split_name`` of the dataset in ``dataset_dir``.

    TF-Slim's signature. With a ``dataset.json`` (any slimcls conversion) its name, sizes and
    classes are used; without one the directory is read as a TF-Slim dataset (module
    docstring) and one log line says where the split size came from.

    Args:
      name: expected dataset name (``--dataset_name``), or None to accept whatever the
        directory holds.
      split_name: e.g. ``"train"``, ``"validation"``, ``"test"``.
      dataset_dir: a converted directory or a directory of TF-Slim shards.
      file_pattern: TF-Slim's override, relative to ``dataset_dir``, ``%s`` = split name.
      reader: TF-Slim's reader class for ``DatasetDataProvider``; None =
        ``tf.compat.v1.TFRecordReader``.

    Raises:
      SlimclsError: a name that disagrees with ``dataset.json``, an unknown split, missing
        files, a malformed ``labels.txt``, or a directory holding no dataset (the message
        says what it holds and how to adopt TF-Slim shards).
    """
    if not dataset_dir:
        raise SlimclsError("dataset_dir is empty; expected a directory holding dataset.json")
    check_file_system(dataset_dir, "dataset_dir")
    record_format.check_not_mid_conversion(dataset_dir)
    if tf.io.gfile.exists(record_format.join(dataset_dir, record_format.DATASET_JSON)):
        desc = _from_dataset_json(name, split_name, dataset_dir, file_pattern)
    else:
        desc = _from_tf_slim_dir(name, split_name, dataset_dir, file_pattern)
        log.info(
            "dataset %s split %s: %d examples (%s), %d classes, from %s (no dataset.json)",
            desc.name,
            split_name,
            desc.num_samples,
            desc.sizes_from,
            desc.num_classes,
            dataset_dir,
        )
    # A TF-Slim directory of a built-in name gets that dataset's own decoder (fixed shapes,
    # ImageNet's boxes); everything else the generic one.
    spec = None if desc.sizes_from == SIZES_FROM_JSON else TF_SLIM_DATASETS.get(desc.name)
    return dataclasses.replace(
        desc,
        data_sources=desc.files,
        reader=reader or tf.compat.v1.TFRecordReader,
        decoder=make_decoder(spec, desc.channels),
        items_to_descriptions=dict(
            spec.items_to_descriptions if spec else tf_slim_dirs.IMAGE_AND_LABEL
        ),
    )


# --------------------------------------------------------------------------- dataset.json


def _from_dataset_json(
    name: str | None, split_name: str, dataset_dir: str, file_pattern: str | None
) -> DatasetDescriptor:
    common = get_dataset_info(name, dataset_dir)
    info = common.info
    held, splits, channels = common.name, common.splits, int(common.channels or 3)
    if split_name not in splits:
        raise SlimclsError(
            f"split_name {split_name!r} is not in dataset {held!r}; expected one of "
            f"{sorted(splits)}"
        )

    if file_pattern:
        pattern = record_format.join(dataset_dir, file_pattern % split_name)
        files = tuple(sorted(tf.io.gfile.glob(pattern)))
        if not files:
            raise SlimclsError(f"file_pattern {pattern} matches no file for split {split_name!r}")
    else:
        pattern = record_format.join(dataset_dir, str(info["file_pattern"]) % split_name)
        files = _find_shards(held, split_name, dataset_dir, pattern, info)

    return DatasetDescriptor(
        name=held,
        split_name=split_name,
        dataset_dir=dataset_dir,
        num_samples=splits[split_name],
        num_classes=int(common.num_classes or 0),
        labels_to_names=common.labels_to_names,
        labels_file=common.labels_file,
        file_pattern=pattern,
        files=files,
        channels=channels,
        splits=splits,
    )


def _find_shards(
    name: str, split: str, dataset_dir: str, file_pattern: str, info: dict
) -> tuple[str, ...]:
    """Sorted shard paths of a split; every ``i`` of ``-of-n`` must be present."""
    if isinstance(info.get("files"), dict):  # an adopted TF-Slim directory lists its files
        paths = [
            record_format.join(dataset_dir, n) for n in record_format.split_basenames(info, split)
        ]
        absent = [p for p in paths if not tf.io.gfile.exists(p)]
        if absent or not paths:
            raise SlimclsError(
                f"split {split!r} of {dataset_dir} is missing {len(absent)} of {len(paths)} "
                f"files listed in dataset.json (e.g. {absent[0] if absent else '?'}); adopt the "
                "directory again"
            )
        return tuple(paths)
    if "*" not in str(info["file_pattern"]):  # one file per split (TF-Slim's cifar10 names)
        if not tf.io.gfile.exists(file_pattern):
            raise SlimclsError(
                f"split {split!r} of {dataset_dir} is missing its file {file_pattern}; "
                "convert the dataset again"
            )
        return (file_pattern,)
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


# --------------------------------------------------------------------------- TF-Slim dirs


def _from_tf_slim_dir(
    name: str | None, split: str, dataset_dir: str, file_pattern: str | None
) -> DatasetDescriptor:
    if file_pattern:
        pattern = record_format.join(dataset_dir, file_pattern % split)
        files = sorted(tf.io.gfile.glob(pattern))
        found = name or record_format.basename(dataset_dir)
    else:
        found, files = find_tf_slim_split(name, split, dataset_dir)
        if found in TF_SLIM_DATASETS:
            pattern = record_format.join(dataset_dir, TF_SLIM_DATASETS[found].file_pattern % split)
        else:
            pattern = record_format.join(dataset_dir, f"*{split}*")
    if not files:
        raise tf_slim_dirs.no_dataset_error(dataset_dir, name, split)
    check_complete(files, dataset_dir, split)
    labels, labels_file = read_tf_slim_labels(dataset_dir)
    spec = TF_SLIM_DATASETS.get(str(found))
    if spec is not None and split in spec.splits:
        num_samples, sizes_from = spec.splits[split], SIZES_PUBLISHED
        num_classes, channels = spec.num_classes, spec.channels
        splits = dict(spec.splits)
    else:
        num_samples, top = scan_records(files)
        sizes_from = SIZES_COUNTED
        num_classes = max([*labels, top]) + 1 if (labels or top >= 0) else 0
        if num_classes < 1:
            raise SlimclsError(
                f"split {split!r} of {dataset_dir} has no labelled record and no labels.txt; "
                "expected TF-Slim records with image/class/label"
            )
        channels = sniff_channels(files[0])
        splits = {split: num_samples}
    return DatasetDescriptor(
        name=str(found),
        split_name=split,
        dataset_dir=dataset_dir,
        num_samples=num_samples,
        num_classes=num_classes,
        labels_to_names=labels,
        labels_file=labels_file,
        file_pattern=pattern,
        files=tuple(files),
        channels=channels,
        splits=splits,
        sizes_from=sizes_from,
    )


def tf_slim_split_api(name: str):
    """What TF-Slim's ``datasets/<name>.py`` module exposed, for code written against it.

    Returns:
      ``(_FILE_PATTERN, SPLITS_TO_SIZES, _NUM_CLASSES, _ITEMS_TO_DESCRIPTIONS, get_split)``
      of the built-in dataset ``name``; the facts come from its one record in
      :data:`TF_SLIM_DATASETS`, and ``get_split(split_name, dataset_dir, file_pattern=None,
      reader=None)`` is :func:`get_dataset` for that name (a converted directory is read
      from its ``dataset.json``).
    """
    spec = TF_SLIM_DATASETS[name]

    def get_split(split_name, dataset_dir, file_pattern=None, reader=None):
        return get_dataset(name, split_name, dataset_dir, file_pattern, reader)

    get_split.__doc__ = (
        f"TF-Slim's ``{name}.get_split``: a ``slim.dataset.Dataset`` of one split "
        f"(raises SlimclsError for an unknown split or missing files)."
    )
    return (
        spec.file_pattern,
        dict(spec.splits),
        spec.num_classes,
        dict(spec.items_to_descriptions),
        get_split,
    )
