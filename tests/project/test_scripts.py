"""The shell recipes' guards: they run before any Python, so these tests are fast."""

import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _bash(script, *args, **env):
    return subprocess.run(
        ["bash", os.path.join(REPO, "scripts", script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_quickstart_refuses_a_non_empty_directory_it_did_not_write(tmp_path):
    precious = tmp_path / "thesis.tex"
    precious.write_text("years of work")
    proc = _bash("quickstart.sh", tmp_path)
    assert proc.returncode == 2
    assert "not empty and not an earlier quickstart output" in proc.stderr
    assert precious.read_text() == "years of work" and os.listdir(tmp_path) == ["thesis.tex"]


@pytest.mark.parametrize(
    "script", ["train_cifarnet_on_cifar10.sh", "finetune_inception_v3_on_flowers.sh"]
)
def test_recipes_say_clearly_when_python_is_missing(tmp_path, script):
    proc = _bash(script, tmp_path / "data", tmp_path / "train", PYTHON=str(tmp_path / "nopy"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"{script}: no Python at {tmp_path / 'nopy'}; run scripts/test.sh to create .venv, "
        "or set PYTHON=/path/to/python"
    )
    assert not (tmp_path / "data").exists()
