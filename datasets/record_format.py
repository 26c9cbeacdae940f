"""The on-disk dataset format, in one place: record keys, shard names, labels.txt, dataset.json.

A converted dataset directory holds (the README's "Dataset format" section):

* shards ``<name>_<split>_<i:05d>-of-<n:05d>.tfrecord`` of ``tf.train.Example`` records with
  TF-Slim's keys (:data:`KEY_ENCODED` ...), each written under a temporary name and renamed
  when complete;
* ``labels.txt``: one ``<id>:<class name>`` per line, UTF-8;
* ``dataset.json``: everything a reader needs, written last, so a directory without it is the
  leftover of an interrupted run, never a dataset.

Writers (the converters) and readers (``dataset_factory``, ``input_pipeline``) both use this
module, so a key, a file name or a shard pattern is spelled exactly once.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Mapping
from typing import Any

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.core.fileio import TMP_SUFFIX, write_text_atomic

# --------------------------------------------------------------------------- records

KEY_ENCODED = "image/encoded"
KEY_FORMAT = "image/format"
KEY_LABEL = "image/class/label"
KEY_HEIGHT = "image/height"
KEY_WIDTH = "image/width"
#: The values ``image/format`` may hold.
IMAGE_FORMATS = ("png", "jpeg")

DATASET_JSON = "dataset.json"
LABELS_FILENAME = "labels.txt"
REJECTED_FILENAME = "rejected.txt"
#: Where a conversion writes its output inside ``dataset_dir`` before swapping it in.
STAGING_DIRNAME = ".slimcls-staging"
#: In the staging folder once the new dataset is complete: the swap's plan (``old`` and
#: ``new`` file names). While it exists the swap is pending; any conversion finishes it.
SWAP_FILENAME = "swap.json"
FORMAT_VERSION = 1
#: Keys every ``dataset.json`` has (readers refuse a file without them).
REQUIRED_INFO_KEYS = ("name", "num_classes", "splits", "labels_file", "file_pattern", "channels")


def int64_feature(values: int | list[int] | tuple[int, ...]) -> tf.train.Feature:
    if not isinstance(values, (tuple, list)):
        values = [values]
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def bytes_feature(values: bytes | list[bytes] | tuple[bytes, ...]) -> tf.train.Feature:
    if not isinstance(values, (tuple, list)):
        values = [values]
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def float_feature(values: float | list[float] | tuple[float, ...]) -> tf.train.Feature:
    if not isinstance(values, (tuple, list)):
        values = [values]
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def make_example(
    encoded: bytes, image_format: str, height: int, width: int, label: int
) -> tf.train.Example:
    """The ``tf.train.Example`` of one encoded image, with TF-Slim's keys.

    Args:
      encoded: the PNG or JPEG file bytes.
      image_format: ``"png"`` or ``"jpeg"`` (stored as ``image/format``).
      height, width: image size in pixels.
      label: integer class id.
    """
    fmt = image_format.decode("ascii") if isinstance(image_format, bytes) else image_format
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                KEY_ENCODED: bytes_feature(encoded),
                KEY_FORMAT: bytes_feature(fmt.encode("ascii")),
                KEY_LABEL: int64_feature(int(label)),
                KEY_HEIGHT: int64_feature(int(height)),
                KEY_WIDTH: int64_feature(int(width)),
            }
        )
    )


def encode_record(encoded: bytes, image_format: str, height: int, width: int, label: int) -> bytes:
    """Serialises one record; the same input gives the same bytes in every process.

    A ``tf.train.Example``'s features are a protobuf map, whose default serialisation order
    is unspecified (it can differ between processes); ``deterministic=True`` sorts the keys,
    so shards of the same input and seed are byte-identical across runs and workers.
    """
    example = make_example(encoded, image_format, height, width, label)
    return example.SerializeToString(deterministic=True)


def parse_features() -> dict[str, tf.io.FixedLenFeature]:
    """The ``tf.io.parse_single_example`` spec readers use (label and image bytes)."""
    return {
        KEY_ENCODED: tf.io.FixedLenFeature((), tf.string),
        KEY_FORMAT: tf.io.FixedLenFeature((), tf.string, default_value="png"),
        KEY_LABEL: tf.io.FixedLenFeature((), tf.int64),
    }


def decode_record(serialized: bytes) -> dict[str, Any]:
    """Reads one serialised record back in Python (tests, verification): the five fields."""
    f = tf.train.Example.FromString(serialized).features.feature
    return {
        KEY_ENCODED: f[KEY_ENCODED].bytes_list.value[0],
        KEY_FORMAT: f[KEY_FORMAT].bytes_list.value[0].decode("ascii"),
        KEY_LABEL: int(f[KEY_LABEL].int64_list.value[0]),
        KEY_HEIGHT: int(f[KEY_HEIGHT].int64_list.value[0]),
        KEY_WIDTH: int(f[KEY_WIDTH].int64_list.value[0]),
    }


# --------------------------------------------------------------------------- names


def join(*parts: str) -> str:
    """Joins path parts; URLs (``gs://...``) always with ``/``."""
    return posixpath.join(*parts) if "://" in parts[0] else os.path.join(*parts)


def basename(path: str) -> str:
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


#: Longest dataset or split name: a shard's file name holds both (``<name>_<split>_00000-of-
#: 00001.tfrecord.tmp``, at most 229 bytes), within the 255 bytes file systems allow.
MAX_NAME_CHARS = 100


def validate_name(name: str, what: str = "dataset name") -> str:
    """``name`` when it can start a shard's file name, else one-line SlimclsError."""
    if not name or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        shown = repr(name) if len(str(name)) <= 60 else repr(name[:40]) + "..."
        raise SlimclsError(f"{what} {shown} is invalid; expected letters, digits, '.', '_' or '-'")
    if len(name) > MAX_NAME_CHARS:
        raise SlimclsError(
            f"{what} {name[:40]!r}... is {len(name)} characters long; expected at most "
            f"{MAX_NAME_CHARS} (it starts every shard's file name, which the file system "
            "limits to 255 bytes)"
        )
    return name


def shard_basename(name: str, split: str, index: int, num_shards: int) -> str:
    return f"{name}_{split}_{index:05d}-of-{num_shards:05d}.tfrecord"


def file_pattern_template(name: str) -> str:
    """The ``dataset.json`` ``file_pattern``: relative to the directory, ``%s`` = split."""
    return f"{name}_%s_*-of-*.tfrecord"


def single_file_basename(name: str, split: str) -> str:
    """TF-Slim's one-file-per-split name (``cifar10_train.tfrecord``, ``mnist_test.tfrecord``)."""
    return f"{name}_{split}.tfrecord"


def single_file_pattern_template(name: str) -> str:
    """``file_pattern`` of a one-file-per-split dataset (TF-Slim's cifar10/mnist readers')."""
    return f"{name}_%s.tfrecord"


def split_basenames(info: Mapping[str, Any], split: str) -> list[str]:
    """The file basenames of one split that a ``dataset.json`` describes, in order.

    An explicit ``files`` list (an adopted TF-Slim directory) is used as it is; a
    ``file_pattern`` without ``*`` names one file per split (TF-Slim's ``cifar10_%s.tfrecord``);
    otherwise the split has ``shards[split]`` numbered shards.
    """
    listed = info.get("files")
    if isinstance(listed, Mapping) and split in listed:
        return [str(n) for n in listed[split]]
    pattern = str(info["file_pattern"])
    if "*" not in pattern:
        return [pattern % split]
    n = int(dict(info.get("shards", {})).get(split, 1))
    return [shard_basename(str(info["name"]), split, i, n) for i in range(n)]


def shard_regex(name: str, split: str) -> re.Pattern[str]:
    """Matches one split's shard basenames; groups: index, count."""
    return re.compile(rf"^{re.escape(name)}_{re.escape(split)}_(\d{{5}})-of-(\d{{5}})\.tfrecord$")


def any_shard_regex(name: str) -> re.Pattern[str]:
    """Matches every shard basename of dataset ``name`` (any split), final or temporary."""
    return re.compile(
        rf"^{re.escape(name)}_[A-Za-z0-9._-]+_\d{{5}}-of-\d{{5}}\.tfrecord"
        rf"(?:{re.escape(TMP_SUFFIX)})?$"
    )


def tf_slim_shard_name(base_path: str, index: int, num_shards: int) -> str:
    """TF-Slim's ``open_sharded_output_tfrecords`` naming: ``<base>-00000-of-00010``."""
    return f"{base_path}-{index:05d}-of-{num_shards:05d}"


# --------------------------------------------------------------------------- labels.txt


def format_labels(labels_to_names: Mapping[int, str]) -> str:
    lines = []
    for label in sorted(labels_to_names):
        name = str(labels_to_names[label])
        if "\n" in name or "\r" in name:
            raise SlimclsError(f"class name {name!r} contains a line break")
        lines.append(f"{int(label)}:{name}\n")
    return "".join(lines)


def write_labels(labels_to_names: Mapping[int, str], dataset_dir: str) -> str:
    """Writes ``labels.txt`` (``<id>:<name>`` per line, UTF-8) atomically; returns its path."""
    path = join(dataset_dir, LABELS_FILENAME)
    write_text_atomic(path, format_labels(labels_to_names))
    return path


def read_labels(path: str) -> dict[int, str]:
    """Reads a ``labels.txt`` into ``{id: name}``; names may contain ``:``."""
    if not tf.io.gfile.exists(path):
        raise SlimclsError(f"labels file {path} does not exist")
    with tf.io.gfile.GFile(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SlimclsError(f"{path} is not UTF-8 ({e}); expected '<id>:<name>' lines") from None
    labels: dict[int, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        idx, sep, name = line.partition(":")
        if not sep or not idx.strip().isdigit():
            raise SlimclsError(f"{path} line {lineno} is {line!r}; expected '<id>:<name>'")
        labels[int(idx)] = name
    return labels


# --------------------------------------------------------------------------- dataset.json


def make_dataset_info(
    name: str,
    num_classes: int,
    splits: Mapping[str, int],
    shards: Mapping[str, int],
    channels: int,
    source: Mapping[str, Any],
    single_file: bool = False,
) -> dict[str, Any]:
    """The ``dataset.json`` contents (key order fixed, so the file is reproducible).

    ``single_file``: each split is one ``<name>_<split>.tfrecord`` (TF-Slim's names).
    """
    pattern = single_file_pattern_template(name) if single_file else file_pattern_template(name)
    return {
        "name": name,
        "num_classes": int(num_classes),
        "splits": {k: int(v) for k, v in splits.items()},
        "labels_file": LABELS_FILENAME,
        "file_pattern": pattern,
        "channels": int(channels),
        "shards": {k: int(v) for k, v in shards.items()},
        "source": dict(source),
        "format_version": FORMAT_VERSION,
    }


def format_dataset_json(info: Mapping[str, Any]) -> str:
    return json.dumps(info, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def write_dataset_json(dataset_dir: str, info: Mapping[str, Any]) -> str:
    """Writes ``dataset.json`` atomically (call it last: it marks the dataset complete)."""
    path = join(dataset_dir, DATASET_JSON)
    write_text_atomic(path, format_dataset_json(info))
    return path


def check_not_mid_conversion(dataset_dir: str) -> None:
    """Refuses a directory that a conversion left half-way, for every reader.

    Without ``dataset.json`` but with slimcls' staging folder, the directory is a
    conversion running or killed: a pending swap (``swap.json``) means the shards are part
    old, part new, and nothing may read them until the swap is finished.

    Raises:
      SlimclsError: one line saying how to finish it.
    """
    staging = join(dataset_dir, STAGING_DIRNAME)
    if tf.io.gfile.exists(join(dataset_dir, DATASET_JSON)) or not tf.io.gfile.isdir(staging):
        return
    if tf.io.gfile.exists(join(staging, SWAP_FILENAME)):
        raise SlimclsError(
            f"{dataset_dir} holds a conversion interrupted while swapping its new dataset in "
            f"(no {DATASET_JSON}; the rest is in {staging}), so its shards are part old, part "
            "new; expected a complete dataset: finish the swap with download_and_convert_data "
            f"--dataset_name=adopt --dataset_dir={dataset_dir} (or run the conversion again)"
        )
    raise SlimclsError(
        f"{dataset_dir} holds no {DATASET_JSON}, only the staging folder {staging} of a "
        "conversion that is running or was interrupted; expected a complete dataset: wait for "
        "it, or run the conversion into it again"
    )


def read_dataset_json(dataset_dir: str) -> dict[str, Any]:
    """Reads ``<dataset_dir>/dataset.json``; SlimclsError when missing or malformed."""
    path = join(dataset_dir, DATASET_JSON)
    if not tf.io.gfile.exists(path):
        raise SlimclsError(
            f"{path} does not exist; expected a dataset converted by download_and_convert_data "
            "(an interrupted conversion leaves no dataset.json)"
        )
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            info = json.loads(f.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise SlimclsError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(info, dict):
        raise SlimclsError(f"{path} holds {_kind(info)}; expected a JSON object")
    missing = [k for k in REQUIRED_INFO_KEYS if k not in info]
    if missing:
        raise SlimclsError(f"{path} lacks the keys {missing}; expected {list(REQUIRED_INFO_KEYS)}")
    version = info.get("format_version", FORMAT_VERSION)
    if _is_int(version) and version > FORMAT_VERSION:
        raise SlimclsError(
            f"{path} has format_version {version!r}; expected at most {FORMAT_VERSION} "
            "(written by a newer slimcls)"
        )
    validate_dataset_info(info, path)
    return info


def _kind(value: Any) -> str:
    """``"three"`` -> ``'a string'``: how an error names a JSON value's type."""
    if isinstance(value, bool):
        return "a boolean"
    kinds = {int: "an integer", float: "a number", str: "a string", list: "a list"}
    kinds.update({dict: "an object", type(None): "null"})
    return kinds.get(type(value), type(value).__name__)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", value))


def _is_pattern(value: Any) -> bool:
    """A ``file_pattern``: one ``%s`` (the split) and no other ``%`` conversion."""
    if not isinstance(value, str) or value.count("%s") != 1:
        return False
    try:
        return "%" not in value % "x"
    except (TypeError, ValueError):
        return False


#: ``dataset.json``'s schema: field -> (check, what is expected). ``splits``, ``shards``
#: and ``files`` map split names to values checked one by one (``splits.train``).
_SCHEMA: dict[str, tuple[Any, str]] = {
    "name": (_is_name, "a name of letters, digits, '.', '_' or '-'"),
    "num_classes": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "splits": (lambda v: isinstance(v, dict) and bool(v), "an object of split sizes"),
    "labels_file": (lambda v: isinstance(v, str) and bool(v), "a file name"),
    "file_pattern": (_is_pattern, "a string with one %s for the split name"),
    "channels": (lambda v: _is_int(v) and v in (1, 3), "1 or 3"),
    "shards": (lambda v: isinstance(v, dict), "an object of shard counts"),
    "source": (lambda v: isinstance(v, dict), "an object"),
    "format_version": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "files": (lambda v: isinstance(v, dict), "an object of file lists"),
}
_PER_SPLIT: dict[str, tuple[Any, str]] = {
    "splits": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "shards": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "files": (
        lambda v: isinstance(v, list) and bool(v) and all(isinstance(f, str) and f for f in v),
        "a list of file names",
    ),
}


def validate_dataset_info(info: Mapping[str, Any], path: str = DATASET_JSON) -> None:
    """Checks every field of a ``dataset.json`` against its schema.

    Raises:
      SlimclsError: one line naming the first bad field, its value and the expected type,
        e.g. ``dataset.json: "num_classes" is "three" (a string); expected an integer >= 1``.
    """

    def bad(field: str, value: Any, expected: str) -> SlimclsError:
        shown = json.dumps(value, ensure_ascii=False)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return SlimclsError(f'{path}: "{field}" is {shown} ({_kind(value)}); expected {expected}')

    for field, (check, expected) in _SCHEMA.items():
        if field in info and not check(info[field]):
            raise bad(field, info[field], expected)
    for field, (check, expected) in _PER_SPLIT.items():
        for split, value in dict(info.get(field) or {}).items():
            if not _is_name(split):
                raise SlimclsError(
                    f'{path}: "{field}" has the split name {split!r}; expected letters, '
                    "digits, '.', '_' or '-'"
                )
            if not check(value):
                raise bad(f"{field}.{split}", value, expected)


def shard_paths(dataset_dir: str, info: Mapping[str, Any]) -> list[str]:
    """Every shard path a ``dataset.json`` names (its ``shards`` counts)."""
    return [
        join(dataset_dir, base)
        for split in dict(info.get("shards", {}))
        for base in split_basenames(info, split)
    ]
