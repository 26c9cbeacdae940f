"""train_image_classifier as users run it: flags, flags.txt, --flagfile resume, errors."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from absl import flags

from slimcls.core.errors import SlimclsError
from slimcls.model import checkpoints
from tests.helpers import ENV, REPO, run_module, stderr_lines


def _run(*args):
    return run_module("slimcls.train_image_classifier", *args)


@pytest.mark.train_loop
def test_convert_train_resume_with_flagfile(tmp_path):
    """Generated class folders -> download_and_convert_data -> train -> resume."""
    from PIL import Image

    rng = np.random.RandomState(0)
    for c, name in enumerate(["cat", "dog", "fox"]):
        os.makedirs(tmp_path / "photos" / name)
        for i in range(12):
            pixels = rng.randint(0, 80, (10, 14, 3)) + 80 * c
            Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / "photos" / name / f"{i}.png")
    dataset_dir = str(tmp_path / "data")
    res = run_module(
        "slimcls.download_and_convert_data",
        "--dataset_name=folder",
        f"--source_dir={tmp_path / 'photos'}",
        f"--dataset_dir={dataset_dir}",
        "--validation_fraction=0.25",
        "--output_name=pets",
    )
    assert res.returncode == 0, res.stderr[-3000:]

    train_dir = str(tmp_path / "run")
    res = _run(
        f"--train_dir={train_dir}",
        f"--dataset_dir={dataset_dir}",
        "--dataset_name=pets",
        "--model_name=small_cnn",
        "--train_image_size=12",
        "--batch_size=8",
        "--max_number_of_steps=4",
        "--log_every_n_steps=2",
        "--optimizer=sgd",
        "--learning_rate_decay_type=fixed",
        "--validation_split_name=validation",
        "--eval_every_n_steps=4",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "step 4/4 (100%), epoch " in res.stderr and "examples/sec" in res.stderr
    assert "validation on validation: accuracy = " in res.stderr
    flagfile = os.path.join(train_dir, "flags.txt")
    text = open(flagfile).read()
    assert "--model_name=small_cnn" in text and "--optimizer=sgd" in text
    assert checkpoints.step_of(checkpoints.latest_checkpoint(train_dir)) == 4

    res = _run(f"--flagfile={flagfile}", "--max_number_of_steps=6")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Resumed from" in res.stderr
    assert checkpoints.step_of(checkpoints.latest_checkpoint(train_dir)) == 6
    assert open(flagfile).read() == text  # the first run's flags stay
    runs = [json.loads(ln) for ln in open(os.path.join(train_dir, "runs.jsonl"))]
    assert [r["changed"] for r in runs] == [{"max_number_of_steps": ["4", "6"]}]


def test_cli_expected_error_is_one_line_without_traceback(tmp_path):
    res = _run(f"--train_dir={tmp_path}/run", f"--dataset_dir={tmp_path}", "--model_name=cifarnet")
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("train_image_classifier: error: ") and "dataset.json" in last


@pytest.fixture
def parsed():
    """Parses argv with the entry point's flags in this process, then resets them."""
    from slimcls.cli import train_image_classifier as entry

    entry.define_flags()

    def parse(*args):
        flags.FLAGS.unparse_flags()
        flags.FLAGS(["train_image_classifier", "--dataset_dir=/tmp/x", *args])
        return entry

    yield parse
    flags.FLAGS.unparse_flags()


def test_tf_slim_defaults_and_config(parsed):
    entry = parsed("--checkpoint_exclude_scopes= InceptionV3/Logits , InceptionV3/AuxLogits")
    config = entry.config_from_flags()
    assert config.optimizer.optimizer == "rmsprop" and config.optimizer.opt_epsilon == 1.0
    assert config.learning_rate.learning_rate == 0.01
    assert config.learning_rate.learning_rate_decay_type == "exponential"
    assert config.learning_rate.learning_rate_decay_factor == 0.94
    assert config.learning_rate.num_epochs_per_decay == 2.0
    assert config.weight_decay == 0.00004
    assert config.model_name == "inception_v3"
    assert config.max_checkpoints_to_keep == 5
    assert config.save_interval_secs == 600 and config.save_summaries_secs == 600
    assert config.checkpoint_exclude_scopes == ("InceptionV3/Logits", "InceptionV3/AuxLogits")


@pytest.mark.parametrize(
    "flag, choice",
    [("--optimizer=adamw", "did you mean adam? expected one of adadelta, adagrad, adam,"),
     ("--learning_rate_decay_type=step", "expected one of fixed, exponential, polynomial,"),
     ("--model_name=resnet", "did you mean resnet_v1_101 or resnet_v1_152 or "),
     ("--model_name=cifarnett", "did you mean cifarnet? (--help lists all 39 choices)"),
     ("--model_name=i3d", "'i3d' is a video net (it takes clips"),
     ("--model_name=no_such_net", "expected one of alexnet_v2, cifarnet, inception_")],
)  # fmt: skip
def test_unknown_choice_fails_at_parsing_with_the_choices(parsed, flag, choice):
    """A typo gets "did you mean" (the closest choices; all of a short list), not the
    whole list of 39 nets; the video nets, not offered, are refused with the reason."""
    with pytest.raises(flags.IllegalFlagValueError) as err:
        parsed(flag)
    assert choice in str(err.value)
    if "did you mean" in choice and "model_name" in flag:
        assert "alexnet_v2" not in str(err.value)


def test_video_nets_are_not_offered(parsed):
    parsed()
    help_text = flags.FLAGS["model_name"].help
    assert "i3d" not in help_text and "s3dg" not in help_text and "cifarnet" in help_text


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--worker_replicas=2", "TF_CONFIG"),
        ("--num_ps_tasks=1", "TF_CONFIG"),
        ("--sync_replicas", "TF_CONFIG"),
        ("--quantize_delay=0", "not supported"),
    ],
)
def test_tf_slim_deployment_flags_explain_what_to_do(parsed, flag, message):
    entry = parsed(flag)
    with pytest.raises(SlimclsError, match=message):
        entry._check_deployment_flags()


def test_ctrl_c_while_tensorflow_loads_is_one_line_and_130(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "slimcls.train_image_classifier", f"--train_dir={tmp_path}/run",
         f"--dataset_dir={tmp_path}", "--model_name=cifarnet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=REPO,
    )  # fmt: skip
    # Interrupt once TensorFlow's shared library is mapped: flags parsed, TensorFlow's
    # Python modules still importing (seconds more). A fixed sleep raced a warm page cache.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/maps") as f:
                if "_pywrap_tensorflow" in f.read():
                    break
        except OSError:
            pass
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    proc.stderr = stderr
    assert proc.returncode == 130, stderr
    assert stderr_lines(proc) == ["train_image_classifier: interrupted"]


def test_train_dir_that_is_a_file_fails_before_tensorflow(tmp_path):
    (tmp_path / "taken").write_text("not a directory")
    res = _run(f"--train_dir={tmp_path / 'taken'}", f"--dataset_dir={tmp_path}")
    assert res.returncode == 1
    assert stderr_lines(res) == [
        f"train_image_classifier: error: --train_dir='{tmp_path / 'taken'}' is not a directory; "
        "expected a directory"
    ]


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--max_number_of_steps=0", "0 is not a positive integer"),
        ("--max_number_of_steps=-5", "-5 is not a positive integer"),
        ("--learning_rate=-1", "-1.0 is not a non-negative number"),
        ("--weight_decay=-0.1", "-0.1 is not a non-negative number"),
        ("--label_smoothing=1.5", "1.5 is not a number in the range [0, 1]"),
        ("--moving_average_decay=2", "2.0 is not a number in the range [0, 1]"),
    ],
)
def test_nonsense_numbers_are_refused_at_parsing(parsed, flag, message):
    """Before: --max_number_of_steps=0 or -5 and --learning_rate=-1 ran and exited 0."""
    with pytest.raises(flags.IllegalFlagValueError) as err:
        parsed(flag)
    assert message in str(err.value)
    entry = parsed("--max_number_of_steps=1", "--learning_rate=0")  # the edges are fine
    assert entry.config_from_flags().max_number_of_steps == 1
