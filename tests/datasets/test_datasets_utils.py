"""Tests of dataset_utils: TF-Slim's helper names and signatures, written via record_format."""

import contextlib
import os

import pytest

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.datasets import dataset_utils, record_format


def test_image_to_tfexample_matches_the_converters_records():
    ex = dataset_utils.image_to_tfexample(b"xyz", b"png", 4, 5, 7)
    assert ex.SerializeToString(deterministic=True) == record_format.encode_record(
        b"xyz", "png", 4, 5, 7
    )
    f = ex.features.feature
    assert f["image/class/label"].int64_list.value == [7]
    assert f["image/format"].bytes_list.value == [b"png"]


def test_feature_helpers():
    assert dataset_utils.int64_feature([1, 2]).int64_list.value == [1, 2]
    assert dataset_utils.bytes_feature(b"a").bytes_list.value == [b"a"]
    assert list(dataset_utils.float_feature(0.5).float_list.value) == [0.5]


def test_label_file_tf_slim_signature(tmp_path):
    d = str(tmp_path)
    assert not dataset_utils.has_labels(d)
    dataset_utils.write_label_file({0: "一", 1: "a:b"}, d)
    assert dataset_utils.has_labels(d)
    assert dataset_utils.read_label_file(d) == {0: "一", 1: "a:b"}
    # slimcls callers pass the file itself
    assert dataset_utils.read_label_file(os.path.join(d, "labels.txt")) == {0: "一", 1: "a:b"}
    dataset_utils.write_label_file({3: "x"}, d, filename="other.txt")
    assert dataset_utils.read_label_file(d, "other.txt") == {3: "x"}
    with pytest.raises(SlimclsError, match="does not exist"):
        dataset_utils.read_label_file(d, "missing.txt")


def test_open_sharded_output_tfrecords(tmp_path):
    base = str(tmp_path / "out")
    with contextlib.ExitStack() as stack:
        writers = dataset_utils.open_sharded_output_tfrecords(stack, base, 3)
        for i, w in enumerate(writers):
            w.write(b"r%d" % i)
    names = sorted(os.listdir(tmp_path))
    assert names == [f"out-{i:05d}-of-00003" for i in range(3)]
    got = [bytes(r.numpy()) for r in tf.data.TFRecordDataset(str(tmp_path / names[2]))]
    assert got == [b"r2"]
