"""Tests for datasets.convert_folder on small generated image folders."""

import contextlib
import io
import os
import signal

import numpy as np
import pytest
from PIL import Image

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.datasets import convert_folder, dataset_factory, file_walk


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


# ------------------------------------------------------------------ pre-split folders


def test_presplit_folder_keeps_its_splits(tmp_path):
    src = tmp_path / "animals"
    layout = {"train": {"cat": 3, "dog": 2}, "val": {"cat": 1, "eel": 1}, "test": {"dog": 2}}
    width = iter(range(1, 100))
    made = {}  # width -> (split, class)
    for folder, classes in layout.items():
        for c, n in classes.items():
            for i in range(n):
                w = next(width)
                _save(str(src / folder / c / f"{i}.png"), Image.new("RGB", (w, 2)), "PNG")
                made[w] = ({"val": "validation"}.get(folder, folder), c)
    out = str(tmp_path / "out")
    logs = []
    info = convert_folder.convert_folder(str(src), out, num_workers=0, log=logs.append)
    assert info["splits"] == {"train": 5, "validation": 2, "test": 2}
    assert info["source"]["layout"] == "pre-split"
    names = ["cat", "dog", "eel"]  # union of every split's classes, sorted
    assert dataset_factory.get_dataset(None, "train", out).labels_to_names == dict(enumerate(names))
    for split in ("train", "validation", "test"):
        recs = _records(dataset_factory.get_dataset(None, split, out))
        assert {w: (split, names[r[3]]) for w, r in recs.items()} == {
            w: v for w, v in made.items() if v[0] == split
        }
    summary = logs[-1]
    assert "pre-split folder" in summary
    assert "warning: train has no image of classes ['eel']" in summary
    assert "warning: test has no image of classes ['cat', 'eel']" in summary


def test_plain_folder_with_a_class_named_train_is_not_presplit(tmp_path):
    src = tmp_path / "s"
    _save(str(src / "train" / "1.png"), Image.new("RGB", (2, 2)), "PNG")
    _save(str(src / "test" / "1.png"), Image.new("RGB", (3, 2)), "PNG")
    assert convert_folder.find_presplit(str(src)) is None  # no class sub-folders inside
    info = convert_folder.convert_folder(
        str(src), str(tmp_path / "o"), validation_fraction=0, num_workers=0, log=lambda m: None
    )
    assert info["num_classes"] == 2 and info["source"]["layout"] == "classes"


# ------------------------------------------------------------------ hostile folders


def _png(path, w):
    _save(path, Image.new("RGB", (w, 2), (w, 0, 0)), "PNG")


@pytest.fixture
def hostile(tmp_path):
    """Symlink loops, a hard link and a symlink to one file, a FIFO named x.png, a link to
    /dev/zero named z.png, a non-UTF-8 name, a too-large file."""
    src = tmp_path / "hostile"
    a, b = src / "a", src / "b"
    _png(str(a / "1.png"), 1)
    _png(str(a / "sub" / "2.png"), 2)
    _png(str(b / "3.png"), 3)
    os.symlink("..", a / "sub" / "up")  # loop: a/sub/up -> a
    os.symlink(".", a / "self")  # loop: a/self -> a
    os.symlink(str(src), b / "root")  # loop through the source folder itself
    os.symlink(str(a / "sub"), b / "alias")  # a second way into a/sub
    os.link(a / "1.png", b / "hard.png")  # two paths, one inode
    os.symlink(str(b / "3.png"), b / "soft.png")
    os.mkfifo(b / "x.png")
    os.symlink("/dev/zero", b / "z.png")
    raw = os.path.join(os.fsencode(str(b)), b"caf\xe9-\xff.png")  # Latin-1, not UTF-8
    with open(raw, "wb") as f:
        f.write(_save(str(tmp_path / "tmp4.png"), Image.new("RGB", (4, 2)), "PNG"))
    big = _save(str(b / "big.png"), Image.new("RGB", (300, 300), (1, 2, 3)), "PNG")
    return src, len(big)


@contextlib.contextmanager
def _no_hang(seconds=120):
    """Fails instead of hanging when something opens the FIFO or reads /dev/zero."""

    def boom(*_):
        raise TimeoutError("the walk or a read blocked (FIFO or device opened?)")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_walk_follows_each_real_dir_once_and_skips_special_files(hostile):
    src, _ = hostile
    skipped = []
    with _no_hang():
        classes, files = convert_folder.list_classes(str(src), skipped)
    assert classes == ["a", "b"]
    real = {os.stat(p).st_ino for p in files["a"] + files["b"]}
    assert len(real) == len(files["a"]) + len(files["b"])  # no file twice
    assert len(real) == 5  # 1, 2, 3, the non-UTF-8 one, big
    reasons = {os.path.basename(sk.path): sk.reason for sk in skipped}
    assert reasons["x.png"] == "a FIFO; not read"
    assert reasons["z.png"] == "a character device; not read"
    dupes = [n for n, r in reasons.items() if "counted once" in r]
    assert sorted(dupes) in (["hard.png", "soft.png"], ["1.png", "soft.png"])
    odd = [p for p in files["b"] if file_walk.is_undecodable(p)]
    assert len(odd) == 1 and os.path.exists(odd[0])  # the real bytes, found again
    assert file_walk.display_name(odd[0]).endswith("caf\\xe9-\\xff.png")


def test_hostile_folder_converts_and_reports(hostile, tmp_path):
    src, big = hostile
    out = str(tmp_path / "out")
    logs = []
    with _no_hang():
        info = convert_folder.convert_folder(
            str(src),
            out,
            validation_fraction=0,
            num_workers=0,
            max_file_bytes=big - 1,
            log=logs.append,
        )
    assert info["splits"] == {"train": 4}  # 1, 2, 3, non-UTF-8; big rejected
    widths = sorted(_records(dataset_factory.get_dataset(None, "train", out)))
    assert widths == [1, 2, 3, 4]
    rejected = open(os.path.join(out, "rejected.txt"), encoding="utf-8").read()
    assert "b/x.png\ta FIFO; not read" in rejected
    assert "b/z.png\ta character device; not read" in rejected
    assert f"b/big.png\t{big} bytes, above --max_file_bytes {big - 1}" in rejected
    assert "counted once" in rejected
    summary = logs[-1]
    assert "1 file names are not UTF-8" in summary and "counted once" in summary
    json_text = open(os.path.join(out, "dataset.json"), encoding="utf-8").read()
    assert "hostile" in json_text


def test_classify_expand_inputs_on_hostile_folder(hostile):
    from slimcls.inference import classify

    src, _ = hostile
    with _no_hang():
        paths = classify.expand_inputs([str(src)])
        names = [os.path.basename(p) for p in paths]
        assert len(paths) == len(set(paths))
        assert names.count("2.png") == 1 and names.count("1.png") + names.count("hard.png") == 1
        assert "x.png" in names and "z.png" in names  # kept, to be reported in their place
        for special in ("x.png", "z.png"):
            with pytest.raises(file_walk.NotRegular):
                file_walk.read_file(str(src / "b" / special))
        with pytest.raises(file_walk.TooLarge, match="above --max_file_bytes 10"):
            file_walk.read_file(str(src / "a" / "1.png"), max_bytes=10)


# ------------------------------------------------------------------ issue 21: names, counts


def _two_classes(src, n=3):
    for c in ("cat", "dog"):
        for i in range(n):
            _save(str(src / c / f"{i}.png"), Image.new("RGB", (i + 1, 2)), "PNG")


def test_class_folder_named_with_non_utf8_bytes_becomes_an_escaped_label(tmp_path):
    src = tmp_path / "src"
    _two_classes(src)
    odd = os.path.join(os.fsencode(src), b"cl\xff\xfe")
    os.makedirs(odd)
    for i in range(2):
        Image.new("RGB", (7 + i, 2)).save(os.path.join(odd, b"%d.png" % i), "PNG")
    out = str(tmp_path / "out")
    info = convert_folder.convert_folder(
        str(src), out, validation_fraction=0, num_workers=0, log=lambda m: None
    )
    assert info["num_classes"] == 3 and info["splits"] == {"train": 8}
    desc = dataset_factory.get_dataset(None, "train", out)
    assert desc.labels_to_names == {0: "cat", 1: "cl\\xff\\xfe", 2: "dog"}  # UTF-8 text
    assert sorted(w for w, r in _records(desc).items() if r[3] == 1) == [7, 8]


def test_class_names_that_collide_once_escaped_are_refused(tmp_path):
    src = tmp_path / "src"
    _two_classes(src)
    for name in (b"a\xff", b"a\\xff"):  # bytes ff, and a folder literally named "a\xff"
        folder = os.path.join(os.fsencode(src), name)
        os.makedirs(folder)
        Image.new("RGB", (3, 3)).save(os.path.join(folder, b"1.png"), "PNG")
    with pytest.raises(SlimclsError, match=r"same class name 'a\\\\xff'.*rename one"):
        convert_folder.convert_folder(str(src), str(tmp_path / "out"), num_workers=0)
    assert not os.path.exists(tmp_path / "out")


def test_class_folder_of_only_unreadable_files_is_an_error_naming_it(tmp_path):
    src = tmp_path / "src"
    _two_classes(src)
    (src / "eel").mkdir()
    (src / "eel" / "1.png").write_bytes(b"not an image")
    (src / "eel" / "2.jpg").write_bytes(b"\xff\xd8\xff truncated")
    out = tmp_path / "out"
    with pytest.raises(SlimclsError) as e:
        convert_folder.convert_folder(
            str(src), str(out), validation_fraction=0, num_workers=0, log=lambda m: None
        )
    message = str(e.value)
    assert message.startswith(f"class folder eel of {src} has no decodable image for train")
    assert "all 2 of its files were rejected (e.g. eel/1.png: " in message and "\n" not in message
    assert not out.exists()  # nothing written, not even the folder


def test_progress_counts_only_the_images_kept(tmp_path):
    src = tmp_path / "src"
    _two_classes(src)
    (src / "cat" / "bad.png").write_bytes(b"not an image")
    stream = io.StringIO()
    convert_folder.convert_folder(
        str(src),
        str(tmp_path / "out"),
        validation_fraction=0,
        num_workers=0,
        log=lambda m: None,
        progress_stream=stream,
    )
    line = stream.getvalue().strip().splitlines()[-1]
    assert line.startswith("src train: 6/7 images, 1 rejected (100%)"), line
