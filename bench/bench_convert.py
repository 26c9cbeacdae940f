"""Conversion benchmark: images/s and peak memory of the dataset converters.

Usage: $PYTHON bench/bench_convert.py [--quick] [--workdir DIR] [--num_workers N]
           [--results_dir DIR]
Expected run time on 2 cores: ~5-10 min (about 1 min with --quick: inputs 10x smaller).

Measures, on generated data (no downloads), images/s and peak RSS at two input sizes 10x
apart (``rss_growth`` = peak RSS of the big input / of the small one; a streaming
converter stays near 1.0):
* folder: 2,000 and 20,000 JPEGs (10 classes, 320x240);
* hwdb: ~50 MB and ~500 MB of .gnt files;
* cifar10: one CIFAR-10-sized binary set (50,000 + 10,000 records), images/s only.

Each conversion runs in a child process; its peak RSS is ``ru_maxrss`` from ``wait4`` (the
child and its worker processes). Images/s count conversion only (after imports). Results are
printed as a Markdown table and written to ``bench/results/convert.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import common  # noqa: E402

# --------------------------------------------------------------------------- data


def _smooth_images(rng, n, h, w, c):
    """Photo-like images: low-frequency colour fields plus mild noise (not white noise)."""
    small = rng.integers(0, 256, (n, 4, 4, c)).astype(np.float32)
    yy = np.linspace(0, 3, h)[:, None]
    xx = np.linspace(0, 3, w)[None, :]
    y0, x0 = np.floor(yy).astype(int), np.floor(xx).astype(int)
    y1, x1 = np.minimum(y0 + 1, 3), np.minimum(x0 + 1, 3)
    fy, fx = (yy - y0)[..., None], (xx - x0)[..., None]
    out = (
        small[:, y0, x0] * (1 - fy) * (1 - fx)
        + small[:, y1, x0] * fy * (1 - fx)
        + small[:, y0, x1] * (1 - fy) * fx
        + small[:, y1, x1] * fy * fx
    )
    out += rng.normal(0, 8, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def make_jpeg_folder(root, n, classes=10, size=(240, 320)):
    """Photo-like JPEGs: an upsampled 4x4 colour field plus a shifted noise texture."""
    from PIL import Image

    rng = np.random.default_rng(0)
    h, w = size
    noise = rng.normal(0, 8, (h * 2, w * 2, 3)).astype(np.int16)
    for i in range(n):
        d = os.path.join(root, f"class_{i % classes:02d}")
        os.makedirs(d, exist_ok=True)
        field = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
        base = np.asarray(field.resize((w, h), Image.BILINEAR)).astype(np.int16)
        y, x = rng.integers(0, h), rng.integers(0, w)
        img = np.clip(base + noise[y : y + h, x : x + w], 0, 255).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(d, f"{i:06d}.jpg"), quality=90)
    return root


def make_cifar_bin(root, n_train, n_test):
    d = os.path.join(root, "cifar-10-batches-bin")
    os.makedirs(d)
    rng = np.random.default_rng(1)
    base = _smooth_images(rng, 1000, 32, 32, 3).transpose(0, 3, 1, 2).reshape(1000, 3072)

    def write(name, n):
        with open(os.path.join(d, name), "wb") as f:
            for start in range(0, n, 1000):
                m = min(1000, n - start)
                labels = rng.integers(0, 10, (m, 1)).astype(np.uint8)
                f.write(np.concatenate([labels, np.roll(base, start, axis=0)[:m]], 1).tobytes())

    per = n_train // 5
    for i in range(5):
        write(f"data_batch_{i + 1}.bin", per if i < 4 else n_train - 4 * per)
    write("test_batch.bin", n_test)
    with open(os.path.join(d, "batches.meta.txt"), "w") as f:
        f.write("\n".join(f"class_{i}" for i in range(10)) + "\n")
    return d


def make_gnt(root, total_bytes, n_chars=500):
    """HWDB-like .gnt files (~2 MB each, 60-100 px characters) totalling ~total_bytes."""
    rng = np.random.default_rng(2)
    chars = []
    for hi in range(0xB0, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                bytes([hi, lo]).decode("gb2312")
            except UnicodeDecodeError:
                continue
            chars.append(bytes([hi, lo]))
            if len(chars) == n_chars:
                break
        if len(chars) == n_chars:
            break
    glyphs = [_smooth_images(rng, 1, 100, 100, 1)[0, ..., 0] for _ in range(16)]
    written, file_i = 0, 0
    for split in ("train", "test"):
        os.makedirs(os.path.join(root, split), exist_ok=True)
    while written < total_bytes:
        split = "test" if file_i % 5 == 1 else "train"
        path = os.path.join(root, split, f"{1001 + file_i}-c.gnt")
        with open(path, "wb") as f:
            size = 0
            k = 0
            while size < 2_000_000 and written + size < total_bytes:
                h, w = int(rng.integers(60, 101)), int(rng.integers(60, 101))
                img = np.ascontiguousarray(glyphs[k % 16][:h, :w])
                rec = struct.pack("<I2sHH", 10 + h * w, chars[k % n_chars], w, h) + img.tobytes()
                f.write(rec)
                size += len(rec)
                k += 1
        written += size
        file_i += 1
    return root


# --------------------------------------------------------------------------- running


def _vm_hwm_mb(pid):
    """Peak RSS of one live process (VmHWM), MB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def child(kind, src, out, num_workers):
    """Runs one conversion in this (child) process and prints its timing as JSON."""
    sys.path.insert(0, ROOT)
    import slimcls  # noqa: F401
    from slimcls.datasets import convert_cifar10, convert_folder, convert_hwdb

    quiet = lambda msg: None  # noqa: E731
    devnull = open(os.devnull, "w")
    kw = dict(num_workers=num_workers, log=quiet, progress_stream=devnull)
    start = time.perf_counter()
    if kind == "folder":
        info = convert_folder.convert_folder(src, out, **kw)
    elif kind == "cifar10":
        info = convert_cifar10.convert_cifar10(src, out, **kw)
    else:
        info = convert_hwdb.convert_hwdb(src, out, **kw)
    seconds = time.perf_counter() - start
    images = sum(info["splits"].values())
    print(json.dumps({"seconds": seconds, "images": images, "main_hwm_mb": _vm_hwm_mb("self")}))


def run_child(kind, src, out, num_workers):
    """Converts in a child; its peak RSS is ru_maxrss from wait4 (child + its workers).

    The parent stays small (data is generated by other children), because Linux carries
    a parent's peak RSS over fork+exec into the child's ru_maxrss.
    """
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, src, out]
    if num_workers is not None:
        cmd += ["--num_workers", str(num_workers)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"bench child {kind} failed with status {proc.returncode}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    result["images_per_s"] = result["images"] / result["seconds"]
    shutil.rmtree(out, ignore_errors=True)
    return result


def generate(kind, path, amount):
    """Generates input data in a child process (keeps the measuring parent small)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--generate", kind, path, str(amount)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    print(f"generated {kind} {amount} in {time.perf_counter() - t:.0f}s", flush=True)
    return path


def _du_mb(path):
    total = 0
    for dirpath, _, names in os.walk(path):
        total += sum(os.path.getsize(os.path.join(dirpath, n)) for n in names)
    return total / 1e6


def _case(kind, label, src, work, num_workers):
    r = run_child(kind, src, os.path.join(work, "out"), num_workers)
    row = {"case": label, "converter": kind, "input_mb": _du_mb(src), **r}
    print(row, flush=True)
    shutil.rmtree(src, ignore_errors=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller inputs")
    parser.add_argument("--workdir", default=None, help="where to generate data (temp dir)")
    parser.add_argument("--num_workers", type=int, default=None, help="None: one per core")
    parser.add_argument("--results_dir", default=None)
    parser.add_argument("--child", nargs=3, metavar=("KIND", "SRC", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--generate", nargs=3, metavar=("KIND", "DIR", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child, args.num_workers)
    if args.generate:
        kind, path, amount = args.generate
        if kind == "jpeg":
            make_jpeg_folder(path, int(amount))
        elif kind == "cifar":
            n_train, n_test = (int(x) for x in amount.split("+"))
            make_cifar_bin(path, n_train, n_test)
        else:
            make_gnt(path, int(amount))
        return 0

    scale = 10 if args.quick else 1
    jpeg_sizes = (2000 // scale, 20000 // scale)
    gnt_sizes = (50_000_000 // scale, 500_000_000 // scale)
    n_train, n_test = 50000 // scale, 10000 // scale
    work = args.workdir or tempfile.mkdtemp(prefix="slimcls-bench-")
    rows = []
    try:
        for n in jpeg_sizes:
            src = generate("jpeg", os.path.join(work, f"jpegs{n}"), n)
            rows.append(_case("folder", f"folder: {n:,} JPEG 320x240", src, work, args.num_workers))
        for size in gnt_sizes:
            src = generate("gnt", os.path.join(work, f"gnt{size}"), size)
            label = f"hwdb: {size / 1e6:.0f} MB .gnt"
            rows.append(_case("hwdb", label, src, work, args.num_workers))
        generate("cifar", os.path.join(work, "cifar"), f"{n_train}+{n_test}")
        src = os.path.join(work, "cifar", "cifar-10-batches-bin")
        label = f"cifar10: {n_train:,}+{n_test:,} bin"
        rows.append(_case("cifar10", label, src, work, args.num_workers))
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    # Streaming converters keep memory flat: the 10x input's peak over the small one's.
    growth = {}
    for kind in ("folder", "hwdb"):
        small, big = (r for r in rows if r["converter"] == kind)
        growth[kind] = big["peak_rss_mb"] / small["peak_rss_mb"]
        big["rss_growth"] = growth[kind]
        big["input_ratio"] = big["images"] / small["images"]
    print()
    print(
        common.table(
            rows,
            [
                ("case", "case"), ("input_mb", "input MB"), ("images", "images"),
                ("seconds", "seconds"), ("images_per_s", "images/s"),
                ("peak_rss_mb", "peak RSS MB"), ("main_hwm_mb", "main process MB"),
                ("rss_growth", "rss_growth (10x input)"),
            ],
        )
    )  # fmt: skip
    path = common.write_result(
        "convert",
        rows,
        quick=args.quick,
        python=sys.executable,
        results_dir=args.results_dir,
        extra={
            "rss_growth": growth,
            "method": "each conversion in a child; peak RSS = ru_maxrss of the child and its "
            "workers (wait4); images/s = images / conversion seconds (after imports); "
            "rss_growth = peak RSS at 10x the input / peak RSS at 1x",
        },
    )
    print("\nrss_growth (peak RSS at 10x input / at 1x): "
          + ", ".join(f"{k} {v:.2f}" for k, v in growth.items()))  # fmt: skip
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
