"""resolve_run: one resolution of a checkpoint's model for eval, classify, export and Python
callers; the run's flags.txt fills what is not given, contradictions are one line."""

import numpy as np
import pytest
from PIL import Image

from slimcls.config import ClassifierConfig, EvalConfig, ExportConfig
from slimcls.core.errors import SlimclsError
from slimcls.inference import classify, evaluate
from slimcls.inference import export as ex
from slimcls.model import modeling, run_info, run_spec
from tests.helpers import (
    CLASS_NAMES,
    MODEL,
    SIZE,
    images_and_labels,
    logits_of,
    make_dataset,
    make_trained_run,
    preprocess_numpy,
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small_cnn run whose flags.txt records the net, size, offset and dataset."""
    root = tmp_path_factory.mktemp("runspec")
    dataset_dir, model = make_trained_run(root, step=4, splits={"test": 9})
    flags = [
        f"--model_name={MODEL}",
        f"--train_image_size={SIZE}",
        f"--dataset_dir={dataset_dir}",
        "--labels_offset=0",
        "--nouse_grayscale",
    ]
    run_info.record_run(str(root / "train"), flags, ["train"], "train_image_classifier")
    return {"root": root, "train": str(root / "train"), "dataset_dir": dataset_dir, "model": model}


def test_a_python_caller_giving_only_the_checkpoint_gets_the_runs_settings(run, tmp_path):
    spec = run_spec.resolve_run(ClassifierConfig(checkpoint_path=run["train"]))
    assert (spec.model_name, spec.plan.image_size, spec.dataset_dir) == (
        MODEL,
        SIZE,
        run["dataset_dir"],
    )
    assert spec.class_names == CLASS_NAMES and spec.labels_offset == 0
    assert spec.checkpoint.endswith("model.ckpt-4")
    # The library's classifier restores that net: its probabilities are the model's.
    classifier = classify.Classifier(ClassifierConfig(checkpoint_path=run["train"]))
    images, _ = images_and_labels(3, seed=2)
    expected = logits_of(run["model"], images)
    expected = np.exp(expected - expected.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    got = classifier.probabilities(preprocess_numpy(images))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # As docs/evaluation.md shows it: a file in, the run's class names out.
    Image.fromarray(images[0]).save(tmp_path / "photo.png")
    (result,) = classifier.classify_files([str(tmp_path / "photo.png")], top_k=3)
    best = result["predictions"][0]
    assert best["name"] == CLASS_NAMES[int(expected[0].argmax())]
    assert best["probability"] == pytest.approx(float(expected[0].max()), rel=1e-5)


def test_the_evaluator_reads_the_runs_dataset_and_net(run):
    evaluator = evaluate.Evaluator(
        EvalConfig(checkpoint_path=run["train"], dataset_split_name="test")
    )
    assert (
        evaluator.config.model_name == MODEL and evaluator.config.dataset_dir == run["dataset_dir"]
    )
    metrics = evaluator.evaluate(evaluator.resolve_checkpoint())
    assert metrics["num_examples"] == 9 and metrics["model_name"] == MODEL
    # The one call docs/evaluation.md shows gives the same numbers.
    config = EvalConfig(checkpoint_path=run["train"], dataset_split_name="test")
    again = evaluate.evaluate(config)
    assert (again["accuracy"], again["loss"]) == (metrics["accuracy"], metrics["loss"])


@pytest.mark.parametrize(
    "given, flag, message",
    [
        ({"eval_image_size": SIZE + 8}, "--eval_image_size", f"used --train_image_size={SIZE}"),
        ({"eval_image_size": SIZE + 8}, "--image_size", f"used --train_image_size={SIZE}"),
        ({"model_name": "cifarnet"}, "--eval_image_size", f"used --model_name={MODEL}"),
        ({"labels_offset": 1}, "--eval_image_size", "used --labels_offset=0"),
        ({"use_grayscale": True}, "--eval_image_size", "used --use_grayscale=False"),
    ],
)
def test_a_given_setting_that_contradicts_the_run_is_one_line_naming_both(
    run, given, flag, message
):
    config = ClassifierConfig(checkpoint_path=run["train"], **given)
    with pytest.raises(SlimclsError) as err:
        run_spec.resolve_run(config, size_flag=flag)
    text = str(err.value)
    name = next(iter(given))
    shown = flag.lstrip("-") if name == "eval_image_size" else name
    assert f"--{shown}={given[name]} contradicts the training run" in text
    assert message in text and "\n" not in text


def test_another_dataset_dir_may_be_given(run, tmp_path):
    other, _ = make_dataset(tmp_path / "other", {"test": 5}, name="other")
    spec = run_spec.resolve_run(
        EvalConfig(checkpoint_path=run["train"], dataset_dir=other),
        split_name="test",
        resolve_checkpoint=False,
    )
    assert spec.dataset_dir == other and spec.dataset.num_samples == 5
    assert spec.checkpoint is None


def test_without_a_run_or_dataset_the_net_and_classes_come_from_the_checkpoint(run, tmp_path):
    import shutil

    copy = tmp_path / "copied"
    shutil.copytree(run["train"], copy)
    (copy / run_info.FLAGS_FILE).unlink()
    spec = run_spec.resolve_run(ClassifierConfig(checkpoint_path=str(copy), eval_image_size=SIZE))
    assert spec.model_name == MODEL and spec.num_classes == len(CLASS_NAMES)
    assert spec.class_names == [str(i) for i in range(len(CLASS_NAMES))]


def test_export_checks_its_config_and_resolves_the_model_once(run, tmp_path, monkeypatch):
    calls = {"check_config": 0, "resolve_run": 0, "plan": 0, "load": 0}

    def counted(module, name):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    counted(ex, "check_config")
    counted(run_spec, "resolve_run")
    counted(modeling, "plan")
    counted(modeling, "load")
    config = ExportConfig(
        ClassifierConfig(checkpoint_path=run["train"]),
        output_dir=str(tmp_path / "saved"),
        output_file=str(tmp_path / "frozen.pb"),
    )
    info = ex.export(config)
    assert info["model_name"] == MODEL and info["image_size"] == SIZE
    assert "saved_model" in info and "graph_def" in info
    assert calls == {"check_config": 1, "resolve_run": 1, "plan": 1, "load": 1}


def test_a_published_checkpoint_without_a_net_is_one_line():
    with pytest.raises(SlimclsError, match=r"--checkpoint_path=imagenet needs --model_name"):
        run_spec.resolve_settings(ClassifierConfig(checkpoint_path="imagenet"))
