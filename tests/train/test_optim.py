"""Optimizers (TF1 update rules, TF1 slot names) and learning-rate schedules."""

import math

import numpy as np
import pytest

from slimcls import config
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.train import optim


def _lr(kind, step, **kw):
    defaults = dict(learning_rate=0.1, learning_rate_decay_factor=0.5, num_epochs_per_decay=2.0)
    cfg = config.LearningRateConfig(learning_rate_decay_type=kind, **{**defaults, **kw})
    # 100 examples, batch 10 -> 10 steps/epoch -> decay_steps 20
    sched = optim.learning_rate_schedule(
        cfg, num_samples=100, batch_size=10, max_number_of_steps=50
    )
    return float(sched(tf.constant(step, tf.int64)))


def test_decay_steps_is_tf_slims_formula():
    assert optim.decay_steps(50000, 32, 2.0) == int(50000 / 32 * 2.0) == 3125
    assert optim.decay_steps(100, 10, 2.0) == 20


def test_exponential_is_staircase():
    assert _lr("exponential", 0) == pytest.approx(0.1)
    assert _lr("exponential", 19) == pytest.approx(0.1)
    assert _lr("exponential", 20) == pytest.approx(0.05)
    assert _lr("exponential", 45) == pytest.approx(0.025)


def test_fixed_polynomial_cosine():
    assert _lr("fixed", 1000) == pytest.approx(0.1)
    assert _lr("polynomial", 10, end_learning_rate=0.0) == pytest.approx(0.05)
    assert _lr("polynomial", 500, end_learning_rate=0.01) == pytest.approx(0.01)
    assert _lr("cosine", 0, end_learning_rate=0.0) == pytest.approx(0.1)
    assert _lr("cosine", 25, end_learning_rate=0.0) == pytest.approx(0.05, abs=1e-6)
    assert _lr("cosine", 50, end_learning_rate=0.001) == pytest.approx(0.001)
    expected = 0.5 * 0.1 * (1 + math.cos(math.pi * 10 / 50))
    assert _lr("cosine", 10, end_learning_rate=0.0) == pytest.approx(expected, rel=1e-5)


def test_warmup_rises_linearly_then_decays_from_warmup_end():
    # warmup_epochs 1 -> 10 steps
    assert _lr("exponential", 0, warmup_epochs=1.0) == pytest.approx(0.0)
    assert _lr("exponential", 5, warmup_epochs=1.0) == pytest.approx(0.05)
    assert _lr("exponential", 10, warmup_epochs=1.0) == pytest.approx(0.1)
    assert _lr("exponential", 30, warmup_epochs=1.0) == pytest.approx(0.05)


def test_schedule_errors():
    with pytest.raises(SlimclsError, match="cosine needs --max_number_of_steps"):
        optim.learning_rate_schedule(
            config.LearningRateConfig(learning_rate_decay_type="cosine"), 100, 10, None
        )
    with pytest.raises(SlimclsError, match="decay steps is 0"):
        optim.learning_rate_schedule(
            config.LearningRateConfig(num_epochs_per_decay=0.01), 100, 10, None
        )
    with pytest.raises(SlimclsError, match="expected one of"):
        optim.learning_rate_schedule(config.LearningRateConfig(learning_rate_decay_type="x"), 1, 1)
    with pytest.raises(SlimclsError, match="unknown --optimizer 'adamw'; did you mean adam"):
        optim.create_optimizer(config.OptimizerConfig(optimizer="adamw"), 0.1)  # the config's


EXPECTED_SLOTS = {
    "adadelta": {"W/weights/Adadelta", "W/weights/Adadelta_1"},
    "adagrad": {"W/weights/Adagrad"},
    "adam": {"W/weights/Adam", "W/weights/Adam_1", "beta1_power", "beta2_power"},
    "ftrl": {"W/weights/Ftrl", "W/weights/Ftrl_1"},
    "momentum": {"W/weights/Momentum"},
    "sgd": set(),
    "rmsprop": {"W/weights/RMSProp", "W/weights/RMSProp_1"},
}


@pytest.mark.parametrize("name", optim.OPTIMIZERS)
def test_each_optimizer_trains_in_tf_function_with_tf1_slot_names(name):
    w = tf.Variable([[1.0, -2.0], [3.0, 0.5]], name="W/weights")
    frozen = tf.Variable([1.0, 2.0], name="W/frozen")
    step = tf.Variable(0, dtype=tf.int64, name="global_step")
    sched = optim.learning_rate_schedule(config.LearningRateConfig(learning_rate=0.1), 100, 10)
    lr = tf.Variable(0.0, trainable=False, name="learning_rate")
    opt = optim.create_optimizer(config.OptimizerConfig(optimizer=name), lr)
    slots = optim.create_slots(opt, [w])
    assert set(slots) == EXPECTED_SLOTS[name]
    assert not any("frozen" in k for k in slots)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(w)) + tf.reduce_sum(frozen)
        (grad,) = tape.gradient(loss, [w])
        lr.assign(sched(step))
        opt.apply_gradients([(grad, w)])
        step.assign_add(1)
        return loss

    losses = [float(train_step()) for _ in range(5)]
    assert losses[-1] < losses[0]
    assert set(optim.optimizer_variables(opt, [w])) == EXPECTED_SLOTS[name]


def test_rmsprop_matches_tf1_update_rule_epsilon_inside_sqrt():
    """TF1: ms = decay*ms + (1-decay)*g^2 (ms starts at 1); mom = m*mom + lr*g/sqrt(ms+eps)."""
    w0, lr, decay, mom_c, eps = 2.0, 0.1, 0.9, 0.9, 1.0
    w = tf.Variable([w0], name="R/weights")
    opt = optim.create_optimizer(
        config.OptimizerConfig(optimizer="rmsprop", rmsprop_decay=decay, rmsprop_momentum=mom_c),
        lr,
    )
    ms, mom, x = 1.0, 0.0, w0
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(w * w)
        opt.apply_gradients([(tape.gradient(loss, w), w)])
        g = 2 * x
        ms = decay * ms + (1 - decay) * g * g
        mom = mom_c * mom + lr * g / math.sqrt(ms + eps)
        x = x - mom
    np.testing.assert_allclose(w.numpy(), [x], rtol=1e-5)
