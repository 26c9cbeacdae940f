"""The training loop: checkpoints TF-Slim reads, resume, EMA, losses, NaN stop, errors."""

import csv
import dataclasses
import json
import logging
import os
import signal
import threading

import numpy as np
import pytest

from slimcls import config, train
from slimcls.core import compat
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.model import checkpoints
from slimcls.nets import nets_factory
from slimcls.train import precision
from slimcls.train.losses import TRUE_LABEL_LOSS
from tests.helpers import TOY_CLASSES, TOY_SIZE, toy_train_config

NUM_CLASSES, SIZE = TOY_CLASSES, TOY_SIZE
_config = toy_train_config


def _tensorboard_scalars(logdir):
    """``{run: {tag: [(step, value), ...]}}`` as TensorBoard's data provider serves them."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    ctx = context.RequestContext()
    listed = provider.list_scalars(ctx, experiment_id="", plugin_name="scalars")
    read = provider.read_scalars(ctx, experiment_id="", plugin_name="scalars", downsample=10000)
    assert {run: set(tags) for run, tags in listed.items()} == {
        run: set(tags) for run, tags in read.items()
    }
    return {
        run: {tag: [(d.step, d.value) for d in data] for tag, data in tags.items()}
        for run, tags in read.items()
    }


@pytest.mark.train_loop
def test_end_to_end_tf_slim_names_tf1_saver_and_resume(dataset_dir, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="slimcls")
    cfg = _config(
        dataset_dir,
        tmp_path / "run",
        moving_average_decay=0.9,
        validation_split_name="validation",
        eval_every_n_steps=10,
    )
    result = train.train(cfg)
    assert result.global_step == 20
    assert os.path.basename(result.checkpoint) == "model.ckpt-20"
    assert 0.0 <= result.validation_accuracy <= 1.0
    assert "validation on validation: accuracy" in caplog.text
    assert "step 20/20 (100%), epoch 3.33" in caplog.text and "ETA" in caplog.text
    assert "examples/sec" in caplog.text and "sec/step" in caplog.text
    # TensorBoard's own data provider lists the scalars; train/ and validation/ share tags.
    scalars = _tensorboard_scalars(tmp_path / "run")
    assert {"loss", "accuracy", "losses/cross_entropy", "learning_rate"} <= set(scalars["train"])
    assert {"examples/sec", "global_step/sec"} <= set(scalars["train"])
    assert set(scalars["validation"]) == {"loss", "accuracy"}
    assert [s for s, _ in scalars["validation"]["accuracy"]] == [10, 20]
    assert scalars["train"]["loss"][0][0] == 1 and scalars["train"]["loss"][-1][0] == 20
    # Every logged step (and each validation) is also a CSV row.
    with open(tmp_path / "run" / "train_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["step"], r["split"]) for r in rows] == [
        ("10", "train"), ("10", "validation"), ("20", "train"), ("20", "validation"),
    ]  # fmt: skip
    assert float(rows[3]["accuracy"]) == pytest.approx(result.validation_accuracy)
    # The best checkpoint by validation accuracy is kept apart from the rotating ones.
    best = json.loads((tmp_path / "run" / "best" / "best.json").read_text())
    assert best["accuracy"] == result.best_validation_accuracy
    assert best["checkpoint"] == result.best_checkpoint
    assert os.path.exists(result.best_checkpoint + ".index")

    keys = set(checkpoints.read_shapes(result.checkpoint))
    weights = {"SmallCNN/conv1/weights", "SmallCNN/logits/biases"}
    assert weights <= keys
    assert {f"{w}/Momentum" for w in weights} <= keys
    assert {f"{w}/ExponentialMovingAverage" for w in weights} <= keys
    assert "global_step" in keys
    reader = tf.train.load_checkpoint(result.checkpoint)
    assert reader.get_variable_to_dtype_map()["global_step"] == tf.int64
    assert int(reader.get_tensor("global_step")) == 20

    # TF-Slim's eval restores with a TF1 Saver in graph mode, EMA shadows included.
    net_fn = nets_factory.get_network_fn("small_cnn", NUM_CLASSES)
    with tf.Graph().as_default():
        images = tf.compat.v1.placeholder(tf.float32, [None, SIZE, SIZE, 3])
        net_fn(images)
        global_step = tf.compat.v1.train.get_or_create_global_step()
        ema = tf.compat.v1.train.ExponentialMovingAverage(0.9, global_step)
        saver = tf.compat.v1.train.Saver(ema.variables_to_restore())
        plain = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            plain.restore(sess, result.checkpoint)
            var = tf.compat.v1.global_variables()[0]
            np.testing.assert_array_equal(sess.run(var), reader.get_tensor(var.op.name))
            saver.restore(sess, result.checkpoint)
            np.testing.assert_array_equal(
                sess.run(var), reader.get_tensor(f"{var.op.name}/ExponentialMovingAverage")
            )
            assert sess.run(global_step) == 20

    # A second run resumes with the full state and continues the step count.
    caplog.clear()
    resumed = train.train(
        dataclasses.replace(cfg, max_number_of_steps=25, checkpoint_path=result.checkpoint)
    )
    assert resumed.global_step == 25
    assert "--checkpoint_path=" in caplog.text and "is not used" in caplog.text
    assert "Resumed from" in caplog.text
    assert checkpoints.step_of(checkpoints.latest_checkpoint(cfg.train_dir)) == 25


def test_loss_terms_label_smoothing_and_aux_logits():
    logits = tf.constant([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    aux = tf.constant([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    labels = tf.constant([0, 2])
    s = 0.1
    terms = train.compute_losses(
        logits, {"AuxLogits": aux}, labels, 3, s, regularization=tf.constant(0.25)
    )

    def xent(x, smoothing=s):
        x = np.asarray(x, np.float64)
        onehot = np.eye(3)[[0, 2]] * (1 - smoothing) + smoothing / 3
        logp = x - np.log(np.exp(x).sum(1, keepdims=True))
        return float(-(onehot * logp).sum(1).mean())

    assert float(terms["cross_entropy"]) == pytest.approx(xent(logits), rel=1e-5)
    assert float(terms["aux_loss"]) == pytest.approx(0.4 * xent(aux), rel=1e-5)
    assert float(terms["total_loss"]) == pytest.approx(
        xent(logits) + 0.4 * xent(aux) + 0.25, rel=1e-5
    )
    # The loss curve's value: the same logits against the true labels (as validation).
    assert float(terms[TRUE_LABEL_LOSS]) == pytest.approx(xent(logits, 0.0), rel=1e-5)
    no_aux = train.compute_losses(logits, {}, labels, 3)
    assert "aux_loss" not in no_aux and float(no_aux["regularization"]) == 0.0
    assert TRUE_LABEL_LOSS not in no_aux  # without smoothing, cross_entropy is that already


@pytest.mark.train_loop
def test_ema_shadows_cover_bn_statistics_and_aux_loss_is_logged(
    dataset_dir, tmp_path, tiny_net, caplog
):
    caplog.set_level(logging.INFO, logger="slimcls")
    cfg = _config(
        dataset_dir,
        tmp_path,
        model_name=tiny_net,
        max_number_of_steps=6,
        log_every_n_steps=3,
        moving_average_decay=0.5,
        weight_decay=1e-3,
    )
    result = train.train(cfg)
    assert "aux_loss" in result.losses and result.losses["regularization"] > 0
    assert "aux_loss" in caplog.text
    reader = tf.train.load_checkpoint(result.checkpoint)
    keys = set(reader.get_variable_to_shape_map())
    for name in ("Tiny/conv1/BatchNorm/moving_mean", "Tiny/conv1/BatchNorm/moving_variance"):
        assert f"{name}/ExponentialMovingAverage" in keys
        assert f"{name}/Momentum" not in keys  # not trainable: no slot
    # decay = min(0.5, (1 + step) / (10 + step)): the shadow trails the variable.
    w = reader.get_tensor("Tiny/Logits/weights")
    shadow = reader.get_tensor("Tiny/Logits/weights/ExponentialMovingAverage")
    assert not np.array_equal(w, shadow)


@pytest.mark.train_loop
def test_nan_loss_stops_naming_the_step_and_keeps_last_good_checkpoint(dataset_dir, tmp_path):
    cfg = _config(dataset_dir, tmp_path, max_number_of_steps=3)
    good = train.train(cfg).checkpoint
    bad = dataclasses.replace(
        cfg,
        max_number_of_steps=50,
        optimizer=config.OptimizerConfig(optimizer="sgd"),
        learning_rate=config.LearningRateConfig(learning_rate=1e38),
    )
    with pytest.raises(SlimclsError, match=r"loss is (nan|inf) at step \d+") as err:
        train.train(bad)
    assert "model.ckpt-3" in str(err.value)
    assert checkpoints.latest_checkpoint(cfg.train_dir) == good
    assert checkpoints.all_checkpoints(cfg.train_dir) == [good]


@pytest.mark.train_loop
def test_sigterm_saves_a_checkpoint_and_stops(dataset_dir, tmp_path):
    cfg = _config(dataset_dir, tmp_path, max_number_of_steps=None, log_every_n_steps=0)
    timer = threading.Timer(4.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        result = train.train(cfg)
    finally:
        timer.cancel()
    assert result.interrupted_by == "SIGTERM"
    assert result.global_step > 0
    assert checkpoints.latest_checkpoint(cfg.train_dir) == result.checkpoint
    assert checkpoints.step_of(result.checkpoint) == result.global_step


@pytest.mark.train_loop
@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_optimizer_slots_saved_under_tf1_names_and_restored_on_resume(
    dataset_dir, tmp_path, optimizer
):
    cfg = _config(
        dataset_dir, tmp_path, max_number_of_steps=2, optimizer=config.OptimizerConfig(optimizer)
    )
    first = train.train(cfg).checkpoint
    keys = set(checkpoints.read_shapes(first))
    suffix = {"adam": "Adam", "rmsprop": "RMSProp"}[optimizer]
    assert {f"SmallCNN/conv1/weights/{suffix}", f"SmallCNN/conv1/weights/{suffix}_1"} <= keys
    if optimizer == "adam":
        assert {"beta1_power", "beta2_power"} <= keys
    second = train.train(dataclasses.replace(cfg, max_number_of_steps=3)).checkpoint
    slot = f"SmallCNN/logits/weights/{suffix}"
    before, after = (tf.train.load_checkpoint(p).get_tensor(slot) for p in (first, second))
    # one more step from the restored slot, not from a fresh one
    assert not np.array_equal(before, after)
    if optimizer == "adam":
        b1 = tf.train.load_checkpoint(second).get_tensor("beta1_power")
        assert b1 == pytest.approx(0.9**4, rel=1e-5)


@pytest.mark.parametrize(
    "kw",
    [dict(mixed_precision="bfloat16"), dict(mixed_precision="float16"), dict(jit_compile=True)],
    ids=["bfloat16", "float16", "xla"],
)
@pytest.mark.train_loop
def test_mixed_precision_and_xla_keep_float32_variables(
    dataset_dir, tmp_path, tiny_net, kw, monkeypatch
):
    # float16 is refused on CPUs (too slow); pretend to have a GPU to run its loss scaling.
    monkeypatch.setattr(precision, "has_gpu", lambda: True)
    cfg = _config(
        dataset_dir,
        tmp_path,
        model_name=tiny_net,
        max_number_of_steps=3,
        weight_decay=1e-3,
        moving_average_decay=0.9,
        **kw,
    )
    result = train.train(cfg)
    assert np.isfinite(result.losses["total_loss"]) and result.losses["regularization"] > 0
    dtypes = tf.train.load_checkpoint(result.checkpoint).get_variable_to_dtype_map()
    for name in ("Tiny/conv1/weights", "Tiny/conv1/BatchNorm/moving_mean", "Tiny/Logits/weights"):
        assert dtypes[name] == tf.float32
        assert dtypes[f"{name}/ExponentialMovingAverage"] == tf.float32


@pytest.mark.train_loop
def test_float16_without_gpu_is_refused_in_one_line(dataset_dir, tmp_path):
    with pytest.raises(SlimclsError, match="float16 needs a GPU.*bfloat16") as e:
        train.train(_config(dataset_dir, tmp_path / "run", mixed_precision="float16"))
    assert "\n" not in str(e.value)
    assert not os.path.exists(tmp_path / "run")


@pytest.mark.train_loop
@pytest.mark.parametrize("model_name", ["cifarnet", "small_cnn"])
def test_bfloat16_counts_weight_decay_once_and_trains_every_net_op(
    dataset_dir, tmp_path, model_name
):
    """Weight decay at step 1 is the same in float32 and bfloat16 (same seed, same
    weights); cifarnet's LRN, which has no bfloat16 kernel, runs in float32."""
    regularization = {}
    for dtype in ("float32", "bfloat16"):
        cfg = _config(
            dataset_dir,
            tmp_path / dtype,
            model_name=model_name,
            max_number_of_steps=1,
            weight_decay=0.004,
            random_seed=3,
            mixed_precision=None if dtype == "float32" else dtype,
        )
        result = train.train(cfg)
        assert np.isfinite(result.losses["total_loss"])
        regularization[dtype] = result.losses["regularization"]
    assert regularization["bfloat16"] == pytest.approx(regularization["float32"], rel=1e-6)


@pytest.mark.train_loop
def test_cosine_with_warmup_runs_in_the_loop(dataset_dir, tmp_path):
    lr = config.LearningRateConfig(
        learning_rate=0.02,
        learning_rate_decay_type="cosine",
        warmup_epochs=0.5,
        end_learning_rate=0,
    )
    result = train.train(_config(dataset_dir, tmp_path, max_number_of_steps=4, learning_rate=lr))
    # 48 examples / batch 8 * 0.5 = 3 warmup steps; the 4th step runs at the peak.
    assert result.losses["learning_rate"] == pytest.approx(0.02, rel=1e-5)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(model_name="inception_v3", train_image_size=64), "at least 75"),
        (dict(batch_size=49), "larger than split 'train'"),
        (dict(dataset_name="cifar10"), "which holds dataset 'toy'"),
        (dict(dataset_split_name="nope"), "expected one of"),
        (dict(num_clones=64), "needs 64 GPU devices"),
        (dict(checkpoint_path="/nonexistent/model.ckpt-1"), "does not exist"),
        (dict(trainable_scopes=("SmallCNN/Logits",)), "matches no variable"),
        (dict(validation_split_name="valid"), "'valid' is not in dataset 'toy'"),
        (
            dict(
                max_number_of_steps=None,
                learning_rate=config.LearningRateConfig(learning_rate_decay_type="cosine"),
            ),
            "cosine needs --max_number_of_steps",
        ),
    ],
)
def test_bad_input_is_a_one_line_error(dataset_dir, tmp_path, kw, message):
    with pytest.raises(SlimclsError, match=message) as err:
        train.train(_config(dataset_dir, tmp_path, **kw))
    assert "\n" not in str(err.value)


@pytest.mark.train_loop
def test_failed_start_leaves_no_train_dir_and_on_start_runs_before_first_step(
    dataset_dir, tmp_path
):
    calls = []
    bad = _config(dataset_dir, tmp_path / "bad", checkpoint_path=str(tmp_path / "nope"))
    with pytest.raises(SlimclsError, match="does not exist"):
        train.train(bad, on_start=lambda: calls.append("started"))
    assert calls == [] and not (tmp_path / "bad").exists()

    def on_start():
        # before any checkpoint is written (the train_dir lock is there already)
        calls.append([f for f in os.listdir(tmp_path / "good") if f != ".slimcls.lock"])

    result = train.train(_config(dataset_dir, tmp_path / "good", max_number_of_steps=2), on_start)
    assert calls == [[]] and result.global_step == 2


def test_missing_dataset_json_is_an_error(tmp_path):
    with pytest.raises(SlimclsError, match="dataset.json"):
        train.train(_config(str(tmp_path), tmp_path / "run"))


@pytest.mark.train_loop
def test_checkpoints_every_interval_keep_the_newest(dataset_dir, tmp_path):
    cfg = _config(
        dataset_dir,
        tmp_path,
        max_number_of_steps=5,
        save_interval_secs=0,
        max_checkpoints_to_keep=2,
    )
    train.train(cfg)
    kept = [checkpoints.step_of(p) for p in checkpoints.all_checkpoints(cfg.train_dir)]
    assert kept == [4, 5]


@pytest.mark.train_loop
def test_deterministic_runs_are_bit_identical(dataset_dir, tmp_path):
    """--deterministic + --random_seed: two runs give the same losses and weights, bit for bit."""
    runs = []
    for name in ("a", "b"):
        cfg = _config(
            dataset_dir,
            tmp_path / name,
            max_number_of_steps=6,
            log_every_n_steps=1,
            random_seed=7,
            deterministic=True,
            shuffle_buffer_size=16,
        )
        result = train.train(cfg)
        with open(tmp_path / name / "train_log.csv") as f:
            losses = [row["loss"] for row in csv.DictReader(f)]
        reader = tf.train.load_checkpoint(result.checkpoint)
        runs.append((result.losses, losses, reader.get_tensor("SmallCNN/conv1/weights")))
    (final_a, log_a, w_a), (final_b, log_b, w_b) = runs
    # the process-wide switch is the caller's again: unseeded random ops work
    assert compat.op_determinism(False) is False
    tf.random.uniform([1])
    assert len(log_a) == 6 and log_a == log_b
    assert final_a == final_b  # exact float equality
    assert np.array_equal(w_a, w_b)


def test_deterministic_needs_a_seed(dataset_dir, tmp_path):
    with pytest.raises(SlimclsError, match="--deterministic needs --random_seed"):
        train.train(_config(dataset_dir, tmp_path, deterministic=True, random_seed=None))


@pytest.mark.train_loop
def test_early_stopping_keeps_the_best_checkpoint(dataset_dir, tmp_path):
    """With a zero learning rate nothing improves: the run stops after `patience`
    evaluations without a better accuracy and saves the step it stopped at."""
    cfg = _config(
        dataset_dir,
        tmp_path / "run",
        max_number_of_steps=40,
        learning_rate=config.LearningRateConfig(learning_rate=0.0),
        validation_split_name="validation",
        eval_every_n_steps=2,
        early_stopping_patience=2,
    )
    result = train.train(cfg)
    assert result.stop_reason == "early_stopping" and result.interrupted_by is None
    assert result.global_step == 6
    assert checkpoints.step_of(result.checkpoint) == 6
    assert checkpoints.step_of(result.best_checkpoint) == 2
    assert checkpoints.all_checkpoints(str(tmp_path / "run" / "best")) == [result.best_checkpoint]


@pytest.mark.train_loop
def test_a_hook_stops_the_run_by_returning_a_stop_reason_and_reports_through_result(
    dataset_dir, tmp_path
):
    from slimcls.train import hooks

    class StopAtThree(hooks.Hook):
        def after_step(self, run, metrics):
            return hooks.StopReason("early_stopping") if metrics.step == 3 else None

        def result(self):
            return {"validation_accuracy": 0.5}

    result = train.train(_config(dataset_dir, tmp_path / "run"), extra_hooks=[StopAtThree()])
    assert result.stop_reason == "early_stopping" and result.interrupted_by is None
    assert result.global_step == 3 and checkpoints.step_of(result.checkpoint) == 3
    assert result.validation_accuracy == 0.5 and result.losses["total_loss"] > 0


def test_mixed_precision_auto_follows_the_hardware(monkeypatch):
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f", "amx_bf16"}))
    assert precision.compute_dtype("auto") == "bfloat16"
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    assert precision.compute_dtype("auto") == "float32"
    assert precision.compute_dtype(None) == precision.compute_dtype("float32") == "float32"


@pytest.mark.train_loop
def test_several_steps_per_call_train_exactly_like_one(dataset_dir, tmp_path, tiny_net):
    """--steps_per_call=4 runs four steps inside one tf.function call: same losses at the
    logged steps and the same weights as one step per call (deterministic runs; a net
    without dropout, whose stateful random ops draw differently inside a graph loop)."""
    runs = {}
    for per_call in (1, 4):
        cfg = _config(
            dataset_dir,
            tmp_path / f"per_call_{per_call}",
            model_name=tiny_net,
            max_number_of_steps=8,
            log_every_n_steps=4,
            steps_per_call=per_call,
            deterministic=True,
            random_seed=5,
        )
        result = train.train(cfg)
        with open(tmp_path / f"per_call_{per_call}" / "train_log.csv") as f:
            logged = [(row["step"], row["loss"]) for row in csv.DictReader(f)]
        weights = tf.train.load_checkpoint(result.checkpoint).get_tensor("Tiny/conv1/weights")
        runs[per_call] = (result.global_step, logged, weights)
    assert runs[1][0] == runs[4][0] == 8
    assert runs[1][1] == runs[4][1] and [s for s, _ in runs[4][1]] == ["4", "8"]
    np.testing.assert_allclose(runs[1][2], runs[4][2], rtol=1e-6, atol=1e-7)


def test_cache_images_choice_follows_the_flag_size_and_style(monkeypatch, caplog):
    """auto caches a split whose decoded images fit the limit, memory always, none never;
    per-image styles (no fixed-size per-image outputs) are never cached."""
    import types

    from slimcls.model import modeling
    from slimcls.train import plan as train_plan

    plan = types.SimpleNamespace(
        strategy=tf.distribute.get_strategy(),
        descriptor=types.SimpleNamespace(channels=3, num_samples=1000),
    )
    batched = modeling.plan("cifarnet", 10).train_input_fn()
    per_image = modeling.plan("inception_v3", 10, image_size=75).train_input_fn()

    def choose(mode, preprocess=batched):
        cfg = _config("unused", "unused", cache_images=mode)
        return train_plan.cache_images(cfg, plan, preprocess)

    caplog.set_level(logging.INFO, logger="slimcls")
    assert choose("auto") is True
    assert "caching the decoded training images in memory (3 MB)" in caplog.text
    assert choose("none") is False and choose("memory", per_image) is False
    monkeypatch.setattr(train_plan.input_pipeline, "CACHE_LIMIT_BYTES", 1000)
    assert choose("auto") is False
    assert "not caching" in caplog.text and "limit of 0 MB" in caplog.text
    assert choose("memory") is True
