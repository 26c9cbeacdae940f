"""The shell recipes' guards: they run before any Python, so these tests are fast."""

import os
import subprocess
import sys

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


@pytest.mark.heavy
def test_tfslim_nets_tests_runner_runs_upstream_style_tests_against_this_checkout(tmp_path):
    # A stand-in for research/slim: one test written as TF-Slim's are (its import names).
    nets = tmp_path / "slim" / "nets"
    nets.mkdir(parents=True)
    (nets / "factory_names_test.py").write_text(
        "from nets import nets_factory\n"
        "import tensorflow.compat.v1 as tf\n\n\n"
        "class FactoryTest(tf.test.TestCase):\n"
        "  def testNamesResolveToSlimcls(self):\n"
        "    import slimcls.nets.nets_factory as ours\n"
        "    self.assertIs(nets_factory, ours)\n"
        "    self.assertIn('inception_v3', nets_factory.networks_map)\n"
    )
    proc = subprocess.run(
        ["bash", os.path.join(REPO, "scripts", "run_tfslim_nets_tests.sh"), str(tmp_path / "slim")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
