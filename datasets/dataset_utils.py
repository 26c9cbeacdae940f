"""TF-Slim's ``datasets/dataset_utils`` helpers, for code written against TF-Slim.

Same names and signatures as TF-Slim's module; each is a thin call into the modules that
own the format (:mod:`record_format`) so a record written here is byte-for-byte what the
converters write. slimcls' own code imports the focused modules directly:
``record_format`` (keys, names, labels.txt, dataset.json), ``image_codec``,
``sharded_output``, ``from_arrays``, ``progress``, ``parallel`` and ``converter``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from slimcls.core.compat import tf
from slimcls.core.fileio import write_text_atomic
from slimcls.datasets import record_format as rf
from slimcls.datasets.from_arrays import write_dataset_from_arrays  # noqa: F401

# TF-Slim's dataset_utils is where its users look for dataset helpers; tests and benchmarks
# build tiny datasets with these.
from slimcls.datasets.record_format import read_dataset_json  # noqa: F401

LABELS_FILENAME = rf.LABELS_FILENAME

int64_feature = rf.int64_feature
bytes_feature = rf.bytes_feature
float_feature = rf.float_feature


def image_to_tfexample(
    image_data: bytes, image_format: str | bytes, height: int, width: int, class_id: int
) -> tf.train.Example:
    """TF-Slim's Example of one encoded image (keys from :mod:`record_format`)."""
    return rf.make_example(image_data, image_format, height, width, class_id)


def write_label_file(
    labels_to_class_names: Mapping[int, str], dataset_dir: str, filename: str = LABELS_FILENAME
) -> str:
    """Writes ``<dataset_dir>/<filename>`` (``<id>:<name>`` per line, UTF-8); returns the path."""
    path = rf.join(dataset_dir, filename)
    write_text_atomic(path, rf.format_labels(labels_to_class_names))
    return path


def has_labels(dataset_dir: str, filename: str = LABELS_FILENAME) -> bool:
    """Whether ``<dataset_dir>/<filename>`` exists."""
    return tf.io.gfile.exists(rf.join(dataset_dir, filename))


def read_label_file(dataset_dir: str, filename: str = LABELS_FILENAME) -> dict[int, str]:
    """Reads ``<dataset_dir>/<filename>`` into ``{id: name}``.

    ``dataset_dir`` may also be the labels file itself (slimcls' callers pass a path).
    """
    path = rf.join(dataset_dir, filename) if tf.io.gfile.isdir(dataset_dir) else dataset_dir
    return rf.read_labels(path)


def open_sharded_output_tfrecords(
    exit_stack: contextlib.ExitStack, base_path: str, num_shards: int
) -> list[tf.io.TFRecordWriter]:
    """Opens ``num_shards`` TFRecord writers ``<base_path>-NNNNN-of-NNNNN`` on ``exit_stack``."""
    return [
        exit_stack.enter_context(
            tf.io.TFRecordWriter(rf.tf_slim_shard_name(base_path, i, num_shards))
        )
        for i in range(num_shards)
    ]
