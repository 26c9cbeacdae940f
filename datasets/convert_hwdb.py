"""Converts CASIA HWDB1.x offline isolated-character ``.gnt`` files to TFRecords.

A ``.gnt`` sample is: uint32 LE total size, 2 bytes GB2312 tag code (the character), uint16
LE width, uint16 LE height, then ``width * height`` uint8 grey pixels (255 = background);
total size = 10 + width * height.

Everything is streamed record by record (a first pass reads only headers to find the class
set and the counts; the second converts), so memory does not grow with the size of a file or
of the dataset - the tutorial this toolkit grew from ran out of 32 GB loading it all. Images
are stored as 1-channel PNG at their original size; resizing belongs to preprocessing.
"""

from __future__ import annotations

import dataclasses
import io
import random
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import numpy as np

from slimcls.config import ConvertConfig
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
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
from slimcls.datasets.parallel import chunked

HEADER_BYTES = 10
#: Larger than any HWDB character (~100-300 px); refuses absurd sizes before allocating.
MAX_DIMENSION = 4096
_CHUNK = 256
_TRAIN_WORDS, _TEST_WORDS = ("trn", "train"), ("tst", "test")
#: What ``zipfile`` raises on a damaged archive or member (bad CRC, truncated or garbled
#: headers, unsupported methods or versions, encryption, seeks before the start).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    RuntimeError,
    EOFError,
    zlib.error,
    OSError,
    ValueError,
    struct.error,
    tf.errors.OpError,
)


def _unreadable_zip(path: str, e: BaseException) -> SlimclsError:
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    return SlimclsError(f"{path} is not a readable zip ({msg}); expected a zip of .gnt files")


@dataclasses.dataclass
class ScanStats:
    records: Counter = dataclasses.field(default_factory=Counter)  # char -> count
    corrupt: int = 0
    bytes_read: int = 0


@dataclasses.dataclass(frozen=True)
class GntSource:
    """One ``.gnt`` stream: a file, or a member of a ``.zip``."""

    path: str  # file path, for messages: "<zip>!<member>" for members
    file: str
    member: str | None = None

    def open(self) -> tuple[BinaryIO, int]:
        """Returns ``(stream, size in bytes)``."""
        local = "://" not in self.file
        if self.member is None:
            f = open(self.file, "rb") if local else tf.io.gfile.GFile(self.file, "rb")
            return f, tf.io.gfile.stat(self.file).length
        raw = open(self.file, "rb") if local else tf.io.gfile.GFile(self.file, "rb")
        try:
            zf = zipfile.ZipFile(raw)
            return _ZipMember(raw, zf, self.member, self.path), zf.getinfo(self.member).file_size
        except _ZIP_ERRORS as e:
            raw.close()
            raise _unreadable_zip(self.path, e) from None


class _ZipMember(io.RawIOBase):
    """A zip member stream that also closes its archive and the archive's file."""

    def __init__(self, raw: BinaryIO, zf: zipfile.ZipFile, member: str, path: str):
        self._raw, self._zf, self._f, self._path = raw, zf, zf.open(member), path

    def read(self, n: int = -1) -> bytes:
        try:
            return self._f.read(n)
        except _ZIP_ERRORS as e:  # a damaged member (bad CRC, bad deflate stream)
            raise _unreadable_zip(self._path, e) from None

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._f.close()
        self._zf.close()
        self._raw.close()
        super().close()


def _read_exact(f: BinaryIO, n: int) -> bytes:
    parts, left = [], n
    while left > 0:
        b = f.read(min(left, 1 << 20))
        if not b:
            break
        parts.append(b)
        left -= len(b)
    return b"".join(parts)


def _skip(f: BinaryIO, n: int) -> int:
    """Skips ``n`` bytes (seek where possible); returns how many were skipped."""
    if getattr(f, "seekable", lambda: False)() and not isinstance(f, _ZipMember):
        here = f.tell()
        end = f.seek(0, io.SEEK_END)
        f.seek(min(end, here + n))
        return min(end, here + n) - here
    return len(_read_exact(f, n))


def _decode_tag(tag: bytes) -> str | None:
    try:
        char = tag.decode("gb2312").rstrip("\x00")
    except UnicodeDecodeError:
        return None
    return char if char and char.isprintable() else None


def iter_gnt(
    source: GntSource,
    *,
    read_pixels: bool = True,
    skip_corrupt: bool = False,
    stats: ScanStats | None = None,
    log: Callable[[str], None] | None = None,
) -> Iterator[tuple[str, int, int, bytes | None]]:
    """Yields ``(character, width, height, pixels or None)`` for each record, streaming.

    Raises:
      SlimclsError: a truncated record, a size field that disagrees with width * height, an
        absurd dimension or a tag that is not GB2312 - naming the file and byte offset -
        unless ``skip_corrupt``, which skips (and counts) such records instead.
    """
    stats = stats if stats is not None else ScanStats()
    f, file_size = source.open()
    offset = 0
    try:
        while True:
            header = _read_exact(f, HEADER_BYTES)
            if not header:
                return
            problem, resync, fields = _check_header(header, file_size - offset)
            if problem is None:
                size, char, width, height = fields
                n = size - HEADER_BYTES
                if read_pixels:
                    pixels = _read_exact(f, n)
                    got = len(pixels)
                else:
                    pixels, got = None, _skip(f, n)
                if got == n:
                    stats.records[char] += 1
                    stats.bytes_read += size
                    yield char, width, height, pixels
                    offset += size
                    continue
                problem = f"truncated record (needs {size} bytes, {HEADER_BYTES + got} left)"
            where = f"{source.path} at byte offset {offset}"
            if not skip_corrupt:
                raise SlimclsError(
                    f"corrupt record in {where}: {problem}; pass --skip_corrupt to skip such "
                    "records"
                )
            stats.corrupt += 1
            if log:
                rest = "; rest of the file skipped" if resync is None else ""
                log(f"skipping corrupt record in {where}: {problem}{rest}")
            if resync is None:
                return
            _skip(f, resync - HEADER_BYTES)
            offset += resync
    finally:
        f.close()


def _check_header(header: bytes, left: int) -> tuple[str | None, int | None, tuple | None]:
    """One record's header, ``left`` bytes before the file's end: ``(problem, resync,
    (size, character, width, height))``. ``problem`` None: a sound header; else ``resync``
    is the bytes to skip to the next record, None where the rest cannot be trusted."""
    if len(header) < HEADER_BYTES:
        return f"truncated header ({len(header)} of {HEADER_BYTES} bytes)", None, None
    size, tag, width, height = struct.unpack("<I2sHH", header)
    n = width * height
    char = _decode_tag(tag)
    fits = HEADER_BYTES <= size <= left
    problem, resync = None, None
    if not (1 <= width <= MAX_DIMENSION and 1 <= height <= MAX_DIMENSION):
        problem = f"absurd dimensions {width}x{height} (limit {MAX_DIMENSION})"
        resync = size if fits and size == HEADER_BYTES + n else None
    elif size != HEADER_BYTES + n:
        problem = f"size field {size} disagrees with 10 + width*height = {HEADER_BYTES + n}"
    elif size > left:
        problem = f"truncated record (needs {size} bytes, {left} left)"
    elif char is None:
        problem = f"tag code {tag.hex()} is not a GB2312 character"
        resync = size
    return problem, resync, (size, char, width, height)


def read_gnt(path: str, skip_corrupt: bool = False) -> Iterator[tuple[str, np.ndarray]]:
    """Yields ``(character, uint8 image [height, width])`` from one ``.gnt`` file."""
    for char, w, h, pixels in iter_gnt(GntSource(path, path), skip_corrupt=skip_corrupt):
        yield char, np.frombuffer(pixels, np.uint8).reshape(h, w)


# --------------------------------------------------------------------------- layout


def _sources_in(paths: list[str]) -> list[GntSource]:
    sources: list[GntSource] = []
    for path in paths:
        if path.lower().endswith(".gnt"):
            sources.append(GntSource(path, path))
        else:  # .zip
            try:
                with tf.io.gfile.GFile(path, "rb") as raw, zipfile.ZipFile(raw) as zf:
                    members = sorted(n for n in zf.namelist() if n.lower().endswith(".gnt"))
            except _ZIP_ERRORS as e:
                raise _unreadable_zip(path, e) from None
            if not members:
                raise SlimclsError(f"{path} holds no .gnt files; expected HWDB1.x .gnt files")
            sources += [GntSource(f"{path}!{m}", path, m) for m in members]
    return sources


def _gnt_files(folder: str, recursive: bool) -> list[str]:
    found = []
    if recursive:
        for dirpath, subdirs, names in tf.io.gfile.walk(folder):
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
            found += [rf.join(dirpath, n) for n in names]
    else:
        found = [
            rf.join(folder, n)
            for n in tf.io.gfile.listdir(folder)
            if not tf.io.gfile.isdir(rf.join(folder, n))
        ]
    return sorted(
        p
        for p in found
        if p.lower().endswith((".gnt", ".zip")) and not p.rsplit("/", 1)[-1].startswith(".")
    )


def find_sources(source_dir: str, validation_fraction: float, seed: int) -> dict[str, list]:
    """Maps ``train``/``test`` to their ``.gnt`` streams.

    Layouts: ``train/`` and ``test/`` folders of ``.gnt`` files or ``.zip``s of them; a folder
    of files whose names say ``trn``/``tst`` (HWDB1.1trn_gnt.zip, HWDB1.1tst_gnt.zip); or a
    folder of one split's ``.gnt`` files, whose writers (files) are split into train and test
    by ``validation_fraction`` (as HWDB's own train/test sets, writer-disjoint).
    """
    if not tf.io.gfile.isdir(source_dir):
        raise SlimclsError(
            f"source_dir {source_dir} is not a directory; expected a folder with train/ and "
            "test/ folders of HWDB .gnt files (or .zip files of them)"
        )
    names = {n.rstrip("/") for n in tf.io.gfile.listdir(source_dir)}
    if {"train", "test"} <= names:
        splits = {}
        for split in ("train", "test"):
            files = _gnt_files(rf.join(source_dir, split), recursive=True)
            if not files:
                raise SlimclsError(
                    f"{rf.join(source_dir, split)} holds no .gnt or .zip files; expected HWDB "
                    ".gnt files"
                )
            splits[split] = _sources_in(files)
        return splits
    files = _gnt_files(source_dir, recursive=False)
    if not files:
        raise SlimclsError(
            f"source_dir {source_dir} holds neither train/ and test/ folders nor .gnt or .zip "
            "files; expected the HWDB1.x .gnt layout"
        )
    base = lambda p: p.rsplit("/", 1)[-1].lower()  # noqa: E731
    trn = [p for p in files if any(w in base(p) for w in _TRAIN_WORDS)]
    tst = [p for p in files if any(w in base(p) for w in _TEST_WORDS)]
    if trn and tst and len(trn) + len(tst) == len(files) and not set(trn) & set(tst):
        return {"train": _sources_in(trn), "test": _sources_in(tst)}
    sources = _sources_in(files)
    if len(sources) < 2:
        raise SlimclsError(
            f"source_dir {source_dir} holds one .gnt file; expected train/ and test/ folders or "
            "at least 2 .gnt files (writers) to hold some out for test"
        )
    if not 0.0 < validation_fraction < 1.0:
        raise SlimclsError(
            f"validation_fraction {validation_fraction} is invalid for a single-split HWDB "
            "folder; expected 0 < f < 1 (the share of writers held out for test)"
        )
    order = list(range(len(sources)))
    random.Random(seed).shuffle(order)
    n_test = min(max(1, round(validation_fraction * len(sources))), len(sources) - 1)
    test = sorted(order[:n_test])
    return {
        "train": [s for i, s in enumerate(sources) if i not in test],
        "test": [sources[i] for i in test],
    }


# --------------------------------------------------------------------------- conversion


def _encode_chunk(records: list[tuple[int, int, int, bytes]]) -> list[Encoded]:
    """Worker: ``[(label, width, height, pixels)]`` -> serialized Examples (1-channel PNG)."""
    out: list[Encoded] = []
    for label, w, h, pixels in records:
        image = np.frombuffer(pixels, np.uint8).reshape(h, w)
        out.append((label, rf.encode_record(encode_png(image), "png", h, w, label), ""))
    return out


@register("hwdb")
class HwdbConverter(Converter):
    """CASIA HWDB1.x ``.gnt`` files -> ``train`` / ``test`` (see :func:`find_sources`)."""

    source_required = (
        "--source_dir is required for --dataset_name=hwdb; expected a folder with train/ "
        "and test/ folders of .gnt files (HWDB cannot be downloaded without registration)"
    )

    def plan(self, workdir: str) -> ConversionPlan:
        cfg, log, name = self.config, self.log, self.output_name()
        skip_corrupt = cfg.skip_corrupt
        sources = find_sources(cfg.source_dir, cfg.validation_fraction, cfg.random_seed)
        # Pass 1: headers only - class set (sorted characters of train) and counts.
        scans: dict[str, ScanStats] = {}
        for split, split_sources in sources.items():
            stats = ScanStats()
            log(f"{name} {split}: scanning {len(split_sources)} .gnt files")
            for source in split_sources:
                for _ in iter_gnt(
                    source, read_pixels=False, skip_corrupt=skip_corrupt, stats=stats, log=log
                ):
                    pass
            scans[split] = stats
        classes = sorted(scans["train"].records)
        if not classes:
            raise SlimclsError(f"no train record in {cfg.source_dir}; expected HWDB .gnt samples")
        label_of = {c: i for i, c in enumerate(classes)}
        unknown = sum(n for c, n in scans["test"].records.items() if c not in label_of)

        # Pass 2 (run by the skeleton): stream records -> workers (PNG) -> shards, in order.
        def records(split_sources):
            for source in split_sources:
                # Corrupt records were reported in pass 1; skip them silently now.
                for char, w, h, pixels in iter_gnt(source, skip_corrupt=skip_corrupt):
                    label = label_of.get(char)
                    if label is not None:
                        yield label, w, h, pixels

        splits = {
            split: SplitPlan(
                sum(n for c, n in scans[split].records.items() if c in label_of),
                chunked(records(split_sources), _CHUNK),
            )
            for split, split_sources in sources.items()
        }
        notes = []
        corrupt = sum(s.corrupt for s in scans.values())
        if corrupt:
            notes.append(f"skipped {corrupt} corrupt records (--skip_corrupt)")
        if unknown:
            notes.append(f"skipped {unknown} test records of characters not in train")
        return ConversionPlan(
            class_names=classes,
            splits=splits,
            channels=1,
            source={
                "converter": self.name,
                "source_dir": cfg.source_dir,
                "files": {s: len(v) for s, v in sources.items()},
                "skipped_corrupt": corrupt,
                "skipped_unknown_test_characters": unknown,
            },
            encode_chunk=_encode_chunk,
            notes=notes,
        )


def convert_hwdb(
    source_dir: str,
    dataset_dir: str,
    *,
    name: str = "hwdb",
    num_shards: int | None = None,
    validation_fraction: float = 0.1,
    random_seed: int = 0,
    skip_corrupt: bool = False,
    overwrite: bool = False,
    num_workers: int | None = None,
    log: Callable[[str], None] | None = None,
    progress_stream=None,
) -> dict[str, Any]:
    """Converts HWDB ``.gnt`` files into ``dataset_dir``; returns the ``dataset.json``.

    Args:
      source_dir: see :func:`find_sources` for the layouts.
      dataset_dir: output directory.
      name: dataset name.
      num_shards: shards per split; None = one per 5,000 images.
      validation_fraction: share of writers (files) held out as test for a one-split folder.
      random_seed: seed of that hold-out.
      skip_corrupt: skip and count corrupt records instead of stopping.
      overwrite: convert even when ``dataset_dir`` holds a complete dataset.
      num_workers: PNG-encoding processes; None = one per core, 0 = in this process.

    Raises:
      SlimclsError: bad layout, corrupt records (without ``skip_corrupt``), no train record.
    """
    config = ConvertConfig(
        dataset_name="hwdb",
        dataset_dir=dataset_dir,
        source_dir=source_dir,
        output_name=name,
        num_shards=num_shards,
        validation_fraction=validation_fraction,
        random_seed=random_seed,
        skip_corrupt=skip_corrupt,
        overwrite=overwrite,
        num_workers=num_workers,
    )
    return convert(config, log, progress_stream)
