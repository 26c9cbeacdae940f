"""Run-time faults, each injected: a second trainer, damaged shards, damaged checkpoints,
a full disk, and kill -9 at random moments of training (slow)."""

import errno
import logging
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from slimcls import config, train
from slimcls.core import diskspace
from slimcls.core.errors import SlimclsError
from slimcls.core.locking import LOCK_FILENAME
from slimcls.datasets import dataset_factory
from slimcls.inference import evaluate
from slimcls.model import checkpoints, modeling
from slimcls.reader import input_pipeline
from slimcls.train.state import create_state, resume_or_finetune
from tests.helpers import ENV, REPO, toy_train_config, write_toy_dataset

NUM_CLASSES = 4
SIZE = 12


def _make_dataset(path):
    """40 train / 16 validation toy images, 2 shards per split."""
    return write_toy_dataset(path, num_train=40, num_validation=16)


@pytest.fixture(scope="module")
def clean_dataset(tmp_path_factory):
    return _make_dataset(tmp_path_factory.mktemp("toy"))


@pytest.fixture
def dataset(clean_dataset, tmp_path):
    """A private copy that a test may damage."""
    copy = tmp_path / "data"
    shutil.copytree(clean_dataset, copy)
    return str(copy)


def _config(dataset_dir, train_dir, **kw):
    return toy_train_config(
        dataset_dir, train_dir, **{"max_number_of_steps": 3, "handle_signals": False, **kw}
    )


def _shard(dataset_dir, split, i=1):
    return dataset_factory.get_dataset("toy", split, dataset_dir).files[i]


def _records(path):
    """(offset, length) of each record of a TFRecord file."""
    data = open(path, "rb").read()
    out, offset = [], 0
    while offset < len(data):
        (length,) = struct.unpack("<Q", data[offset : offset + 8])
        out.append((offset, length))
        offset += 12 + length + 4
    return out


def _damage(path, fault):
    """Injects ``fault`` into the TFRecord file; returns the byte offset of the bad record."""
    records = _records(path)
    data = bytearray(open(path, "rb").read())
    offset, length = records[1]
    if fault == "bit_flip":  # one bit in the second record's image bytes
        data[offset + 12 + length // 2] ^= 0x10
    elif fault == "cut_mid_record":
        data = data[: offset + 12 + length // 2]
    elif fault == "cut_at_boundary":  # reads without any error: only counting finds it
        data = data[:offset]
        offset = None
    open(path, "wb").write(bytes(data))
    return offset


# --------------------------------------------------------------------------- train_dir lock


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(train_dir, pid):
    os.makedirs(train_dir, exist_ok=True)
    with open(os.path.join(train_dir, LOCK_FILENAME), "w") as f:
        f.write(f'{{"host": "{socket.gethostname()}", "pid": {pid}, "since": 0}}')


def test_second_training_into_one_train_dir_fails_naming_host_and_pid(dataset, tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_lock(tmp_path / "run", holder.pid)
        with pytest.raises(SlimclsError) as err:
            train.train(_config(dataset, tmp_path / "run"))
        message = str(err.value)
        assert f"pid {holder.pid}" in message and socket.gethostname() in message
        assert "--train_dir" in message and "\n" not in message
        assert checkpoints.all_checkpoints(str(tmp_path / "run")) == []
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.train_loop
def test_stale_lock_of_a_dead_trainer_is_taken_over_with_a_log_line(dataset, tmp_path, caplog):
    pid = _dead_pid()
    _write_lock(tmp_path / "run", pid)
    with caplog.at_level(logging.WARNING, logger="slimcls.train"):
        result = train.train(_config(dataset, tmp_path / "run"))
    assert result.global_step == 3
    assert f"taking over the stale lock of pid {pid}" in caplog.text
    assert not os.path.exists(tmp_path / "run" / LOCK_FILENAME)  # released at the end


@pytest.mark.train_loop
def test_lock_is_held_while_training_and_a_failed_start_leaves_no_dir(dataset, tmp_path):
    seen = []

    def on_start():
        seen.append(open(tmp_path / "run" / LOCK_FILENAME).read())

    train.train(_config(dataset, tmp_path / "run", max_number_of_steps=1), on_start)
    assert f'"pid": {os.getpid()}' in seen[0]
    fresh = tmp_path / "fresh"  # fails after the lock is taken: the lock's dir goes too
    with pytest.raises(SlimclsError, match="does not exist"):
        train.train(_config(dataset, fresh, checkpoint_path=str(tmp_path / "nope")))
    assert not fresh.exists()


# --------------------------------------------------------------------------- damaged shards

FAULTS = ["bit_flip", "cut_mid_record", "cut_at_boundary"]


@pytest.mark.train_loop
@pytest.mark.parametrize("fault", FAULTS)
def test_damaged_training_shard_stops_training_naming_it(dataset, tmp_path, fault):
    shard = _shard(dataset, "train")
    offset = _damage(shard, fault)
    with pytest.raises(SlimclsError) as err:
        train.train(_config(dataset, tmp_path / "run", max_number_of_steps=20))
    message = str(err.value)
    assert shard in message and "\n" not in message
    if offset is not None:
        assert f"byte offset {offset}" in message
    else:
        assert (
            "holds 1 (expected 20)" in message
            and "holds 21 records, dataset.json says 40" in message
        )


@pytest.mark.train_loop
@pytest.mark.parametrize("fault", ["bit_flip", "cut_mid_record"])
def test_damaged_validation_shard_stops_training_naming_it(dataset, tmp_path, fault):
    shard = _shard(dataset, "validation", 0)
    offset = _damage(shard, fault)
    cfg = _config(
        dataset, tmp_path / "run", validation_split_name="validation", eval_every_n_steps=2
    )
    with pytest.raises(SlimclsError) as err:
        train.train(cfg)
    assert shard in str(err.value) and f"byte offset {offset}" in str(err.value)


@pytest.mark.train_loop
def test_bit_flip_found_only_at_run_time_names_shard_and_offset(dataset, tmp_path):
    """The header walk before training passes; tf.data's DataLossError is then explained."""
    shard = _shard(dataset, "train", 0)
    offset = _damage(shard, "bit_flip")
    input_pipeline.check_shards(dataset_factory.get_dataset("toy", "train", dataset))
    expected = f"shard {shard} is corrupt: corrupted record (record 1 at byte offset {offset})"
    with pytest.raises(SlimclsError, match=re.escape(expected)):
        train.train(_config(dataset, tmp_path / "run", max_number_of_steps=20))
    found = input_pipeline.find_corrupt_shard([_shard(dataset, "train", 1), shard])
    assert found == (shard, f"corrupted record (record 1 at byte offset {offset})")


@pytest.fixture(scope="module")
def trained(clean_dataset, tmp_path_factory):
    train_dir = tmp_path_factory.mktemp("trained") / "run"
    train.train(_config(clean_dataset, train_dir, max_number_of_steps=2))
    return str(train_dir)


def _eval_config(dataset_dir, checkpoint, **kw):
    return config.EvalConfig(
        checkpoint_path=checkpoint,
        dataset_dir=dataset_dir,
        dataset_name="toy",
        dataset_split_name="validation",
        model_name="small_cnn",
        eval_image_size=SIZE,
        batch_size=4,
        **kw,
    )


@pytest.mark.train_loop
@pytest.mark.parametrize("fault", FAULTS)
def test_damaged_eval_shard_fails_naming_it(dataset, trained, fault):
    shard = _shard(dataset, "validation")
    offset = _damage(shard, fault)
    with pytest.raises(SlimclsError) as err:
        evaluate.evaluate(_eval_config(dataset, trained))
    message = str(err.value)
    assert shard in message and "\n" not in message
    if offset is not None:
        assert f"byte offset {offset}" in message
    else:  # short by one record: not blamed on --max_num_batches, and not exit 0
        assert "holds 9 records, dataset.json says 16" in message and "(expected 8)" in message
        assert "max_num_batches" not in message


@pytest.mark.train_loop
def test_eval_counts_against_max_num_batches_too(dataset, trained):
    metrics = evaluate.evaluate(_eval_config(dataset, trained, max_num_batches=3))
    assert metrics["num_examples"] == 12 and metrics["truncated"]  # asked for: fine
    _damage(_shard(dataset, "validation", 0), "cut_at_boundary")  # shard 0 keeps 1 of 8
    with pytest.raises(SlimclsError, match="holds 9 records, dataset.json says 16"):
        evaluate.evaluate(_eval_config(dataset, trained, max_num_batches=3))


@pytest.mark.train_loop
@pytest.mark.heavy
def test_the_cli_reports_a_short_split_in_one_line_and_exits_1(dataset, trained):
    shard = _shard(dataset, "validation")
    _damage(shard, "cut_at_boundary")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "slimcls.eval_image_classifier",
            f"--checkpoint_path={trained}",
            f"--dataset_dir={dataset}",
            "--dataset_name=toy",
            "--dataset_split_name=validation",
            "--model_name=small_cnn",
            f"--eval_image_size={SIZE}",
            "--batch_size=4",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=REPO,
        timeout=300,
    )
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert proc.returncode == 1, proc.stderr
    assert len(errors) == 1 and shard in errors[0] and "holds 9 records" in errors[0]


# --------------------------------------------------------------------------- checkpoints


def _flip_tensor_byte(prefix, name):
    """Flips one bit inside the stored bytes of tensor ``name`` (found by its values)."""
    value = checkpoints.read_tensors(prefix, [name])[name]
    data_path = prefix + ".data-00000-of-00001"
    data = bytearray(open(data_path, "rb").read())
    at = bytes(data).find(value.tobytes())
    assert at >= 0 and value.nbytes > 0
    data[at + value.nbytes // 2] ^= 0x01
    open(data_path, "wb").write(bytes(data))


@pytest.mark.train_loop
def test_resume_restores_the_newest_good_checkpoint_after_a_corrupt_optimizer_slot(
    dataset, tmp_path, caplog
):
    cfg = _config(
        dataset,
        tmp_path / "run",
        max_number_of_steps=4,
        save_interval_secs=0,
        max_checkpoints_to_keep=5,
    )
    train.train(cfg)
    older, newest = checkpoints.all_checkpoints(cfg.train_dir)[-2:]
    slot = next(n for n in checkpoints.read_shapes(newest) if n.endswith("/Momentum"))
    _flip_tensor_byte(newest, slot)
    assert "fails its checksum" in checkpoints.verify(newest)

    plan = modeling.plan("small_cnn", NUM_CLASSES, image_size=SIZE)
    state = create_state(cfg, plan)
    with caplog.at_level(logging.WARNING, logger="slimcls.model.checkpoints"):
        message = resume_or_finetune(state, cfg, plan)
    assert message.startswith(f"Resumed from {older} ")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(newest in w and "checksum" in w and older in w for w in warnings)
    tensors = state.checkpoint_tensors()
    expected = checkpoints.read_tensors(older, list(tensors))
    for name, var in tensors.items():  # the full state: weights, slots, global step
        np.testing.assert_array_equal(var.numpy(), expected[name], err_msg=name)


@pytest.mark.train_loop
def test_eval_and_finetune_of_a_directory_fall_back_past_a_bundle_without_index(
    dataset, tmp_path, caplog
):
    cfg = _config(dataset, tmp_path / "run", max_number_of_steps=2, save_interval_secs=0)
    train.train(cfg)
    older, newest = checkpoints.all_checkpoints(cfg.train_dir)[-2:]
    os.remove(newest + ".index")
    with caplog.at_level(logging.WARNING, logger="slimcls.model.checkpoints"):
        metrics = evaluate.evaluate(_eval_config(dataset, cfg.train_dir))
    assert metrics["checkpoint"] == older
    assert any(
        "lacks its index" in r.getMessage() and newest in r.getMessage() for r in caplog.records
    )
    fine = _config(dataset, tmp_path / "fine", checkpoint_path=cfg.train_dir, max_number_of_steps=1)
    plan = modeling.plan("small_cnn", NUM_CLASSES, image_size=SIZE)
    assert older in resume_or_finetune(create_state(fine, plan), fine, plan)
    with pytest.raises(SlimclsError, match="lacks its index"):  # named explicitly: an error
        checkpoints.resolve_checkpoint(newest)


# --------------------------------------------------------------------------- disk full


@pytest.mark.train_loop
def test_training_stops_on_a_full_disk_before_writing_a_checkpoint(dataset, tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(diskspace.shutil, "disk_usage", lambda p: usage._replace(free=1000))
    with pytest.raises(SlimclsError) as err:
        train.train(_config(dataset, tmp_path / "run", max_number_of_steps=1))
    message = str(err.value)
    assert "no space left" in message and str(tmp_path / "run") in message
    assert "1000 bytes free" in message and "needs" in message and "\n" not in message
    assert not [f for f in os.listdir(tmp_path / "run") if f.startswith("model.ckpt")]


def test_enospc_during_a_converter_shard_write_is_one_line(tmp_path):
    path = str(tmp_path / "toy_train_00000-of-00001.tfrecord")
    with pytest.raises(SlimclsError, match=f"no space left on the device of {path}") as err:
        with diskspace.disk_full_errors(path, needed=12345):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert "12.1 KiB (12345 bytes)" in str(err.value)
    with pytest.raises(PermissionError):  # any other error passes unchanged
        with diskspace.disk_full_errors(path):
            raise PermissionError(errno.EACCES, "denied")


# --------------------------------------------------------------------------- kill -9


def _live_checkpoints(train_dir):
    return [checkpoints.step_of(p) for p in checkpoints.all_checkpoints(train_dir)]


@pytest.mark.slow
def test_random_kill_9_never_loses_a_checkpoint(clean_dataset, tmp_path):
    """12 trainings into one train_dir, each killed with SIGKILL at a random moment (half of
    them while a checkpoint is being written); after each: every checkpoint that looks
    complete reads back, the newest never goes back, and the next run resumes from it."""
    train_dir = str(tmp_path / "run")
    args = [
        sys.executable, "-m", "slimcls.train_image_classifier", f"--train_dir={train_dir}",
        f"--dataset_dir={clean_dataset}", "--dataset_name=toy", "--model_name=small_cnn",
        f"--train_image_size={SIZE}", "--batch_size=8", "--max_number_of_steps=100000",
        "--save_interval_secs=0", "--max_checkpoints_to_keep=3", "--log_every_n_steps=1000",
    ]  # fmt: skip
    rng = random.Random(0)
    best = -1
    for trial in range(12):
        log_path = tmp_path / f"trial{trial}.log"
        before = checkpoints.latest_good_checkpoint(train_dir) if os.path.isdir(train_dir) else None
        with open(log_path, "w") as log_file:
            proc = subprocess.Popen(args, stdout=log_file, stderr=log_file, env=ENV, cwd=REPO)
        during_save = trial % 2 == 0
        deadline = time.monotonic() + 240
        start_steps = set(_live_checkpoints(train_dir)) if os.path.isdir(train_dir) else set()
        delay = rng.uniform(0.0, 1.5)
        new_since = None
        while time.monotonic() < deadline and proc.poll() is None:
            names = os.listdir(train_dir) if os.path.isdir(train_dir) else []
            if new_since is None and set(_live_checkpoints(train_dir)) - start_steps:
                new_since = time.monotonic()
            if during_save and new_since and any(checkpoints._TEMP_MARKER in n for n in names):
                break
            if during_save and new_since and time.monotonic() - new_since > 5:
                break  # no save caught in the act: kill anyway
            if not during_save and new_since and time.monotonic() - new_since >= delay:
                break
            time.sleep(0.002)
        assert proc.poll() is None, open(log_path).read()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        text = open(log_path).read()
        if before:
            assert f"Resumed from {before} " in text, text[-2000:]
        if trial:
            assert "taking over the stale lock" in text, text[-2000:]
        for prefix in checkpoints.all_checkpoints(train_dir):
            assert checkpoints.verify(prefix) is None, prefix  # looks complete: is complete
        newest = checkpoints.step_of(checkpoints.latest_good_checkpoint(train_dir))
        assert newest >= best, (trial, newest, best)
        best = newest
    assert best > 0
