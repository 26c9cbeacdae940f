"""Dataset descriptors: TF-Slim's ``get_dataset`` for converted and for TF-Slim directories.

TF-Slim kept one Python file per dataset with hand-written split sizes; slimcls' converters
write ``dataset.json`` and ``labels.txt`` and :func:`get_dataset` reads them, so a new
dataset needs no code edits (the README's "Dataset format"). A directory written by TF-Slim's
own converters has no ``dataset.json``; it is read as it is (nothing is written into it):

* by the built-in names TF-Slim users pass (``cifar10``, ``flowers``, ``mnist``,
  ``imagenet``): TF-Slim's file patterns, published split sizes and class counts
  (:data:`TF_SLIM_DATASETS`);
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
import io
import logging
import re
from collections.abc import Mapping
from typing import Any

from PIL import Image
from tf_slim.data import dataset as slim_dataset
from tf_slim.data import tfexample_decoder

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.core.filesystems import check_file_system
from slimcls.datasets import record_format

log = logging.getLogger("slimcls.datasets")

#: Where a descriptor's split sizes came from.
SIZES_FROM_JSON = "dataset.json"
SIZES_PUBLISHED = "TF-Slim's published sizes"
SIZES_COUNTED = "counted"


@dataclasses.dataclass(frozen=True)
class TfSlimSpec:
    """What TF-Slim's per-dataset module hard-codes about one of its datasets."""

    name: str
    file_pattern: str  # relative to dataset_dir, '%s' = split (TF-Slim's _FILE_PATTERN)
    splits: Mapping[str, int]  # TF-Slim's SPLITS_TO_SIZES
    num_classes: int
    channels: int
    image_shape: tuple[int, int, int] | None  # fixed decoded shape, None: any
    default_format: str  # image/format when a record lacks it
    items_to_descriptions: Mapping[str, str]


_IMAGE_AND_LABEL = {
    "image": "A color image of varying size.",
    "label": "A single integer between 0 and num_classes - 1",
}

#: TF-Slim's built-in datasets (its ``datasets/{cifar10,flowers,mnist,imagenet}.py``).
TF_SLIM_DATASETS: dict[str, TfSlimSpec] = {
    "cifar10": TfSlimSpec(
        "cifar10",
        "cifar10_%s.tfrecord",
        {"train": 50000, "test": 10000},
        10,
        3,
        (32, 32, 3),
        "png",
        {"image": "A [32 x 32 x 3] color image.", "label": "A single integer between 0 and 9"},
    ),
    "flowers": TfSlimSpec(
        "flowers",
        "flowers_%s_*.tfrecord",
        {"train": 3320, "validation": 350},
        5,
        3,
        None,
        "png",
        {**_IMAGE_AND_LABEL, "label": "A single integer between 0 and 4"},
    ),
    "mnist": TfSlimSpec(
        "mnist",
        "mnist_%s.tfrecord",
        {"train": 60000, "test": 10000},
        10,
        1,
        (28, 28, 1),
        "raw",
        {"image": "A [28 x 28 x 1] grayscale image.", "label": "A single integer between 0 and 9"},
    ),
    "imagenet": TfSlimSpec(
        "imagenet",
        "%s-*",
        {"train": 1281167, "validation": 50000},
        1001,
        3,
        None,
        "jpeg",
        {
            "image": "A color image of varying height and width.",
            "label": "The label id of the image, integer between 0 and 999",
            "label_text": "The text of the label.",
            "object/bbox": "A list of bounding boxes.",
            "object/label": "A list of labels, one per each object.",
        },
    ),
}


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
    labels, labels_file = read_tf_slim_labels(dataset_dir)
    records = [n for n in _listdir(dataset_dir) if record_stem(n)]
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
        items_to_descriptions=dict(spec.items_to_descriptions if spec else _IMAGE_AND_LABEL),
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

_SHARD_SUFFIX = re.compile(r"[-_](\d{5})-of-(\d{5})(?:\.tfrecords?)?$")
#: A TF-Slim-format record file: ``<stem>[_-NNNNN-of-NNNNN].tfrecord`` or, without the
#: extension, ``<stem>-NNNNN-of-NNNNN`` with a dot-free stem (ImageNet's ``train-00000-of-01024``;
#: not a checkpoint's ``model.ckpt-2.data-00000-of-00001``). ``stem`` = ``[name_]split``.
RECORD_FILE = re.compile(
    r"^(?:(?P<stem>.+?)(?:[-_]\d{5}-of-\d{5})?\.tfrecords?"
    r"|(?P<bare>[A-Za-z0-9_-]+?)[-_]\d{5}-of-\d{5})$"
)


def record_stem(basename: str) -> str | None:
    """``[name_]split`` of a record file's basename, None when it is not one."""
    m = RECORD_FILE.match(basename)
    return (m.group("stem") or m.group("bare")) if m else None


def _listdir(dataset_dir: str) -> list[str]:
    if not tf.io.gfile.isdir(dataset_dir):
        return []
    return sorted(n.rstrip("/") for n in tf.io.gfile.listdir(dataset_dir))


def split_file_regex(name: str | None, split: str) -> re.Pattern[str]:
    """Basenames of one split of a TF-Slim-format directory; group ``name`` (may be None).

    Accepts ``<name>_<split>.tfrecord``, ``<name>_<split>[_-]NNNNN-of-NNNNN[.tfrecord]``
    and ``<split>-NNNNN-of-NNNNN`` (ImageNet's build_imagenet_data names).
    """
    prefix = rf"(?P<name>{re.escape(name)})_" if name else r"(?:(?P<name>.+?)_)?"
    s = re.escape(split)
    return re.compile(rf"^{prefix}{s}(?:\.tfrecords?|[-_]\d{{5}}-of-\d{{5}}(?:\.tfrecords?)?)$")


def describe_dir(dataset_dir: str) -> str:
    """A few words on what a directory holds, for one-line errors."""
    if not tf.io.gfile.exists(dataset_dir):
        return "does not exist"
    names = _listdir(dataset_dir)
    if not names:
        return "is empty"
    records = [n for n in names if record_stem(n)]
    shown = ", ".join((records or names)[:3]) + (
        f" and {len(records or names) - 3} more" if len(records or names) > 3 else ""
    )
    if records:
        return f"holds {len(records)} TFRecord files ({shown})"
    return f"holds {len(names)} entries but no TFRecord files ({shown})"


def _no_dataset(dataset_dir: str, name: str | None, split: str) -> SlimclsError:
    json_path = record_format.join(dataset_dir, record_format.DATASET_JSON)
    what = describe_dir(dataset_dir)
    hint = (
        f"adopt TF-Slim shards with: download_and_convert_data --dataset_name=adopt "
        f"--dataset_dir={dataset_dir}"
        if "TFRecord files" in what and "no TFRecord" not in what
        else "convert one with download_and_convert_data"
    )
    wanted = f" of dataset {name!r}" if name else ""
    return SlimclsError(
        f"{json_path} does not exist and {dataset_dir} {what}, none of them split "
        f"{split!r}{wanted}; expected a converted dataset ({hint})"
    )


def check_complete(files: list[str], dataset_dir: str, split: str) -> None:
    """``-NNNNN-of-NNNNN`` files must all be there (a missing one changes every count)."""
    totals: dict[int, set[int]] = {}
    for f in files:
        m = _SHARD_SUFFIX.search(record_format.basename(f))
        if m:
            totals.setdefault(int(m.group(2)), set()).add(int(m.group(1)))
    for n, have in totals.items():
        missing = sorted(set(range(n)) - have)
        if missing:
            raise SlimclsError(
                f"split {split!r} of {dataset_dir} is missing {len(missing)} of {n} shards "
                f"(e.g. number {missing[0]:05d}); expected all -NNNNN-of-{n:05d} files"
            )


def find_tf_slim_split(
    name: str | None, split: str, dataset_dir: str
) -> tuple[str | None, list[str]]:
    """Finds one split's files in a TF-Slim-format directory: ``(dataset name, files)``.

    With a built-in ``name`` its TF-Slim file pattern decides; otherwise
    :func:`split_file_regex`. ``([], None)``-like ``(None, [])`` when nothing matches.

    Raises:
      SlimclsError: files of several datasets match and ``name`` is None.
    """
    if name in TF_SLIM_DATASETS:
        pattern = record_format.join(dataset_dir, TF_SLIM_DATASETS[name].file_pattern % split)
        return name, sorted(tf.io.gfile.glob(pattern))
    regex = split_file_regex(name, split)
    by_name: dict[str | None, list[str]] = {}
    for n in _listdir(dataset_dir):
        m = regex.match(n)
        if m:
            by_name.setdefault(m.group("name"), []).append(record_format.join(dataset_dir, n))
    if len(by_name) > 1:
        names = sorted(str(k) for k in by_name)
        raise SlimclsError(
            f"{dataset_dir} holds split {split!r} of several datasets {names}; expected "
            "--dataset_name to say which"
        )
    if not by_name:
        return None, []
    found, files = by_name.popitem()
    if found is None and name is None:  # ImageNet's "train-00000-of-01024"
        found = "imagenet" if split in TF_SLIM_DATASETS["imagenet"].splits else None
    return found or name or record_format.basename(dataset_dir), sorted(files)


def scan_records(files: list[str]) -> tuple[int, int]:
    """Reads every record of ``files`` (CRCs checked): ``(count, largest label or -1)``."""
    spec = {record_format.KEY_LABEL: tf.io.FixedLenFeature((), tf.int64, default_value=-1)}
    ds = tf.data.TFRecordDataset(list(files)).batch(4096)
    ds = ds.map(lambda s: tf.io.parse_example(s, spec)[record_format.KEY_LABEL])
    count, top = 0, -1
    try:
        for labels in ds:
            labels = labels.numpy()
            count += len(labels)
            top = max(top, int(labels.max(initial=-1)))
    except tf.errors.OpError as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SlimclsError(f"cannot read the records of {files[0]}...: {msg}") from None
    return count, top


def sniff_channels(path: str) -> int:
    """1 when the first record's image is greyscale, else 3 (decode_image converts)."""
    for serialized in tf.data.TFRecordDataset(path).take(1):
        feat = tf.train.Example.FromString(serialized.numpy()).features.feature
        encoded = feat[record_format.KEY_ENCODED].bytes_list.value
        if encoded:
            try:
                return 1 if Image.open(io.BytesIO(encoded[0])).mode in ("L", "1", "I;16") else 3
            except Exception:  # not an image PIL knows: decode as colour
                return 3
    return 3


def read_tf_slim_labels(dataset_dir: str) -> tuple[dict[int, str], str | None]:
    path = record_format.join(dataset_dir, record_format.LABELS_FILENAME)
    if not tf.io.gfile.exists(path):
        return {}, None
    return record_format.read_labels(path), path


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
        raise _no_dataset(dataset_dir, name, split)
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
