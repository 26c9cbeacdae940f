"""Evaluation library: exact metrics, EMA weights, outputs and watch mode."""

import json
import os
import threading
import time

import numpy as np
import pytest
from PIL import Image

from slimcls import config
from slimcls.core.errors import SlimclsError
from slimcls.inference import eval_report
from slimcls.inference import evaluate as ev
from tests.helpers import (
    CLASS_NAMES,
    MODEL,
    SIZE,
    build_model,
    logits_of,
    make_dataset,
    save_model_checkpoint,
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    dataset_dir, arrays = make_dataset(root / "data", {"test": 23, "train": 12})
    model = build_model()
    prefix = save_model_checkpoint(model, root / "train", step=42, ema=lambda v: v * 0.5)
    return {
        "root": root,
        "dataset_dir": dataset_dir,
        "arrays": arrays,
        "model": model,
        "prefix": prefix,
    }


def _config(setup, **kw):
    kw.setdefault("batch_size", 5)
    return config.EvalConfig(
        checkpoint_path=str(setup["root"] / "train"),
        dataset_dir=setup["dataset_dir"],
        model_name=MODEL,
        eval_image_size=SIZE,
        **kw,
    )


def _reference(logits, labels):
    preds = logits.argmax(-1)
    top5 = np.argsort(-logits, axis=-1)[:, :5]
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return {
        "accuracy": float((preds == labels).mean()),
        "recall_5": float((top5 == labels[:, None]).any(-1).mean()),
        "loss": float(-log_probs[np.arange(len(labels)), labels].mean()),
        "preds": preds,
    }


def test_every_example_once_and_metrics_equal_numpy(setup):
    metrics = ev.evaluate(_config(setup))  # 23 examples, batches of 5: last one has 3
    images, labels = setup["arrays"]["test"]
    ref = _reference(logits_of(setup["model"], images), labels)
    assert metrics["num_examples"] == 23 == metrics["split_size"]
    assert metrics["num_batches"] == 5 and not metrics["truncated"]
    assert metrics["accuracy"] == pytest.approx(ref["accuracy"], abs=1e-12)
    assert metrics["recall_5"] == pytest.approx(ref["recall_5"], abs=1e-12)
    assert metrics["loss"] == pytest.approx(ref["loss"], rel=1e-4)
    assert metrics["global_step"] == 42
    assert metrics["checkpoint"] == setup["prefix"]
    confusion = metrics["confusion_matrix"]
    expected = np.zeros((len(CLASS_NAMES),) * 2, int)
    np.add.at(expected, (labels, ref["preds"]), 1)
    np.testing.assert_array_equal(confusion, expected)
    for row in metrics["per_class"]:
        assert row["name"] == CLASS_NAMES[row["id"]]
        assert row["num_examples"] == int((labels == row["id"]).sum())
    report = eval_report.format_report(metrics)
    assert f"eval/Accuracy[{ref['accuracy']:.4f}]" in report.splitlines()[0]
    assert report.splitlines()[1].startswith("eval/Recall_5[")


def test_eval_top_k_reports_every_k_asked_for(setup, tmp_path):
    metrics = ev.evaluate(_config(setup, eval_top_k=(3, 1, 5, 9), eval_dir=str(tmp_path)))
    images, labels = setup["arrays"]["test"]
    logits = logits_of(setup["model"], images)
    ranked = np.argsort(-logits, axis=-1)
    for k in (1, 3, 5):
        expected = float((ranked[:, :k] == labels[:, None]).any(-1).mean())
        assert metrics[f"recall_{k}"] == pytest.approx(expected, abs=1e-12)
    assert metrics["recall_1"] == metrics["accuracy"]
    assert metrics["recall_9"] == 1.0  # more than the 7 classes: every example
    lines = eval_report.format_report(metrics).splitlines()
    assert [ln.split("[")[0] for ln in lines[:5]] == [
        "eval/Accuracy", "eval/Recall_1", "eval/Recall_3", "eval/Recall_5", "eval/Recall_9",
    ]  # fmt: skip
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert {"recall_1", "recall_3", "recall_5", "recall_9"} <= set(saved)
    # The default is TF-Slim's: the Recall_5 line and key only.
    default = ev.evaluate(_config(setup))
    assert [k for k in default if k.startswith("recall_")] == ["recall_5"]
    with pytest.raises(SlimclsError, match="--eval_top_k=0,3: 0 is not a positive integer"):
        ev.evaluate(_config(setup, eval_top_k=(0, 3)))


def test_batch_size_does_not_change_metrics(setup):
    a = ev.evaluate(_config(setup, batch_size=100))
    b = ev.evaluate(_config(setup, batch_size=1))
    assert a["num_examples"] == b["num_examples"] == 23
    assert a["accuracy"] == b["accuracy"] and a["recall_5"] == b["recall_5"]


def test_max_num_batches_is_reported_as_truncated(setup):
    metrics = ev.evaluate(_config(setup, max_num_batches=2))
    assert metrics["num_examples"] == 10 and metrics["truncated"]
    assert "--max_num_batches" in eval_report.format_report(metrics)


def test_moving_averages_are_evaluated(setup):
    metrics = ev.evaluate(_config(setup, moving_average_decay=0.999))
    shadow = build_model(seed=1)
    for name, var in shadow.variables_by_name().items():
        var.assign(setup["model"].variables_by_name()[name].numpy() * 0.5)
    images, labels = setup["arrays"]["test"]
    ref = _reference(logits_of(shadow, images), labels)
    assert metrics["moving_averages"]
    assert metrics["loss"] == pytest.approx(ref["loss"], rel=1e-4)
    assert metrics["accuracy"] == pytest.approx(ref["accuracy"], abs=1e-12)
    plain = ev.evaluate(_config(setup))
    assert plain["loss"] != pytest.approx(metrics["loss"], rel=1e-4)


def test_checkpoint_without_moving_averages_is_a_clear_error(setup, tmp_path):
    save_model_checkpoint(setup["model"], tmp_path, step=1)
    config = _config(setup, moving_average_decay=0.999)
    config.checkpoint_path = str(tmp_path)
    with pytest.raises(SlimclsError, match="no moving averages.*ExponentialMovingAverage"):
        ev.evaluate(config)


def test_missing_checkpoint_and_bad_split_are_clear_errors(setup, tmp_path):
    config = _config(setup)
    config.checkpoint_path = str(tmp_path / "nothing")
    with pytest.raises(SlimclsError, match="does not exist"):
        ev.evaluate(config)
    with pytest.raises(SlimclsError, match="expected one of"):
        ev.evaluate(_config(setup, dataset_split_name="validation"))
    with pytest.raises(SlimclsError, match="batch_size"):
        ev.evaluate(_config(setup, batch_size=0))


def test_outputs_metrics_json_png_and_summaries(setup, tmp_path):
    metrics = ev.evaluate(_config(setup, eval_dir=str(tmp_path)))
    with open(tmp_path / "metrics.json", encoding="utf-8") as f:
        saved = json.load(f)
    for key in (
        "accuracy",
        "recall_5",
        "loss",
        "num_examples",
        "global_step",
        "checkpoint",
        "per_class",
        "confusion_matrix",
    ):
        assert key in saved
    assert saved["accuracy"] == metrics["accuracy"]
    assert len(saved["per_class"]) == len(CLASS_NAMES)
    for name in ("confusion_matrix.png", "confusion_matrix_normalized.png"):
        with Image.open(tmp_path / name) as image:
            assert image.mode == "RGB" and min(image.size) > 7 * 20
    csv_rows = (tmp_path / "confusion_matrix.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + len(CLASS_NAMES)
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path))


def test_watch_evaluates_each_new_checkpoint_beside_training(setup, tmp_path):
    train_dir = tmp_path / "train"
    train_dir.mkdir()
    (train_dir / "flags.txt").write_text("--max_number_of_steps=30\n")
    model = build_model(seed=2)

    def train():  # a stand-in training loop: changes weights, checkpoints every 10 steps
        for step in (10, 20, 30):
            time.sleep(0.4)
            for var in model.trainable_variables:
                var.assign(var * 0.9)
            save_model_checkpoint(model, train_dir, step)

    thread = threading.Thread(target=train)
    thread.start()
    config = _config(setup, eval_dir=str(tmp_path / "eval"))
    config.checkpoint_path = str(train_dir)
    seen = []
    results = ev.watch(config, eval_interval_secs=0.1, timeout_secs=60, on_result=seen.append)
    thread.join()
    steps = [m["global_step"] for m in results]
    assert steps == [10, 20, 30]
    assert seen == results
    history = (tmp_path / "eval" / "metrics_history.jsonl").read_text().splitlines()
    assert [json.loads(line)["global_step"] for line in history] == steps


def test_watch_stops_after_timeout_without_new_checkpoints(setup):
    clock = [0.0]
    results = ev.watch(
        _config(setup),
        eval_interval_secs=5,
        timeout_secs=12,
        sleep=lambda s: clock.__setitem__(0, clock[0] + s),
        clock=lambda: clock[0],
    )
    assert [m["global_step"] for m in results] == [42]
    assert clock[0] == pytest.approx(12)


def test_watch_skips_a_damaged_checkpoint_and_goes_on(setup, tmp_path, caplog):
    train_dir = tmp_path / "train"
    model = build_model(seed=3)
    damaged = save_model_checkpoint(model, train_dir, 10)
    save_model_checkpoint(model, train_dir, 20)
    data = next(p for p in train_dir.iterdir() if p.name.startswith("model.ckpt-10.data"))
    data.write_bytes(data.read_bytes()[:16])  # cut short: unreadable, its index still there
    config = _config(setup)
    config.checkpoint_path = str(train_dir)
    caplog.set_level("WARNING")
    results = ev.watch(config, eval_interval_secs=0.1, timeout_secs=0, final_step=20)
    assert [m["global_step"] for m in results] == [20]
    assert f"skipped checkpoint {damaged}" in caplog.text
