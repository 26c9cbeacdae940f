"""Tests for datasets.download: offline downloads (file:// URLs) and safe extraction."""

import hashlib
import io
import os
import tarfile
import zipfile

import pytest

from slimcls.core.errors import SlimclsError
from slimcls.datasets import download


def _file(tmp_path, data=b"hello archive"):
    p = tmp_path / "src.bin"
    p.write_bytes(data)
    return p, hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()


def test_download_verifies_and_skips_when_present(tmp_path):
    src, md5, sha = _file(tmp_path)
    a = download.Archive("file://" + str(src), "a.bin", md5=md5, sha256=sha, size=13)
    logs = []
    path = download.download(a, str(tmp_path / "dl"), log=logs.append)
    assert open(path, "rb").read() == b"hello archive"
    src.write_bytes(b"changed upstream")  # not fetched again
    assert download.download(a, str(tmp_path / "dl"), log=logs.append) == path
    assert "not downloading it again" in logs[-1]


def test_download_bad_checksum_leaves_nothing(tmp_path):
    src, _, _ = _file(tmp_path)
    a = download.Archive("file://" + str(src), "a.bin", md5="0" * 32)
    with pytest.raises(SlimclsError, match="md5 .* expected 0000"):
        download.download(a, str(tmp_path / "dl"), log=lambda m: None)
    assert os.listdir(tmp_path / "dl") == []
    with pytest.raises(SlimclsError, match="cannot download"):
        download.download(
            download.Archive("file:///no/such/file", "b.bin"), str(tmp_path), log=lambda m: None
        )


def test_known_archives():
    assert download.CIFAR10_BINARY.md5 == "c32a1d4ab5d03f1284b67883e8d87530"
    assert download.CIFAR10_PYTHON.md5 == "c58f30108f718f92721af3b95e74349a"
    assert download.FLOWERS.url.endswith("flower_photos.tgz")


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return str(path)


def _reg(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def test_safe_extract_ok(tmp_path):
    arc = _tar(tmp_path / "ok.tgz", [_reg("d/a.txt", b"A"), _link("d/l", "a.txt")])
    out = download.safe_extract(arc, str(tmp_path / "out"))
    assert open(os.path.join(out, "d", "a.txt"), "rb").read() == b"A"


@pytest.mark.parametrize(
    "member, message",
    [
        (_reg("../evil.txt"), "outside"),
        (_reg("/tmp/abs_evil.txt"), "outside"),
        (_reg("d/../../evil.txt"), "outside"),
        (_link("d/l", "/etc/passwd"), "links to '/etc/passwd'"),
        (_link("d/l", "../../x"), "links to"),
        (_link("d/h", "../x", tarfile.LNKTYPE), "links to"),
    ],
)
def test_safe_extract_refuses_escapes(tmp_path, member, message):
    arc = _tar(tmp_path / "bad.tgz", [_reg("d/ok.txt"), member])
    target = tmp_path / "deep" / "out"
    with pytest.raises(SlimclsError, match=message):
        download.safe_extract(arc, str(target))
    assert not list(target.rglob("*"))  # checked before anything is written
    assert not (tmp_path / "deep" / "evil.txt").exists()


def test_safe_extract_zip(tmp_path):
    good, bad = tmp_path / "g.zip", tmp_path / "b.zip"
    with zipfile.ZipFile(good, "w") as z:
        z.writestr("x/y.txt", "ok")
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("../../zip_evil.txt", "no")
    download.safe_extract(str(good), str(tmp_path / "g"))
    assert (tmp_path / "g" / "x" / "y.txt").read_text() == "ok"
    with pytest.raises(SlimclsError, match="outside"):
        download.safe_extract(str(bad), str(tmp_path / "b"))
    assert not (tmp_path.parent / "zip_evil.txt").exists()
