"""The three command-line tools in subprocesses: output, exit codes, one-line errors."""

import json

import pytest
from PIL import Image

from slimcls.model import run_info
from tests.helpers import (
    MODEL,
    SIZE,
    images_and_labels,
    make_trained_run,
    stderr_lines,
)
from tests.helpers import run_module as run_cli


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    dataset_dir, _ = make_trained_run(root, step=3, splits={"test": 11})
    flags = [f"--model_name={MODEL}", f"--train_image_size={SIZE}", f"--dataset_dir={dataset_dir}"]
    run_info.record_run(str(root / "train"), flags, ["train"], "train_image_classifier")
    return root, dataset_dir


def _assert_one_line_error(proc, *fragments):
    lines = stderr_lines(proc)
    assert proc.returncode != 0
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_eval_cli_prints_tf_slim_lines_and_writes_metrics(trained):
    root, dataset_dir = trained
    proc = run_cli(  # model, image size and dataset: from the run's flags.txt
        "slimcls.eval_image_classifier",
        f"--checkpoint_path={root / 'train'}",
        "--batch_size=4",
        f"--eval_dir={root / 'eval'}",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("eval/Accuracy[") and lines[1].startswith("eval/Recall_5[")
    metrics = json.loads((root / "eval" / "metrics.json").read_text())
    assert metrics["num_examples"] == 11 and metrics["global_step"] == 3
    assert f"eval/Accuracy[{metrics['accuracy']:.4f}]" == lines[0]
    assert (root / "eval" / "confusion_matrix.png").exists()


def test_eval_cli_bad_flag_is_one_line(trained):
    proc = run_cli("slimcls.eval_image_classifier", "--model_name=no_such_net")
    _assert_one_line_error(proc, "eval_image_classifier: error:", "no_such_net", "cifarnet")


@pytest.mark.heavy
def test_eval_cli_missing_checkpoint_is_one_line(trained):
    root, dataset_dir = trained
    proc = run_cli(
        "slimcls.eval_image_classifier",
        f"--checkpoint_path={root / 'nowhere'}",
        f"--dataset_dir={dataset_dir}",
        f"--model_name={MODEL}",
    )
    _assert_one_line_error(proc, "eval_image_classifier: error:", "nowhere", "does not exist")


def test_classify_cli_reports_unreadable_file_and_classifies_the_rest(trained):
    root, dataset_dir = trained
    images, _ = images_and_labels(2, seed=5)
    good = [root / "a.png", root / "b.jpg"]
    for image, path in zip(images, good):
        Image.fromarray(image).save(path)
    bad = root / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff truncated")
    proc = run_cli(
        "slimcls.classify_image",
        f"--checkpoint_path={root / 'train'}",
        f"--dataset_dir={dataset_dir}",
        f"--model_name={MODEL}",
        f"--eval_image_size={SIZE}",
        "--top_k=2",
        f"--output_json={root / 'out.json'}",
        good[0],
        bad,
        good[1],
    )
    assert proc.returncode == 1
    # (libjpeg may add its own warning line for the broken file.)
    errors = [ln for ln in stderr_lines(proc) if ln.startswith("classify_image:")]
    assert len(errors) == 2 and "Traceback" not in proc.stderr
    assert errors[0].startswith(f"classify_image: {bad}: error: not a decodable")
    assert errors[0].endswith("Invalid JPEG data or crop window.)")
    assert str(good[0]) in proc.stdout and str(good[1]) in proc.stdout
    results = json.loads((root / "out.json").read_text())
    assert [r["path"] for r in results] == [str(good[0]), str(bad), str(good[1])]
    assert len(results[0]["predictions"]) == 2 and "error" in results[1]


@pytest.mark.heavy
def test_export_cli_missing_checkpoint_is_one_line(trained):
    root, dataset_dir = trained
    proc = run_cli(
        "slimcls.export_inference_graph",
        f"--checkpoint_path={root / 'empty'}",
        f"--dataset_dir={dataset_dir}",
        f"--model_name={MODEL}",
        f"--output_dir={root / 'saved'}",
    )
    _assert_one_line_error(proc, "export_inference_graph: error:", "does not exist")


def test_eval_cli_without_eval_dir_writes_beside_the_checkpoint(trained):
    """Not into TF-Slim's /tmp/tfmodel, which other runs share: <train_dir>/eval_<split>."""
    root, _ = trained
    proc = run_cli("slimcls.eval_image_classifier", f"--checkpoint_path={root / 'train'}")
    assert proc.returncode == 0, proc.stderr
    where = root / "train" / "eval_test"
    assert f"wrote {where}/metrics.json (the default --eval_dir, beside the checkpoint)" in (
        proc.stdout
    )
    assert json.loads((where / "metrics.json").read_text())["num_examples"] == 11


@pytest.mark.heavy
def test_sigterm_in_eval_watch_mode_is_one_line_and_143(trained):
    import os
    import signal
    import subprocess
    import sys

    from tests.helpers import ENV, REPO

    root, _ = trained
    eval_dir = root / "watched"
    proc = subprocess.Popen(
        [sys.executable, "-m", "slimcls.eval_image_classifier",
         f"--checkpoint_path={root / 'train'}", f"--eval_dir={eval_dir}",
         "--eval_interval_secs=300"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=REPO,
    )  # fmt: skip
    try:
        for line in proc.stdout:  # the first checkpoint is evaluated, then it waits
            if line.startswith("wrote "):
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143
    lines = [ln for ln in err.splitlines() if ln.startswith("eval_image_classifier:")]
    assert lines == [
        f"eval_image_classifier: stopped by SIGTERM after evaluating 1 checkpoint(s) (results "
        f"in {eval_dir}); nothing was written for the one in progress"
    ]
    assert "Traceback" not in err
    assert not [n for n in os.listdir(eval_dir) if n.endswith(".tmp")]
