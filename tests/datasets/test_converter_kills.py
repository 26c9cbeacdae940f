"""kill -9 at random moments of the folder, cifar10 and hwdb converters (slow).

Each converter first runs uninterrupted on a small generated input (the reference), then in
5 trials is killed with SIGKILL at a random time within its conversion and run again. After
each kill: no ``dataset.json`` over incomplete shards (when there is one, the dataset is the
reference), no half-written shard under a final name, no worker left alive in the killed
process group; after the rerun: the dataset is byte-identical to the reference and no
staging folder, temporary shard or work folder of the killed run remains.
"""

import json
import os
import random
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from slimcls.core import locking
from slimcls.datasets import record_format as rf
from slimcls.datasets import sharded_output
from tests.helpers import ENV, REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc"),
]
TRIALS = 5

_DRIVER = """
import sys, json
from slimcls.config import ConvertConfig
from slimcls.datasets import converter
kw = json.loads(sys.argv[1])
print("READY", flush=True)
converter.convert(ConvertConfig(**kw), log=lambda m: None)
"""


def _folder_input(root):
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        os.makedirs(os.path.join(root, c))
        for i in range(60):
            img = rng.integers(0, 256, (8, 7, 3), dtype=np.uint8)
            Image.fromarray(img).save(os.path.join(root, c, f"{i}.png"))
    return {"dataset_name": "folder", "validation_fraction": 0.2}


def _cifar_input(root):
    rng = np.random.default_rng(1)
    os.makedirs(root)
    with open(os.path.join(root, "batches.meta.txt"), "w") as f:
        f.write("\n".join(f"c{i}" for i in range(10)) + "\n")
    for name, n in (("data_batch_1.bin", 600), ("data_batch_2.bin", 600), ("test_batch.bin", 300)):
        labels = rng.integers(0, 10, (n, 1), dtype=np.uint8)
        pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        with open(os.path.join(root, name), "wb") as f:
            f.write(np.concatenate([labels, pixels], axis=1).tobytes())
    return {"dataset_name": "cifar10"}


def _hwdb_input(root):
    rng = np.random.default_rng(2)
    chars = "一二三人大"
    for split, writers in (("train", 3), ("test", 1)):
        os.makedirs(os.path.join(root, split))
        for w in range(writers):
            recs = []
            for _ in range(150):
                c, wd, ht = (
                    chars[rng.integers(5)],
                    int(rng.integers(8, 20)),
                    int(rng.integers(8, 20)),
                )
                pix = rng.integers(0, 256, wd * ht, dtype=np.uint8).tobytes()
                recs.append(struct.pack("<I2sHH", 10 + wd * ht, c.encode("gb2312"), wd, ht) + pix)
            with open(os.path.join(root, split, f"w{w}.gnt"), "wb") as f:
                f.write(b"".join(recs))
    return {"dataset_name": "hwdb"}


def _start(kw, tmpdir):
    env = {**ENV, "PYTHONPATH": REPO, "TMPDIR": tmpdir}
    proc = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, json.dumps(kw)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
        start_new_session=True,  # its own process group: the workers' group id is its pid
    )
    assert proc.stdout.readline().strip() == "READY", proc.stderr.read()
    return proc


def _snapshot(d):
    return {  # the killed run's lock stays until the next run takes it over
        n: open(os.path.join(d, n), "rb").read()
        for n in sorted(os.listdir(d))
        if os.path.isfile(os.path.join(d, n))
    }


def _group_alive(pgid):
    alive = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:  # state, ppid, pgrp
            alive.append(int(p))
    return alive


def _check_after_kill(out, name, reference):
    if not os.path.isdir(out):
        return "nothing"
    staging = os.path.join(out, sharded_output.STAGING_DIRNAME)
    shard = rf.any_shard_regex(name)
    for d in (out, staging):
        for n in os.listdir(d) if os.path.isdir(d) else []:
            if shard.match(n) and n.endswith(".tfrecord"):  # a final name: complete
                sharded_output.count_records(os.path.join(d, n))
                if d == out:
                    assert _snapshot(out)[n] == reference[n], f"{n} differs from the reference"
    if os.path.exists(os.path.join(out, rf.DATASET_JSON)):
        info = rf.read_dataset_json(out)
        for split, n in info["splits"].items():
            paths = [p for p in rf.shard_paths(out, info) if f"_{split}_" in p]
            assert sum(sharded_output.count_records(p) for p in paths) == n
        got = {k: v for k, v in _snapshot(out).items() if k != locking.LOCK_FILENAME}
        assert got == reference, "killed after dataset.json, yet not the reference dataset"
        return "complete"
    return "partial"


@pytest.mark.parametrize("make_input", [_folder_input, _cifar_input, _hwdb_input])
def test_kill_9_at_random_times(tmp_path, make_input):
    src = str(tmp_path / "src")
    kw = make_input(src)
    kw.update(source_dir=src, num_shards=3, num_workers=2, random_seed=7)
    name = rf.validate_name({"folder": "src"}.get(kw["dataset_name"], kw["dataset_name"]))

    ref_out, ref_tmp = str(tmp_path / "ref"), str(tmp_path / "ref_tmp")
    os.makedirs(ref_tmp)
    proc = _start({**kw, "dataset_dir": ref_out}, ref_tmp)
    t0 = time.monotonic()  # after the imports: kill times fall within the conversion
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    duration = time.monotonic() - t0
    reference = _snapshot(ref_out)
    assert any(n.endswith(".tfrecord") for n in reference)

    rng = random.Random(f"{kw['dataset_name']}-kills")
    outcomes = []
    for trial in range(TRIALS):
        out, tmp = str(tmp_path / f"out{trial}"), str(tmp_path / f"tmp{trial}")
        os.makedirs(tmp)
        delay = rng.uniform(0.0, 1.1 * duration)
        proc = _start({**kw, "dataset_dir": out}, tmp)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 10
        while _group_alive(proc.pid) and time.time() < deadline:
            time.sleep(0.2)
        assert not _group_alive(proc.pid), f"workers outlived the killed converter {proc.pid}"
        outcomes.append((round(delay, 2), _check_after_kill(out, name, reference)))

        rerun = _start({**kw, "dataset_dir": out}, tmp)
        assert rerun.wait(timeout=600) == 0, rerun.stderr.read()
        assert _snapshot(out) == reference, f"trial {trial} (killed after {delay:.2f} s)"
        assert not os.path.exists(os.path.join(out, sharded_output.STAGING_DIRNAME))
        leftovers = [n for n in os.listdir(tmp) if n.startswith(f"slimcls-convert-{proc.pid}-")]
        assert not leftovers, leftovers
    print(f"{kw['dataset_name']}: reference {duration:.1f} s; kills (s, state): {outcomes}")
