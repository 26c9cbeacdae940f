"""TF-Slim's ``datasets/imagenet.py`` API: ``get_split`` for code written against TF-Slim.

The facts TF-Slim hard-coded here (file pattern, split sizes, classes) live in one record,
``dataset_factory.TF_SLIM_DATASETS["imagenet"]``; this module only exposes them under TF-Slim's
names. A directory converted by slimcls (with ``dataset.json``) is read from its metadata.
"""

from __future__ import annotations

from typing import Any

from slimcls.datasets import dataset_factory

_SPEC = dataset_factory.TF_SLIM_DATASETS["imagenet"]
_FILE_PATTERN = _SPEC.file_pattern
SPLITS_TO_SIZES = dict(_SPEC.splits)
_NUM_CLASSES = _SPEC.num_classes
_ITEMS_TO_DESCRIPTIONS = dict(_SPEC.items_to_descriptions)


def get_split(
    split_name: str, dataset_dir: str, file_pattern: str | None = None, reader: Any = None
) -> dataset_factory.DatasetDescriptor:
    """TF-Slim's ``imagenet.get_split``: a ``slim.dataset.Dataset`` of one split.

    Args:
      split_name: one of ``SPLITS_TO_SIZES`` (or a split of a converted directory).
      dataset_dir: TF-Slim's imagenet files, or a slimcls conversion of imagenet.
      file_pattern: relative to ``dataset_dir``, ``%s`` = split; None = TF-Slim's.
      reader: a TF1 reader class; None = ``tf.compat.v1.TFRecordReader``.

    Raises:
      SlimclsError: an unknown split or missing files (one line).
    """
    return dataset_factory.get_dataset("imagenet", split_name, dataset_dir, file_pattern, reader)
