"""What a run records (flags.txt, runs.jsonl) and what eval/classify/export take from it."""

import dataclasses
import json
import os

import pytest
from absl import flags

from slimcls import cli
from slimcls.cli import eval_image_classifier, export_inference_graph
from slimcls.core.errors import SlimclsError
from slimcls.model import run_info, run_spec

FLAGS = flags.FLAGS
FIRST = [
    "--model_name=cifarnet",
    "--train_image_size=24",
    "--nouse_grayscale",
    "--labels_offset=0",
    "--dataset_dir=/data/digits",
    "# --preprocessing_name is None",
    "--max_number_of_steps=100",
]


def test_first_start_writes_flags_txt_later_ones_append_what_changed(tmp_path):
    train_dir = str(tmp_path / "run")
    assert run_info.record_run(train_dir, FIRST, ["train", "--x"], "train") == os.path.join(
        train_dir, "flags.txt"
    )
    resumed = [ln.replace("=100", "=300") for ln in FIRST]
    for _ in range(2):
        path = run_info.record_run(train_dir, resumed, ["train", "--max_number_of_steps=300"], "t")
    assert path == os.path.join(train_dir, "runs.jsonl")
    assert run_info.read_run_flags(train_dir)["max_number_of_steps"] == "100"  # the first run's
    records = [json.loads(ln) for ln in open(path)]
    assert len(records) == 2
    assert records[0]["changed"] == {"max_number_of_steps": ["100", "300"]}
    assert records[0]["argv"] == ["train", "--max_number_of_steps=300"] and records[0]["host"]


def test_read_run_flags_from_a_checkpoint_in_the_run(tmp_path):
    run_info.record_run(str(tmp_path), FIRST, [], "train")
    recorded = run_info.read_run_flags(str(tmp_path / "model.ckpt-7"))
    assert recorded["model_name"] == "cifarnet" and recorded["use_grayscale"] is False
    assert recorded["preprocessing_name"] is None
    assert run_info.recorded_int(str(tmp_path), "max_number_of_steps") == 100
    assert run_info.read_run_flags(str(tmp_path / "elsewhere" / "x.ckpt")) == {}


def completed(config, flag_names=None):
    """The config as the library completes it from the training run (``run_spec``)."""
    return dataclasses.replace(config, **run_spec.resolve_settings(config, flag_names))


@pytest.fixture
def eval_flags():
    def parse(*args):
        FLAGS.unparse_flags()
        eval_image_classifier.define_flags()
        FLAGS(["eval_image_classifier", *args])
        return eval_image_classifier

    yield parse
    FLAGS.unparse_flags()


def test_eval_takes_model_size_and_dataset_from_the_run(tmp_path, eval_flags):
    run_info.record_run(str(tmp_path), FIRST, [], "train")
    entry = eval_flags(f"--checkpoint_path={tmp_path}/model.ckpt-100", "--batch_size=7")
    config = completed(entry.config_from_flags())
    assert (config.model_name, config.eval_image_size, config.dataset_dir) == (
        "cifarnet",
        24,
        "/data/digits",
    )
    assert config.batch_size == 7 and config.use_grayscale is False
    config = eval_flags(f"--checkpoint_path={tmp_path}", "--dataset_dir=/other")
    assert completed(config.config_from_flags()).dataset_dir == "/other"  # another dataset is fine


def test_a_flag_contradicting_the_run_names_both_values(tmp_path, eval_flags):
    run_info.record_run(str(tmp_path), FIRST, [], "train")
    entry = eval_flags(f"--checkpoint_path={tmp_path}", "--model_name=inception_v3")
    with pytest.raises(SlimclsError, match="--model_name=inception_v3 .*--model_name=cifarnet"):
        completed(entry.config_from_flags())


def test_without_a_recorded_run_or_checkpoint_the_directory_is_named(tmp_path, eval_flags):
    """No flags.txt and no checkpoint to tell the net from: the one line says what is missing."""
    entry = eval_flags(f"--checkpoint_path={tmp_path}", "--dataset_dir=/d")
    with pytest.raises(SlimclsError, match="is a directory without checkpoints"):
        completed(entry.config_from_flags())


def test_export_maps_the_runs_image_size_to_its_image_size_flag(tmp_path):
    run_info.record_run(str(tmp_path), FIRST, [], "train")
    FLAGS.unparse_flags()
    export_inference_graph.define_flags()
    try:
        FLAGS(["export", f"--checkpoint_path={tmp_path}", "--output_dir=/o"])
        names = {"eval_image_size": "image_size"}  # export's flag for it
        config = completed(export_inference_graph.config_from_flags().classifier, names)
        assert config.eval_image_size == 24
        assert config.model_name == "cifarnet"
        FLAGS(["export", f"--checkpoint_path={tmp_path}", "--output_dir=/o", "--image_size=32"])
        with pytest.raises(SlimclsError, match="--image_size=32 .*--train_image_size=24"):
            completed(export_inference_graph.config_from_flags().classifier, names)
    finally:
        FLAGS.unparse_flags()


def test_output_dir_that_is_a_file_fails_before_anything_starts(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(SlimclsError, match="--train_dir=.* is not a directory"):
        cli.check_output_dir("train_dir", str(tmp_path / "f"))
    with pytest.raises(SlimclsError, match="cannot be created: .* is not a directory"):
        cli.check_output_dir("eval_dir", str(tmp_path / "f" / "sub"))
    cli.check_output_dir("eval_dir", str(tmp_path / "new" / "sub"))  # creatable: fine
    assert not (tmp_path / "new").exists()
