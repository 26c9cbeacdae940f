"""Optimizers and learning-rate schedules, as plain functions of a config.

Update rules are TF1's ``tf.compat.v1.train`` optimizers, used directly: they apply
eagerly and inside ``tf.function`` (with XLA) to the TF2 variables of a
:class:`~slimcls.model.slim_model.SlimModel`, and they keep TF-Slim's semantics exactly (for
example RMSProp adds epsilon inside the square root, ``sqrt(ms + eps)``, where Keras
adds it outside). Their slot variables already carry TF1 checkpoint names
(``CifarNet/conv1/weights/Momentum``, ``.../RMSProp_1``), and Adam's ``beta1_power`` and
``beta2_power`` too, so a TF-Slim checkpoint and ours hold the same keys.

Schedules are functions of the global step written with plain TensorFlow ops (no
TF1 graph collections), so they run inside an XLA-compiled train step.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

from slimcls.config import DECAY_TYPES, OPTIMIZERS, LearningRateConfig, OptimizerConfig
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.model.slim_model import variable_name

Schedule = Callable[[tf.Tensor], tf.Tensor]
log = logging.getLogger("slimcls.train")


def decay_steps(num_samples: int, batch_size: int, num_epochs_per_decay: float) -> int:
    """TF-Slim's ``int(num_samples / batch_size * num_epochs_per_decay)``."""
    return int(num_samples / batch_size * num_epochs_per_decay)


def learning_rate_schedule(
    config: LearningRateConfig,
    num_samples: int,
    batch_size: int,
    max_number_of_steps: int | None = None,
) -> Schedule:
    """Returns ``schedule(global_step) -> float32 learning rate``.

    * fixed: ``learning_rate``.
    * exponential: staircase, ``learning_rate * factor ** floor(step / decay_steps)``.
    * polynomial: power 1 from ``learning_rate`` to ``end_learning_rate`` at
      ``decay_steps``, then constant (TF1's ``polynomial_decay``, ``cycle=False``).
    * cosine: from ``learning_rate`` to ``end_learning_rate`` at ``max_number_of_steps``.

    ``decay_steps = int(num_samples / batch_size * num_epochs_per_decay)``. With
    ``warmup_epochs > 0`` the rate rises linearly from 0 over ``int(num_samples /
    batch_size * warmup_epochs)`` steps and the decay runs on the steps after warmup.

    Raises:
      SlimclsError: unknown decay type, zero decay steps, cosine without a step limit.
    """
    kind = config.learning_rate_decay_type
    if kind not in DECAY_TYPES:
        raise SlimclsError(
            f"Unknown learning_rate_decay_type {kind!r}; expected one of {list(DECAY_TYPES)}"
        )
    lr0 = float(config.learning_rate)
    end = float(config.end_learning_rate)
    warmup = decay_steps(num_samples, batch_size, config.warmup_epochs)
    steps = decay_steps(num_samples, batch_size, config.num_epochs_per_decay)
    if kind in ("exponential", "polynomial") and steps < 1:
        raise SlimclsError(
            f"learning rate decay steps is 0 (int({num_samples} examples / batch_size "
            f"{batch_size} * num_epochs_per_decay {config.num_epochs_per_decay})); raise "
            "--num_epochs_per_decay or use --learning_rate_decay_type=fixed"
        )
    if kind == "cosine":
        if not max_number_of_steps:
            raise SlimclsError(
                "--learning_rate_decay_type=cosine needs --max_number_of_steps "
                "(the step where the rate reaches --end_learning_rate)"
            )
        steps = max(1, max_number_of_steps - warmup)

    def decayed(step: tf.Tensor) -> tf.Tensor:
        if kind == "fixed":
            return tf.constant(lr0, tf.float32)
        if kind == "exponential":
            exponent = tf.floor(step / float(steps))
            return lr0 * tf.pow(
                tf.constant(config.learning_rate_decay_factor, tf.float32), exponent
            )
        fraction = tf.minimum(step, float(steps)) / float(steps)
        if kind == "polynomial":
            return (lr0 - end) * (1.0 - fraction) + end
        return end + (lr0 - end) * 0.5 * (1.0 + tf.cos(math.pi * fraction))

    def schedule(global_step: tf.Tensor) -> tf.Tensor:
        step = tf.cast(global_step, tf.float32)
        if warmup <= 0:
            return tf.cast(decayed(step), tf.float32)
        after = decayed(tf.maximum(step - warmup, 0.0))
        return tf.cast(tf.where(step < warmup, lr0 * step / float(warmup), after), tf.float32)

    return schedule


#: Above this --opt_epsilon Adam's steps are damped (see :func:`adam_epsilon_warning`).
ADAM_EPSILON_WARN = 1e-3


def adam_epsilon_warning(config: OptimizerConfig) -> str | None:
    """One line when ``--optimizer=adam`` runs with a large ``--opt_epsilon``, else None.

    TF-Slim's default 1.0 suits its RMSProp (epsilon inside the square root) but turns
    Adam into plain momentum SGD at ``learning_rate`` x gradient: Adam's step is
    ``m / (sqrt(v) + epsilon)`` and ``sqrt(v)`` (the gradient's scale, typically well
    below 1) vanishes beside 1.0, so training barely moves. Kept for TF-Slim's scripts.
    """
    if config.optimizer != "adam" or config.opt_epsilon <= ADAM_EPSILON_WARN:
        return None
    return (
        f"--optimizer=adam with --opt_epsilon={config.opt_epsilon:g} (TF-Slim's default) "
        "damps Adam into small plain-SGD steps, so training barely moves; for Adam's usual "
        "behaviour pass --opt_epsilon=1e-8 (Keras and PyTorch use 1e-7 / 1e-8)"
    )


def create_optimizer(
    config: OptimizerConfig, learning_rate: float | tf.Variable
) -> tf.compat.v1.train.Optimizer:
    """TF-Slim's ``_configure_optimizer``: a ``tf.compat.v1.train`` optimizer.

    Args:
      config: the optimizer flags.
      learning_rate: a float, or a float32 ``tf.Variable`` read on every apply (the
        train step assigns ``schedule(global_step)`` to it first). Callables are not
        used because TF1's FtrlOptimizer does not accept them.

    Raises:
      SlimclsError: unknown optimizer name.
    """
    v1 = tf.compat.v1.train
    name = config.optimizer
    if name == "adadelta":
        return v1.AdadeltaOptimizer(
            learning_rate, rho=config.adadelta_rho, epsilon=config.opt_epsilon
        )
    if name == "adagrad":
        return v1.AdagradOptimizer(
            learning_rate, initial_accumulator_value=config.adagrad_initial_accumulator_value
        )
    if name == "adam":
        warning = adam_epsilon_warning(config)
        if warning:
            log.warning("%s", warning)
        return v1.AdamOptimizer(
            learning_rate,
            beta1=config.adam_beta1,
            beta2=config.adam_beta2,
            epsilon=config.opt_epsilon,
        )
    if name == "ftrl":
        return v1.FtrlOptimizer(
            learning_rate,
            learning_rate_power=config.ftrl_learning_rate_power,
            initial_accumulator_value=config.ftrl_initial_accumulator_value,
            l1_regularization_strength=config.ftrl_l1,
            l2_regularization_strength=config.ftrl_l2,
        )
    if name == "momentum":
        return v1.MomentumOptimizer(learning_rate, momentum=config.momentum, name="Momentum")
    if name == "rmsprop":
        return v1.RMSPropOptimizer(
            learning_rate,
            decay=config.rmsprop_decay,
            momentum=config.rmsprop_momentum,
            epsilon=config.opt_epsilon,
        )
    if name == "sgd":
        return v1.GradientDescentOptimizer(learning_rate)
    raise SlimclsError(f"Unknown optimizer {name!r}; expected one of {list(OPTIMIZERS)}")


def create_slots(
    optimizer: tf.compat.v1.train.Optimizer, var_list: Sequence[tf.Variable]
) -> dict[str, tf.Variable]:
    """Creates the optimizer's variables for ``var_list`` now, eagerly.

    TF1 optimizers create slots lazily on the first ``apply_gradients``; creating them
    up front lets a resume restore them before the first step and keeps variable
    creation out of ``tf.function`` tracing. Variables not in ``var_list`` (frozen
    ones) get no slots.

    Returns:
      TF1 checkpoint name -> variable for every slot and non-slot variable (e.g.
      ``CifarNet/conv1/weights/RMSProp``, ``beta1_power``).
    """
    with tf.init_scope():
        optimizer._create_slots(list(var_list))  # noqa: SLF001 (TF1 API, idempotent)
    return optimizer_variables(optimizer, var_list)


def optimizer_variables(
    optimizer: tf.compat.v1.train.Optimizer, var_list: Sequence[tf.Variable]
) -> dict[str, tf.Variable]:
    """TF1 checkpoint name -> variable for the optimizer's slots of ``var_list``."""
    out: dict[str, tf.Variable] = {}
    for var in var_list:
        for slot_name in optimizer.get_slot_names():
            slot = optimizer.get_slot(var, slot_name)
            if slot is not None:
                out[variable_name(slot)] = slot
    for var in optimizer._non_slot_variables():  # noqa: SLF001 (Adam's beta powers)
        out[variable_name(var)] = var
    return out
