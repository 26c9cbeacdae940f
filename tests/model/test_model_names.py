"""--model_name mistakes: resuming a run with another net, and a checkpoint copied out of its
run given without --model_name (the net it holds is read from its variables). The parse-time
"did you mean" is in tests/cli/test_train_cli.py."""

import dataclasses
import os

import numpy as np
import pytest
from absl import flags

from slimcls import train
from slimcls.core.errors import SlimclsError
from slimcls.model import checkpoints, model_detect, run_info, run_spec
from slimcls.model.modeling import create_model
from tests.helpers import save_model_checkpoint, toy_train_config

FLAGS = flags.FLAGS


def _checkpoint(directory, model_name="small_cnn", size=12, num_classes=4):
    model = create_model(model_name, num_classes)
    model.build_variables((size, size, 3))
    return save_model_checkpoint(model, directory, step=3)


@pytest.mark.parametrize("with_flags_txt", [True, False])
def test_resuming_with_another_model_name_says_how_to_fix_it(dataset_dir, tmp_path, with_flags_txt):
    train_dir = tmp_path / "run"
    _checkpoint(train_dir)
    if with_flags_txt:
        run_info.record_run(str(train_dir), ["--model_name=small_cnn"], ["x"], "train")
    with pytest.raises(SlimclsError) as err:
        train.train(toy_train_config(dataset_dir, train_dir, model_name="cifarnet"))
    message = str(err.value)
    assert "\n" not in message
    assert f"--train_dir={train_dir} holds " in message and "not --model_name=cifarnet" in message
    assert "pass a new --train_dir" in message
    assert "to continue this run, pass --model_name=small_cnn" in message
    assert ("(its flags.txt)" in message) == with_flags_txt


@pytest.fixture
def eval_flags():
    """Parses eval_image_classifier's flags in this process; returns a builder of its config
    completed from the training run (``run_spec.resolve_settings``)."""
    from slimcls.cli import eval_image_classifier as entry

    def parse(*args):
        FLAGS.unparse_flags()
        entry.define_flags()
        FLAGS(["eval_image_classifier", *args])
        config = entry.config_from_flags()  # completed by the library, as eval does
        return dataclasses.replace(config, **run_spec.resolve_settings(config))

    yield parse
    FLAGS.unparse_flags()


def test_a_copied_checkpoint_without_model_name_uses_the_net_it_holds(eval_flags, tmp_path, caplog):
    prefix = _checkpoint(tmp_path / "copy")  # no flags.txt beside it
    caplog.set_level("INFO", logger="slimcls")
    cfg = eval_flags(f"--checkpoint_path={prefix}", "--dataset_dir=/d")
    assert cfg.model_name == "small_cnn"
    assert "it holds a small_cnn model (scope SmallCNN); using --model_name=small_cnn" in (
        caplog.text
    )
    # A given --model_name is used as it is.
    given = eval_flags(f"--checkpoint_path={prefix}", "--model_name=cifarnet", "--dataset_dir=/d")
    assert given.model_name == "cifarnet"


def _fake_checkpoint(directory, names):
    tensors = {name: np.zeros([3, 3, 3, 8], np.float32) for name in names}
    return checkpoints.save_checkpoint(tensors, str(directory), 1)


def test_nets_that_cannot_be_told_apart_are_named(eval_flags, tmp_path, monkeypatch):
    prefix = _fake_checkpoint(tmp_path / "m", ["MobilenetV1/Conv2d_0/weights"])
    monkeypatch.setattr(model_detect, "MAX_BUILDS", 0)  # no shape comparison: names only
    with pytest.raises(SlimclsError) as err:
        eval_flags(f"--checkpoint_path={prefix}")
    message = str(err.value)
    assert "--model_name is required: checkpoint" in message and "no flags.txt" in message
    assert "holds a model of scope MobilenetV1 (one of mobilenet_v1, mobilenet_v1_025," in message


def test_a_checkpoint_of_no_registered_net_says_so(eval_flags, tmp_path):
    prefix = _fake_checkpoint(tmp_path / "f", ["Foo/conv/weights", "Bar/w"])
    with pytest.raises(SlimclsError, match=r"holds no registered net's variables \(its scopes: "
                       r"Bar, Foo\); pass --model_name"):  # fmt: skip
        eval_flags(f"--checkpoint_path={prefix}")


@pytest.mark.heavy
def test_widths_of_one_net_are_told_apart_by_shapes(tmp_path):
    prefix = _checkpoint(tmp_path / "w", "mobilenet_v1_050", size=32, num_classes=5)
    assert model_detect.nets_holding(prefix) == (["mobilenet_v1_050"], "MobilenetV1")
    assert os.path.exists(prefix + ".index")
