"""Property-based fuzzing of the converters' parsers: the HWDB ``.gnt`` reader (files and zip
members), the CIFAR-10 binary and pickle readers and the folder image normaliser.

Whatever bytes they are given, they end in the tool's own one-line error (``SlimclsError``;
``Rejected`` for one image of a folder) or in a clean success - never another exception,
never a hang (each example runs under a SIGALRM timeout), never an allocation beyond a bound
(tracemalloc peak, plus an address-space cap while the example runs) and never code from a
pickle. Hypothesis is derandomized, so a run is reproducible; the default run is small and
``--run-slow`` adds a much bigger one.
"""

import contextlib
import io
import os
import pickle
import resource
import signal
import struct
import tempfile
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from slimcls.core.errors import SlimclsError
from slimcls.datasets import convert_cifar10, convert_hwdb, image_codec

#: Examples per property: the default run, and the ``--run-slow`` one.
SIZES = [pytest.param(60, id="fast"), pytest.param(1500, id="big", marks=pytest.mark.slow)]
EXAMPLE_TIMEOUT_S = 10
#: Address space an example may add (covers allocations tracemalloc does not see: PIL's).
ADDRESS_SPACE_HEADROOM = 1 << 30


@contextlib.contextmanager
def _time_limit(seconds):
    def expire(signum, frame):
        raise TimeoutError(f"example still running after {seconds} s (a hang)")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _vm_size():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize")


@contextlib.contextmanager
def _memory_cap(headroom=ADDRESS_SPACE_HEADROOM):
    """Caps this process's address space at its size now + ``headroom`` (soft limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _vm_size() + headroom
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def fuzz(strategy, check, n):
    """Runs ``check(example)`` for ``n`` derandomized examples of ``strategy``."""

    @settings(
        max_examples=n,
        derandomize=True,
        deadline=None,  # the SIGALRM limit is the timeout: shared CI machines are noisy
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(example):
        with _time_limit(EXAMPLE_TIMEOUT_S), _memory_cap():
            check(example)

    run()


def _ends_cleanly(fn, errors=(SlimclsError,), peak_bytes=None):
    """Calls ``fn``; passes on success or a one-line ``errors``; checks the allocation peak.

    Any other exception propagates (and fails the example). An error raised while handling
    a MemoryError also fails: the parser tried to allocate beyond the cap.
    """
    tracemalloc.start()
    try:
        result = fn()
    except errors as e:
        assert "\n" not in str(e) and str(e), repr(str(e))
        assert not isinstance(e.__context__, MemoryError), f"allocation beyond the cap: {e}"
        result = e
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    if peak_bytes is not None:
        assert peak <= peak_bytes, f"allocated {peak} bytes; bound {peak_bytes}"
    return result


def _write(data, name="x"):
    d = tempfile.mkdtemp(prefix="slimcls-fuzz-")
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _mutated(base: bytes, edits):
    """Applies ``edits``: ``(kind, position, value)`` with kind set/insert/delete/truncate."""
    b = bytearray(base)
    for kind, pos, value in edits:
        if kind == "truncate":
            del b[pos % (len(b) + 1) :]
        elif not b and kind != "insert":
            continue
        elif kind == "set":
            b[pos % len(b)] = value
        elif kind == "insert":
            b[pos % (len(b) + 1) : pos % (len(b) + 1)] = bytes([value])
        else:
            del b[pos % len(b)]
    return bytes(b)


EDITS = st.lists(
    st.tuples(
        st.sampled_from(["set", "insert", "delete", "truncate"]),
        st.integers(0, 1 << 16),
        st.integers(0, 255),
    ),
    max_size=6,
)

# --------------------------------------------------------------------------- .gnt

_CHARS = "一二三人大小中国"


def _gnt_record(char, width, height, pixels):
    tag = char.encode("gb2312")
    return struct.pack("<I2sHH", 10 + width * height, tag, width, height) + pixels


GNT_RECORDS = st.lists(
    st.tuples(st.sampled_from(_CHARS), st.integers(1, 6), st.integers(1, 6), st.randoms()),
    max_size=5,
).map(lambda rs: [(c, w, h, bytes(r.getrandbits(8) for _ in range(w * h))) for c, w, h, r in rs])


def _read_all_gnt(source, skip_corrupt, read_pixels=True):
    return list(convert_hwdb.iter_gnt(source, read_pixels=read_pixels, skip_corrupt=skip_corrupt))


def _check_gnt_bytes(data, skip_corrupt, read_pixels):
    path = _write(data, "a.gnt")
    src = convert_hwdb.GntSource(path, path)
    # Reading never holds more than the file (plus a constant): sizes are checked first.
    out = _ends_cleanly(
        lambda: _read_all_gnt(src, skip_corrupt, read_pixels), peak_bytes=2 * len(data) + 65536
    )
    if skip_corrupt:
        assert not isinstance(out, Exception), f"skip_corrupt still raised: {out}"
    if isinstance(out, list):
        for char, w, h, pixels in out:
            assert len(char) >= 1 and 1 <= w <= 4096 and 1 <= h <= 4096
            assert pixels is None if not read_pixels else len(pixels) == w * h
        assert sum(10 + w * h for _, w, h, _ in out) <= len(data)


@pytest.mark.parametrize("n", SIZES)
def test_gnt_arbitrary_bytes(n):
    fuzz(
        st.tuples(st.binary(max_size=600), st.booleans(), st.booleans()),
        lambda x: _check_gnt_bytes(*x),
        n,
    )


@pytest.mark.parametrize("n", SIZES)
def test_gnt_mutated_records(n):
    def check(x):
        records, edits, skip_corrupt, read_pixels = x
        valid = b"".join(_gnt_record(*r) for r in records)
        if not edits:  # unmutated: read back exactly
            path = _write(valid, "a.gnt")
            got = _read_all_gnt(convert_hwdb.GntSource(path, path), False)
            assert got == [tuple(r) for r in records]
        _check_gnt_bytes(_mutated(valid, edits), skip_corrupt, read_pixels)

    fuzz(st.tuples(GNT_RECORDS, EDITS, st.booleans(), st.booleans()), check, n)


def _zip_of(members, compression):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("n", SIZES)
def test_gnt_zip_members(n):
    def check(x):
        records, edits, compression, skip_corrupt = x
        valid = b"".join(_gnt_record(*r) for r in records)
        path = _write(_mutated(_zip_of([("w1.gnt", valid)], compression), edits), "a.zip")

        def read():
            return [_read_all_gnt(s, skip_corrupt) for s in convert_hwdb._sources_in([path])]

        out = _ends_cleanly(read, peak_bytes=1 << 22)
        if not edits:
            assert out == [[tuple(r) for r in records]]

    compressions = st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
    fuzz(st.tuples(GNT_RECORDS, EDITS, compressions, st.booleans()), check, n)


def test_gnt_huge_declared_record_is_refused_before_allocating():
    header = struct.pack("<I2sHH", 10 + 4096 * 4096, "一".encode("gb2312"), 4096, 4096)
    path = _write(header + b"\0" * 10, "a.gnt")
    src = convert_hwdb.GntSource(path, path)
    err = _ends_cleanly(lambda: _read_all_gnt(src, False), peak_bytes=65536)
    assert isinstance(err, SlimclsError) and "truncated record" in str(err)


def test_gnt_corrupt_zip_member_is_one_line_error():
    records = [("一", 4, 4, bytes(range(16)))] * 3
    data = bytearray(_zip_of([("w1.gnt", b"".join(_gnt_record(*r) for r in records))], 0))
    data[60] ^= 0xFF  # a pixel byte of the stored member: its CRC no longer matches
    path = _write(bytes(data), "a.zip")
    (src,) = convert_hwdb._sources_in([path])
    with pytest.raises(SlimclsError, match=r"a\.zip!w1\.gnt.*Bad CRC-32"):
        _read_all_gnt(src, False)


# --------------------------------------------------------------------------- CIFAR pickles

_G = [
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("os", "system"),
    ("builtins", "eval"),
    ("builtins", "getattr"),
    ("subprocess", "Popen"),
]


def _op_global(i):
    m, n = _G[i % len(_G)]
    return b"c" + m.encode() + b"\n" + n.encode() + b"\n"


# Pieces of pickle programs: pushes, containers and calls in a random (often invalid) order.
PICKLE_OPS = st.one_of(
    st.integers(0, len(_G) - 1).map(_op_global),
    st.integers(-(2**31), 2**31 - 1).map(lambda v: b"J" + struct.pack("<i", v)),
    st.integers(0, 255).map(lambda v: b"K" + bytes([v])),
    st.binary(max_size=40).map(lambda b: b"C" + bytes([len(b)]) + b),
    st.text(max_size=8).map(lambda s: b"X" + struct.pack("<I", len(s.encode())) + s.encode()),
    st.sampled_from(
        [b"(", b"t", b"\x85", b"\x86", b"\x87", b"R", b"b", b"]", b"}", b"e", b"u", b"a", b"s"]
        + [b"N", b"\x88", b"\x89", b")", b"q\x00", b"h\x00", b"0", b"2", b"l", b"d"]
    ),
)
PICKLE_PROGRAMS = st.lists(PICKLE_OPS, max_size=30).map(lambda ops: b"\x80\x02" + b"".join(ops))

LABELS = st.one_of(
    st.lists(st.integers(-3, 12), max_size=4),
    st.lists(st.one_of(st.integers(), st.floats(), st.text(max_size=2), st.none()), max_size=4),
    st.integers(),
    st.none(),
    st.lists(st.lists(st.integers(0, 9), max_size=3), max_size=3),
)
ARRAYS = st.tuples(
    st.sampled_from(["u1", "i8", "f4", "O", [("x", "u1"), ("y", "u1")]]),
    st.lists(st.integers(0, 3), max_size=2),
    st.sampled_from([[], [3072], [5]]),
).map(lambda a: np.zeros(a[1] + a[2], dtype=a[0]))
BATCHES = st.fixed_dictionaries(
    {},
    optional={
        "data": st.one_of(ARRAYS, st.integers(), st.binary(max_size=8)),
        "labels": LABELS,
        "batch_label": st.binary(max_size=8),
    },
)


def _check_cifar_pickle(data):
    path = _write(data, "data_batch_1")
    out = _ends_cleanly(lambda: convert_cifar10._py_arrays(path), peak_bytes=4 * len(data) + 65536)
    if not isinstance(out, Exception):
        images, labels = out
        assert images.shape == (len(labels), 32, 32, 3) and images.dtype == np.uint8
        assert labels.dtype == np.int64 and labels.ndim == 1


@pytest.mark.parametrize("n", SIZES)
def test_cifar_pickle_arbitrary_bytes(n):
    fuzz(st.binary(max_size=400), _check_cifar_pickle, n)


@pytest.mark.parametrize("n", SIZES)
def test_cifar_pickle_programs(n):
    """Random pickle programs over the admitted globals (and some refused ones)."""
    fuzz(PICKLE_PROGRAMS.map(lambda p: p + b"."), _check_cifar_pickle, n)


@pytest.mark.parametrize("n", SIZES)
def test_cifar_pickled_batches(n):
    def check(x):
        obj, protocol, edits = x
        _check_cifar_pickle(_mutated(pickle.dumps(obj, protocol), edits))

    fuzz(st.tuples(BATCHES, st.integers(2, 5), EDITS), check, n)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_cifar_pickle_that_would_run_code_is_refused(tmp_path, protocol):
    marker = tmp_path / "ran"
    payload = pickle.dumps({"data": _RunsCode(marker), "labels": []}, protocol)
    path = _write(payload, "data_batch_1")
    with pytest.raises(SlimclsError, match=r"refers to (posix|os)\.system; .* nothing of it ran"):
        convert_cifar10._py_arrays(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload, message",
    [
        # _reconstruct(ndarray, (10**8,), dtype('u1')): 100 MB from a 90-byte pickle
        (
            b"\x80\x02cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
            b"J\x00\xe1\xf5\x05\x85cnumpy\ndtype\nX\x02\x00\x00\x00u1\x89\x88\x87R\x87R.",
            r"reconstructs an array of shape \(100000000,\)",
        ),
        # ndarray((10**8,)) called directly
        (b"\x80\x02cnumpy\nndarray\nJ\x00\xe1\xf5\x05\x85\x85R.", "calls numpy.ndarray"),
        # an object dtype (arrays of pointers, zero-filled at any declared size)
        (b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00O8\x85R.", "holds a object array"),
        # a codec other than protocol 2's latin1
        (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00zlib\x86R.", "codec"),
        # BINBYTES8 declaring 8 GiB / 2**62 bytes in a 17-byte file (crashed the process)
        (b"\x80\x04\x8e" + (1 << 33).to_bytes(8, "little") + b"abc.", "8589934592 bytes"),
        (b"\x80\x04\x8e" + (1 << 62).to_bytes(8, "little") + b"abc.", "but only 4 remain"),
    ],
    ids=["reconstruct-shape", "ndarray-call", "object-dtype", "codec", "bytes8-8g", "bytes8-2e62"],
)
def test_cifar_pickle_allocation_bombs_are_refused(payload, message):
    path = _write(payload, "data_batch_1")
    with _memory_cap():
        err = _ends_cleanly(lambda: convert_cifar10.load_pickle(path), peak_bytes=1 << 20)
    assert (
        isinstance(err, SlimclsError)
        and err.args[0].find(message.replace("\\", "")) >= 0
        or (pytest.fail(f"{err!r} does not say {message!r}"))
    )


@pytest.mark.parametrize(
    "labels, message",
    [
        ([[list(range(1000))] * 1000] * 2, "not a list of integers"),  # 16 MB from 3 KB
        (np.zeros(3, np.int64), "2 images and 3 labels"),
        (5, "not a list of integers"),
        (["a", "b"], "not a list of integers"),
        ([1.5, 0], "not a list of integers"),
        ([10**30, 0], "expected class ids"),
    ],
    ids=["nested-bomb", "array-wrong-length", "int", "strings", "floats", "huge-int"],
)
def test_cifar_bad_labels_are_one_line_errors(labels, message):
    path = _write(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": labels}, 2))
    err = _ends_cleanly(lambda: convert_cifar10._py_arrays(path), peak_bytes=1 << 20)
    assert isinstance(err, SlimclsError) and message in str(err), err


def test_cifar_real_pickle_layouts_still_load():
    data = np.repeat(np.array([[1, 2, 3], [10, 20, 30]], np.uint8), 1024, axis=1)  # planes
    for protocol in (2, 4, 5):
        for labels in ([3, 1], np.array([3, 1], np.int64), np.array([3, 1], np.uint8)):
            path = _write(pickle.dumps({b"data": data, b"labels": labels}, protocol))
            images, got = convert_cifar10._py_arrays(path)
            assert got.tolist() == [3, 1] and images[1, 0, 0].tolist() == [10, 20, 30]


# --------------------------------------------------------------------------- CIFAR folders


def _cifar_dir(kind, meta, train, test):
    d = tempfile.mkdtemp(prefix="slimcls-fuzz-")
    suffix, meta_name = (".bin", "batches.meta.txt") if kind == "binary" else ("", "batches.meta")
    for name, data in (
        (meta_name, meta),
        (f"data_batch_1{suffix}", train),
        (f"test_batch{suffix}", test),
    ):
        if data is not None:
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
    return d


def _check_cifar_dir(d):
    def convert():
        names, batches, _ = convert_cifar10.read_batches_dir(d)
        n = 0
        for split in batches.values():
            for images, labels in convert_cifar10._chunks(split, len(names)):
                assert images.shape == (len(labels), 32, 32, 3)
                assert all(0 <= int(x) < len(names) for x in labels)
                n += len(labels)
                convert_cifar10._encode_chunk((images[:2], labels[:2]))
        return n

    _ends_cleanly(convert, peak_bytes=1 << 24)


def _bin_batch_bytes(x):
    labels, tail = x
    return b"".join(bytes([v]) + bytes(3072) for v in labels) + tail


BIN_BATCHES = st.one_of(
    st.none(),
    st.binary(max_size=64),
    st.tuples(st.lists(st.integers(0, 255), max_size=3), st.sampled_from([b"", b"\0"])).map(
        _bin_batch_bytes
    ),
)
META_TXT = st.one_of(
    st.none(),
    st.binary(max_size=40),
    st.lists(st.text(max_size=6), max_size=12).map(
        lambda ns: "\n".join(ns).encode("utf-8", "surrogatepass")
    ),
)


@pytest.mark.parametrize("n", SIZES)
def test_cifar_binary_folders(n):
    fuzz(
        st.tuples(META_TXT, BIN_BATCHES, BIN_BATCHES),
        lambda x: _check_cifar_dir(_cifar_dir("binary", *x)),
        n,
    )


META_PICKLES = st.one_of(
    st.none(),
    st.binary(max_size=40),
    st.fixed_dictionaries(
        {},
        optional={
            "label_names": st.one_of(
                st.lists(st.one_of(st.text(max_size=4), st.binary(max_size=4)), max_size=12),
                st.integers(),
                st.text(max_size=4),
            )
        },
    ).map(lambda d: pickle.dumps(d, 2)),
)
PY_BATCHES = st.one_of(st.none(), st.binary(max_size=40), BATCHES.map(lambda d: pickle.dumps(d, 2)))


@pytest.mark.parametrize("n", SIZES)
def test_cifar_python_folders(n):
    fuzz(
        st.tuples(META_PICKLES, PY_BATCHES, PY_BATCHES),
        lambda x: _check_cifar_dir(_cifar_dir("python", *x)),
        n,
    )


def test_cifar_meta_that_is_not_utf8_is_a_one_line_error():
    d = _cifar_dir("binary", b"cat\n\xff\xfedog\n", bytes(3073), bytes(3073))
    with pytest.raises(SlimclsError, match=r"batches\.meta\.txt is not UTF-8"):
        convert_cifar10.read_batches_dir(d)
    batch = pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "labels": [0]}, 2)
    d = _cifar_dir("python", pickle.dumps({"label_names": 7}, 2), batch, batch)
    with pytest.raises(SlimclsError, match=r"'label_names' is not a list of strings"):
        convert_cifar10.read_batches_dir(d)


# --------------------------------------------------------------------------- images

_MODES = {
    "PNG": ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"],
    "JPEG": ["L", "RGB", "CMYK"],
    "GIF": ["P", "L"],
    "BMP": ["1", "L", "P", "RGB"],
    "WEBP": ["RGB", "RGBA"],
}
IMAGES = st.tuples(
    st.sampled_from(sorted(_MODES)),
    st.integers(0, 7),
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(0, 2**32 - 1),
)


def _image_bytes(spec):
    fmt, mode_i, w, h, seed = spec
    mode = _MODES[fmt][mode_i % len(_MODES[fmt])]
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        img = Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
    else:
        img = Image.fromarray(rng.integers(0, 256, (h, w, 4), dtype=np.uint8)).convert(mode)
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


MAX_PIXELS = 64 * 64


def _check_image(data, grayscale, max_size):
    def load():
        return image_codec.load_image(data, grayscale, MAX_PIXELS, max_size)

    out = _ends_cleanly(load, errors=(image_codec.Rejected,))
    if not isinstance(out, Exception):
        encoded, fmt, h, w = out
        assert fmt in ("jpeg", "png") and h * w <= MAX_PIXELS
        back = Image.open(io.BytesIO(encoded))
        back.load()
        assert back.size == (w, h)
        assert back.mode in (("L",) if grayscale else ("L", "RGB"))
        if max_size is not None:
            assert max(h, w) <= max_size


@pytest.mark.parametrize("n", SIZES)
def test_image_arbitrary_bytes(n):
    fuzz(st.tuples(st.binary(max_size=300), st.booleans()), lambda x: _check_image(*x, None), n)


@pytest.mark.parametrize("n", SIZES)
def test_image_mutated_images(n):
    def check(x):
        spec, edits, grayscale, max_size = x
        _check_image(_mutated(_image_bytes(spec), edits), grayscale, max_size)

    fuzz(st.tuples(IMAGES, EDITS, st.booleans(), st.sampled_from([None, 4])), check, n)
