"""Training's validation pass is eval's pass: the same checks of the split, the same
one-line errors and the same numbers. Driven on a built model, without a training loop."""

import shutil

import pytest

from slimcls import config
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.datasets import dataset_factory, record_format
from slimcls.inference import evaluate
from slimcls.model import modeling
from slimcls.train import validation
from tests.helpers import (
    TOY_CLASSES,
    TOY_SIZE,
    save_model_checkpoint,
    toy_train_config,
    write_toy_dataset,
)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """40 train / 16 validation toy images, 2 shards per split (8 records each)."""
    return write_toy_dataset(tmp_path_factory.mktemp("toy"), num_train=40, num_validation=16)


@pytest.fixture
def dataset(clean, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(clean, copy)
    return str(copy)


@pytest.fixture(scope="module")
def model_and_checkpoint(tmp_path_factory):
    """A small_cnn (not trained) and a checkpoint of its weights."""
    model = modeling.create_model("small_cnn", TOY_CLASSES)
    model.build_variables((TOY_SIZE, TOY_SIZE, 3))
    return model, save_model_checkpoint(model, tmp_path_factory.mktemp("run"), step=1)


def _validate(dataset_dir, model, max_examples=None):
    """Training's ``validate()`` for the toy's validation split, as the loop builds it."""
    cfg = toy_train_config(dataset_dir, "unused", batch_size=4, validation_split_name="validation")
    descriptor = dataset_factory.get_dataset("toy", "validation", dataset_dir)
    model_plan = modeling.plan("small_cnn", descriptor.num_classes, image_size=TOY_SIZE)
    return validation.make_validation(cfg, model_plan, descriptor, model, max_examples)


def _evaluate(dataset_dir, checkpoint):
    cfg = config.EvalConfig(
        checkpoint_path=checkpoint,
        dataset_dir=dataset_dir,
        dataset_name="toy",
        dataset_split_name="validation",
        model_name="small_cnn",
        eval_image_size=TOY_SIZE,
        batch_size=4,
    )
    return evaluate.evaluate(cfg)


def _shard(dataset_dir, i):
    return dataset_factory.get_dataset("toy", "validation", dataset_dir).files[i]


def _rewrite(path, keep=None, label_of=None):
    """Keeps the first ``keep`` records (a cut at a record boundary: a valid file), or
    gives record ``label_of[0]`` the label ``label_of[1]``."""
    records = [r.numpy() for r in tf.data.TFRecordDataset(path)]
    if label_of is not None:
        index, label = label_of
        example = tf.train.Example.FromString(records[index])
        example.features.feature[record_format.KEY_LABEL].int64_list.value[0] = label
        records[index] = example.SerializeToString()
    with tf.io.TFRecordWriter(path) as writer:
        for record in records[:keep]:
            writer.write(record)


def test_validation_reports_a_short_split_as_eval_does(dataset, model_and_checkpoint):
    """A validation shard cut at a record boundary after training checked the shards
    reads without any error: the pass counts, and says which shard is short."""
    model, checkpoint = model_and_checkpoint
    shard = _shard(dataset, 0)
    _rewrite(shard, keep=1)
    with pytest.raises(SlimclsError) as validation_error:
        _validate(dataset, model)()
    message = str(validation_error.value)
    assert "holds 9 records, dataset.json says 16" in message
    assert f"{shard} holds 1 (expected 8)" in message and "\n" not in message
    with pytest.raises(SlimclsError) as eval_error:
        _evaluate(dataset, checkpoint)
    assert str(eval_error.value) == message


def test_validation_names_a_bad_record_as_eval_does(dataset, model_and_checkpoint):
    model, checkpoint = model_and_checkpoint
    shard = _shard(dataset, 1)
    _rewrite(shard, label_of=(5, 7))
    with pytest.raises(SlimclsError) as validation_error:
        _validate(dataset, model)()
    message = str(validation_error.value)
    assert f"record 5 of shard {shard} has label 7, outside the valid range 0..3" in message
    with pytest.raises(SlimclsError) as eval_error:
        _evaluate(dataset, checkpoint)
    assert str(eval_error.value) == message


def test_validation_numbers_are_evals(clean, model_and_checkpoint):
    model, checkpoint = model_and_checkpoint
    accuracy, loss, n = _validate(clean, model)()
    metrics = _evaluate(clean, checkpoint)
    assert n == metrics["num_examples"] == 16
    assert accuracy == metrics["accuracy"]
    assert loss == pytest.approx(metrics["loss"], rel=1e-12)
    # The batch-norm check's capped pass reads whole batches up to the cap.
    assert _validate(clean, model, max_examples=6)()[2] == 8
