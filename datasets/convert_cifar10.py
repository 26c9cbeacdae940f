"""Converts CIFAR-10 (binary or Python version, folder or ``.tar.gz``) to TFRecords.

Splits ``train`` (``data_batch_*``) and ``test`` (``test_batch``), images PNG 32x32x3; the
counts come from the files. Each split is written as TF-Slim names it,
``cifar10_train.tfrecord`` / ``cifar10_test.tfrecord`` (so TF-Slim's own ``cifar10`` reader
finds them), unless ``--num_shards`` > 1 asks for numbered shards. The Python version's
pickles are untrusted input, loaded with an unpickler that only admits what the real files
contain (numpy arrays, lists, strings).
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from slimcls.config import ConvertConfig
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.datasets import download
from slimcls.datasets import record_format as rf
from slimcls.datasets.converter import (
    ConversionPlan,
    Converter,
    Encoded,
    SplitPlan,
    convert,
    register,
)
from slimcls.datasets.image_codec import encode_png

RECORD_BYTES = 1 + 32 * 32 * 3
_CHUNK = 500
BIN_DIR, PY_DIR = "cifar-10-batches-bin", "cifar-10-batches-py"

# What the official pickles need (numpy's array reconstruction; ``_codecs.encode`` for
# protocol-2 bytes written by Python 3). Calling any of them cannot run other code.
_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }
)


class _NdarrayType:
    """Stands in for ``numpy.ndarray`` in a pickle: only :func:`_reconstruct` may use it.

    The real class would let a pickle call ``ndarray(shape)`` and allocate any size it
    names (a 40-byte pickle asking for gigabytes) before any check could run.
    """

    def __init__(self, path: str):
        self._path = path

    def __call__(self, *args: Any) -> Any:
        raise SlimclsError(f"{self._path} calls numpy.ndarray directly; not a CIFAR-10 pickle")


def _reconstruct_checked(path: str, real: Callable[..., Any]) -> Callable[..., Any]:
    """numpy's ``_reconstruct`` admitting only what ``ndarray.__reduce__`` writes.

    numpy always pickles ``_reconstruct(ndarray, (0,), b'b')`` and sets shape and data
    afterwards (where the data length is checked against the shape); any other shape would
    be allocated here, unchecked.
    """

    def reconstruct(subtype: Any, shape: Any, dtype: Any) -> Any:
        if not isinstance(subtype, _NdarrayType) or shape not in ((0,), [0], 0):
            raise SlimclsError(
                f"{path} reconstructs an array of shape {str(shape)[:40]}; expected numpy's "
                "own pickling (shape (0,)) - refused before allocating"
            )
        return real(np.ndarray, (0,), dtype)

    return reconstruct


def _encode_latin1(path: str, real: Callable[..., Any]) -> Callable[..., Any]:
    """``_codecs.encode`` as protocol 2 uses it (str -> bytes, latin1); no other codec."""

    def encode(obj: Any, encoding: Any = "utf-8", errors: Any = "strict") -> Any:
        if not isinstance(obj, str) or str(encoding).lower() not in ("latin1", "latin-1"):
            raise SlimclsError(
                f"{path} uses codec {str(encoding)[:40]!r}; expected latin1 bytes of numpy arrays"
            )
        return real(obj, "latin1")

    return encode


def _dtype_checked(path: str) -> Callable[..., Any]:
    """``numpy.dtype`` admitting plain numeric types only (no object or structured dtypes)."""

    def dtype(*args: Any) -> Any:
        try:
            d = np.dtype(*args)
        except Exception as e:
            raise SlimclsError(f"{path} names an invalid dtype: {e}") from None
        if d.kind not in "biu" or d.hasobject or d.fields is not None or d.subdtype:
            raise SlimclsError(f"{path} holds a {d} array; expected integer arrays")
        return d

    return dtype


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, path: str):
        super().__init__(file, encoding="latin1")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise SlimclsError(
                f"{self._path} refers to {module}.{name}; CIFAR-10 pickles hold only numpy "
                "arrays, lists and strings, so it was refused and nothing of it ran"
            )
        if name == "ndarray":
            return _NdarrayType(self._path)
        if name == "dtype":
            return _dtype_checked(self._path)
        real = super().find_class(module, name)
        if name == "_reconstruct":
            return _reconstruct_checked(self._path, real)
        if name == "encode":
            return _encode_latin1(self._path, real)
        return real

    def persistent_load(self, pid: Any) -> Any:
        raise SlimclsError(f"{self._path} uses persistent ids; not a CIFAR-10 pickle")


def load_pickle(path: str) -> dict[str, Any]:
    """Loads a CIFAR-10 Python-version batch with the restricted unpickler; str keys."""
    # The unpickler allocates a bytes/str/long opcode's declared length before reading it
    # (and GFile.read(n) allocates n): a 20-byte file declaring 2**62 bytes crashed the
    # process. So the file is read into memory (a batch is ~30 MB) and every opcode and
    # length is first checked against the bytes actually there by pickletools' pure-Python
    # parser, which runs nothing and reads at most what exists.
    with tf.io.gfile.GFile(path, "rb") as f:
        data = f.read()
    try:
        for _ in pickletools.genops(data):
            pass
        obj = _RestrictedUnpickler(io.BytesIO(data), path).load()
    except SlimclsError:
        raise
    except Exception as e:  # any malformed pickle: one line, no traceback
        msg = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise SlimclsError(f"{path} is not a valid CIFAR-10 pickle: {msg}") from None
    if not isinstance(obj, dict):
        raise SlimclsError(f"{path} holds a {type(obj).__name__}; expected a dict")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _class_names(names: Any, path: str) -> list[str]:
    """``label_names`` of a ``batches.meta`` pickle as strings (UTF-8 bytes or str)."""
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, (str, bytes)) for n in names):
        raise SlimclsError(f"{path} 'label_names' is not a list of strings")
    try:
        return [n.decode("utf-8") if isinstance(n, bytes) else n for n in names]
    except UnicodeDecodeError as e:
        raise SlimclsError(f"{path} has a class name that is not UTF-8: {e}") from None


# --------------------------------------------------------------------------- sources


class _Batch:
    """One batch file: its record count (cheap) and a loader of (images NHWC, labels)."""

    def __init__(self, path: str, count: int, load: Callable[[], tuple[np.ndarray, np.ndarray]]):
        self.path, self.count, self.load = path, count, load


def _bin_batch(path: str) -> _Batch:
    size = tf.io.gfile.stat(path).length
    if size % RECORD_BYTES:
        raise SlimclsError(
            f"{path} has {size} bytes, not a multiple of {RECORD_BYTES} (1 label byte + "
            "3072 image bytes per record); expected an unmodified CIFAR-10 .bin file"
        )

    def load():
        with tf.io.gfile.GFile(path, "rb") as f:
            raw = np.frombuffer(f.read(), np.uint8).reshape(-1, RECORD_BYTES)
        images = raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return images, raw[:, 0].astype(np.int64)

    return _Batch(path, size // RECORD_BYTES, load)


def _labels_array(labels: Any, n: int, path: str) -> np.ndarray:
    """``labels`` as int64 ``[n]``: a list of ints or a 1-D integer array, nothing nested.

    Checked element by element before numpy sees it: ``np.asarray`` of a list whose items
    are (shared references to) lists would build an array of their product's size.
    """
    if isinstance(labels, np.ndarray):
        ok = labels.ndim == 1 and labels.dtype.kind in "iu"
    else:
        ok = isinstance(labels, (list, tuple)) and all(
            isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in labels
        )
    if not ok:
        raise SlimclsError(f"{path} 'labels' is not a list of integers; expected N class ids")
    if len(labels) != n:
        raise SlimclsError(
            f"{path} has {n} images and {len(labels)} labels; expected one label per image"
        )
    if n and not all(0 <= int(x) < 2**31 for x in (min(labels), max(labels))):
        raise SlimclsError(f"{path} has label {min(labels)}..{max(labels)}; expected class ids")
    return np.asarray(labels, dtype=np.int64).reshape(n)


def _py_arrays(path: str) -> tuple[np.ndarray, np.ndarray]:
    d = load_pickle(path)
    data = d.get("data")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise SlimclsError(f"{path} 'data' is not a uint8 [N, 3072] array")
    if data.shape[1] != 3072:
        raise SlimclsError(f"{path} has data of shape {data.shape}; expected [N, 3072]")
    labels = _labels_array(d.get("labels"), len(data), path)
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels


def _py_batch(path: str) -> _Batch:
    images, _ = _py_arrays(path)  # counts come from the files; loaded again when converting
    return _Batch(path, len(images), lambda: _py_arrays(path))


def _batch_key(name: str) -> tuple[int, str]:
    m = re.search(r"(\d+)", name)
    return (int(m.group(1)) if m else 0, name)


def read_batches_dir(batches_dir: str) -> tuple[list[str], dict[str, list[_Batch]], str]:
    """Finds class names and the train/test batches of a ``cifar-10-batches-{bin,py}``."""
    names = tf.io.gfile.listdir(batches_dir)
    if "data_batch_1.bin" in names or "test_batch.bin" in names:
        kind = "binary"
        meta = rf.join(batches_dir, "batches.meta.txt")
        if not tf.io.gfile.exists(meta):
            raise SlimclsError(f"{meta} is missing; expected the class names, one per line")
        with tf.io.gfile.GFile(meta, "rb") as f:
            text = f.read()
        try:
            class_names = [s.strip() for s in text.decode("utf-8").splitlines() if s.strip()]
        except UnicodeDecodeError as e:
            raise SlimclsError(f"{meta} is not UTF-8 text ({e}); expected class names") from None
        make, suffix = _bin_batch, ".bin"
    elif "data_batch_1" in names or "test_batch" in names:
        kind = "python"
        meta = rf.join(batches_dir, "batches.meta")
        if not tf.io.gfile.exists(meta):
            raise SlimclsError(f"{meta} is missing; expected a pickle with 'label_names'")
        class_names = _class_names(load_pickle(meta).get("label_names", []), meta)
        make, suffix = _py_batch, ""
    else:
        raise SlimclsError(
            f"{batches_dir} holds no CIFAR-10 batches; expected data_batch_1..5 and test_batch "
            f"(.bin in {BIN_DIR}, pickles in {PY_DIR})"
        )
    if not class_names:
        raise SlimclsError(f"{meta} lists no class names")
    train = sorted(
        (n for n in names if re.fullmatch(rf"data_batch_\d+{re.escape(suffix)}", n)),
        key=_batch_key,
    )
    test = [n for n in names if n == f"test_batch{suffix}"]
    if not train or not test:
        raise SlimclsError(
            f"{batches_dir} lacks {'data_batch_N' if not train else 'test_batch'}{suffix}; "
            "expected data_batch_1..5 and test_batch"
        )
    batches = {
        "train": [make(rf.join(batches_dir, n)) for n in train],
        "test": [make(rf.join(batches_dir, n)) for n in test],
    }
    return class_names, batches, kind


def _is_archive(path: str) -> bool:
    return path.endswith((".tar.gz", ".tgz", ".tar"))


def locate_source(source_dir: str, workdir: str) -> str:
    """Returns the batches folder for ``source_dir`` (extracting an archive into workdir)."""
    if not tf.io.gfile.exists(source_dir):
        raise SlimclsError(
            f"source_dir {source_dir} does not exist; expected {BIN_DIR}, {PY_DIR} or a "
            "cifar-10-*.tar.gz archive"
        )
    if not tf.io.gfile.isdir(source_dir):
        if not _is_archive(source_dir):
            raise SlimclsError(
                f"source_dir {source_dir} is a file but not a .tar.gz archive; expected "
                f"{BIN_DIR}, {PY_DIR} or a cifar-10-*.tar.gz archive"
            )
        local = source_dir
        if "://" in source_dir:  # tarfile needs a local file
            local = os.path.join(workdir, os.path.basename(source_dir))
            tf.io.gfile.copy(source_dir, local, overwrite=True)
        extracted = download.safe_extract(local, os.path.join(workdir, "extracted"))
        return locate_source(extracted, workdir)
    names = {n.rstrip("/") for n in tf.io.gfile.listdir(source_dir)}
    if names & {"data_batch_1.bin", "test_batch.bin", "data_batch_1", "test_batch"}:
        return source_dir
    for sub in (BIN_DIR, PY_DIR):
        if sub in names:
            return rf.join(source_dir, sub)
    archives = sorted(n for n in names if n.startswith("cifar-10") and _is_archive(n))
    if archives:
        return locate_source(rf.join(source_dir, archives[0]), workdir)
    raise SlimclsError(
        f"source_dir {source_dir} holds no CIFAR-10 data; expected {BIN_DIR}, {PY_DIR} or a "
        "cifar-10-*.tar.gz archive"
    )


# --------------------------------------------------------------------------- conversion


def _encode_chunk(args: tuple[np.ndarray, np.ndarray]) -> list[Encoded]:
    """Worker: PNG-encodes images and serializes their Examples."""
    images, labels = args
    return [
        (int(label), rf.encode_record(encode_png(img), "png", 32, 32, int(label)), "")
        for img, label in zip(images, labels)
    ]


def _chunks(batches: list[_Batch], num_classes: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for batch in batches:
        images, labels = batch.load()
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            bad = int(labels[(labels < 0) | (labels >= num_classes)][0])
            raise SlimclsError(
                f"{batch.path} has label {bad}; expected 0..{num_classes - 1} (from batches.meta)"
            )
        for start in range(0, len(labels), _CHUNK):
            yield images[start : start + _CHUNK], labels[start : start + _CHUNK]


@register("cifar10")
class Cifar10Converter(Converter):
    """CIFAR-10 (binary or Python version, folder or archive) -> ``train`` / ``test``.

    Without ``source_dir`` the official binary archive is downloaded into ``dataset_dir``
    (checksum verified; not again when present).
    """

    def single_file(self) -> bool:
        # TF-Slim's cifar10 reader globs cifar10_%s.tfrecord: one file per split unless the
        # user asks for shards.
        return self.config.num_shards in (None, 1)

    def plan(self, workdir: str) -> ConversionPlan:
        source_dir = self.config.source_dir
        if source_dir is None:
            source_dir = download.download(
                download.CIFAR10_BINARY,
                self.config.dataset_dir,
                url=self.config.download_url,
                log=self.log,
                progress_stream=self.progress_stream,
            )
        batches_dir = locate_source(source_dir, workdir)
        class_names, batches, kind = read_batches_dir(batches_dir)
        return ConversionPlan(
            class_names=class_names,
            splits={
                split: SplitPlan(sum(b.count for b in bs), _chunks(bs, len(class_names)))
                for split, bs in batches.items()
            },
            channels=3,
            source={"converter": self.name, "source_dir": str(source_dir), "format": kind},
            encode_chunk=_encode_chunk,
        )


def convert_cifar10(
    source_dir: str | None,
    dataset_dir: str,
    *,
    name: str = "cifar10",
    num_shards: int | None = None,
    overwrite: bool = False,
    num_workers: int | None = None,
    download_url: str | None = None,
    log: Callable[[str], None] | None = None,
    progress_stream=None,
) -> dict[str, Any]:
    """Converts CIFAR-10 into ``dataset_dir``; returns the ``dataset.json`` contents.

    Args:
      source_dir: ``cifar-10-batches-bin``, ``cifar-10-batches-py``, a ``.tar.gz`` of either,
        or a folder holding one of those. None = download the official binary archive into
        ``dataset_dir`` (checksum verified; not again when present).
      dataset_dir: output directory.
      name: dataset name.
      num_shards: shards per split; None = one per 5,000 images.
      overwrite: convert even when ``dataset_dir`` holds a complete dataset.
      num_workers: encoding processes; None = one per core, 0 = in this process.
      download_url: overrides the download URL (mirrors, tests).

    Raises:
      SlimclsError: missing or malformed input, refused pickles, unsafe archives.
    """
    config = ConvertConfig(
        dataset_name="cifar10",
        dataset_dir=dataset_dir,
        source_dir=source_dir,
        output_name=name,
        num_shards=num_shards,
        overwrite=overwrite,
        num_workers=num_workers,
        download_url=download_url,
    )
    return convert(config, log, progress_stream)
