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


# A wrong value of every dataset.json field: (field, value, what the one line must say).
BAD_FIELDS = [
    ("num_classes", "three", r'"num_classes" is "three" \(a string\); expected an integer >= 1'),
    ("num_classes", 0, r'"num_classes" is 0 \(an integer\); expected an integer >= 1'),
    ("num_classes", True, r'"num_classes" is true \(a boolean\); expected an integer'),
    ("name", 7, r'"name" is 7 \(an integer\); expected a name of letters'),
    ("name", "../up", r'"name" is "../up" \(a string\); expected a name'),
    ("splits", ["train"], r'"splits" is \["train"\] \(a list\); expected an object'),
    ("splits", {"train": "6"}, r'"splits.train" is "6" \(a string\); expected an integer >= 0'),
    ("splits", {"train": -1}, r'"splits.train" is -1 \(an integer\); expected an integer >= 0'),
    ("splits", {"a/b": 1}, r'"splits" has the split name \'a/b\'; expected letters'),
    ("labels_file", None, r'"labels_file" is null \(null\); expected a file name'),
    ("file_pattern", "tiny_train.tfrecord", r'"file_pattern" is .*; expected a string with one %s'),
    ("file_pattern", "tiny_%d_%s", r'"file_pattern" is "tiny_%d_%s" .*; expected a string with'),
    ("channels", "3", r'"channels" is "3" \(a string\); expected 1 or 3'),
    ("channels", 4, r'"channels" is 4 \(an integer\); expected 1 or 3'),
    ("shards", {"train": 0}, r'"shards.train" is 0 \(an integer\); expected an integer >= 1'),
    ("shards", 3, r'"shards" is 3 \(an integer\); expected an object of shard counts'),
    ("source", "me", r'"source" is "me" \(a string\); expected an object'),
    ("format_version", "1", r'"format_version" is "1" \(a string\); expected an integer >= 1'),
    ("files", {"train": "x"}, r'"files.train" is "x" \(a string\); expected a list of file'),
]


@pytest.mark.parametrize(
    "field, value, message", BAD_FIELDS, ids=[f"{f}={v!r}" for f, v, _ in BAD_FIELDS]
)
def test_dataset_json_field_of_a_wrong_type_is_one_line_naming_it(tiny_dir, field, value, message):
    path = os.path.join(tiny_dir, "dataset.json")
    with open(path) as f:
        info = json.load(f)
    info[field] = value
    with open(path, "w") as f:
        json.dump(info, f)
    for read in (dataset_factory.get_dataset, dataset_factory.get_dataset_info):
        with pytest.raises(SlimclsError, match=message) as e:
            read(None, "train", tiny_dir) if read is dataset_factory.get_dataset else read(
                None, tiny_dir
            )
        assert "\n" not in str(e.value) and str(e.value).startswith(path)


def test_dataset_json_that_is_not_an_object_is_one_line(tiny_dir):
    with open(os.path.join(tiny_dir, "dataset.json"), "w") as f:
        json.dump([1, 2], f)
    with pytest.raises(SlimclsError, match=r"dataset.json holds a list; expected a JSON object"):
        dataset_factory.get_dataset(None, "train", tiny_dir)
