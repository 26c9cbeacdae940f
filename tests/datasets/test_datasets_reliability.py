"""Fault-injecting tests of the converters' file safety: foreign files, the lock, verified
shards, --overwrite swaps, orphaned workers, stale work folders and determinism."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from PIL import Image

from slimcls.core import locking
from slimcls.core.errors import SlimclsError
from slimcls.datasets import convert_folder, converter, sharded_output
from tests.helpers import ENV, REPO


def _pets(root, n=4, seed=0):
    rng = np.random.default_rng(seed)
    for c in ("cat", "dog"):
        os.makedirs(os.path.join(root, c), exist_ok=True)
        for i in range(n):
            img = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
            Image.fromarray(img).save(os.path.join(root, c, f"{i}.png"))
    return root


def _convert(src, out, **kw):
    kw.setdefault("num_workers", 0)
    return convert_folder.convert_folder(src, out, log=kw.pop("log", lambda m: None), **kw)


def _snapshot(d):
    return {
        n: open(os.path.join(d, n), "rb").read()
        for n in sorted(os.listdir(d))
        if os.path.isfile(os.path.join(d, n))
    }


# ------------------------------------------------------------------ a. foreign files


def test_tf_slim_dataset_is_refused_and_untouched(tmp_path):
    out = tmp_path / "cifar"
    out.mkdir()
    for n in ("cifar10_train.tfrecord", "cifar10_test.tfrecord"):
        (out / n).write_bytes(b"tf-slim records")
    (out / "labels.txt").write_text("0:airplane\n")
    before = _snapshot(str(out))
    src = _pets(str(tmp_path / "cifar10"))
    with pytest.raises(SlimclsError, match=r"holds files of another dataset \(cifar10_test"):
        _convert(src, str(out), name="cifar10")
    assert _snapshot(str(out)) == before and sorted(os.listdir(out)) == sorted(before)


def test_tf_slim_flowers_shards_are_not_taken_for_leftovers(tmp_path):
    out = tmp_path / "flowers"
    out.mkdir()
    for i in range(5):
        (out / f"flowers_train_{i:05d}-of-00005.tfrecord").write_bytes(b"tf-slim")
    (out / "labels.txt").write_text("0:daisy\n")
    before = _snapshot(str(out))
    src = _pets(str(tmp_path / "src"))
    with pytest.raises(SlimclsError, match="flowers_train_00000-of-00005.tfrecord"):
        convert_folder.convert_flowers(src, str(out), num_workers=0, log=lambda m: None)
    assert _snapshot(str(out)) == before


def test_unrelated_files_are_kept(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    _convert(_pets(str(tmp_path / "pets")), str(out))
    _convert(_pets(str(tmp_path / "pets")), str(out), overwrite=True, validation_fraction=0.5)
    assert (out / "notes.md").read_text() == "mine"


# ------------------------------------------------------------------ b. one writer


def test_second_writer_gets_one_line_naming_the_holder(tmp_path):
    out = str(tmp_path / "out")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        os.makedirs(out)
        with open(os.path.join(out, locking.LOCK_FILENAME), "w") as f:
            json.dump({"host": socket.gethostname(), "pid": holder.pid}, f)
        with pytest.raises(SlimclsError, match=rf"in use by pid {holder.pid} on host") as e:
            _convert(_pets(str(tmp_path / "pets")), out)
        assert "\n" not in str(e.value)
        assert not os.path.exists(os.path.join(out, "dataset.json"))
    finally:
        holder.kill()
        holder.wait()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    out = str(tmp_path / "out")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    os.makedirs(out)
    with open(os.path.join(out, locking.LOCK_FILENAME), "w") as f:
        json.dump({"host": socket.gethostname(), "pid": gone.pid}, f)
    logs = []
    info = _convert(_pets(str(tmp_path / "pets")), out, log=logs.append)
    assert info["splits"]["train"] > 0
    assert any(f"stale lock of pid {gone.pid}" in m for m in logs)
    assert not os.path.exists(os.path.join(out, locking.LOCK_FILENAME))  # released


def test_dir_lock_excludes_within_and_across_processes(tmp_path):
    d = str(tmp_path)
    with locking.DirLock(d, what="--train_dir"):
        with pytest.raises(SlimclsError, match=r"--train_dir .* in use by pid"):
            locking.DirLock(d, what="--train_dir").acquire()
        code = (
            "from slimcls.core.locking import DirLock\n"
            f"DirLock({d!r}, what='--train_dir').acquire()"
        )
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
        assert r.returncode != 0 and f"in use by pid {os.getpid()}" in r.stderr
    assert os.listdir(d) == []


# ------------------------------------------------------------------ c. verified shards


def test_corrupt_shard_means_no_dataset_json(tmp_path, monkeypatch):
    real_close = sharded_output.ShardedWriter.close

    def close_then_corrupt(self):
        n = real_close(self)
        path = self.path(0)
        data = open(path, "rb").read()
        with open(path, "wb") as f:  # flip a byte of the first record's data: CRC mismatch
            f.write(data[:20] + bytes([data[20] ^ 0xFF]) + data[21:])
        return n

    monkeypatch.setattr(sharded_output.ShardedWriter, "close", close_then_corrupt)
    out = str(tmp_path / "out")
    with pytest.raises(SlimclsError, match="is corrupt"):
        _convert(_pets(str(tmp_path / "pets")), out)
    assert not os.path.exists(out)  # staging removed, lock released, the folder it made too


def test_short_shard_means_no_dataset_json(tmp_path, monkeypatch):
    real_write = sharded_output.ShardedWriter.write

    def drop_third(self, record):
        if self.count == 2 and not getattr(self, "_dropped", False):
            self._dropped = True
            self.shard_counts[max(self._index, 0)] += 0  # counted below as written
            self.count += 1
            self.shard_counts[max(self._index, 0)] += 1
            return
        real_write(self, record)

    monkeypatch.setattr(sharded_output.ShardedWriter, "write", drop_third)
    out = str(tmp_path / "out")
    with pytest.raises(SlimclsError, match="records; expected"):
        _convert(_pets(str(tmp_path / "pets")), out, validation_fraction=0)
    assert not os.path.exists(os.path.join(out, "dataset.json"))


# ------------------------------------------------------------------ d. --overwrite swap


def test_failed_overwrite_keeps_the_old_dataset(tmp_path, monkeypatch):
    src = _pets(str(tmp_path / "pets"))
    out = str(tmp_path / "out")
    _convert(src, out, num_shards=2)
    before = _snapshot(out)

    def boom(args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(convert_folder, "_convert_chunk", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        _convert(src, out, overwrite=True, num_shards=1)
    assert _snapshot(out) == before and sorted(os.listdir(out)) == sorted(before)


def test_overwrite_swaps_in_the_new_dataset_only_names_it_wrote(tmp_path):
    src = _pets(str(tmp_path / "pets"))
    out = str(tmp_path / "out")
    _convert(src, out, num_shards=2)
    info = _convert(src, out, overwrite=True, num_shards=1, validation_fraction=0)
    assert info["shards"] == {"train": 1}
    assert sorted(os.listdir(out)) == [
        "dataset.json",
        "labels.txt",
        "pets_train_00000-of-00001.tfrecord",
    ]


def test_swap_killed_half_way_is_finished_by_the_next_run(tmp_path, monkeypatch):
    src = _pets(str(tmp_path / "pets"))
    out = str(tmp_path / "out")
    _convert(src, out, num_shards=2)

    class Killed(BaseException):
        pass

    real_rename = sharded_output.tf.io.gfile.rename
    calls = []

    def rename_then_die(a, b, overwrite=False):
        if sharded_output.STAGING_DIRNAME in a and os.path.dirname(b) == out:
            calls.append(b)  # a move of the swap
        if len(calls) == 2:
            raise Killed()  # like a kill -9 after the first file of the swap moved
        return real_rename(a, b, overwrite=overwrite)

    monkeypatch.setattr(sharded_output.tf.io.gfile, "rename", rename_then_die)
    monkeypatch.setattr(sharded_output.OutputPlan, "discard", lambda self: None)  # no cleanup
    with pytest.raises(Killed):
        _convert(src, out, overwrite=True, num_shards=1, validation_fraction=0)
    monkeypatch.undo()
    assert not os.path.exists(os.path.join(out, "dataset.json"))
    logs = []
    info = _convert(src, out, log=logs.append, num_shards=1, validation_fraction=0)
    assert any("interrupted swap" in m for m in logs)
    assert info["shards"] == {"train": 1} and info["splits"] == {"train": 8}
    assert sorted(os.listdir(out)) == [
        "dataset.json",
        "labels.txt",
        "pets_train_00000-of-00001.tfrecord",
    ]


class _Killed(BaseException):
    """Stands for a kill -9: nothing below catches it, nothing cleans up."""


def _kill_swap_before_op(monkeypatch, stop):
    """Makes the ``stop``-th file operation (0-based) of the swap raise :class:`_Killed`
    before it happens; returns the list the performed operations are appended to."""
    gfile = sharded_output.tf.io.gfile
    done, active = [], []
    real_swap = sharded_output.OutputPlan._swap

    def swap(self):
        active.append(1)
        try:
            real_swap(self)
        finally:
            active.pop()

    def counted(name):
        real = getattr(gfile, name)

        def op(*args, **kwargs):
            if active:
                if len(done) == stop:
                    raise _Killed()
                done.append((name, os.path.basename(args[0])))
            return real(*args, **kwargs)

        monkeypatch.setattr(gfile, name, op)

    for name in ("remove", "rename", "rmtree"):
        counted(name)
    monkeypatch.setattr(sharded_output.OutputPlan, "_swap", swap)
    monkeypatch.setattr(sharded_output.OutputPlan, "discard", lambda self: None)  # killed
    return done


def test_every_state_of_a_killed_swap_is_refused_by_readers_and_finished(tmp_path, monkeypatch):
    import shutil

    from slimcls.datasets import dataset_factory

    src = _pets(str(tmp_path / "pets"), n=6)
    old_dir = str(tmp_path / "old")
    _convert(src, old_dir, num_shards=2, validation_fraction=0.5)
    old = _snapshot(old_dir)
    new_kw = dict(num_shards=2, validation_fraction=0.25, overwrite=True)  # same shard names
    ref_dir = str(tmp_path / "ref")
    shutil.copytree(old_dir, ref_dir)
    ops = _kill_swap_before_op(monkeypatch, stop=-1)  # count them, kill nowhere
    _convert(src, ref_dir, **new_kw)
    monkeypatch.undo()
    reference = _snapshot(ref_dir)
    assert len(ops) >= 6 and reference != old, ops
    for k in range(len(ops)):
        out = str(tmp_path / f"out{k}")
        shutil.copytree(old_dir, out)
        _kill_swap_before_op(monkeypatch, stop=k)
        with pytest.raises(_Killed):
            _convert(src, out, **new_kw)
        monkeypatch.undo()
        state = _snapshot(out)
        if "dataset.json" in state:  # not begun (old) or done but for the staging folder
            assert {n: state[n] for n in old} == old or state == reference, k
            desc = dataset_factory.get_dataset(None, "train", out)
            assert desc.num_samples == sum(sharded_output.count_records(f) for f in desc.files), k
        else:  # part old, part new: every reader refuses, saying how to finish it
            for read, args in (
                (dataset_factory.get_dataset, (None, "train", out)),
                (dataset_factory.get_dataset, ("pets", "validation", out)),
                (dataset_factory.get_dataset_info, (None, out)),
            ):
                with pytest.raises(SlimclsError, match="interrupted while swapping") as e:
                    read(*args)
                message = str(e.value)
                assert "\n" not in message
                assert f"--dataset_name=adopt --dataset_dir={out}" in message
        logs = []
        if k % 2:  # finished by the adopt command the message names ...
            converter.convert(
                converter.ConvertConfig(dataset_name="adopt", dataset_dir=out), log=logs.append
            )
        else:  # ... or by running the conversion again
            _convert(src, out, log=logs.append, **{**new_kw, "overwrite": False})
        got = {n: v for n, v in _snapshot(out).items() if n != locking.LOCK_FILENAME}
        assert got == reference, (k, ops[k], logs)
        assert not os.path.exists(os.path.join(out, sharded_output.STAGING_DIRNAME))


def test_staging_without_dataset_json_is_refused_by_readers(tmp_path):
    from slimcls.datasets import dataset_factory

    staging = tmp_path / "out" / sharded_output.STAGING_DIRNAME
    staging.mkdir(parents=True)  # a first conversion, running or killed
    (staging / "pets_train_00000-of-00001.tfrecord.tmp").write_bytes(b"x")
    out = tmp_path / "out"
    with pytest.raises(SlimclsError, match="only the staging folder .* running or was inter"):
        dataset_factory.get_dataset(None, "train", str(out))


def test_an_exception_inside_the_swap_keeps_it_finishable(tmp_path, monkeypatch):
    """Ctrl-C (or any error) half-way through the swap: the staging folder holds the only
    copy of the new files not moved yet, so it is kept (before, it was deleted: neither
    the old nor the new dataset was left)."""
    import shutil

    from slimcls.datasets import dataset_factory

    src = _pets(str(tmp_path / "pets"), n=6)
    out, ref = str(tmp_path / "out"), str(tmp_path / "ref")
    _convert(src, out, num_shards=2, validation_fraction=0.5)
    shutil.copytree(out, ref)
    new_kw = dict(num_shards=2, validation_fraction=0.25, overwrite=True)
    _convert(src, ref, **new_kw)
    gfile = sharded_output.tf.io.gfile
    real_rename, moves = gfile.rename, []

    def rename(a, b, overwrite=False):
        if sharded_output.STAGING_DIRNAME in a and os.path.dirname(b) == out:
            moves.append(b)
            if len(moves) == 3:
                raise KeyboardInterrupt  # not a signal: deferring cannot hold it back
        return real_rename(a, b, overwrite=overwrite)

    monkeypatch.setattr(gfile, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        _convert(src, out, **new_kw)
    monkeypatch.undo()
    assert os.path.exists(os.path.join(out, sharded_output.STAGING_DIRNAME, "swap.json"))
    with pytest.raises(SlimclsError, match="interrupted while swapping"):
        dataset_factory.get_dataset(None, "train", out)
    _convert(src, out, **{**new_kw, "overwrite": False})
    got = {n: v for n, v in _snapshot(out).items() if n != locking.LOCK_FILENAME}
    assert got == _snapshot(ref)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_swap_waits_for_it_to_finish(tmp_path, monkeypatch, signum):
    from slimcls.core import signals

    src = _pets(str(tmp_path / "pets"), n=6)
    out, ref = str(tmp_path / "out"), str(tmp_path / "ref")
    _convert(src, ref, num_shards=2, validation_fraction=0.25)
    _convert(src, out, num_shards=2, validation_fraction=0.5)
    gfile = sharded_output.tf.io.gfile
    real_rename, sent = gfile.rename, []

    def rename(a, b, overwrite=False):
        if sharded_output.STAGING_DIRNAME in a and os.path.dirname(b) == out and not sent:
            sent.append(1)
            os.kill(os.getpid(), signum)  # arrives with the first move of the swap
        return real_rename(a, b, overwrite=overwrite)

    monkeypatch.setattr(gfile, "rename", rename)
    expected = KeyboardInterrupt if signum == signal.SIGINT else signals.Terminated
    with pytest.raises(expected):
        _convert(src, out, num_shards=2, validation_fraction=0.25, overwrite=True)
    monkeypatch.undo()
    assert sent and _snapshot(out) == _snapshot(ref)  # the swap completed first
    assert not os.path.exists(os.path.join(out, sharded_output.STAGING_DIRNAME))


def test_sigterm_during_conversion_cleans_up_and_says_so(tmp_path, monkeypatch):
    import tempfile

    from slimcls.core import signals

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    os.makedirs(tmp_path / "tmp")
    src = _pets(str(tmp_path / "pets"), n=40)
    out = str(tmp_path / "out")
    _convert(src, out, num_shards=2)
    before = _snapshot(out)
    real, calls = convert_folder._convert_chunk, []

    def chunk_then_sigterm(args):
        calls.append(1)
        if len(calls) == 2:  # half-way through writing the new shards
            os.kill(os.getpid(), signal.SIGTERM)
        return real(args)

    monkeypatch.setattr(convert_folder, "_convert_chunk", chunk_then_sigterm)
    with pytest.raises(signals.Terminated, match=rf"^stopped by SIGTERM; {out} holds what it"):
        _convert(src, out, num_shards=3, overwrite=True)
    assert _snapshot(out) == before and sorted(os.listdir(out)) == sorted(before)  # no lock,
    assert os.listdir(tmp_path / "tmp") == []  # no staging folder, no work folder
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_no_op_rerun_removes_the_work_folder_of_a_killed_run(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    src = _pets(str(tmp_path / "pets"))
    out = str(tmp_path / "out")
    _convert(src, out)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f"{converter.WORKDIR_PREFIX}{gone.pid}-folder-abc"
    stale.mkdir()
    logs = []
    _convert(src, out, log=logs.append)  # complete already: nothing to do
    assert "nothing to do" in logs[-1]
    assert not stale.exists()


def test_long_output_name_is_one_line_before_anything_is_written(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(SlimclsError, match=r"is 240 characters long; expected at most 100"):
        _convert(_pets(str(tmp_path / "pets")), str(out), name="n" * 240)
    assert not out.exists()


def test_read_only_dataset_dir_is_one_line(tmp_path, monkeypatch):
    import errno

    out = tmp_path / "out"

    def refusing(real):
        def make(path, *args, **kwargs):  # what a read-only directory answers (root or not)
            if str(path).startswith(str(out)):
                raise PermissionError(errno.EROFS, "Read-only file system", str(path))
            return real(path, *args, **kwargs)

        return make

    src = _pets(str(tmp_path / "pets"))
    monkeypatch.setattr(os, "makedirs", refusing(os.makedirs))  # the lock's directory
    with pytest.raises(SlimclsError, match=r"--dataset_dir .*out cannot be written \(Read-only"):
        _convert(src, str(out))
    monkeypatch.undo()
    out.mkdir()
    gfile = sharded_output.tf.io.gfile
    monkeypatch.setattr(gfile, "makedirs", refusing(gfile.makedirs))  # the staging folder
    with pytest.raises(SlimclsError, match=r"--dataset_dir=.*out: cannot write .*out.* \(Read"):
        _convert(src, str(out))
    assert os.listdir(out) == []


_SIGTERM_CLI = """
import os, sys, runpy
sys.argv = ["download_and_convert_data", *sys.argv[1:]]
runpy.run_module("slimcls.download_and_convert_data", run_name="__main__")
"""


@pytest.mark.heavy
def test_sigterm_to_the_command_is_one_line_143_and_leaves_nothing(tmp_path):
    src = _pets(str(tmp_path / "pets"), n=300)
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "slimcls.download_and_convert_data", "--dataset_name=folder",
            f"--source_dir={src}", f"--dataset_dir={out}", "--num_workers=0",
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**ENV, "TMPDIR": str(tmp)}, cwd=REPO,
    )  # fmt: skip
    deadline = time.time() + 120
    while not (out / sharded_output.STAGING_DIRNAME).exists() and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    lines = [ln for ln in err.splitlines() if ln.startswith("download_and_convert_data")]
    assert proc.returncode == 143, err
    assert lines == [
        f"download_and_convert_data: stopped by SIGTERM; {out} holds what it held before "
        "(the partial conversion was removed)"
    ], err
    assert not out.exists() and os.listdir(tmp) == []  # created by it, empty: removed


# ------------------------------------------------------------------ g. orphans, work folders

_ORPHAN_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from slimcls.datasets.parallel import parallel_map

    def work(i):
        time.sleep(120)
        return i

    def pids(_):
        return os.getpid()

    if __name__ == "__main__":
        import glob, threading
        it = parallel_map(work, range(100), num_workers=2)
        threading.Thread(target=lambda: next(it), daemon=True).start()
        time.sleep(3)  # then report the worker pids: children of this process
        kids = []
        for p in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = open(p).read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == os.getpid():
                kids.append(p.split("/")[2])
        print(" ".join(kids), flush=True)
        time.sleep(120)
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
def test_workers_die_with_a_killed_parent(tmp_path):
    script = tmp_path / "orphans.py"
    script.write_text(_ORPHAN_SCRIPT)
    env = {**ENV, "PYTHONPATH": REPO}
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        line = parent.stdout.readline()
        kids = [int(p) for p in line.split()]
        assert len(kids) >= 2, line
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.time() + 10
        while time.time() < deadline and any(locking.pid_alive(k) for k in kids):
            time.sleep(0.2)
        assert not [k for k in kids if locking.pid_alive(k)]
    finally:
        parent.kill()


def test_work_folders_of_killed_runs_are_removed(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f"{converter.WORKDIR_PREFIX}{gone.pid}-folder-abc"
    (stale / "extracted").mkdir(parents=True)
    live = tmp_path / f"{converter.WORKDIR_PREFIX}{os.getppid()}-folder-xyz"
    live.mkdir()
    logs = []
    converter.remove_stale_workdirs(logs.append)
    assert not stale.exists() and live.exists()
    assert any("killed conversion" in m for m in logs)


# ------------------------------------------------------------------ h. determinism


def test_same_input_and_seed_give_identical_bytes_in_process(tmp_path):
    src = _pets(str(tmp_path / "pets"), n=6)
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    _convert(src, a, num_shards=2, random_seed=3)
    _convert(src, b, num_shards=2, random_seed=3, num_workers=2)
    assert _snapshot(a) == _snapshot(b) and len(_snapshot(a)) == 6


@pytest.mark.slow
def test_same_input_and_seed_give_identical_bytes_across_processes(tmp_path):
    src = _pets(str(tmp_path / "pets"), n=6)
    outs = []
    for i, workers in enumerate((0, 2)):
        out = str(tmp_path / f"out{i}")
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "slimcls.download_and_convert_data",
                "--dataset_name=folder",
                f"--source_dir={src}",
                f"--dataset_dir={out}",
                "--random_seed=5",
                "--num_shards=2",
                f"--num_workers={workers}",
            ],
            capture_output=True,
            text=True,
            env=ENV,
            cwd=REPO,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
        outs.append(_snapshot(out))
    assert outs[0] == outs[1] and any(n.endswith(".tfrecord") for n in outs[0])


# ------------------------------------------------------------------ f. pixel limits


def _png_header_only(width, height):
    import struct
    import zlib

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 16)  # 16 bytes of pixels for a huge image: decoding fails
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_pixel_limit_is_checked_from_the_header_before_decoding():
    from slimcls.datasets import image_codec

    with pytest.raises(image_codec.Rejected, match=r"20000x3000 is 60000000 pixels, above"):
        image_codec.load_image(_png_header_only(20000, 3000))
    with pytest.raises(image_codec.Rejected, match="cannot decode"):  # under the limit: decoded
        image_codec.load_image(_png_header_only(2000, 3000))


def test_large_images_rejected_and_listed_or_downscaled(tmp_path):
    src = _pets(str(tmp_path / "pets"))
    Image.fromarray(np.zeros((20, 40, 3), np.uint8)).save(os.path.join(src, "cat", "big.png"))
    out = str(tmp_path / "out")
    info = _convert(src, out, validation_fraction=0, max_image_pixels=500)
    assert info["splits"] == {"train": 8}
    rejected = open(os.path.join(out, "rejected.txt")).read()
    assert (
        rejected == "cat/big.png\t40x20 is 800 pixels, above --max_image_pixels 500; not decoded\n"
    )
    out2 = str(tmp_path / "out2")
    _convert(src, out2, validation_fraction=0, max_image_size=10)
    from slimcls.datasets import dataset_factory, record_format

    d = dataset_factory.get_dataset("pets", "train", out2)
    sizes = set()
    from slimcls.core.compat import tf

    for rec in tf.data.TFRecordDataset(list(d.files)):
        r = record_format.decode_record(bytes(rec.numpy()))
        sizes.add((r[record_format.KEY_HEIGHT], r[record_format.KEY_WIDTH]))
    assert (5, 10) in sizes and all(max(s) <= 10 for s in sizes)


def test_disk_full_while_writing_shards_is_one_line_and_leaves_no_dataset(tmp_path, monkeypatch):
    import errno

    class FullDisk:
        def __init__(self, path):
            self.path = path

        def write(self, record):
            raise OSError(errno.ENOSPC, "No space left on device", self.path)

        def close(self):
            pass

    monkeypatch.setattr(sharded_output.tf.io, "TFRecordWriter", FullDisk)
    out = str(tmp_path / "out")
    with pytest.raises(SlimclsError, match="no space left on the device of") as e:
        _convert(_pets(str(tmp_path / "pets")), out)
    assert "\n" not in str(e.value)
    assert not os.path.exists(os.path.join(out, "dataset.json"))
