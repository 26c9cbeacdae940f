"""Paths of file systems TensorFlow does not have here: one line naming them, up front."""

import os

import pytest
from absl import flags

from slimcls import config
from slimcls.cli import flag_defs
from slimcls.core import filesystems
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from tests.helpers import run_module, stderr_lines

URL = "http://127.0.0.1:9/ds"


def test_unsupported_scheme_is_one_line_naming_what_is_supported():
    with pytest.raises(SlimclsError) as e:
        filesystems.check_file_system(URL, "dataset_dir")
    message = str(e.value)
    assert message.startswith(f"--dataset_dir={URL!r}: TensorFlow has no file system for http://")
    registered = [s for s in tf.io.gfile.get_registered_schemes() if s not in ("", "file", "ram")]
    assert all(f"{s}://" in message for s in registered)  # what this TensorFlow has
    assert "s3:// and hdfs:// need the tensorflow-io package" in message and "\n" not in message


def test_a_path_that_is_not_utf8_is_one_line():
    path = os.fsdecode(b"/tmp/d\xff")  # how Python hands such argv bytes over
    with pytest.raises(SlimclsError, match=r"^--dataset_dir=/tmp/d\\xff is not UTF-8; expected"):
        filesystems.check_file_system(path, "dataset_dir")


@pytest.mark.parametrize("path", [None, "", "/tmp/x", "rel/x", "file:///tmp/x", "gs://b/x"])
def test_local_paths_and_registered_schemes_pass(path):
    filesystems.check_file_system(path, "dataset_dir")


@pytest.mark.parametrize(
    "config_class, flag",
    [
        (config.TrainConfig, "train_dir"),
        (config.TrainConfig, "dataset_dir"),
        (config.TrainConfig, "checkpoint_path"),
        (config.EvalConfig, "eval_dir"),
        (config.ClassifierConfig, "labels_file"),
        (config.ExportConfig, "output_file"),
        (config.ConvertConfig, "source_dir"),
    ],
)
def test_every_path_flag_of_every_command_is_checked(config_class, flag):
    values = flags.FlagValues()
    specs = flag_defs.define_command_flags(config_class, flag_values=values)
    good = {"model_name": "small_cnn", "dataset_name": "folder"}
    required = [
        f"--{s.name}={good.get(s.name, 'x')}" for s in specs if s.required and s.name != flag
    ]
    values(["prog", *required, f"--{flag}={URL}"])
    with pytest.raises(SlimclsError, match=rf"^--{flag}='http://127.0.0.1:9/ds': TensorFlow has"):
        flag_defs.config_from_flags(config_class, flag_values=values)


def test_library_readers_check_too():
    from slimcls.datasets import dataset_factory
    from slimcls.model import checkpoints

    with pytest.raises(SlimclsError, match="^--checkpoint_path=.*no file system for http://"):
        checkpoints.resolve_checkpoint(URL)
    with pytest.raises(SlimclsError, match="^--dataset_dir=.*no file system for http://"):
        dataset_factory.get_dataset(None, "train", URL)


@pytest.mark.heavy
@pytest.mark.parametrize("flag", ["dataset_dir", "checkpoint_path", "train_dir"])
def test_commands_give_one_line_for_a_url(tmp_path, flag):
    args = {
        "train_dir": str(tmp_path / "train"),
        "dataset_dir": str(tmp_path / "data"),
        "checkpoint_path": str(tmp_path / "ckpt"),
        flag: URL,
    }
    proc = run_module(
        "slimcls.train_image_classifier", *(f"--{k}={v}" for k, v in args.items()),
        "--model_name=small_cnn", "--max_number_of_steps=1",
    )  # fmt: skip
    lines = stderr_lines(proc)
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert f"--{flag}='{URL}': TensorFlow has no file system for http://" in lines[0]
