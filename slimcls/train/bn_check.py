"""A check at the end of training: does the model evaluate as well as it trained?

A net with batch norm trains on each batch's own statistics but evaluates (and is
exported) with the moving averages of those statistics. With TF-Slim's decay 0.9997
(MobileNet, Inception) the moving averages need tens of thousands of steps to leave their
start values, so a run of a few hundred steps can reach 97% training accuracy and
evaluate at chance, even on its own training images. :class:`BatchNormCheckHook`
measures evaluation-mode accuracy on a few training examples at the end and warns in one
line when it is far below the accuracy the last training steps reported.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from typing import Any

from slimcls.model import modeling
from slimcls.train import hooks

log = logging.getLogger("slimcls.train")

#: Examples of the training split evaluated in evaluation mode at the end.
CHECK_EXAMPLES = 256
#: Training steps whose accuracy is averaged (the last ones of the run).
WINDOW = 20


def has_batch_norm(variable_names) -> bool:
    """Whether a model's variables include batch-norm moving statistics."""
    return any(n.endswith(("/moving_mean", "/moving_variance")) for n in variable_names)


def far_below(train_accuracy: float, eval_accuracy: float) -> bool:
    """Evaluation-mode accuracy far below training-mode accuracy: a gap of at least 0.25
    and less than three quarters of it (dropout or augmentation alone rarely make
    evaluation *worse* on training images)."""
    return train_accuracy - eval_accuracy >= 0.25 and eval_accuracy < 0.75 * train_accuracy


def warning_text(
    train_accuracy: float,
    eval_accuracy: float,
    num_examples: int,
    steps: int,
    batch_norm_decay: float | None,
) -> str:
    """The one-line warning (see :func:`far_below`)."""
    decay = "decay ?" if batch_norm_decay is None else f"decay {batch_norm_decay:g}"
    return (
        f"evaluation-mode accuracy on {num_examples} training examples is "
        f"{eval_accuracy:.4f}, far below the training-mode accuracy {train_accuracy:.4f} of "
        f"the last steps: the batch-norm moving statistics ({decay}) have not caught up "
        f"in {steps} steps, so eval, classify and export will do as badly; train again "
        f"with --batch_norm_decay={modeling.fitted_batch_norm_decay(steps):g} "
        "(about 1 - 10/steps) or for longer"
    )


class BatchNormCheckHook(hooks.Hook):
    """Warns at the end of a run when evaluation mode does far worse than training mode.

    Args:
      evaluate: ``() -> (accuracy, examples)`` of the model in evaluation mode on a few
        training examples (no augmentation).
      batch_norm_decay: the decay the run's batch norms use (None: unknown).
      window: training steps averaged for the training-mode accuracy.

    After the run, ``train_accuracy`` and ``eval_accuracy`` hold what was compared (None
    when the check did not run: an interrupted run, or no step); :meth:`result` reports
    them and the warning.
    """

    def __init__(
        self,
        evaluate: Callable[[], tuple[float, int]],
        batch_norm_decay: float | None,
        window: int = WINDOW,
    ) -> None:
        self.evaluate = evaluate
        self.batch_norm_decay = batch_norm_decay
        self._recent: collections.deque[float] = collections.deque(maxlen=window)
        self.train_accuracy: float | None = None
        self.eval_accuracy: float | None = None
        self.warning: str | None = None

    def after_step(self, run: hooks.Run, metrics: hooks.StepMetrics) -> None:
        if "accuracy" in metrics.values:
            self._recent.append(metrics.values["accuracy"])

    def end(self, run: hooks.Run, metrics: hooks.StepMetrics, stop) -> None:
        if (stop is not None and stop.interrupt) or not self._recent:
            return
        self.train_accuracy = sum(self._recent) / len(self._recent)
        self.eval_accuracy, n = self.evaluate()
        log.info(
            "batch-norm check: evaluation-mode accuracy %.4f on %d training examples, "
            "training-mode %.4f (last %d steps)",
            self.eval_accuracy,
            n,
            self.train_accuracy,
            len(self._recent),
        )
        if far_below(self.train_accuracy, self.eval_accuracy):
            self.warning = warning_text(
                self.train_accuracy, self.eval_accuracy, n, metrics.step, self.batch_norm_decay
            )
            log.warning("%s", self.warning)

    def result(self) -> dict[str, Any]:
        return {
            "train_mode_accuracy": self.train_accuracy,
            "eval_mode_accuracy": self.eval_accuracy,
            "batch_norm_warning": self.warning,
        }
