"""Fine-tuning: exclude/trainable scopes, restore report and the errors that explain fixes."""

import dataclasses
import logging

import numpy as np
import pytest

from slimcls import train
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.model import checkpoints, finetune
from slimcls.model.slim_model import SlimModel
from slimcls.train import optim
from tests.helpers import TOY_CLASSES as NUM_CLASSES
from tests.helpers import TOY_SIZE as SIZE
from tests.helpers import tiny_spec
from tests.helpers import toy_train_config as _config

LOGITS = "Tiny/Logits,Tiny/AuxLogits"


def _model(num_classes):
    model = SlimModel(tiny_spec().fn, num_classes)
    model.build_variables((SIZE, SIZE, 3))
    return model


@pytest.fixture
def published(tmp_path):
    """A 'published' checkpoint of the tiny net with a background class (5 outputs)."""
    model = _model(NUM_CLASSES + 1)
    rng = np.random.RandomState(3)
    for v in model.variables:
        v.assign(rng.standard_normal(v.shape).astype(np.float32))
    values = {n: v.numpy() for n, v in model.variables_by_name().items()}
    return checkpoints.save_checkpoint(values, str(tmp_path / "published"), 0), values


def test_split_scopes_ignores_spaces_and_empty_items():
    assert finetune.split_scopes(" A/B , C/,, ") == ["A/B", "C"]
    assert finetune.split_scopes(None) == []


@pytest.mark.train_loop
def test_finetune_restores_excludes_and_freezes(dataset_dir, tmp_path, tiny_net, published, caplog):  # noqa: F811
    caplog.set_level(logging.INFO, logger="slimcls")
    prefix, source = published
    cfg = _config(
        dataset_dir,
        tmp_path / "run",
        model_name=tiny_net,
        max_number_of_steps=3,
        checkpoint_path=prefix,
        checkpoint_exclude_scopes=tuple(finetune.split_scopes(f" {LOGITS} ")),
        trainable_scopes=tuple(finetune.split_scopes("Tiny/fc2, Tiny/Logits")),
        learning_rate=optim.LearningRateConfig(learning_rate=0.1),
    )
    result = train.train(cfg)
    assert "Restored 6 variables" in caplog.text
    assert "4 excluded by --checkpoint_exclude_scopes, 0 missing" in caplog.text
    after = tf.train.load_checkpoint(result.checkpoint)
    keys = set(after.get_variable_to_shape_map())
    # frozen and restored: bit-identical to the checkpoint, and no optimizer slots
    for name in ("Tiny/conv1/weights", "Tiny/conv1/BatchNorm/beta"):
        np.testing.assert_array_equal(after.get_tensor(name), source[name])
        assert f"{name}/Momentum" not in keys
    # excluded and frozen: freshly initialised, never trained, no slots
    assert after.get_tensor("Tiny/AuxLogits/weights").shape == (SIZE * SIZE, NUM_CLASSES)
    assert "Tiny/AuxLogits/weights/Momentum" not in keys
    # trained: restored (fc2) or re-initialised (Logits), then changed
    assert not np.array_equal(after.get_tensor("Tiny/fc2/weights"), source["Tiny/fc2/weights"])
    assert {"Tiny/fc2/weights/Momentum", "Tiny/Logits/weights/Momentum"} <= keys


def test_shape_mismatch_names_variables_and_the_exact_fix(published):
    prefix, _ = published
    model = _model(NUM_CLASSES)
    with pytest.raises(SlimclsError) as err:
        finetune.restore_for_finetuning(
            model.variables_by_name(),
            prefix,
            logits_scopes=tiny_spec().logits_scopes,
            num_classes=NUM_CLASSES,
            background_class=True,
        )
    message = str(err.value)
    assert "Tiny/Logits/weights [8, 5] in checkpoint vs [8, 4] in model" in message
    assert "Tiny/AuxLogits/biases [5] in checkpoint vs [4] in model" in message
    assert f"--checkpoint_exclude_scopes={LOGITS}" in message
    assert "class 0 being 'background'" in message
    assert "\n" not in message
    # Nothing was assigned.
    assert not np.array_equal(
        model.variables_by_name()["Tiny/fc2/weights"].numpy(),
        tf.train.load_checkpoint(prefix).get_tensor("Tiny/fc2/weights"),
    )


def test_fix_keeps_existing_scopes_and_covers_other_variables():
    fix = finetune._fix_scopes(
        ["Tiny/AuxLogits/weights", "Tiny/fc2/weights"], ["Tiny/conv1"], ("Tiny/Logits",)
    )
    assert fix == ["Tiny/conv1", "Tiny/AuxLogits", "Tiny/fc2"]


def test_missing_variables_fail_unless_ignored(tmp_path):
    model = _model(NUM_CLASSES)
    values = {n: v.numpy() for n, v in model.variables_by_name().items() if "fc2" not in n}
    prefix = checkpoints.save_checkpoint(values, str(tmp_path), 7)
    with pytest.raises(SlimclsError, match=r"lacks 2 model variable\(s\).*--ignore_missing_vars"):
        finetune.restore_for_finetuning(model.variables_by_name(), prefix)
    report = finetune.restore_for_finetuning(
        model.variables_by_name(), str(tmp_path), ignore_missing_vars=True
    )
    assert sorted(report.missing) == ["Tiny/fc2/biases", "Tiny/fc2/weights"]
    assert len(report.restored) == len(values)
    assert "2 missing from the checkpoint" in report.summary()


@pytest.mark.parametrize("flag", ["exclude", "trainable"])
def test_a_scope_that_matches_nothing_is_an_error(published, flag):
    prefix, _ = published
    model = _model(NUM_CLASSES)
    typo = "Tiny/AuxLogits/Logits"
    with pytest.raises(SlimclsError, match=f"scope '{typo}' matches no variable"):
        if flag == "exclude":
            finetune.restore_for_finetuning(model.variables_by_name(), prefix, [typo])
        else:
            finetune.variables_to_train(model.trainable_variables, ["Tiny/fc2", typo])


def test_trainable_scopes_select_by_prefix():
    model = _model(NUM_CLASSES)
    chosen = finetune.variables_to_train(model.trainable_variables, ["Tiny/Logits"])
    assert sorted(v.name for v in chosen) == ["Tiny/Logits/biases:0", "Tiny/Logits/weights:0"]
    assert len(finetune.variables_to_train(model.trainable_variables, [])) == len(
        model.trainable_variables
    )


@pytest.mark.slow
def test_inception_v3_from_a_published_style_checkpoint(dataset_dir, tmp_path):  # noqa: F811
    """1001-class InceptionV3 checkpoint -> 4 classes: the exact fix, then phase 1 training."""
    from slimcls.model.modeling import create_model

    size = 80
    published = create_model("inception_v3", 1001)
    published.build_variables((size, size, 3))
    values = {n: v.numpy() for n, v in published.variables_by_name().items()}
    prefix = checkpoints.save_checkpoint(values, str(tmp_path / "published"), 0)

    cfg = _config(
        dataset_dir,
        tmp_path / "run",
        model_name="inception_v3",
        train_image_size=size,
        batch_size=4,
        max_number_of_steps=2,
        checkpoint_path=prefix,
        optimizer=optim.OptimizerConfig("rmsprop"),
    )
    with pytest.raises(SlimclsError) as err:
        train.train(cfg)
    assert "--checkpoint_exclude_scopes=InceptionV3/Logits,InceptionV3/AuxLogits" in str(err.value)
    assert "background" in str(err.value)

    scopes = ("InceptionV3/Logits", "InceptionV3/AuxLogits")
    result = train.train(
        dataclasses.replace(cfg, checkpoint_exclude_scopes=scopes, trainable_scopes=scopes)
    )
    assert "aux_loss" in result.losses
    after = tf.train.load_checkpoint(result.checkpoint)
    name = "InceptionV3/Mixed_7c/Branch_0/Conv2d_0a_1x1/weights"
    np.testing.assert_array_equal(after.get_tensor(name), values[name])
    assert f"{name}/RMSProp" not in after.get_variable_to_shape_map()
    assert "InceptionV3/Logits/Conv2d_1c_1x1/weights/RMSProp" in after.get_variable_to_shape_map()


@pytest.mark.parametrize("flag", ["exclude", "trainable"])
def test_a_scope_ending_inside_a_name_segment_matches_with_a_one_line_warning(
    published, flag, caplog
):
    prefix, _ = published
    model = _model(NUM_CLASSES)
    caplog.set_level(logging.WARNING, logger="slimcls")
    if flag == "exclude":  # "Tiny/AuxLogit" for Tiny/AuxLogits: TF-Slim's prefix match kept
        report = finetune.restore_for_finetuning(
            model.variables_by_name(), prefix, ["Tiny/Logits", "Tiny/AuxLogit"]
        )
        assert sorted(report.excluded) == [
            "Tiny/AuxLogits/biases", "Tiny/AuxLogits/weights",
            "Tiny/Logits/biases", "Tiny/Logits/weights",
        ]  # fmt: skip
    else:
        chosen = finetune.variables_to_train(model.trainable_variables, ["Tiny/AuxLogit"])
        assert len(chosen) == 2
    lines = [r.getMessage() for r in caplog.records if "inside a name segment" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "scope 'Tiny/AuxLogit' ends inside a name segment" in lines[0]
    assert "matches Tiny/AuxLogits" in lines[0]


def test_partial_segments_only_for_scopes_ending_inside_a_segment():
    names = ["CifarNet/logits/weights", "CifarNet/logits/biases", "CifarNet/conv1/weights"]
    assert finetune.partial_segments("CifarNet/logit", names) == ["CifarNet/logits"]
    assert finetune.partial_segments("CifarNet/logits", names) == []
    assert finetune.partial_segments("CifarNet/logits/weights", names) == []
    assert finetune.partial_segments("CifarNet/conv", names) == ["CifarNet/conv1"]
    assert finetune.partial_segments("Cifar", names) == ["CifarNet"]
