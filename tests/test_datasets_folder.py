"""Tests for datasets.convert_folder on small generated image folders."""

import io
import os

import numpy as np
import pytest
from PIL import Image

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.datasets import convert_folder, dataset_factory


def _save(path, img, fmt, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img.save(path, format=fmt, **kw)
    return open(path, "rb").read()


def _records(desc):
    out = {}
    for f in desc.files:
        for rec in tf.data.TFRecordDataset(f):
            feat = tf.train.Example.FromString(rec.numpy()).features.feature
            enc = feat["image/encoded"].bytes_list.value[0]
            fmt = feat["image/format"].bytes_list.value[0].decode()
            w = feat["image/width"].int64_list.value[0]
            h = feat["image/height"].int64_list.value[0]
            label = feat["image/class/label"].int64_list.value[0]
            out[w] = (enc, fmt, h, label)
    return out


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """One class folder per kind of input; every image has a distinct width to find it."""
    src = str(tmp_path_factory.mktemp("src") / "zoo")
    rng = np.random.default_rng(0)
    rgb = lambda w: rng.integers(0, 256, (5, w, 3), dtype=np.uint8)  # noqa: E731
    expect = {}  # width -> ("bytes", original) | ("array", expected uint8 HxWx3), label
    a, b = os.path.join(src, "a"), os.path.join(src, "b")
    data = _save(f"{a}/1.jpg", Image.fromarray(rgb(11)), "JPEG")
    expect[11] = ("bytes", data, 0)
    data = _save(f"{a}/nested/deeper/2.png", Image.fromarray(rgb(12)), "PNG")
    expect[12] = ("bytes", data, 0)
    rgba = rng.integers(0, 256, (5, 13, 4), dtype=np.uint8)
    _save(f"{a}/3.png", Image.fromarray(rgba, "RGBA"), "PNG")
    alpha = rgba[..., 3:].astype(np.float64) / 255
    expect[13] = ("array", np.round(rgba[..., :3] * alpha + 255 * (1 - alpha)), 0)
    g16 = rng.integers(0, 65536, (5, 14), dtype=np.uint16)
    data = _save(f"{a}/4.png", Image.fromarray(g16), "PNG")
    assert data[24] == 16  # really a 16-bit PNG
    expect[14] = ("array", np.repeat(np.round(g16 / 257.0)[..., None], 3, axis=2), 0)
    cmyk = Image.fromarray(rgb(15)).convert("CMYK")
    _save(f"{b}/5.jpg", cmyk, "JPEG", quality=95)
    expect[15] = ("array", np.asarray(Image.open(f"{b}/5.jpg").convert("RGB")), 1)
    pal = Image.fromarray(rgb(16)).convert("P")
    _save(f"{b}/6.gif", pal, "GIF")
    expect[16] = ("array", np.asarray(Image.open(f"{b}/6.gif").convert("RGB")), 1)
    _save(f"{b}/7.bmp", Image.fromarray(rgb(17)), "BMP")
    expect[17] = ("array", np.asarray(Image.open(f"{b}/7.bmp").convert("RGB")), 1)
    _save(f"{b}/8.webp", Image.fromarray(rgb(18)), "WEBP", lossless=True)
    expect[18] = ("array", np.asarray(Image.open(f"{b}/8.webp").convert("RGB")), 1)
    data = _save(f"{b}/9.jpg", Image.fromarray(rgb(19)[..., 0]), "JPEG")
    expect[19] = ("bytes", data, 1)
    mpo = os.path.join(b, "10.jpg")  # cameras write JPEGs as MPO (several pictures)
    Image.fromarray(rgb(20)).save(
        mpo, "MPO", save_all=True, append_images=[Image.new("RGB", (20, 5))]
    )
    assert Image.open(mpo).format == "MPO"
    expect[20] = ("bytes", open(mpo, "rb").read(), 1)
    # rejected: truncated JPEG, text file; ignored: hidden file and folder
    good = io.BytesIO()
    Image.fromarray(rgb(40)).save(good, "JPEG")
    with open(f"{b}/broken.jpg", "wb") as f:
        f.write(good.getvalue()[: len(good.getvalue()) // 2])
    with open(f"{b}/notes.txt", "w") as f:
        f.write("not an image")
    with open(f"{b}/.DS_Store", "wb") as f:
        f.write(b"\0\0junk")
    os.makedirs(f"{b}/.cache")
    _save(f"{b}/.cache/x.png", Image.fromarray(rgb(41)), "PNG")
    return src, expect


def test_round_trip_and_normalisation(zoo, tmp_path):
    src, expect = zoo
    out = str(tmp_path / "out")
    logs = []
    info = convert_folder.convert_folder(
        src, out, validation_fraction=0.0, num_workers=0, log=logs.append
    )
    assert info["name"] == "zoo" and info["splits"] == {"train": 10} and info["channels"] == 3
    desc = dataset_factory.get_dataset("zoo", "train", out)
    assert desc.labels_to_names == {0: "a", 1: "b"}
    recs = _records(desc)
    assert sorted(recs) == sorted(expect)
    for width, (kind, want, label) in expect.items():
        enc, fmt, h, got_label = recs[width]
        assert got_label == label and h == 5
        if kind == "bytes":
            assert enc == want, width  # JPEG/PNG kept as they were
        else:
            assert fmt == "png", width
            got = tf.io.decode_image(enc, channels=3).numpy().astype(int)
            assert np.abs(got - np.asarray(want).astype(int)).max() <= 1, width
    rejected = open(os.path.join(out, "rejected.txt"), encoding="utf-8").read().splitlines()
    assert sorted(r.split("\t")[0] for r in rejected) == ["b/broken.jpg", "b/notes.txt"]
    assert "not an image" in [r for r in rejected if "notes" in r][0]
    summary = logs[-1]
    assert "train: 10 images" in summary and "rejected: 2 files" in summary


def test_grayscale(zoo, tmp_path):
    src, expect = zoo
    out = str(tmp_path / "gray")
    info = convert_folder.convert_folder(
        src,
        out,
        name="zoo_gray",
        validation_fraction=0.0,
        grayscale=True,
        num_workers=0,
        log=lambda m: None,
    )
    assert info["channels"] == 1
    recs = _records(dataset_factory.get_dataset("zoo_gray", "train", out))
    assert recs[19][0] == expect[19][1]  # an L JPEG stays as is
    assert recs[11][1] == "png"  # an RGB JPEG becomes grey PNG
    assert tf.io.decode_image(recs[11][0]).shape == (5, 11, 1)


def test_stratified_deterministic_split_and_rerun(tmp_path):
    src = tmp_path / "shapes"
    for c, n, w0 in (("circle", 10, 1), ("square", 20, 20)):
        for i in range(n):
            _save(str(src / c / f"{i}.png"), Image.new("L", (w0 + i, 3), i), "PNG")
    out = str(tmp_path / "out")
    kw = dict(validation_fraction=0.2, random_seed=7, log=lambda m: None)
    info = convert_folder.convert_folder(str(src), out, num_workers=2, num_shards=2, **kw)
    assert info["splits"] == {"train": 24, "validation": 6}
    val = _records(dataset_factory.get_dataset(None, "validation", out))
    assert sorted(label for *_, label in val.values()) == [0, 0, 1, 1, 1, 1]
    again = str(tmp_path / "again")
    convert_folder.convert_folder(str(src), again, num_workers=0, num_shards=2, **kw)
    for split in ("train", "validation"):
        a = dataset_factory.get_dataset(None, split, out).files
        b = dataset_factory.get_dataset(None, split, again).files
        for fa, fb in zip(a, b):
            assert open(fa, "rb").read() == open(fb, "rb").read()
    # a re-run over complete output does nothing and says so
    logs = []
    mtime = os.path.getmtime(os.path.join(out, "dataset.json"))
    convert_folder.convert_folder(str(src), out, num_workers=0, **{**kw, "log": logs.append})
    assert "nothing to do" in logs[-1]
    assert os.path.getmtime(os.path.join(out, "dataset.json")) == mtime


def test_errors(tmp_path):
    with pytest.raises(SlimclsError, match="is not a directory"):
        convert_folder.convert_folder(str(tmp_path / "missing"), str(tmp_path / "o"))
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "x.jpg").write_bytes(b"")
    with pytest.raises(SlimclsError, match="no class sub-folders"):
        convert_folder.convert_folder(str(tmp_path / "flat"), str(tmp_path / "o"))
    src = tmp_path / "src"
    _save(str(src / "full" / "1.png"), Image.new("RGB", (2, 2)), "PNG")
    (src / "empty").mkdir()
    (src / "empty" / ".hidden").write_bytes(b"")
    with pytest.raises(SlimclsError, match=r"class folder .*empty holds no files"):
        convert_folder.convert_folder(str(src), str(tmp_path / "o"))
    with pytest.raises(SlimclsError, match="validation_fraction 1.5"):
        convert_folder.split_files({"a": ["x"]}, ["a"], 1.5, 0)


def test_bad_source_keeps_previous_output(tmp_path):
    src = tmp_path / "pics"
    _save(str(src / "a" / "1.png"), Image.new("RGB", (2, 2)), "PNG")
    out = str(tmp_path / "out")
    quiet = dict(num_workers=0, log=lambda m: None)
    convert_folder.convert_folder(str(src), out, validation_fraction=0, **quiet)
    (src / "b").mkdir()  # an empty class folder: an error, and the old output stays
    with pytest.raises(SlimclsError, match="holds no files"):
        convert_folder.convert_folder(str(src), out, overwrite=True, **quiet)
    assert dataset_factory.get_dataset("pics", "train", out).num_samples == 1
