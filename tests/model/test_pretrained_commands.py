"""--checkpoint_path=imagenet in train (fine-tuning), eval, classify and export.

The published checkpoint comes from a local-folder mirror holding a tarball in TF-Slim's
layout: mobilenet_v1_025 with random weights and moving averages (shadow = weight + 1), so
a test can tell which of the two a command restored.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from PIL import Image

from slimcls.config import ClassifierConfig, EvalConfig
from slimcls.core.errors import SlimclsError
from slimcls.datasets import dataset_utils
from slimcls.inference.classify import Classifier
from slimcls.model import modeling, pretrained
from tests.helpers import TOY_CLASSES, toy_train_config, write_toy_dataset
from tests.pretrained_helpers import NET, RECORD, WEIGHTS, make_sources, run_command

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = 32  # mobilenet's smallest input: cheap


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("published")
    sources = make_sources(root)
    mirror = root / "mirror"
    mirror.mkdir()
    (mirror / RECORD.archive).write_bytes(sources["archives"]["ema"])
    # The 128-pixel archive: the same checkpoint, found under the 224 name (said so).
    (mirror / "mobilenet_v1_0.25_128.tgz").write_bytes(sources["archives"]["ema"])
    sources["mirror"] = str(mirror)
    return sources


@pytest.fixture
def published_env(tmp_path, monkeypatch, source):
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(pretrained.MIRROR_ENV, source["mirror"])
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("toy"), num_train=16, num_validation=8)


@pytest.fixture(scope="module")
def imagenet_like(tmp_path_factory):
    """A converted dataset with TF-Slim's ImageNet classes (1001, 0 = background)."""
    rng = np.random.RandomState(0)
    images = rng.randint(0, 255, (6, 16, 16, 3)).astype(np.uint8)
    labels = np.array([0, 1, 5, 281, 999, 1000])
    names = ["background"] + [f"synset {i}" for i in range(1000)]
    path = tmp_path_factory.mktemp("imagenet")
    dataset_utils.write_dataset_from_arrays(
        str(path), "imagenet", {"test": (images, labels)}, names
    )
    return str(path)


def test_finetuning_restores_the_body_from_moving_averages_and_trains_a_new_head(
    published_env, toy, tmp_path, source, caplog
):
    from slimcls.train.state import create_state, resume_or_finetune

    cfg = toy_train_config(
        toy, tmp_path / "run", model_name=NET, checkpoint_path="imagenet", train_image_size=SIZE
    )
    plan = modeling.plan(NET, TOY_CLASSES, image_size=SIZE)
    state = create_state(cfg, plan)
    with caplog.at_level(logging.INFO, logger="slimcls"):
        message = resume_or_finetune(state, cfg, plan)
    notes = [r.getMessage() for r in caplog.records if "new 4-class head" in r.getMessage()]
    assert notes == [
        "--checkpoint_path=imagenet: the dataset has 4 classes, mobilenet_v1_025's published "
        "checkpoint 1001 (0 = background); not restoring MobilenetV1/Logits: a new 4-class "
        "head is trained"
    ]
    assert "(81 from moving averages)" in message and "2 excluded by the new head" in message
    variables = state.model_variables()
    np.testing.assert_array_equal(variables[WEIGHTS].numpy(), source["values"][WEIGHTS] + 1.0)
    moving_mean = "MobilenetV1/Conv2d_0/BatchNorm/moving_mean"  # no shadow: its own value
    np.testing.assert_array_equal(variables[moving_mean].numpy(), source["values"][moving_mean])
    assert variables["MobilenetV1/Logits/Conv2d_1c_1x1/weights"].shape[-1] == TOY_CLASSES


def test_eval_refuses_a_dataset_of_other_classes_before_downloading(published_env, toy):
    from slimcls.inference import evaluate

    config = EvalConfig(
        checkpoint_path="imagenet", dataset_dir=toy, model_name=NET, dataset_split_name="train"
    )
    with pytest.raises(SlimclsError, match="1001 ImageNet classes, the dataset 4") as e:
        evaluate.evaluate(config)
    assert "\n" not in str(e.value)
    assert not published_env.exists()  # nothing downloaded


def test_eval_on_imagenet_classes_uses_the_moving_averages(published_env, imagenet_like):
    from slimcls.inference import evaluate

    config = EvalConfig(
        checkpoint_path="imagenet",
        dataset_dir=imagenet_like,
        model_name=NET,
        eval_image_size=SIZE,
        batch_size=4,
    )
    metrics = evaluate.evaluate(config)
    assert metrics["num_examples"] == 6 and metrics["moving_averages"] is True
    assert metrics["checkpoint"] == pretrained.cached_checkpoint(RECORD)
    assert metrics["per_class"][281]["name"] == "synset 280"  # labels.txt of the dataset


def test_eval_of_a_1000_class_net_on_imagenet_takes_labels_offset_1(imagenet_like, capfd):
    assert pretrained.labels_offset_for("imagenet", "resnet_v1_50", 1001, 0) == 1
    assert "using --labels_offset=1" in capfd.readouterr().err


def test_classify_without_dataset_names_imagenet_classes(published_env, tmp_path, source):
    classifier = Classifier(
        ClassifierConfig(checkpoint_path="imagenet", model_name=NET, eval_image_size=SIZE)
    )
    assert classifier.num_classes == 1001 and classifier.moving_averages
    assert classifier.names[:2] == ["background", "imagenet class 0"]
    np.testing.assert_array_equal(
        classifier.model.variables_by_name()[WEIGHTS].numpy(), source["values"][WEIGHTS] + 1.0
    )
    image = tmp_path / "x.png"
    Image.fromarray(np.full((20, 20, 3), 128, np.uint8)).save(image)
    (result,) = classifier.classify_files([str(image)], top_k=3)
    assert len(result["predictions"]) == 3
    for p in result["predictions"]:
        assert p["name"] == (
            "background" if p["class"] == 0 else f"imagenet class {p['class'] - 1}"
        )


def test_classify_uses_the_published_image_size_unless_given(published_env, capfd):
    classifier = Classifier(
        ClassifierConfig(checkpoint_path="imagenet:mobilenet_v1_0.25_128", model_name=NET)
    )
    assert classifier.plan.image_size == 128
    assert "holds its checkpoint as mobilenet_v1_0.25_224.ckpt" in capfd.readouterr().err
    given = ClassifierConfig(checkpoint_path="imagenet", model_name=NET, eval_image_size=SIZE)
    assert Classifier(given).plan.image_size == SIZE


def test_export_of_imagenet_weights(published_env, tmp_path):
    from slimcls.inference import export

    config = export.ExportConfig(
        ClassifierConfig(checkpoint_path="imagenet", model_name=NET, eval_image_size=SIZE),
        str(tmp_path / "saved" / "1"),
    )
    info = export.export(config)
    saved = info["saved_model"]
    assert info["num_classes"] == 1001 and info["moving_averages"] is True
    with open(saved["labels_file"], encoding="utf-8") as f:
        labels = f.read().splitlines()
    assert labels[:2] == ["0:background", "1:imagenet class 0"] and len(labels) == 1001


def test_settings_are_not_read_from_a_flags_txt_for_imagenet(tmp_path, monkeypatch):
    from slimcls.model import run_spec

    (tmp_path / "flags.txt").write_text("--model_name=cifarnet\n")
    monkeypatch.chdir(tmp_path)  # "imagenet" is no path: no training run beside it
    settings = run_spec.complete_settings("imagenet", {"labels_offset": 1})
    assert settings == {**dict.fromkeys(run_spec.FROM_RUN), "labels_offset": 1}


def test_classify_cli_unreachable_mirror_is_one_line(tmp_path, monkeypatch, capsys):
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(pretrained.MIRROR_ENV, "http://127.0.0.1:9/none")  # discard: refused
    status = run_command(
        "classify_image", "--checkpoint_path=imagenet", f"--model_name={NET}", str(image)
    )
    assert status == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("classify_image: error: cannot reach ")
    assert not any(files for _, _, files in os.walk(tmp_path / "cache"))
