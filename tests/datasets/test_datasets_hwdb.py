"""Tests for datasets.convert_hwdb on small generated .gnt files."""

import os
import struct
import zipfile

import numpy as np
import pytest

from slimcls.core.errors import SlimclsError
from slimcls.datasets import convert_hwdb, dataset_factory
from slimcls.reader import input_pipeline

CHARS = ["啊", "阿", "埃", "挨", "哎"]


def gnt_record(char, image):
    h, w = image.shape
    return struct.pack("<I2sHH", 10 + w * h, char.encode("gb2312"), w, h) + image.tobytes()


def make_samples(seed, n, chars=CHARS):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        h, w = rng.integers(3, 9, 2)
        out.append((chars[i % len(chars)], rng.integers(0, 256, (h, w), dtype=np.uint8)))
    return out


def write_gnt(path, samples, tail=b""):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        for char, img in samples:
            f.write(gnt_record(char, img))
        f.write(tail)
    return path


def _read_all(out, split):
    desc = dataset_factory.get_dataset("hwdb", split, out)
    ds = input_pipeline.make_dataset(desc, lambda x: x, 1, is_training=False)
    return [(desc.labels_to_names[int(lb[0])], img[0, ..., 0].numpy()) for img, lb in ds]


def test_round_trip_chinese_labels(tmp_path):
    src = tmp_path / "hwdb"
    train = make_samples(0, 12) + make_samples(1, 3)
    write_gnt(str(src / "train" / "1001-c.gnt"), train[:12])
    write_gnt(str(src / "train" / "sub" / "1002-c.gnt"), train[12:])
    test = make_samples(2, 4, chars=["阿", "哎", "爱", "埃"])  # 爱 is not in train
    write_gnt(str(src / "test" / "1241-c.gnt"), test)
    out = str(tmp_path / "out")
    logs = []
    info = convert_hwdb.convert_hwdb(str(src), out, num_workers=0, num_shards=2, log=logs.append)
    assert info["splits"] == {"train": 15, "test": 3} and info["channels"] == 1
    assert info["num_classes"] == 5
    desc = dataset_factory.get_dataset("hwdb", "train", out)
    assert list(desc.labels_to_names.values()) == sorted(CHARS)
    labels_txt = open(os.path.join(out, "labels.txt"), encoding="utf-8").read()
    assert labels_txt.splitlines()[0] == f"0:{sorted(CHARS)[0]}"
    got = _read_all(out, "train")
    assert [c for c, _ in got] == [c for c, _ in train]
    for (_, a), (_, b) in zip(got, train):
        np.testing.assert_array_equal(a.astype(np.uint8), b)
    got_test = _read_all(out, "test")
    assert [c for c, _ in got_test] == ["阿", "哎", "埃"]
    assert "skipped 1 test records of characters not in train" in logs[-1]


def test_zip_layout_with_trn_tst_names(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for zname, seed in (("HWDB1.1trn_gnt.zip", 0), ("HWDB1.1tst_gnt.zip", 1)):
        g = write_gnt(str(tmp_path / f"{seed}.gnt"), make_samples(seed, 6))
        with zipfile.ZipFile(src / zname, "w") as z:
            z.write(g, f"{seed}001-c.gnt")
    out = str(tmp_path / "out")
    info = convert_hwdb.convert_hwdb(str(src), out, num_workers=2, log=lambda m: None)
    assert info["splits"] == {"train": 6, "test": 6}
    assert [c for c, _ in _read_all(out, "test")] == [c for c, _ in make_samples(1, 6)]


def test_flat_folder_holds_out_writers(tmp_path):
    for i in range(4):
        write_gnt(str(tmp_path / "src" / f"{i}.gnt"), make_samples(i, 5))
    out = str(tmp_path / "out")
    kw = dict(validation_fraction=0.25, random_seed=3, num_workers=0, log=lambda m: None)
    info = convert_hwdb.convert_hwdb(str(tmp_path / "src"), out, **kw)
    assert info["splits"] == {"train": 15, "test": 5}
    write_gnt(str(tmp_path / "one" / "0.gnt"), make_samples(0, 2))
    with pytest.raises(SlimclsError, match="holds one .gnt file"):
        convert_hwdb.convert_hwdb(str(tmp_path / "one"), str(tmp_path / "o2"), **kw)


def _corrupt_dir(tmp_path, bad_tail):
    src = tmp_path / "src"
    good = make_samples(0, 5)
    write_gnt(str(src / "train" / "a.gnt"), good, tail=bad_tail)
    write_gnt(str(src / "test" / "b.gnt"), make_samples(1, 2))
    return src, good


@pytest.mark.parametrize(
    "tail, message",
    [
        (gnt_record("啊", np.zeros((4, 4), np.uint8))[:20], "truncated record"),
        (b"\x01\x02\x03", "truncated header"),
        (struct.pack("<I2sHH", 999, "啊".encode("gb2312"), 4, 4) + bytes(16), "size field 999"),
        (struct.pack("<I2sHH", 10, "啊".encode("gb2312"), 60000, 60000), "absurd dimensions"),
    ],
)
def test_corrupt_records(tmp_path, tail, message):
    src, good = _corrupt_dir(tmp_path, tail)
    offset = sum(10 + img.size for _, img in good)
    out = str(tmp_path / "out")
    with pytest.raises(SlimclsError, match=rf"a\.gnt at byte offset {offset}: {message}"):
        convert_hwdb.convert_hwdb(str(src), out, num_workers=0, log=lambda m: None)
    assert not os.path.exists(os.path.join(out, "dataset.json"))
    logs = []
    info = convert_hwdb.convert_hwdb(
        str(src), out, skip_corrupt=True, num_workers=0, log=logs.append
    )
    assert info["splits"]["train"] == 5 and info["source"]["skipped_corrupt"] == 1
    assert "skipped 1 corrupt records" in logs[-1]


def test_skip_corrupt_resyncs_after_bad_tag(tmp_path):
    bad = struct.pack("<I2sHH", 14, b"\xff\xff", 2, 2) + bytes(4)
    path = write_gnt(str(tmp_path / "x.gnt"), make_samples(0, 1))
    with open(path, "ab") as f:
        f.write(bad + gnt_record("阿", np.ones((2, 3), np.uint8)))
    got = list(convert_hwdb.read_gnt(path, skip_corrupt=True))
    assert [c for c, _ in got] == ["啊", "阿"] and got[1][1].shape == (2, 3)
    with pytest.raises(SlimclsError, match="not a GB2312 character"):
        list(convert_hwdb.read_gnt(path))


def test_layout_errors(tmp_path):
    with pytest.raises(SlimclsError, match="is not a directory"):
        convert_hwdb.convert_hwdb(str(tmp_path / "nope"), str(tmp_path / "o"))
    (tmp_path / "e" / "train").mkdir(parents=True)
    (tmp_path / "e" / "test").mkdir()
    with pytest.raises(SlimclsError, match=r"train holds no .gnt or .zip files"):
        convert_hwdb.convert_hwdb(str(tmp_path / "e"), str(tmp_path / "o"))
