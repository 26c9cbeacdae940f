"""Downloading archives (progress, checksum, skip when present) and extracting them safely.

Archives come from the network and are untrusted: :func:`safe_extract` refuses any member
that would land outside the target directory (absolute names, ``..``), links pointing
outside it, and devices/FIFOs, before it writes anything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.core.fileio import TMP_SUFFIX
from slimcls.datasets import record_format as rf
from slimcls.datasets.progress import Progress


@dataclasses.dataclass(frozen=True)
class Archive:
    """A downloadable file and what we know to verify it (any of md5, sha256, size)."""

    url: str
    filename: str
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None


#: TensorFlow's flowers archive (as in TF-Slim's download_and_convert_flowers.py). Its size
#: is the one the TensorFlow tutorials report; no published digest is known to us.
FLOWERS = Archive(
    url="https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz",
    filename="flower_photos.tgz",
    size=228813984,
)

#: The official CIFAR-10 binary version (no pickles to trust), MD5 from the CIFAR page.
CIFAR10_BINARY = Archive(
    url="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    filename="cifar-10-binary.tar.gz",
    md5="c32a1d4ab5d03f1284b67883e8d87530",
)

#: The Python version (pickles), MD5 from the CIFAR page.
CIFAR10_PYTHON = Archive(
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    filename="cifar-10-python.tar.gz",
    md5="c58f30108f718f92721af3b95e74349a",
    size=170498071,
)

_BLOCK = 1 << 20


def _digests(path: str) -> tuple[str, str, int]:
    md5, sha = hashlib.md5(), hashlib.sha256()
    size = 0
    with tf.io.gfile.GFile(path, "rb") as f:
        while block := f.read(_BLOCK):
            md5.update(block)
            sha.update(block)
            size += len(block)
    return md5.hexdigest(), sha.hexdigest(), size


def verify(path: str, archive: Archive) -> None:
    """Raises SlimclsError when ``path`` does not match the archive's known checksums."""
    md5, sha, size = _digests(path)
    for what, got, want in (
        ("size", size, archive.size),
        ("md5", md5, archive.md5),
        ("sha256", sha, archive.sha256),
    ):
        if want is not None and got != want:
            raise SlimclsError(
                f"{path} has {what} {got}; expected {want} for {archive.url} (a damaged or "
                "different file: delete it to download again)"
            )


def download(
    archive: Archive,
    dest_dir: str,
    *,
    url: str | None = None,
    log: Callable[[str], None] | None = None,
    progress_stream=None,
) -> str:
    """Downloads ``archive`` into ``dest_dir`` unless present; verifies it; returns its path.

    Args:
      archive: what to download and how to verify it.
      dest_dir: local directory or ``tf.io.gfile`` URL.
      url: overrides ``archive.url`` (mirrors; tests use ``file://`` URLs).
      log: where messages go (default: stderr).

    Raises:
      SlimclsError: network errors, or a checksum that does not match.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    url = url or archive.url
    path = rf.join(dest_dir, archive.filename)
    if tf.io.gfile.exists(path):
        verify(path, archive)
        log(f"{path} is already present and verified; not downloading it again")
        return path
    tf.io.gfile.makedirs(dest_dir)
    tmp = path + TMP_SUFFIX
    log(f"downloading {url} to {path}")
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else archive.size
            mib = (total + _BLOCK - 1) // _BLOCK if total else None
            progress = Progress(mib, archive.filename, stream=progress_stream, unit="MiB")
            with tf.io.gfile.GFile(tmp, "wb") as out:
                while block := response.read(_BLOCK):
                    out.write(block)
                    progress.update(len(block) / _BLOCK)
            progress.close()
    except (urllib.error.URLError, OSError, ValueError) as e:
        if tf.io.gfile.exists(tmp):
            tf.io.gfile.remove(tmp)
        raise SlimclsError(f"cannot download {url}: {e}") from None
    try:
        verify(tmp, archive)
    except SlimclsError as e:
        tf.io.gfile.remove(tmp)
        raise SlimclsError(f"download of {url} is damaged: {e}") from None
    tf.io.gfile.rename(tmp, path, overwrite=True)
    return path


# --------------------------------------------------------------------------- extraction


def _inside(target: str, path: str) -> bool:
    target = os.path.realpath(target)
    return os.path.commonpath([target, os.path.realpath(path)]) == target


def _check_member_name(archive_path: str, name: str, target: str) -> str:
    dest = os.path.join(target, name)
    if os.path.isabs(name) or name.startswith(("/", "\\")) or not _inside(target, dest):
        raise SlimclsError(
            f"archive {archive_path} member {name!r} would be written outside {target}; "
            "refusing to extract it"
        )
    return dest


def check_tar_members(archive_path: str, tar: tarfile.TarFile, target: str) -> list:
    """The archive's members, after refusing (SlimclsError) any that would land outside
    ``target`` (absolute, ``..``), link outside it, or is a device or FIFO."""
    members = []
    for m in tar.getmembers():
        dest = _check_member_name(archive_path, m.name, target)
        if m.issym() or m.islnk():
            base = os.path.dirname(dest) if m.issym() else target
            link_dest = os.path.join(base, m.linkname)
            if os.path.isabs(m.linkname) or not _inside(target, link_dest):
                raise SlimclsError(
                    f"archive {archive_path} member {m.name!r} links to {m.linkname!r} outside "
                    f"{target}; refusing to extract it"
                )
        elif not (m.isfile() or m.isdir()):
            raise SlimclsError(
                f"archive {archive_path} member {m.name!r} is a device or FIFO; expected only "
                "files, folders and links"
            )
        members.append(m)
    return members


def safe_extract(archive_path: str, target: str) -> str:
    """Extracts a ``.tar``, ``.tar.gz``/``.tgz`` or ``.zip`` archive into local ``target``.

    Every member is checked before anything is written. Returns ``target``.

    Raises:
      SlimclsError: a member escaping ``target`` (absolute path, ``..``, a link outside),
        a special file, or an unreadable archive.
    """
    os.makedirs(target, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive_path):
            with zipfile.ZipFile(archive_path) as zf:
                for info in zf.infolist():
                    _check_member_name(archive_path, info.filename, target)
                    mode = info.external_attr >> 16
                    if stat.S_ISLNK(mode):
                        raise SlimclsError(
                            f"archive {archive_path} member {info.filename!r} is a symbolic "
                            "link; refusing to extract it"
                        )
                zf.extractall(target)
            return target
        with tarfile.open(archive_path) as tar:
            members = check_tar_members(archive_path, tar, target)
            if hasattr(tarfile, "data_filter"):  # Python's own check on top of ours
                tar.extractall(target, members=members, filter="data")
            else:
                tar.extractall(target, members=members)
        return target
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise SlimclsError(f"cannot extract {archive_path}: {e}") from None
