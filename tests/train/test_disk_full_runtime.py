"""A disk that fills up while training or evaluation writes its logs, summaries or reports:
one line, exit 1, and no half-written file (train_log.csv, metrics_history.jsonl and event
files cut back, temporary files removed), through the same disk-full handling as
checkpoints and shards (slimcls.core.diskspace).

The real ones write to a small tmpfs filled up to a few bytes (skipped where this process
may not mount one); the portable ones inject ENOSPC into the write itself.
"""

import errno
import json
import os
import subprocess

import pytest

from slimcls import config
from slimcls.core import fileio
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.inference import evaluate as ev
from slimcls.train import hooks, summaries
from tests.helpers import make_trained_run


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MiB tmpfs; ``fill(free_pages)`` fills it up to that many free 4 KiB pages."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    filler = mount / "filler.bin"

    def fill(free_pages=0):
        with open(filler, "ab", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError as e:
                assert e.errno == errno.ENOSPC
        if free_pages:
            os.truncate(filler, max(0, os.path.getsize(filler) - 4096 * free_pages))
        return mount

    yield mount, fill
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _no_space(err, path):
    message = str(err.value)
    assert "\n" not in message and f"no space left on the device of {path}" in message


def test_report_files_are_whole_or_absent_when_the_disk_fills(full_disk, tmp_path):
    mount, fill = full_disk
    os.makedirs(mount / "out")
    fileio.write_text_atomic(str(mount / "out" / "a.json"), "old\n")
    fill()
    with pytest.raises(SlimclsError) as err:
        fileio.write_text_atomic(str(mount / "out" / "a.json"), "new " * 5000)
    _no_space(err, mount / "out" / "a.json")
    assert sorted(os.listdir(mount / "out")) == ["a.json"]  # no a.json.tmp left
    assert (mount / "out" / "a.json").read_text() == "old\n"
    with pytest.raises(SlimclsError) as err:
        fileio.append_text(str(mount / "out" / "a.json"), "more\n" * 5000)
    _no_space(err, mount / "out" / "a.json")
    assert (mount / "out" / "a.json").read_text() == "old\n"  # cut back, not half a line


def test_append_cut_short_is_undone(tmp_path, monkeypatch):
    """Portable: the write stops half-way with ENOSPC; the file is cut back."""
    path = tmp_path / "train_log.csv"
    path.write_text("step,loss\n1,0.5\n")
    real_write = os.write

    def half_then_full(fd, data):
        if len(data) > 4:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "write", half_then_full)
    with pytest.raises(SlimclsError, match="no space left on the device of"):
        fileio.append_text(str(path), "2,0.25\n")
    assert path.read_text() == "step,loss\n1,0.5\n"


def test_summaries_on_a_full_disk_are_one_line_and_cut_back(full_disk):
    mount, fill = full_disk
    writer = summaries.SummaryWriter(str(mount / "train"))
    with writer.writing():
        summaries.scalar("loss", 1.0, 1)
    (events,) = os.listdir(mount / "train")
    good = (mount / "train" / events).read_bytes()
    fill()
    hook = hooks.SummaryHook(writer, every_secs=0)
    run = hooks.Run(config=None, state=None, save_dir="")
    values = {"cross_entropy": 0.5, "regularization": 0.0, "total_loss": 0.5,
              "accuracy": 0.5, "learning_rate": 0.1}  # fmt: skip
    hook.begin(run)
    with pytest.raises(SlimclsError) as err:
        for step in range(2, 400):  # enough records to overflow the last pages
            hook._write(run, hooks.StepMetrics(step, values=values))
    _no_space(err, mount / "train")
    # Cut back to the last good write: whole records only (a half one fails its CRC read).
    after = (mount / "train" / events).read_bytes()
    assert after.startswith(good) and len(after) == writer._sizes[events]
    steps = [tf.compat.v1.Event.FromString(r.numpy()).step
             for r in tf.data.TFRecordDataset(str(mount / "train" / events))]  # fmt: skip
    assert steps[-1] == step - 1  # the failed write left nothing


def test_eval_outputs_on_a_full_disk(full_disk, tmp_path):
    mount, fill = full_disk
    dataset_dir, _ = make_trained_run(tmp_path, step=3, splits={"test": 11})
    cfg = config.EvalConfig(
        checkpoint_path=str(tmp_path / "train"),
        dataset_dir=dataset_dir,
        model_name="small_cnn",
        eval_image_size=8,
        eval_dir=str(mount / "eval"),
    )
    fill(free_pages=2)  # room for the event file and metrics.json, not for all of it
    with pytest.raises(SlimclsError) as err:
        ev.evaluate(cfg)
    assert "no space left on the device of" in str(err.value) and "\n" not in str(err.value)
    left = os.listdir(mount / "eval") if os.path.isdir(mount / "eval") else []
    assert not [n for n in left if n.endswith(".tmp")]  # confusion_matrix.csv.tmp was left
    if "metrics.json" in left:
        json.loads((mount / "eval" / "metrics.json").read_text())  # whole
    if "metrics_history.jsonl" in left:
        for line in (mount / "eval" / "metrics_history.jsonl").read_text().splitlines():
            json.loads(line)
