"""Tests of the dataset writing modules: records, shards, labels, dataset.json, output plans."""

import io
import json
import os

import numpy as np
import pytest

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.datasets import from_arrays, image_codec, progress, record_format, sharded_output


def _read_records(path):
    return [bytes(r.numpy()) for r in tf.data.TFRecordDataset(path)]


def test_example_has_tf_slim_keys():
    ex = record_format.make_example(b"xyz", "png", 4, 5, 7)
    f = ex.features.feature
    assert f["image/encoded"].bytes_list.value == [b"xyz"]
    assert f["image/format"].bytes_list.value == [b"png"]
    assert f["image/class/label"].int64_list.value == [7]
    assert f["image/height"].int64_list.value == [4]
    assert f["image/width"].int64_list.value == [5]


def test_labels_round_trip_utf8(tmp_path):
    names = {0: "一", 1: "a:b", 2: "ünï"}
    path = record_format.write_labels(names, str(tmp_path))
    assert open(path, encoding="utf-8").read() == "0:一\n1:a:b\n2:ünï\n"
    assert record_format.read_labels(path) == names


def test_bad_label_line(tmp_path):
    p = tmp_path / "labels.txt"
    p.write_text("zero\n", encoding="utf-8")
    with pytest.raises(SlimclsError, match="line 1"):
        record_format.read_labels(str(p))


def test_sharded_writer_contiguous_and_atomic(tmp_path):
    d = str(tmp_path)
    w = sharded_output.ShardedWriter(d, "ds", "train", 3, 7)
    for i in range(7):
        w.write(b"r%d" % i)
        # nothing has a final name before close(): only .tmp files
        assert not [f for f in os.listdir(d) if f.endswith(".tfrecord")]
    assert w.close() == 7
    files = sorted(os.listdir(d))
    assert files == [f"ds_train_{i:05d}-of-00003.tfrecord" for i in range(3)]
    recs = sum((_read_records(os.path.join(d, f)) for f in files), [])
    assert recs == [b"r%d" % i for i in range(7)]


def test_sharded_writer_abort_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with sharded_output.ShardedWriter(str(tmp_path), "ds", "train", 2, 4) as w:
            w.write(b"a")
            raise RuntimeError("killed")
    assert os.listdir(tmp_path) == []


def test_write_dataset_from_arrays(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 6, 4, 3), dtype=np.uint8)
    info = from_arrays.write_dataset_from_arrays(
        str(tmp_path), "tiny", {"train": (images, [0, 1, 0, 1, 1])}, ["cat", "dog"], num_shards=2
    )
    assert info["splits"] == {"train": 5} and info["num_classes"] == 2 and info["channels"] == 3
    on_disk = json.loads((tmp_path / "dataset.json").read_text())
    assert on_disk == info
    files = sorted(tmp_path.glob("tiny_train_*.tfrecord"))
    assert len(files) == 2
    decoded = []
    for f in files:
        for rec in _read_records(str(f)):
            ex = tf.train.Example.FromString(rec)
            enc = ex.features.feature["image/encoded"].bytes_list.value[0]
            decoded.append(tf.io.decode_png(enc).numpy())
    np.testing.assert_array_equal(np.stack(decoded), images)


def test_write_dataset_from_arrays_rejects_bad_input(tmp_path):
    with pytest.raises(SlimclsError, match="labels outside"):
        from_arrays.write_dataset_from_arrays(
            str(tmp_path), "x", {"train": (np.zeros((1, 2, 2, 1), np.uint8), [3])}, ["a"]
        )
    with pytest.raises(SlimclsError, match="expected uint8"):
        from_arrays.write_dataset_from_arrays(
            str(tmp_path), "x", {"train": (np.zeros((1, 2, 2, 2), np.uint8), [0])}, ["a"]
        )


def test_write_dataset_from_arrays_checks_every_split_before_writing(tmp_path):
    good = np.zeros((2, 2, 2, 1), np.uint8)
    out = tmp_path / "out"
    with pytest.raises(SlimclsError, match="split 'test' has labels outside"):
        from_arrays.write_dataset_from_arrays(
            str(out), "x", {"train": (good, [0, 0]), "test": (good, [0, 5])}, ["a"]
        )
    assert not out.exists()  # nothing written, not even the directory


def test_write_dataset_from_arrays_goes_through_the_output_plan(tmp_path, monkeypatch):
    """Like a converter: files of another dataset are refused, and a failed write leaves
    the dataset already there as it was."""
    d = str(tmp_path)
    (tmp_path / "cifar10_train.tfrecord").write_bytes(b"TF-Slim's")
    images = np.zeros((2, 2, 2, 1), np.uint8)
    with pytest.raises(SlimclsError, match="already holds files of another dataset"):
        from_arrays.write_dataset_from_arrays(d, "tiny", {"train": (images, [0, 0])}, ["a"])
    assert sorted(os.listdir(d)) == ["cifar10_train.tfrecord"]
    os.remove(tmp_path / "cifar10_train.tfrecord")
    first = from_arrays.write_dataset_from_arrays(d, "tiny", {"train": (images, [0, 0])}, ["a"])
    before = {n: (tmp_path / n).read_bytes() for n in os.listdir(d)}

    def die(self, serialized):
        raise OSError("disk gone")

    monkeypatch.setattr(sharded_output.ShardedWriter, "write", die)
    with pytest.raises(OSError, match="disk gone"):
        from_arrays.write_dataset_from_arrays(
            d, "tiny", {"train": (images + 9, [0, 0])}, ["a"], log=lambda m: None
        )
    assert {n: (tmp_path / n).read_bytes() for n in os.listdir(d)} == before
    monkeypatch.undo()
    kept = from_arrays.write_dataset_from_arrays(
        d, "tiny", {"train": (images + 9, [0, 0])}, ["a"], overwrite=False, log=lambda m: None
    )
    assert kept == first and {n: (tmp_path / n).read_bytes() for n in os.listdir(d)} == before


def test_output_plan_complete_is_noop_and_leftovers_are_removed(tmp_path):
    d = str(tmp_path)
    logs = []
    plan = sharded_output.OutputPlan(d, "tiny", log=logs.append)
    assert plan.prepare()  # empty dir: convert (into the staging folder)
    assert os.listdir(d) == [sharded_output.STAGING_DIRNAME]
    plan.discard()
    images = np.zeros((2, 2, 2, 1), np.uint8)
    from_arrays.write_dataset_from_arrays(d, "tiny", {"train": (images, [0, 0])}, ["a"])
    assert not plan.prepare()  # complete: nothing to do
    assert "nothing to do" in logs[-1]
    # a killed run: a half-written staging folder and a temporary shard of ours
    os.makedirs(os.path.join(d, sharded_output.STAGING_DIRNAME, "x"))
    (tmp_path / "tiny_train_00000-of-00002.tfrecord.tmp").write_bytes(b"partial")
    plan.check()
    assert "interrupted" in logs[-1]
    assert sorted(os.listdir(d)) == [
        "dataset.json",
        "labels.txt",
        "tiny_train_00000-of-00001.tfrecord",
    ]


def test_output_plan_other_name_needs_overwrite(tmp_path):
    d = str(tmp_path)
    images = np.zeros((2, 2, 2, 1), np.uint8)
    from_arrays.write_dataset_from_arrays(d, "one", {"train": (images, [0, 0])}, ["a"])
    with pytest.raises(SlimclsError, match="already holds dataset 'one'"):
        sharded_output.OutputPlan(d, "two", log=lambda m: None).prepare()
    assert sharded_output.OutputPlan(d, "one", overwrite=True, log=lambda m: None).prepare()
    assert "one_train_00000-of-00001.tfrecord" in os.listdir(d)  # kept until commit


def test_output_plan_missing_shard_means_redo(tmp_path):
    d = str(tmp_path)
    images = np.zeros((4, 2, 2, 1), np.uint8)
    from_arrays.write_dataset_from_arrays(d, "t", {"train": (images, [0] * 4)}, ["a"], 2)
    os.remove(os.path.join(d, "t_train_00001-of-00002.tfrecord"))
    plan = sharded_output.OutputPlan(d, "t", log=lambda m: None)
    assert not plan.is_complete() and plan.prepare()


def test_progress_log_lines_when_not_a_tty():
    out = io.StringIO()
    p = progress.Progress(10, "convert train", stream=out, log_every_s=0.0)
    p.update(5)
    p.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("convert train: 5/10 images (50%)")
    assert "images/s" in lines[0] and "ETA" in lines[0]
    assert "done in" in lines[-1] and "\r" not in out.getvalue()


def test_progress_bar_on_a_tty():
    out = io.StringIO()
    p = progress.Progress(4, "convert", stream=out, is_tty=True)
    p.update(4)
    p.close()
    assert out.getvalue().startswith("\r[") and "4/4" in out.getvalue()


def test_num_shards():
    assert sharded_output.default_num_shards(10, 5) == 5
    assert sharded_output.default_num_shards(2, 5) == 2
    assert sharded_output.default_num_shards(12000) == 3
    with pytest.raises(SlimclsError, match="num_shards 0"):
        sharded_output.default_num_shards(10, 0)


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (4, 3, 1), (6, 5, 3), (32, 32, 3)])
def test_encode_png_is_lossless_for_pil_and_tf(shape):
    from PIL import Image

    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    data = image_codec.encode_png(image)
    pil = np.asarray(Image.open(io.BytesIO(data)))
    np.testing.assert_array_equal(pil.reshape(shape), image)
    np.testing.assert_array_equal(tf.io.decode_png(data).numpy().reshape(shape), image)
