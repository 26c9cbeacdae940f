"""DirLock: taking over a dead process's lock is atomic (one holder, never two)."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from slimcls.core import locking
from slimcls.core.errors import SlimclsError
from tests.helpers import ENV, REPO

# Each contender waits for the go file, tries the lock, says HELD <pid> (and keeps it for a
# while, so a second holder would overlap) or prints the one-line error.
CONTENDER = r"""
import os, sys, time
from slimcls.core.errors import SlimclsError
from slimcls.core.locking import DirLock
d, go, slow = sys.argv[1], sys.argv[2], float(sys.argv[3])
def log(msg):
    time.sleep(slow)  # a slow stderr: widens the window between reading and replacing
deadline = time.time() + 30
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.001)
lock = DirLock(d, what="--train_dir", log=log)
try:
    lock.acquire()
except SlimclsError as e:
    print("REFUSED", e, flush=True)
    sys.exit(0)
print("HELD", os.getpid(), flush=True)
time.sleep(0.6)
lock.release()
"""


def _dead_pid():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def _stale_lock(d, pid):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, locking.LOCK_FILENAME), "w") as f:
        json.dump({"host": socket.gethostname(), "pid": pid, "since": 0.0}, f)


@pytest.mark.parametrize("slow_log_s", [0.0, 0.2])
def test_six_processes_taking_over_a_stale_lock_at_once_get_one_holder(tmp_path, slow_log_s):
    for trial in range(2):
        d = str(tmp_path / f"run{trial}")
        go = str(tmp_path / f"go{trial}")
        _stale_lock(d, _dead_pid())
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", CONTENDER, d, go, str(slow_log_s)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=ENV,
                cwd=REPO,
            )
            for _ in range(6)
        ]
        time.sleep(0.3)  # all started and waiting
        open(go, "w").close()
        outs = [p.communicate(timeout=60) for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        lines = [o.strip() for o, _ in outs]
        held = [ln for ln in lines if ln.startswith("HELD")]
        assert len(held) == 1, lines
        winner = held[0].split()[1]
        for ln in lines:
            if ln.startswith("REFUSED"):  # told who holds it, never "pid None"
                assert f"in use by pid {winner} on host {socket.gethostname()}" in ln, lines
        assert os.listdir(d) == []  # released; no private record files left


def test_lock_is_never_seen_empty_and_names_its_holder(tmp_path):
    d = str(tmp_path)
    with locking.DirLock(d):
        with open(os.path.join(d, locking.LOCK_FILENAME)) as f:
            record = json.load(f)
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
        assert os.listdir(d) == [locking.LOCK_FILENAME]


def test_release_leaves_a_lock_that_another_took_over(tmp_path):
    d = str(tmp_path)
    lock = locking.DirLock(d)
    lock.acquire()
    other = {"host": socket.gethostname(), "pid": os.getpid(), "since": 1.0}
    with open(os.path.join(d, locking.LOCK_FILENAME), "w") as f:  # not our record any more
        json.dump(other, f)
    lock.release()
    assert os.path.exists(os.path.join(d, locking.LOCK_FILENAME))


def test_unreadable_lock_is_one_line_not_pid_none(tmp_path):
    d = str(tmp_path)
    with open(os.path.join(d, locking.LOCK_FILENAME), "w") as f:
        f.write("{garbage")
    with pytest.raises(SlimclsError, match="cannot be read") as e:
        locking.DirLock(d, what="--train_dir").acquire()
    assert "None" not in str(e.value) and "\n" not in str(e.value)


def test_private_record_of_a_killed_writer_is_removed(tmp_path):
    d = str(tmp_path)
    leftover = f"{locking.LOCK_FILENAME}.{_dead_pid()}-{'a' * 32}.new"
    mine = "notes.slimcls.lock.txt"
    for n in (leftover, mine):
        open(os.path.join(d, n), "w").close()
    with locking.DirLock(d):
        pass
    assert sorted(os.listdir(d)) == [mine]


def test_read_only_directory_is_one_line(tmp_path, monkeypatch):
    def read_only(path, *args, **kwargs):  # what a read-only directory answers (root or not)
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(locking, "open", read_only, raising=False)
    with pytest.raises(SlimclsError, match=r"--dataset_dir .* cannot be written \(Permission"):
        locking.DirLock(str(tmp_path), what="--dataset_dir").acquire()
