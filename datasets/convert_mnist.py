"""Converts MNIST's four IDX files (gzipped or not) to TF-Slim's MNIST TFRecords.

Output as TF-Slim's ``download_and_convert_mnist`` names it: ``mnist_train.tfrecord``
(60,000) and ``mnist_test.tfrecord`` (10,000), images 28x28x1 PNG, ``labels.txt`` with
``zero`` ... ``nine``, so TF-Slim's own ``mnist`` reader finds them (``--num_shards`` > 1
writes numbered shards instead). ``--source_dir`` holds ``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``,
each optionally ``.gz``; without it the gzipped files are downloaded into ``dataset_dir``
(checksums verified, not again when present). The files are untrusted: magic numbers,
dimensions, sizes and labels are checked before anything is written.
"""

from __future__ import annotations

import gzip
import io
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.datasets import download
from slimcls.datasets import record_format as rf
from slimcls.datasets.converter import ConversionPlan, Converter, Encoded, SplitPlan, register
from slimcls.datasets.image_codec import encode_png

CLASS_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
ROWS = COLS = 28
_CHUNK = 1000
#: Where TF-Slim's download_and_convert_mnist fetched the files from.
DEFAULT_BASE_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"

#: The four files, with the MD5 and sizes that torchvision and others publish for them.
FILES = {
    ("train", "images"): download.Archive(
        DEFAULT_BASE_URL + "train-images-idx3-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        md5="f68b3c2dcbeaaa9fbdd348bbdeb94873",
        size=9912422,
    ),
    ("train", "labels"): download.Archive(
        DEFAULT_BASE_URL + "train-labels-idx1-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        md5="d53e105ee54ea40749a09fcbcd1e9432",
        size=28881,
    ),
    ("test", "images"): download.Archive(
        DEFAULT_BASE_URL + "t10k-images-idx3-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        md5="9fb629c4189551a2d022fa330f9573f3",
        size=1648877,
    ),
    ("test", "labels"): download.Archive(
        DEFAULT_BASE_URL + "t10k-labels-idx1-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        md5="ec29112dd5afa0611ce80d1b7f02629c",
        size=4542,
    ),
}


def _read_maybe_gzip(path: str) -> bytes:
    with tf.io.gfile.GFile(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.GzipFile(fileobj=io.BytesIO(data)).read()
        except (OSError, EOFError) as e:
            raise SlimclsError(
                f"{path} is a damaged gzip file ({e}); expected an IDX file"
            ) from None
    return data


def read_idx(path: str, magic: int) -> np.ndarray:
    """Reads one IDX file (gzipped or not) into a uint8 array, checking its header.

    Raises:
      SlimclsError: a wrong magic number, dimensions or size.
    """
    data = _read_maybe_gzip(path)
    ndim = 3 if magic == IMAGE_MAGIC else 1
    header = 4 + 4 * ndim
    if len(data) < header or struct.unpack(">I", data[:4])[0] != magic:
        got = struct.unpack(">I", data[:4])[0] if len(data) >= 4 else None
        raise SlimclsError(
            f"{path} has magic number {got}; expected {magic} (an MNIST "
            f"{'images' if ndim == 3 else 'labels'} IDX file)"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if ndim == 3 and dims[1:] != (ROWS, COLS):
        raise SlimclsError(f"{path} holds {dims[1]}x{dims[2]} images; expected 28x28")
    want = int(np.prod(dims))
    if len(data) - header != want:
        raise SlimclsError(
            f"{path} has {len(data) - header} data bytes; expected {want} for dimensions {dims}"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def _candidates(source_dir: str, archive: download.Archive) -> list[str]:
    plain = archive.filename[: -len(".gz")]
    # Some mirrors name them t10k-images.idx3-ubyte.
    alt = plain.replace("-idx", ".idx")
    return [rf.join(source_dir, n) for n in (plain, archive.filename, alt, alt + ".gz")]


def locate(source_dir: str) -> dict[tuple[str, str], str]:
    """The four IDX files in ``source_dir`` (plain or ``.gz``)."""
    if not tf.io.gfile.isdir(source_dir):
        raise SlimclsError(
            f"source_dir {source_dir} is not a directory; expected the four MNIST IDX files"
        )
    found, missing = {}, []
    for key, archive in FILES.items():
        path = next((p for p in _candidates(source_dir, archive) if tf.io.gfile.exists(p)), None)
        if path is None:
            missing.append(archive.filename[: -len(".gz")])
        else:
            found[key] = path
    if missing:
        raise SlimclsError(
            f"source_dir {source_dir} lacks {', '.join(missing)} (or .gz); expected the four "
            "MNIST IDX files"
        )
    return found


def _encode_chunk(args: tuple[np.ndarray, np.ndarray]) -> list[Encoded]:
    """Worker: PNG-encodes 28x28 greyscale images and serializes their Examples."""
    images, labels = args
    return [
        (int(y), rf.encode_record(encode_png(img[:, :, None]), "png", ROWS, COLS, int(y)), "")
        for img, y in zip(images, labels)
    ]


def _chunks(images: np.ndarray, labels: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for start in range(0, len(labels), _CHUNK):
        yield images[start : start + _CHUNK], labels[start : start + _CHUNK]


@register("mnist")
class MnistConverter(Converter):
    """MNIST IDX files (``--source_dir``, or downloaded) -> ``train`` / ``test``."""

    def output_name(self) -> str:
        return rf.validate_name(self.config.output_name or "mnist")

    def single_file(self) -> bool:
        return self.config.num_shards in (None, 1)  # TF-Slim's mnist_%s.tfrecord

    def _download(self) -> dict[tuple[str, str], str]:
        base = self.config.download_url
        paths = {}
        for key, archive in FILES.items():
            url = base.rstrip("/") + "/" + archive.filename if base else None
            paths[key] = download.download(
                archive,
                self.config.dataset_dir,
                url=url,
                log=self.log,
                progress_stream=self.progress_stream,
            )
        return paths

    def plan(self, workdir: str) -> ConversionPlan:
        source_dir = self.config.source_dir
        paths = locate(source_dir) if source_dir else self._download()
        splits = {}
        for split in ("train", "test"):
            images = read_idx(paths[(split, "images")], IMAGE_MAGIC)
            labels = read_idx(paths[(split, "labels")], LABEL_MAGIC)
            if len(images) != len(labels):
                raise SlimclsError(
                    f"{paths[(split, 'images')]} has {len(images)} images but "
                    f"{paths[(split, 'labels')]} {len(labels)} labels; expected equal counts"
                )
            if len(labels) and labels.max() > 9:
                raise SlimclsError(
                    f"{paths[(split, 'labels')]} has label {int(labels.max())}; expected 0..9"
                )
            splits[split] = SplitPlan(len(labels), _chunks(images, labels))
        source: dict[str, Any] = {
            "converter": self.name,
            "source_dir": source_dir or self.config.dataset_dir,
            "files": {f"{s}_{k}": rf.basename(p) for (s, k), p in paths.items()},
        }
        return ConversionPlan(
            class_names=list(CLASS_NAMES),
            splits=splits,
            channels=1,
            source=source,
            encode_chunk=_encode_chunk,
        )
