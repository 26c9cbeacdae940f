"""Defaults that work on small data: --batch_norm_decay for every net with batch norm, the
evaluation-mode check at the end of training, and the Adam epsilon warning (issue 19.3)."""

import logging
import os

import numpy as np
import pytest

from slimcls import config
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.model import modeling
from slimcls.nets import nets_factory
from slimcls.train import bn_check, hooks, optim
from tests.helpers import write_toy_dataset


def _moving_changed(name, decay, size=32, **net_kwargs):
    """(moving statistics, how many a training-mode call changed) for net ``name``."""
    tf.random.set_seed(0)
    model = modeling.create_model(name, 3, batch_norm_decay=decay, **net_kwargs)
    model.build_variables((size, size, 3))
    before = {k: v.numpy().copy() for k, v in model.variables_by_name().items() if "moving_" in k}
    model(tf.random.uniform((2, size, size, 3)), training=True)
    after = model.variables_by_name()
    return len(before), sum(int((after[k].numpy() != v).any()) for k, v in before.items())


def _check_every_batch_norm_obeys(name, size):
    count, changed = _moving_changed(name, None, size)
    assert count > 0 and changed == count  # the net's own decay moves every statistic
    assert _moving_changed(name, 1.0, size) == (count, 0)  # decay 1.0: none moves


@pytest.mark.parametrize("name", ["mobilenet_v1_025"])  # batch_norm's own arg scope
def test_batch_norm_decay_reaches_every_batch_norm_of_the_net(name):
    _check_every_batch_norm_obeys(name, 32)


def test_batch_norm_decay_reaches_normalizer_params_and_net_arguments():
    # Inception's arg scope sets the decay in the layers' normalizer_params ...
    scope = nets_factory.get_spec("inception_v3").arg_scope()
    replaced = nets_factory.with_batch_norm_decay(scope, 0.5)
    decays = [
        kw["normalizer_params"]["decay"]
        for kw in replaced.values()
        if isinstance(kw.get("normalizer_params"), dict) and "decay" in kw["normalizer_params"]
    ]
    assert decays and set(decays) == {0.5}
    assert nets_factory.default_batch_norm_decay("inception_v3") == 0.9997
    # ... small_cnn takes it as an argument of the net function.
    count, _ = _moving_changed("small_cnn", None, use_batch_norm=True)
    assert count > 0 and _moving_changed("small_cnn", 1.0, use_batch_norm=True) == (count, 0)


@pytest.mark.slow  # ~15 minutes on 2 cores (NASNet's graphs)
def test_batch_norm_decay_reaches_every_batch_norm_of_every_net():
    for name, spec in sorted(nets_factory.NETWORKS.items()):
        if spec.video or nets_factory.default_batch_norm_decay(name) is None:
            continue
        size = spec.min_image_size if spec.min_image_size > 32 else 32
        _check_every_batch_norm_obeys(name, size)


def test_batch_norm_decay_is_a_train_flag_checked_for_range():
    assert config.TrainConfig.__dataclass_fields__["batch_norm_decay"].default is None
    for cls, required in (
        (config.TrainConfig, dict(train_dir="/t", dataset_dir="/d")),
        (config.MakeClassifierConfig, dict(image_dir="/i", output_dir="/o")),
    ):
        with pytest.raises(SlimclsError, match=r"--batch_norm_decay=1.5; expected a value in"):
            cls(**required, batch_norm_decay=1.5)
    assert modeling.plan("mobilenet_v1_025", 3, batch_norm_decay=0.9).batch_norm_decay == 0.9


def test_fitted_batch_norm_decay_forgets_the_start_within_the_run():
    for steps in (50, 300, 3000, 30000):
        decay = modeling.fitted_batch_norm_decay(steps)
        assert 0.9 <= decay <= 0.9997
        if 100 <= steps <= 30000:
            assert decay**steps < 1e-3  # the start statistics are gone by the end
    assert modeling.fitted_batch_norm_decay(300) == 0.9667
    assert modeling.fitted_batch_norm_decay(10**7) == 0.9997


def test_adam_with_tf_slims_epsilon_warns_in_one_line(caplog):
    caplog.set_level(logging.WARNING, logger="slimcls")
    optim.create_optimizer(config.OptimizerConfig(optimizer="adam"), 0.01)
    (line,) = [r.getMessage() for r in caplog.records]
    assert "--optimizer=adam with --opt_epsilon=1" in line and "--opt_epsilon=1e-8" in line
    assert "\n" not in line
    caplog.clear()
    optim.create_optimizer(config.OptimizerConfig(optimizer="adam", opt_epsilon=1e-8), 0.01)
    optim.create_optimizer(config.OptimizerConfig(optimizer="rmsprop"), 0.01)  # TF-Slim's
    assert not caplog.records


def test_adam_with_epsilon_one_barely_moves():
    """Why the warning: on a small gradient Adam with epsilon 1.0 steps ~100x less."""
    moved = {}
    for epsilon in (1.0, 1e-8):
        var = tf.Variable([1.0])
        opt = optim.create_optimizer(
            config.OptimizerConfig(optimizer="adam", opt_epsilon=epsilon), 0.01
        )
        for _ in range(10):
            opt.apply_gradients([(tf.constant([0.01]), var)])
        moved[epsilon] = 1.0 - float(var.numpy()[0])
    assert moved[1e-8] > 50 * moved[1.0]


def _hook_result(train_accuracies, eval_accuracy, caplog):
    hook = bn_check.BatchNormCheckHook(lambda: (eval_accuracy, 64), batch_norm_decay=0.9997)
    run = hooks.Run(config=None, state=None, save_dir="")
    hook.begin(run)
    metrics = hooks.StepMetrics(0)
    for step, accuracy in enumerate(train_accuracies, 1):
        metrics = hooks.StepMetrics(step, values={"accuracy": accuracy})
        hook.after_step(run, metrics)
    with caplog.at_level(logging.WARNING, logger="slimcls.train"):
        hook.end(run, metrics, None)
    return hook, [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


def test_batch_norm_check_warns_when_evaluation_mode_is_far_below(caplog):
    hook, warnings = _hook_result([0.5] * 10 + [0.95] * 20, 0.25, caplog)
    assert hook.train_accuracy == pytest.approx(0.95) and hook.eval_accuracy == 0.25
    (line,) = warnings
    assert "evaluation-mode accuracy on 64 training examples is 0.2500" in line
    assert "training-mode accuracy 0.9500" in line and "decay 0.9997" in line
    assert "--batch_norm_decay=0.9" in line  # fitted to a 30-step run


def test_batch_norm_check_is_quiet_when_evaluation_keeps_up(caplog):
    assert _hook_result([0.9] * 20, 0.97, caplog)[1] == []
    assert _hook_result([0.3] * 20, 0.25, caplog)[1] == []  # nothing learnt yet: no claim


@pytest.mark.train_loop
def test_short_mobilenet_run_evaluates_at_chance_unless_the_decay_fits(tmp_path, caplog):
    """TF-Slim's 0.9997 over 300 steps leaves 91% of the start statistics: evaluation mode
    sits at chance and the run says so; the fitted decay evaluates as it trains."""
    from slimcls import train
    from tests.helpers import toy_train_config

    dataset = write_toy_dataset(tmp_path / "toy", num_train=96, num_validation=0, num_shards=1)
    results = {}
    for decay in (None, modeling.fitted_batch_norm_decay(300)):
        cfg = toy_train_config(
            dataset,
            tmp_path / f"run{decay}",
            model_name="mobilenet_v1_025",
            train_image_size=32,
            batch_size=16,
            max_number_of_steps=300,
            deterministic=True,
            log_every_n_steps=50,
            batch_norm_decay=decay,
            learning_rate=config.LearningRateConfig(
                learning_rate=0.05, learning_rate_decay_type="fixed"
            ),
        )
        results[decay] = train.train(cfg)
    default, fitted = results.values()
    assert default.train_mode_accuracy > 0.5
    assert default.eval_mode_accuracy <= 0.35 and "far below" in default.batch_norm_warning
    assert fitted.eval_mode_accuracy > 0.8 and fitted.batch_norm_warning is None
    assert os.path.exists(tmp_path / f"run{None}" / "model.ckpt-300.index")
    assert np.isfinite(fitted.train_mode_accuracy)
