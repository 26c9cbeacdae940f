"""TF-Slim dataset directories read as they are, adopt, the mnist converter, cifar10 names,
and DatasetDataProvider (graph mode) on the descriptors get_dataset returns."""

import gzip
import logging
import os
import struct

import numpy as np
import pytest
import tf_slim as slim

from slimcls.config import ConvertConfig
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.datasets import (
    cifar10,
    convert_cifar10,
    converter,
    dataset_factory,
    dataset_utils,
    flowers,
    imagenet,
    mnist,
)
from slimcls.datasets import record_format as rf
from slimcls.datasets.image_codec import encode_png
from slimcls.reader import input_pipeline

QUIET = {"num_workers": 0, "log": lambda m: None}


def _convert(*args, **kwargs):
    """``download_and_convert_data`` with these flags, through its one way in."""
    return converter.convert(ConvertConfig(*args, **kwargs))


def _image(i, shape):
    return np.full(shape, (i * 37) % 256, np.uint8)


def _write(path, labels, shape=(32, 32, 3), fmt=b"png"):
    """TF-Slim's own record writing (image_to_tfexample), one file."""
    with tf.io.TFRecordWriter(path) as w:
        for i, label in enumerate(labels):
            data = encode_png(_image(i, shape))
            ex = dataset_utils.image_to_tfexample(data, fmt, shape[0], shape[1], label)
            w.write(ex.SerializeToString())


def _snapshot(d):
    return {n: open(os.path.join(d, n), "rb").read() for n in sorted(os.listdir(d))}


def _read_all(desc, labels_offset=0):
    ds = input_pipeline.make_dataset(
        desc, lambda x: x, 2, is_training=False, labels_offset=labels_offset
    )
    images, labels = zip(*[(i.numpy(), lb.numpy()) for i, lb in ds])
    return np.concatenate(images), np.concatenate(labels)


def _provider_read(make_desc, n):
    """Reads n (image, label) pairs through tf_slim's DatasetDataProvider in a TF1 graph."""
    out = []
    with tf.Graph().as_default():
        desc = make_desc()
        assert isinstance(desc, slim.dataset.Dataset)
        provider = slim.dataset_data_provider.DatasetDataProvider(
            desc, num_readers=1, shuffle=False, common_queue_capacity=16, common_queue_min=1
        )
        image, label = provider.get(["image", "label"])
        with tf.compat.v1.Session() as sess:
            coord = tf.compat.v1.train.Coordinator()
            threads = tf.compat.v1.train.start_queue_runners(sess, coord)
            try:
                for _ in range(n):
                    out.append(sess.run([image, label]))
            finally:
                coord.request_stop()
                coord.join(threads, stop_grace_period_secs=5)
    return out


# ------------------------------------------------------------------ TF-Slim directories


@pytest.fixture
def tfslim_cifar(tmp_path):
    d = str(tmp_path / "cifar10")
    os.makedirs(d)
    _write(os.path.join(d, "cifar10_train.tfrecord"), [3, 1, 4, 1, 5])
    _write(os.path.join(d, "cifar10_test.tfrecord"), [9, 2])
    with open(os.path.join(d, "labels.txt"), "w") as f:
        f.write("".join(f"{i}:c{i}\n" for i in range(10)))
    return d


def test_tfslim_cifar10_read_as_it_is(tfslim_cifar, caplog):
    before = _snapshot(tfslim_cifar)
    with caplog.at_level(logging.INFO, logger="slimcls.datasets"):
        desc = dataset_factory.get_dataset("cifar10", "train", tfslim_cifar)
    assert desc.num_samples == 50000 and desc.num_classes == 10 and desc.channels == 3
    assert desc.sizes_from == dataset_factory.SIZES_PUBLISHED
    assert [r.getMessage() for r in caplog.records if "published" in r.getMessage()]
    assert desc.files == (os.path.join(tfslim_cifar, "cifar10_train.tfrecord"),)
    assert desc.labels_to_names[3] == "c3"
    images, labels = _read_all(desc)
    assert labels.tolist() == [3, 1, 4, 1, 5]
    assert images[1, 0, 0, 0] == 37
    test = cifar10.get_split("test", tfslim_cifar)  # TF-Slim's module API
    assert test.num_samples == 10000 and _read_all(test)[1].tolist() == [9, 2]
    assert cifar10.SPLITS_TO_SIZES == {"train": 50000, "test": 10000}
    assert _snapshot(tfslim_cifar) == before  # nothing written
    with pytest.raises(SlimclsError, match="split 'validation'.*adopt"):
        dataset_factory.get_dataset("cifar10", "validation", tfslim_cifar)


def test_tfslim_flowers_mnist_and_missing_shard(tmp_path):
    d = str(tmp_path / "fl")
    os.makedirs(d)
    for i in range(5):
        _write(os.path.join(d, f"flowers_validation_{i:05d}-of-00005.tfrecord"), [i], (7, 9, 3))
    desc = flowers.get_split("validation", d)
    assert (desc.num_samples, desc.num_classes, len(desc.files)) == (350, 5, 5)
    assert _read_all(desc)[1].tolist() == [0, 1, 2, 3, 4]
    os.remove(os.path.join(d, "flowers_validation_00002-of-00005.tfrecord"))
    with pytest.raises(SlimclsError, match="missing 1 of 5 shards"):
        dataset_factory.get_dataset("flowers", "validation", d)

    m = str(tmp_path / "mn")
    os.makedirs(m)
    _write(os.path.join(m, "mnist_train.tfrecord"), [7, 0], (28, 28, 1))
    desc = mnist.get_split("train", m)
    assert (desc.num_samples, desc.num_classes, desc.channels) == (60000, 10, 1)
    images, labels = _read_all(desc)
    assert images.shape == (2, 28, 28, 1) and labels.tolist() == [7, 0]


def test_tfslim_imagenet_names_background_and_labels_offset(tmp_path):
    d = str(tmp_path / "imagenet-data")
    os.makedirs(d)
    for i, labels in enumerate([[1, 1000], [5]]):
        _write(os.path.join(d, f"validation-{i:05d}-of-00002"), labels, (6, 6, 3), b"png")
    desc = dataset_factory.get_dataset(None, "validation", d)  # name from the file names
    assert desc.name == "imagenet" and desc.num_classes == 1001 and desc.num_samples == 50000
    assert desc.labels_to_names == {} and desc.labels_file is None
    assert _read_all(desc, labels_offset=1)[1].tolist() == [0, 999, 4]
    desc = imagenet.get_split("validation", d)
    assert "object/bbox" in desc.decoder.list_items()


def test_any_tfslim_shards_are_counted(tmp_path):
    d = str(tmp_path / "pets")
    os.makedirs(d)
    _write(os.path.join(d, "pets_train_00000-of-00002.tfrecord"), [0, 2, 1], (4, 4, 3))
    _write(os.path.join(d, "pets_train_00001-of-00002.tfrecord"), [2], (4, 4, 3))
    _write(os.path.join(d, "pets_validation.tfrecord"), [1], (4, 4, 1))
    desc = dataset_factory.get_dataset("pets", "train", d)
    assert desc.sizes_from == dataset_factory.SIZES_COUNTED
    assert (desc.num_samples, desc.num_classes, desc.channels) == (4, 3, 3)  # largest label
    val = dataset_factory.get_dataset(None, "validation", d)
    assert (val.name, val.num_samples, val.channels) == ("pets", 1, 1)
    with open(os.path.join(d, "labels.txt"), "w") as f:
        f.write("0:a\n1:b\n2:c\n3:d\n4:e\n")
    assert dataset_factory.get_dataset("pets", "train", d).num_classes == 5  # labels.txt


def test_no_dataset_error_is_one_line_saying_what_is_there(tmp_path):
    d = str(tmp_path / "stuff")
    os.makedirs(d)
    _write(os.path.join(d, "x_train.tfrecord"), [0])
    with pytest.raises(SlimclsError) as e:
        dataset_factory.get_dataset("flowers", "train", d)
    msg = str(e.value)
    assert "\n" not in msg and "holds 1 TFRecord files (x_train.tfrecord)" in msg
    assert "--dataset_name=adopt" in msg and "dataset.json does not exist" in msg
    (tmp_path / "empty").mkdir()
    with pytest.raises(SlimclsError, match="is empty.*download_and_convert_data"):
        dataset_factory.get_dataset(None, "train", str(tmp_path / "empty"))
    ckpt = tmp_path / "run"  # a train_dir passed by mistake: checkpoints are not records
    ckpt.mkdir()
    (ckpt / "model.ckpt-2.data-00000-of-00001").write_bytes(b"x")
    (ckpt / "model.ckpt-2.index").write_bytes(b"x")
    with pytest.raises(SlimclsError, match=r"holds 2 entries but no TFRecord files \(model"):
        dataset_factory.get_dataset(None, "train", str(ckpt))
    with pytest.raises(SlimclsError, match="expected TF-Slim record files"):
        _convert("adopt", str(ckpt))


# ------------------------------------------------------------------ adopt


def test_adopt_writes_dataset_json_beside_unchanged_shards(tfslim_cifar):
    before = _snapshot(tfslim_cifar)
    info = _convert("adopt", tfslim_cifar)
    assert info["name"] == "cifar10" and info["splits"] == {"test": 2, "train": 5}
    assert info["num_classes"] == 10 and info["files"]["train"] == ["cifar10_train.tfrecord"]
    after = _snapshot(tfslim_cifar)
    assert {n: after[n] for n in before} == before  # records and labels.txt untouched
    assert set(after) - set(before) == {"dataset.json"}
    desc = dataset_factory.get_dataset("cifar10", "train", tfslim_cifar)
    assert desc.sizes_from == dataset_factory.SIZES_FROM_JSON and desc.num_samples == 5
    assert _read_all(desc)[1].tolist() == [3, 1, 4, 1, 5]


def test_adopt_imagenet_and_named_shards(tmp_path):
    d = str(tmp_path / "in")
    os.makedirs(d)
    for i in range(2):
        _write(os.path.join(d, f"train-{i:05d}-of-00002"), [i + 1, 7], (5, 5, 3))
    info = _convert("adopt", d)
    assert info["name"] == "imagenet" and info["splits"] == {"train": 4}
    assert info["file_pattern"] == "%s-*" and info["num_classes"] == 1001
    labels = rf.read_labels(os.path.join(d, "labels.txt"))  # written: there was none
    assert len(labels) == 1001
    desc = dataset_factory.get_dataset(None, "train", d)
    assert desc.num_samples == 4 and len(desc.files) == 2

    p = str(tmp_path / "my_pets")
    os.makedirs(p)
    _write(os.path.join(p, "my_pets_train_00000-of-00001.tfrecord"), [0, 4], (5, 5, 3))
    _write(os.path.join(p, "other_train.tfrecord"), [0], (5, 5, 3))
    with pytest.raises(SlimclsError, match="several datasets"):
        _convert("adopt", p)
    info = _convert("adopt", p, output_name="my_pets")
    assert info["splits"] == {"train": 2} and info["num_classes"] == 5
    assert info["file_pattern"] == "my_pets_%s_*.tfrecord"
    assert dataset_factory.get_dataset("my_pets", "train", p).num_samples == 2


# ------------------------------------------------------------------ DatasetDataProvider


def test_dataset_data_provider_reads_tfslim_and_converted_dirs(tfslim_cifar, tmp_path):
    got = _provider_read(lambda: cifar10.get_split("train", tfslim_cifar), 5)
    assert [int(lb) for _, lb in got] == [3, 1, 4, 1, 5]
    assert got[1][0].shape == (32, 32, 3) and got[1][0][0, 0, 0] == 37

    out = str(tmp_path / "conv")
    images = np.stack([_image(i, (3, 4, 1)) for i in range(3)])
    dataset_utils.write_dataset_from_arrays(out, "tiny", {"train": (images, [2, 0, 1])}, "abc")
    got = _provider_read(lambda: dataset_factory.get_dataset("tiny", "train", out), 3)
    assert [int(lb) for _, lb in got] == [2, 0, 1]
    assert got[2][0].shape == (3, 4, 1) and got[2][0][0, 0, 0] == 74


# ------------------------------------------------------------------ converters' file names


def test_cifar10_converter_writes_tfslim_names(tmp_path):
    src = tmp_path / "cifar-10-batches-bin"
    src.mkdir()
    (src / "batches.meta.txt").write_text("".join(f"k{i}\n" for i in range(10)))
    rng = np.random.default_rng(0)
    for n, count in (("data_batch_1.bin", 3), ("test_batch.bin", 2)):
        recs = [
            bytes([i % 10]) + rng.integers(0, 256, 3072, np.uint8).tobytes() for i in range(count)
        ]
        (src / n).write_bytes(b"".join(recs))
    out = str(tmp_path / "out")
    convert_cifar10.convert_cifar10(str(src), out, num_workers=0, log=lambda m: None)
    names = sorted(os.listdir(out))
    assert "cifar10_train.tfrecord" in names and "cifar10_test.tfrecord" in names
    assert not [n for n in names if "-of-" in n]
    desc = cifar10.get_split("train", out)  # dataset.json wins over published sizes
    assert desc.num_samples == 3 and desc.sizes_from == dataset_factory.SIZES_FROM_JSON
    assert _read_all(desc)[1].tolist() == [0, 1, 2]
    got = _provider_read(lambda: cifar10.get_split("test", out), 2)
    assert [int(lb) for _, lb in got] == [0, 1]


def _idx(path, arr, magic, gz):
    data = struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)


def _mnist_source(d, gz, n_train=5, n_test=3):
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(1)
    arrays = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        ext = ".gz" if gz else ""
        _idx(os.path.join(d, f"{prefix}-images-idx3-ubyte{ext}"), images, 2051, gz)
        _idx(os.path.join(d, f"{prefix}-labels-idx1-ubyte{ext}"), labels, 2049, gz)
        arrays[split] = (images, labels)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_converter_from_idx_files(tmp_path, gz):
    src = str(tmp_path / "src")
    arrays = _mnist_source(src, gz)
    out = str(tmp_path / "mnist")
    info = _convert("mnist", out, src, num_workers=0)
    assert info["splits"] == {"train": 5, "test": 3} and info["channels"] == 1
    assert {"mnist_train.tfrecord", "mnist_test.tfrecord"} <= set(os.listdir(out))
    assert rf.read_labels(os.path.join(out, "labels.txt"))[9] == "nine"
    for split, (images, labels) in arrays.items():
        got_i, got_l = _read_all(mnist.get_split(split, out))
        np.testing.assert_array_equal(got_i[..., 0], images)
        np.testing.assert_array_equal(got_l, labels)


def test_mnist_bad_input(tmp_path):
    src = str(tmp_path / "src")
    _mnist_source(src, gz=False)
    os.remove(os.path.join(src, "t10k-labels-idx1-ubyte"))
    with pytest.raises(SlimclsError, match="lacks t10k-labels-idx1-ubyte"):
        _convert("mnist", str(tmp_path / "o1"), src, num_workers=0)
    _mnist_source(src, gz=False, n_test=4)  # labels now 4, images 4: fine; break the magic
    path = os.path.join(src, "t10k-images-idx3-ubyte")
    data = bytearray(open(path, "rb").read())
    data[3] = 1
    open(path, "wb").write(bytes(data))
    with pytest.raises(SlimclsError, match="magic number 2049; expected 2051"):
        _convert("mnist", str(tmp_path / "o2"), src, num_workers=0)
    _mnist_source(src, gz=False, n_test=4)
    with open(path, "ab") as f:
        f.write(b"x")
    with pytest.raises(SlimclsError, match="data bytes; expected 3136"):
        _convert("mnist", str(tmp_path / "o3"), src, num_workers=0)


def test_mnist_download_verifies_checksums(tmp_path):
    mirror = str(tmp_path / "mirror")
    _mnist_source(mirror, gz=True)  # generated files: not the published checksums
    out = str(tmp_path / "out")
    with pytest.raises(SlimclsError, match="expected 9912422"):
        _convert("mnist", out, None, download_url="file://" + mirror, num_workers=0)
    assert not os.path.exists(os.path.join(out, "dataset.json"))
