"""Scale-out: clones on logical CPU devices, synchronised BatchNorm, multi-worker runs.

Logical devices must be configured before TensorFlow initialises, and a multi-worker
strategy owns its process, so every test here runs its training in fresh subprocesses.
"""

import csv
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

from slimcls.model import checkpoints
from slimcls.train import distribute
from tests.helpers import ENV, REPO, write_toy_dataset

NUM_CLASSES = 4
SIZE = 12
#: 2 clones x batch 8 vs 1 clone x batch 16: same examples per step, same updates up to
#: float32 summation order (per-replica partial sums), so losses agree to ~1e-6 relative
#: over a few steps; 1e-4 leaves room and still catches any real difference (the decay
#: schedule counted in per-clone batches, weight decay counted twice, a per-replica mean).
LOSS_RTOL = 1e-4


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    """48 train toy images in 2 shards (no validation split)."""
    return write_toy_dataset(tmp_path_factory.mktemp("toy"), num_train=48, num_validation=0)


def _python(code: str, timeout: float = 300, env=None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or ENV,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def _losses(train_dir) -> dict[int, float]:
    with open(os.path.join(train_dir, "train_log.csv")) as f:
        return {
            int(r["step"]): float(r["loss"]) for r in csv.DictReader(f) if r["split"] == "train"
        }


def _flags(dataset_dir, train_dir, **kw) -> list[str]:
    values = dict(
        train_dir=train_dir,
        dataset_dir=dataset_dir,
        model_name="small_cnn",
        train_image_size=SIZE,
        batch_size=8,
        max_number_of_steps=6,
        log_every_n_steps=1,
        optimizer="momentum",
        learning_rate=0.05,
        learning_rate_decay_type="exponential",
        learning_rate_decay_factor=0.5,
        num_epochs_per_decay=1,
        weight_decay=0.004,
        random_seed=3,
        shuffle_buffer_size=48,
        save_interval_secs=3600,
        num_summary_images=0,
    )
    values.update(kw)
    return [f"--{k}={v}" for k, v in values.items()]


@pytest.mark.slow  # ~70-110 s on 2 shared cores: three processes
def test_two_cpu_clones_follow_one_clone_with_the_doubled_batch(dataset_dir, tmp_path):
    """Same start, same data: 2 clones x 8 == 1 clone x 16 step by step (no BatchNorm).

    The schedule decays after int(48 / 16 * 1) = 3 steps in both (global batches), and
    weight decay (nonzero) enters once.
    """
    init = str(tmp_path / "init")
    _python(
        f"""
        from slimcls.model import checkpoints
        from slimcls.model import modeling
        model = modeling.build(modeling.plan("small_cnn", {NUM_CLASSES}, image_size={SIZE}))
        checkpoints.save_checkpoint(model.variables_by_name(), {init!r}, 0)
        """
    )
    # The stock preprocessings are random (crops, flips, colour), and so is dropout: their
    # draws depend on how many random ops ran before and on the replica. Both are taken out.
    (tmp_path / "plain_prep.py").write_text(
        "import tensorflow as tf\n"
        "def preprocess_image(image, h, w, is_training=False, use_grayscale=False, **kw):\n"
        "    return tf.image.resize(tf.cast(image, tf.float32) / 255.0 - 0.5, [h, w])\n"
    )
    runner = f"""
import sys
sys.path.insert(0, {str(tmp_path)!r})
import dataclasses, functools
from slimcls.preprocessing import preprocessing_factory
preprocessing_factory.STYLES["plain"] = "plain_prep"
from slimcls.nets import nets_factory
spec = nets_factory.NETWORKS["small_cnn"]
fn = functools.partial(spec.fn, dropout_keep_prob=1.0)  # dropout draws differ per replica
fn.default_image_size = getattr(spec.fn, "default_image_size", {SIZE})
nets_factory.NETWORKS["small_cnn"] = dataclasses.replace(spec, fn=fn)
from slimcls.cli import train_image_classifier
sys.argv = ["train_image_classifier", *sys.argv[1:]]
train_image_classifier.main()
"""
    runs = {}
    for name, kw in {
        "one": dict(batch_size=16),
        "two": dict(batch_size=8, num_clones=2, clone_on_cpu=True),
    }.items():
        train_dir = str(tmp_path / name)
        flags = _flags(
            dataset_dir, train_dir, checkpoint_path=init, preprocessing_name="plain", **kw
        )
        proc = subprocess.run(
            [sys.executable, "-c", runner, *flags],
            capture_output=True,
            text=True,
            timeout=300,
            env=ENV,
            cwd=REPO,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        runs[name] = train_dir
    assert "MirroredStrategy (2 replicas" in proc.stderr
    assert "batch 8 per replica (16 global)" in proc.stderr
    one, two = _losses(runs["one"]), _losses(runs["two"])
    assert sorted(one) == sorted(two) == list(range(1, 7))
    np.testing.assert_allclose([two[s] for s in one], list(one.values()), rtol=LOSS_RTOL)
    assert len(set(one.values())) == 6  # the losses do move
    # Checkpoints: the same TF-Slim keys, no replica suffixes, equal values.
    a = checkpoints.latest_checkpoint(runs["one"])
    b = checkpoints.latest_checkpoint(runs["two"])
    keys_a, keys_b = checkpoints.read_shapes(a), checkpoints.read_shapes(b)
    assert keys_a == keys_b
    assert not [k for k in keys_b if "replica" in k or k.endswith(("_1", ":1"))]
    names = sorted(keys_a)
    va, vb = checkpoints.read_tensors(a, names), checkpoints.read_tensors(b, names)
    for n in names:
        np.testing.assert_allclose(vb[n], va[n], rtol=1e-3, atol=1e-5, err_msg=n)


@pytest.mark.heavy
def test_sync_batch_norm_uses_global_batch_moments():
    """Replica 0 sees dark images, replica 1 bright ones: per-replica BatchNorm keeps two
    different moving means; synchronised, both hold the global batch's (= their average,
    for equal batch sizes), and the variable names do not change."""
    proc = _python(
        """
        import functools, json
        import numpy as np
        from slimcls.core.compat import tf
        from slimcls.train import distribute
        distribute.configure_local_devices(2, True)
        from slimcls.nets import small_cnn
        from slimcls.model.slim_model import SlimModel
        strategy = distribute.create_strategy(2, True)
        with strategy.scope():
            model = SlimModel(
                functools.partial(small_cnn.small_cnn, use_batch_norm=True), num_classes=3)
            model.build_variables((8, 8, 3))
        mean = [v for v in model.variables if "moving_mean" in v.name][0]
        start = [v.numpy() for v in strategy.experimental_local_results(mean)]
        rng = np.random.RandomState(0)
        dark, bright = rng.rand(4, 8, 8, 3) * 0.2, rng.rand(4, 8, 8, 3) + 1.0
        def per_replica(ctx):
            return tf.constant(np.float32([dark, bright][ctx.replica_id_in_sync_group]))
        images = strategy.experimental_distribute_values_from_function(per_replica)
        out = {"names": sorted(model.variables_by_name())}
        for sync in (False, True):
            for v, s in zip(strategy.experimental_local_results(mean), start):
                v.assign(s)
            model.sync_batch_norm = sync
            tf.function(lambda x: strategy.run(lambda y: model(y, training=True)[0], (x,)))(
                images)
            out[str(sync)] = [v.numpy().tolist() for v in strategy.experimental_local_results(mean)]
        print(json.dumps(out))
        """
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    per_replica, synced = np.array(out["False"]), np.array(out["True"])
    assert np.abs(per_replica[0] - per_replica[1]).max() > 1e-3
    np.testing.assert_allclose(synced[0], synced[1], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(synced[0], per_replica.mean(axis=0), rtol=1e-4, atol=1e-6)
    assert any(n.endswith("BatchNorm/moving_mean") for n in out["names"])


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _worker_env(ports: list[int], index: int) -> dict[str, str]:
    tf_config = {
        "cluster": {"worker": [f"localhost:{p}" for p in ports]},
        "task": {"type": "worker", "index": index},
    }
    return {**ENV, "TF_CONFIG": json.dumps(tf_config)}


_KEEP_SCRATCH = """
import sys
from slimcls.cli import train_image_classifier
from slimcls.train import distribute
distribute.cleanup = lambda directory, train_dir: None  # keep worker 1's checkpoint to compare
sys.argv = ["train_image_classifier", *sys.argv[1:]]
train_image_classifier.main()
"""


def _start_workers(flags, ports, code=None):
    procs = []
    for i in range(len(ports)):
        cmd = [sys.executable, "-c", code, *flags] if code else [
            sys.executable, "-m", "slimcls.train_image_classifier", *flags
        ]  # fmt: skip
        procs.append(
            subprocess.Popen(
                cmd,
                env=_worker_env(ports, i),
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return procs


def _finish(procs, timeout=300):
    outputs = []
    for p in procs:
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        outputs.append(err)
    for p, err in zip(procs, outputs):
        assert p.returncode == 0, err[-4000:]
    return outputs


@pytest.mark.heavy
def test_two_workers_on_localhost_train_one_model(dataset_dir, tmp_path):
    train_dir = str(tmp_path / "run")
    flags = _flags(dataset_dir, train_dir, max_number_of_steps=8, log_every_n_steps=4)
    errs = _finish(_start_workers(flags, _free_ports(2), code=_KEEP_SCRATCH))
    assert "MultiWorkerMirroredStrategy, 2 replicas in sync, this is worker 0" in errs[0]
    assert "reads its shard of toy/train by file (2 files)" in errs[0]
    assert "worker 1: step 8" in errs[1] and "examples/sec on this worker" in errs[1]
    # The chief's train_dir holds the checkpoint; the other worker's went to its scratch dir.
    assert [os.path.basename(p) for p in checkpoints.all_checkpoints(train_dir)] == ["model.ckpt-8"]
    assert os.path.exists(os.path.join(train_dir, "flags.txt"))
    scratch = os.path.join(train_dir, distribute.WORKER_TMP_PREFIX + "1")
    assert not os.path.exists(os.path.join(scratch, "flags.txt"))
    a, b = checkpoints.latest_checkpoint(train_dir), checkpoints.latest_checkpoint(scratch)
    assert os.path.basename(b) == "model.ckpt-8"
    names = sorted(checkpoints.read_shapes(a))
    va, vb = checkpoints.read_tensors(a, names), checkpoints.read_tensors(b, names)
    for n in names:
        np.testing.assert_array_equal(va[n], vb[n], err_msg=n)
    assert int(va["global_step"]) == 8


@pytest.mark.heavy
def test_sigterm_to_one_worker_stops_both_at_the_same_step(dataset_dir, tmp_path):
    """The signalled worker's stop waits for the next agreement step; there the other
    worker stops too (peer_stopped), both save that step, and neither hangs."""
    train_dir = str(tmp_path / "run")
    flags = _flags(
        dataset_dir,
        train_dir,
        max_number_of_steps=100000,
        log_every_n_steps=5,
        save_interval_secs=1,
        learning_rate_decay_type="fixed",
    )
    procs = _start_workers(flags, _free_ports(2))
    try:
        deadline = time.monotonic() + 240
        while not (checkpoints.latest_checkpoint(train_dir) or time.monotonic() > deadline):
            assert all(p.poll() is None for p in procs), procs[0].stderr.read()[-3000:]
            time.sleep(0.5)
        procs[1].send_signal(signal.SIGTERM)
        errs = [p.communicate(timeout=120)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert procs[1].returncode == 143 and "SIGTERM received" in errs[1], errs[1][-3000:]
    assert procs[0].returncode == 0, errs[0][-3000:]
    (line,) = [x for x in errs[0].splitlines() if "another worker stopped at step" in x]
    step = int(line.split("another worker stopped at step ")[1].split(":")[0])
    assert step % 5 == 0
    assert checkpoints.step_of(checkpoints.latest_checkpoint(train_dir)) == step
    assert f"stopped by SIGTERM after saving {train_dir}" in errs[1]  # its scratch dir
    assert errs[1].rstrip().endswith(f"model.ckpt-{step}")


@pytest.mark.slow
def test_killed_worker_then_restart_of_both_resumes_from_the_last_checkpoint(dataset_dir, tmp_path):
    train_dir = str(tmp_path / "run")
    flags = _flags(
        dataset_dir,
        train_dir,
        max_number_of_steps=100000,
        log_every_n_steps=5,
        save_interval_secs=1,
        learning_rate_decay_type="fixed",
    )
    procs = _start_workers(flags, _free_ports(2))
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            latest = checkpoints.latest_checkpoint(train_dir)
            if latest and checkpoints.step_of(latest) >= 10:
                break
            assert all(p.poll() is None for p in procs), procs[0].stderr.read()[-3000:]
            time.sleep(0.5)
        else:
            pytest.fail("no checkpoint at step >= 10 within 240 s")
        procs[1].send_signal(signal.SIGKILL)
        try:  # the survivor notices its peer is gone (collective timeout) or is killed
            procs[0].wait(timeout=90)
        except subprocess.TimeoutExpired:
            procs[0].kill()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
    last = checkpoints.latest_checkpoint(train_dir)
    step = checkpoints.step_of(last)
    assert step >= 10
    flags = _flags(dataset_dir, train_dir, max_number_of_steps=step + 5, log_every_n_steps=5)
    errs = _finish(_start_workers(flags, _free_ports(2)))
    for err in errs:
        assert f"Resumed from {last} at step {step}" in err
    assert checkpoints.step_of(checkpoints.latest_checkpoint(train_dir)) == step + 5
    assert not os.path.exists(os.path.join(train_dir, distribute.WORKER_TMP_PREFIX + "1"))


def test_cli_rejects_parameter_server_flags_with_a_pointer_to_tf_config(dataset_dir, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "slimcls.train_image_classifier",
            *_flags(dataset_dir, str(tmp_path / "run")),
            "--num_ps_tasks=2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
        cwd=REPO,
    )
    assert proc.returncode != 0
    assert "--num_ps_tasks=2 is TF-Slim's parameter-server setup" in proc.stderr
    assert "TF_CONFIG" in proc.stderr


def test_slurm_environment_selects_multi_worker(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setenv("SLURM_NTASKS", "2")
    assert distribute.is_multi_worker()
    monkeypatch.setenv("SLURM_NTASKS", "1")
    assert not distribute.is_multi_worker()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:1"]}}))
    assert distribute.is_multi_worker()
