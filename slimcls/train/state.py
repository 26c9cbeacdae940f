"""What training owns between steps: the :class:`TrainState`, and how a run starts.

A state is the model, the optimizer and its slots, the global step, the learning-rate
variable, the moving averages and the float16 loss scale. Its
:meth:`TrainState.checkpoint_tensors` are what a checkpoint holds, under TF-Slim's names,
so a resumed run continues exactly and TF-Slim's tools read it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping

from slimcls.config import TrainConfig
from slimcls.core.compat import tf
from slimcls.model import checkpoints, finetune, modeling, pretrained
from slimcls.model.slim_model import SlimModel
from slimcls.train import optim
from slimcls.train.precision import LossScale

log = logging.getLogger("slimcls.train")

GLOBAL_STEP = checkpoints.GLOBAL_STEP


class EMA:
    """TF1 ``ExponentialMovingAverage(decay, num_updates=global_step)`` of variables.

    Shadows are float32 ``<var>/ExponentialMovingAverage`` variables, updated after
    every step with ``decay = min(decay, (1 + step) / (10 + step))``.
    """

    def __init__(self, decay: float, variables: Mapping[str, tf.Variable]):
        self.decay = float(decay)
        self.sources = dict(variables)
        self.shadows = {
            checkpoints.ema_name(n): tf.Variable(
                v.read_value(),
                trainable=False,
                name=checkpoints.ema_name(n),
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
            for n, v in self.sources.items()
        }

    def reset(self) -> None:
        """Shadows start at the current values (after a fine-tuning restore)."""
        for n, v in self.sources.items():
            self.shadows[checkpoints.ema_name(n)].assign(v.read_value())

    def update(self, step: tf.Tensor) -> None:
        step = tf.cast(step, tf.float32)
        decay = tf.minimum(self.decay, (1.0 + step) / (10.0 + step))
        for n, v in self.sources.items():
            shadow = self.shadows[checkpoints.ema_name(n)]
            shadow.assign_sub((1.0 - decay) * (shadow - tf.cast(v, shadow.dtype)))


@dataclasses.dataclass
class TrainState:
    """Everything a train step reads and writes.

    Attributes:
      model: the net (its compute dtype is the run's mixed precision).
      optimizer: a TF1 ``tf.compat.v1.train`` optimizer (TF-Slim's update rules).
      trainable: the variables trained (after ``--trainable_scopes``).
      slots: the optimizer's slot variables by checkpoint name.
      global_step, learning_rate: scalar variables (the rate is the schedule's value).
      ema: moving averages, or None.
      loss_scale: float16 loss scaling, or None.
    """

    model: SlimModel
    optimizer: tf.compat.v1.train.Optimizer
    trainable: list[tf.Variable]
    slots: dict[str, tf.Variable]
    global_step: tf.Variable
    learning_rate: tf.Variable
    ema: EMA | None = None
    loss_scale: LossScale | None = None

    @property
    def step(self) -> int:
        return int(self.global_step.numpy())

    def model_variables(self) -> dict[str, tf.Variable]:
        return self.model.variables_by_name()

    def checkpoint_tensors(self) -> dict[str, tf.Variable]:
        """Checkpoint key -> variable: global step, model, slots, moving averages."""
        return {
            GLOBAL_STEP: self.global_step,
            **self.model_variables(),
            **self.slots,
            **(self.ema.shadows if self.ema else {}),
        }


def _scalar(value, dtype, name: str) -> tf.Variable:
    return tf.Variable(
        value,
        dtype=dtype,
        trainable=False,
        name=name,
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
    )


def create_state(config: TrainConfig, model_plan: modeling.ModelPlan) -> TrainState:
    """Builds the model and the optimizer state; call under ``strategy.scope()``.

    Raises:
      SlimclsError: a ``--trainable_scopes`` entry that matches no variable.
    """
    model = modeling.build(model_plan, weight_decay=config.weight_decay)
    trainable = finetune.variables_to_train(
        model.trainable_variables, list(config.trainable_scopes)
    )
    global_step = _scalar(0, tf.int64, GLOBAL_STEP)
    learning_rate = _scalar(0.0, tf.float32, "learning_rate")
    optimizer = optim.create_optimizer(config.optimizer, learning_rate)
    slots = optim.create_slots(optimizer, trainable)
    ema = (
        EMA(config.moving_average_decay, model.variables_by_name())
        if config.moving_average_decay
        else None
    )
    loss_scale = LossScale() if model_plan.compute_dtype == "float16" else None
    return TrainState(
        model, optimizer, trainable, slots, global_step, learning_rate, ema, loss_scale
    )


def resume_or_finetune(
    state: TrainState, config: TrainConfig, model_plan: modeling.ModelPlan
) -> str:
    """Resumes from ``train_dir`` (full state) or fine-tunes from ``checkpoint_path``.

    Returns:
      What happened, for the log ("resumed ...", "fine-tuning ...", "from scratch").

    Raises:
      SlimclsError: a checkpoint that does not fit (see :mod:`slimcls.model.finetune`).
    """
    latest = checkpoints.latest_good_checkpoint(config.train_dir)  # newest that reads back
    if latest:
        if config.checkpoint_path:
            log.warning(
                "--checkpoint_path=%s is not used: train_dir %s already holds checkpoint %s, "
                "training resumes from it",
                config.checkpoint_path,
                config.train_dir,
                os.path.basename(latest),
            )
        return _resume(state, latest)
    if config.checkpoint_path:
        # --checkpoint_path=imagenet: the cached published checkpoint, its head excluded
        # when the classes differ, its moving averages when it has them.
        checkpoint, exclude, moving_averages, note = pretrained.finetune_source(
            config.checkpoint_path,
            config.model_name,
            model_plan.num_classes,
            config.checkpoint_exclude_scopes,
        )
        excluded_by = "--checkpoint_exclude_scopes"
        if note:  # the published checkpoint's head was added to the exclusions
            log.info("%s", note)
            given = "--checkpoint_exclude_scopes and " if config.checkpoint_exclude_scopes else ""
            excluded_by = given + "the new head"
        report = finetune.restore_for_finetuning(
            state.model_variables(),
            checkpoint,
            exclude_scopes=exclude,
            ignore_missing_vars=config.ignore_missing_vars,
            logits_scopes=model_plan.spec.logits_scopes,
            num_classes=model_plan.num_classes,
            background_class=model_plan.spec.background_class,
            use_moving_averages=moving_averages,
            excluded_by=excluded_by,
        )
        if state.ema:
            state.ema.reset()  # shadows start at the restored values
        return report.summary()
    return "Training from scratch"


def _resume(state: TrainState, latest: str) -> str:
    keys = set(checkpoints.read_shapes(latest))
    checkpoints.restore_variables(
        {GLOBAL_STEP: state.global_step, **state.model_variables()}, latest
    )
    optional = {**state.slots, **(state.ema.shadows if state.ema else {})}
    present = {k: v for k, v in optional.items() if k in keys}
    checkpoints.restore_variables(present, latest)
    absent = sorted(set(optional) - set(present))
    if state.ema:
        for name, var in state.model_variables().items():
            shadow = checkpoints.ema_name(name)
            if shadow in absent:
                state.ema.shadows[shadow].assign(var.read_value())
    if absent:
        log.warning(
            "Checkpoint %s lacks %d optimizer/moving-average variables (e.g. %s): they "
            "start fresh (was the optimizer or --moving_average_decay changed?)",
            latest,
            len(absent),
            absent[0],
        )
    return f"Resumed from {latest} at step {state.step}"
