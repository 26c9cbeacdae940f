"""Directories TF-Slim's own converters wrote: its built-in datasets, and finding a split.

TF-Slim kept one Python module per dataset with its file pattern, split sizes and class
count; :data:`TF_SLIM_DATASETS` holds those facts, one record per dataset. A directory of
TF-Slim-format shards without ``dataset.json`` is read as it is: its split's files are found
by name (:func:`find_tf_slim_split`), a missing ``-NNNNN-of-NNNNN`` shard is an error
(:func:`check_complete`), and what TF-Slim did not publish is counted from the records
(:func:`scan_records`, :func:`sniff_channels`). :mod:`dataset_factory` turns these into a
descriptor; ``download_and_convert_data --dataset_name=adopt`` into a ``dataset.json``.
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Mapping

from PIL import Image

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.datasets import record_format


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


IMAGE_AND_LABEL = {
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
        {**IMAGE_AND_LABEL, "label": "A single integer between 0 and 4"},
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


def listdir(dataset_dir: str) -> list[str]:
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
    names = listdir(dataset_dir)
    if not names:
        return "is empty"
    records = [n for n in names if record_stem(n)]
    shown = ", ".join((records or names)[:3]) + (
        f" and {len(records or names) - 3} more" if len(records or names) > 3 else ""
    )
    if records:
        return f"holds {len(records)} TFRecord files ({shown})"
    return f"holds {len(names)} entries but no TFRecord files ({shown})"


def no_dataset_error(dataset_dir: str, name: str | None, split: str) -> SlimclsError:
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
    for n in listdir(dataset_dir):
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
