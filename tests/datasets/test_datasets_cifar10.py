"""Tests for datasets.convert_cifar10 on tiny generated CIFAR-10 files."""

import hashlib
import os
import pickle
import tarfile

import numpy as np
import pytest

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.datasets import convert_cifar10, dataset_factory, download
from slimcls.reader import input_pipeline

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
SIZES = {"data_batch_1": 7, "data_batch_2": 5, "test_batch": 4}


def _arrays(seed):
    rng = np.random.default_rng(seed)
    out = {}
    for batch, n in SIZES.items():
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.int64)
        out[batch] = (images, labels)
    return out


def _channel_major(images):
    return images.transpose(0, 3, 1, 2).reshape(len(images), 3072)


def make_bin(root, arrays):
    d = os.path.join(root, "cifar-10-batches-bin")
    os.makedirs(d)
    for batch, (images, labels) in arrays.items():
        raw = np.concatenate([labels.astype(np.uint8)[:, None], _channel_major(images)], axis=1)
        with open(os.path.join(d, batch + ".bin"), "wb") as f:
            f.write(raw.tobytes())
    with open(os.path.join(d, "batches.meta.txt"), "w") as f:
        f.write("\n".join(NAMES) + "\n\n")
    return d


def make_py(root, arrays):
    d = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(d)
    for batch, (images, labels) in arrays.items():
        obj = {
            b"batch_label": batch.encode(),
            b"labels": labels.tolist(),
            b"data": _channel_major(images),
            b"filenames": [b"x.png"] * len(labels),
        }
        with open(os.path.join(d, batch), "wb") as f:
            pickle.dump(obj, f, protocol=2)  # as the official files
    with open(os.path.join(d, "batches.meta"), "wb") as f:
        pickle.dump({b"label_names": [n.encode() for n in NAMES], b"num_vis": 3072}, f, protocol=2)
    return d


def _read_split(out, split):
    desc = dataset_factory.get_dataset("cifar10", split, out)
    ds = input_pipeline.make_dataset(desc, lambda x: x, 64, is_training=False)
    images, labels = zip(*[(i.numpy(), lb.numpy()) for i, lb in ds])
    return np.concatenate(images).astype(np.uint8), np.concatenate(labels), desc


def _check(out, arrays):
    images, labels, desc = _read_split(out, "train")
    want_i = np.concatenate([arrays["data_batch_1"][0], arrays["data_batch_2"][0]])
    want_l = np.concatenate([arrays["data_batch_1"][1], arrays["data_batch_2"][1]])
    np.testing.assert_array_equal(images, want_i)
    np.testing.assert_array_equal(labels, want_l)
    assert desc.splits == {"train": 12, "test": 4} and desc.labels_to_names[9] == "truck"
    images, labels, _ = _read_split(out, "test")
    np.testing.assert_array_equal(images, arrays["test_batch"][0])
    np.testing.assert_array_equal(labels, arrays["test_batch"][1])


@pytest.mark.parametrize("make", [make_bin, make_py], ids=["bin", "py"])
def test_round_trip(tmp_path, make):
    arrays = _arrays(0)
    src = make(str(tmp_path), arrays)
    out = str(tmp_path / "out")
    info = convert_cifar10.convert_cifar10(src, out, num_shards=2, num_workers=0, log=print)
    assert info["splits"] == {"train": 12, "test": 4} and info["channels"] == 3
    _check(out, arrays)


def test_archive_and_offline_download(tmp_path, monkeypatch):
    arrays = _arrays(1)
    make_bin(str(tmp_path / "src"), arrays)
    archive = str(tmp_path / "cifar-10-binary.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(str(tmp_path / "src" / "cifar-10-batches-bin"), arcname="cifar-10-batches-bin")
    md5 = hashlib.md5(open(archive, "rb").read()).hexdigest()
    # an archive given as source_dir
    out = str(tmp_path / "from_archive")
    convert_cifar10.convert_cifar10(archive, out, num_workers=2, log=print)
    _check(out, arrays)
    # no source_dir: "download" (file:// URL) into dataset_dir, verified by MD5
    fake = download.Archive("file://" + archive, "cifar-10-binary.tar.gz", md5=md5)
    monkeypatch.setattr(download, "CIFAR10_BINARY", fake)
    out = str(tmp_path / "downloaded")
    logs = []
    convert_cifar10.convert_cifar10(None, out, num_workers=0, log=logs.append)
    assert os.path.exists(os.path.join(out, "cifar-10-binary.tar.gz"))
    _check(out, arrays)
    convert_cifar10.convert_cifar10(None, out, overwrite=True, num_workers=0, log=logs.append)
    assert any("not downloading it again" in m for m in logs)


def test_bin_size_must_be_multiple_of_record(tmp_path):
    src = make_bin(str(tmp_path), _arrays(2))
    with open(os.path.join(src, "data_batch_2.bin"), "ab") as f:
        f.write(b"12345")
    with pytest.raises(SlimclsError, match=r"data_batch_2.bin has 15370 bytes, not a multiple"):
        convert_cifar10.convert_cifar10(src, str(tmp_path / "out"), num_workers=0)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_side_effects(tmp_path):
    src = make_py(str(tmp_path), _arrays(3))
    marker = tmp_path / "pwned"
    with open(os.path.join(src, "data_batch_2"), "wb") as f:
        pickle.dump({b"data": _Evil(marker), b"labels": []}, f, protocol=2)
    out = tmp_path / "out"
    with pytest.raises(SlimclsError, match=r"data_batch_2 refers to (posix|os)\.system.*refused"):
        convert_cifar10.convert_cifar10(src, str(out), num_workers=0)
    assert not marker.exists()
    assert not (out / "dataset.json").exists()
    with open(os.path.join(src, "test_batch"), "wb") as f:
        f.write(pickle.dumps(eval))  # builtins.eval
    with pytest.raises(SlimclsError, match=r"builtins\.eval"):
        convert_cifar10.load_pickle(os.path.join(src, "test_batch"))


def test_wrong_layout(tmp_path):
    with pytest.raises(SlimclsError, match="does not exist"):
        convert_cifar10.convert_cifar10(str(tmp_path / "nope"), str(tmp_path / "o"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SlimclsError, match="holds no CIFAR-10 data"):
        convert_cifar10.convert_cifar10(str(tmp_path / "empty"), str(tmp_path / "o"))


def test_decoded_png_is_lossless_in_eager_and_map():
    img = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    rec = [r for _, r, _ in convert_cifar10._encode_chunk((img, np.array([1, 2])))]
    eager = [input_pipeline.parse_example(tf.constant(r), 3)[0].numpy() for r in rec]
    np.testing.assert_array_equal(np.stack(eager), img)
