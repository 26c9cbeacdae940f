"""Tests of record_format: the one module that spells keys, names and metadata files."""

import json
import subprocess
import sys

import pytest

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.datasets import record_format as rf
from slimcls.reader.input_pipeline import parse_example


def test_record_round_trip_and_parse_spec():
    rec = rf.encode_record(b"\x89PNG...", "png", 3, 4, 9)
    assert rf.decode_record(rec) == {
        rf.KEY_ENCODED: b"\x89PNG...",
        rf.KEY_FORMAT: "png",
        rf.KEY_LABEL: 9,
        rf.KEY_HEIGHT: 3,
        rf.KEY_WIDTH: 4,
    }
    parsed = tf.io.parse_single_example(rec, rf.parse_features())
    assert int(parsed[rf.KEY_LABEL]) == 9 and bytes(parsed[rf.KEY_ENCODED].numpy()) == b"\x89PNG..."


@pytest.mark.heavy
def test_encode_record_is_byte_identical_across_processes():
    code = (
        "import sys; from slimcls.datasets import record_format as rf; "
        "sys.stdout.buffer.write(rf.encode_record(b'abc'*50, 'jpeg', 7, 8, 3))"
    )
    outs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
        for _ in range(2)
    }
    assert outs == {rf.encode_record(b"abc" * 50, "jpeg", 7, 8, 3)}


def test_shard_names_agree():
    name = rf.shard_basename("ds", "train", 2, 10)
    assert name == "ds_train_00002-of-00010.tfrecord"
    m = rf.shard_regex("ds", "train").match(name)
    assert m and m.groups() == ("00002", "00010")
    assert not rf.shard_regex("ds", "train").match("ds_train_extra_00002-of-00010.tfrecord")
    assert tf.io.gfile.glob  # file_pattern is a glob of the same names
    import fnmatch

    assert fnmatch.fnmatch(name, rf.file_pattern_template("ds") % "train")
    assert rf.any_shard_regex("ds").match(name + ".tmp")
    assert not rf.any_shard_regex("ds").match("cifar10_train.tfrecord")


def test_dataset_json_round_trip_and_version(tmp_path):
    info = rf.make_dataset_info("ds", 2, {"train": 3}, {"train": 1}, 3, {"converter": "x"})
    rf.write_dataset_json(str(tmp_path), info)
    assert rf.read_dataset_json(str(tmp_path)) == info
    assert rf.shard_paths(str(tmp_path), info) == [
        str(tmp_path / "ds_train_00000-of-00001.tfrecord")
    ]
    (tmp_path / "dataset.json").write_text(json.dumps({**info, "format_version": 99}))
    with pytest.raises(SlimclsError, match="format_version 99"):
        rf.read_dataset_json(str(tmp_path))
    (tmp_path / "dataset.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(SlimclsError, match="lacks the keys"):
        rf.read_dataset_json(str(tmp_path))


def test_labels_reject_line_breaks_and_non_utf8(tmp_path):
    with pytest.raises(SlimclsError, match="line break"):
        rf.write_labels({0: "a\nb"}, str(tmp_path))
    (tmp_path / "labels.txt").write_bytes(b"0:\xff\n")
    with pytest.raises(SlimclsError, match="not UTF-8"):
        rf.read_labels(str(tmp_path / "labels.txt"))


def test_parse_example_uses_the_spec():
    import numpy as np

    from slimcls.datasets.image_codec import encode_png

    img = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    image, label = parse_example(tf.constant(rf.encode_record(encode_png(img), "png", 2, 2, 1)), 3)
    np.testing.assert_array_equal(image.numpy(), img) and int(label) == 1
