"""Validation during training: a pass over a split with the evaluator eval uses, and the
hook that runs it, keeps the best checkpoint and stops early.

The pass is :class:`slimcls.inference.split_pass.SplitPass`, so validation checks labels,
names a bad record or a damaged shard and notices a short split exactly as
``eval_image_classifier`` does.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

from slimcls.config import TrainConfig
from slimcls.core.compat import tf
from slimcls.core.fileio import write_text_atomic
from slimcls.inference.split_pass import SplitPass
from slimcls.model import checkpoints
from slimcls.train import summaries
from slimcls.train.hooks import Hook, Run, StepMetrics, StopReason, TrainLog

log = logging.getLogger("slimcls.train")

#: Written beside the best checkpoint: its step, accuracy and loss.
BEST_INFO = "best.json"


def make_validation(
    config: TrainConfig, model_plan, descriptor, model, max_examples: int | None = None
) -> Callable[[], tuple[float, float, int]]:
    """Returns ``validate() -> (accuracy, mean cross-entropy, n)`` of ``model`` over every
    example of ``descriptor``'s split once (the first ``max_examples``' worth, rounded up
    to whole batches, when given).

    ``validate`` raises :class:`~slimcls.core.errors.SlimclsError` in one line for a bad
    record, a damaged shard or a short split (see :class:`SplitPass`).
    """
    split_pass = SplitPass(
        descriptor,
        model_plan.preprocess_fn(is_training=False),
        config.batch_size,
        num_classes=model_plan.num_classes,
        labels_offset=config.labels_offset,
        max_batches=None if max_examples is None else -(-max_examples // config.batch_size),
        num_parallel_calls=config.num_preprocessing_threads or None,
        max_image_pixels=config.max_image_pixels,
    )

    def validate() -> tuple[float, float, int]:
        counts = split_pass.run(model)
        return counts.accuracy, counts.mean_loss, counts.num_examples

    return validate


class ValidationHook(Hook):
    """Accuracy and loss on a split every ``every_n_steps`` and at the end of the run.

    Keeps the best checkpoint by accuracy in ``<train_dir>/best/`` (apart from the
    rotating ones, with ``best.json``) and, with ``patience``, asks the loop to stop
    (``early_stopping``) after that many evaluations without improvement. Each result
    goes to TensorBoard (``writer``) and, when given, to ``train_log``.
    """

    def __init__(
        self,
        validate: Callable[[], tuple[float, float, int]],
        every_n_steps: int,
        split: str,
        writer,
        best_dir: str | None = None,
        patience: int | None = None,
        train_log: TrainLog | None = None,
    ) -> None:
        self.validate = validate
        self.every_n_steps = every_n_steps
        self.split = split
        self.writer = writer
        self.best_dir = best_dir
        self.patience = patience
        self.train_log = train_log
        self.accuracy: float | None = None
        self.best_accuracy: float | None = None
        self.best_checkpoint: str | None = None
        self._since_best = 0
        self._last_step: int | None = None
        self._stop: StopReason | None = None

    def begin(self, run: Run) -> None:
        if self.best_dir:
            info = _read_json(os.path.join(self.best_dir, BEST_INFO))
            if info:  # a resumed run keeps the best of its earlier part
                self.best_accuracy = info.get("accuracy")
                self.best_checkpoint = info.get("checkpoint")

    def _run(self, run: Run, metrics: StepMetrics) -> None:
        accuracy, loss, n = self.validate()
        step = metrics.step
        log.info(
            "step %d: validation on %s: accuracy = %.4f, loss = %.4f (%d examples)",
            step,
            self.split,
            accuracy,
            loss,
            n,
        )
        with self.writer.writing():
            summaries.scalar("accuracy", accuracy, step)
            summaries.scalar("loss", loss, step)
        if self.train_log is not None:
            self.train_log.write(
                step, metrics.epoch, "validation", loss=loss, accuracy=accuracy, cross_entropy=loss
            )
        self.accuracy, self._last_step = accuracy, step
        if self.best_accuracy is None or accuracy > self.best_accuracy:
            self.best_accuracy, self._since_best = accuracy, 0
            if self.best_dir:
                self._save_best(run, accuracy, loss)
        else:
            self._since_best += 1
            if self.patience and self._since_best >= self.patience and self._stop is None:
                log.info(
                    "early stopping: %d evaluations without a better accuracy than %.4f "
                    "(--early_stopping_patience=%d)",
                    self._since_best,
                    self.best_accuracy,
                    self.patience,
                )
                detail = f"--early_stopping_patience={self.patience}"
                self._stop = StopReason("early_stopping", detail)

    def _save_best(self, run: Run, accuracy: float, loss: float) -> None:
        self.best_checkpoint = checkpoints.save_checkpoint(
            run.state.checkpoint_tensors(), self.best_dir, run.state.step, max_to_keep=1
        )
        info = {
            "checkpoint": self.best_checkpoint,
            "global_step": run.state.step,
            "accuracy": accuracy,
            "loss": loss,
            "split": self.split,
        }
        write_text_atomic(os.path.join(self.best_dir, BEST_INFO), json.dumps(info) + "\n")
        log.info("best checkpoint so far: %s (accuracy %.4f)", self.best_checkpoint, accuracy)

    def after_step(self, run: Run, metrics: StepMetrics) -> StopReason | None:
        if self.every_n_steps and metrics.step % self.every_n_steps == 0:
            self._run(run, metrics)
        return self._stop

    def end(self, run: Run, metrics: StepMetrics, stop: StopReason | None) -> None:
        if (stop is None or stop.kind == "early_stopping") and self._last_step != metrics.step:
            self._run(run, metrics)

    def result(self) -> dict[str, Any]:
        return {
            "validation_accuracy": self.accuracy,
            "best_checkpoint": self.best_checkpoint,
            "best_validation_accuracy": self.best_accuracy,
        }


def _read_json(path: str) -> dict | None:
    try:
        with tf.io.gfile.GFile(path) as f:
            return json.loads(f.read())
    except (tf.errors.OpError, ValueError):
        return None
