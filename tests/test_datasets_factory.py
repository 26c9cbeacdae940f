"""Tests for datasets.dataset_factory.get_dataset."""

import json
import os

import numpy as np
import pytest

from slimcls.core.errors import SlimclsError
from slimcls.datasets import dataset_factory, dataset_utils


@pytest.fixture
def tiny_dir(tmp_path):
    images = np.zeros((6, 3, 3, 1), np.uint8)
    dataset_utils.write_dataset_from_arrays(
        str(tmp_path),
        "tiny",
        {"train": (images, [0, 1, 2, 0, 1, 2]), "test": (images[:2], [2, 1])},
        ["零", "one", "two"],
        num_shards=3,
    )
    return str(tmp_path)


def test_descriptor(tiny_dir):
    d = dataset_factory.get_dataset("tiny", "train", tiny_dir)
    assert d.name == "tiny" and d.split_name == "train" and d.num_samples == 6
    assert d.num_classes == 3 and d.channels == 1
    assert d.labels_to_names == {0: "零", 1: "one", 2: "two"}
    assert d.labels_file == os.path.join(tiny_dir, "labels.txt")
    assert d.file_pattern == os.path.join(tiny_dir, "tiny_train_*-of-*.tfrecord")
    assert d.files == tuple(
        os.path.join(tiny_dir, f"tiny_train_{i:05d}-of-00003.tfrecord") for i in range(3)
    )
    assert d.splits == {"train": 6, "test": 2}
    assert dataset_factory.get_dataset(None, "test", tiny_dir).num_samples == 2


def test_errors(tiny_dir, tmp_path):
    with pytest.raises(SlimclsError, match="holds dataset 'tiny'"):
        dataset_factory.get_dataset("flowers", "train", tiny_dir)
    with pytest.raises(SlimclsError, match=r"'validation'.*\['test', 'train'\]"):
        dataset_factory.get_dataset(None, "validation", tiny_dir)
    with pytest.raises(SlimclsError, match="dataset.json does not exist"):
        dataset_factory.get_dataset(None, "train", str(tmp_path / "nowhere"))
    os.remove(os.path.join(tiny_dir, "tiny_train_00001-of-00003.tfrecord"))
    with pytest.raises(SlimclsError, match="missing 1 of 3 shards"):
        dataset_factory.get_dataset(None, "train", tiny_dir)


def test_similar_split_names_do_not_mix(tmp_path):
    images = np.zeros((2, 2, 2, 3), np.uint8)
    dataset_utils.write_dataset_from_arrays(
        str(tmp_path), "t", {"train": (images, [0, 0]), "train_extra": (images, [0, 0])}, ["a"]
    )
    d = dataset_factory.get_dataset(None, "train", str(tmp_path))
    assert [os.path.basename(f) for f in d.files] == ["t_train_00000-of-00001.tfrecord"]


def test_bad_json(tmp_path):
    (tmp_path / "dataset.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(SlimclsError, match="lacks the keys"):
        dataset_factory.get_dataset(None, "train", str(tmp_path))
