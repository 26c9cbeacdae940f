"""Evaluates classifier checkpoints exactly: every example of a split once.

TF-Slim's eval ran ``num_batches = ceil(num_samples / batch_size)`` batches from a
repeating queue, so on a split whose size is not a multiple of the batch size it
counted wrapped-around examples twice, and it ran once. Here the split is read once
(no repeat, no dropped remainder), metrics are accumulated in NumPy from per-example
predictions, and :func:`watch` re-evaluates each new checkpoint of a running training
(the ``cifar10_eval`` pattern). The model comes from :mod:`slimcls.model.modeling`, as in
training, classification and export; the outputs are written by
:mod:`slimcls.inference.eval_report`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from slimcls.config import EvalConfig
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.inference.eval_report import EvalWriter
from slimcls.inference.split_pass import SplitCounts, SplitPass
from slimcls.model import checkpoints, memory_bounds, modeling, run_info, run_spec
from slimcls.model.slim_model import SlimModel

log = logging.getLogger(__name__)


class EvalProgress:
    """Progress of one evaluation on a long split: a log line every ``every_secs``.

    Short evaluations (done before the first interval) print nothing extra.
    """

    def __init__(self, total: int, what: str, every_secs: float = 10.0, clock=time.monotonic):
        self.total, self.what, self.every_secs, self.clock = total, what, every_secs, clock
        self.done = 0
        self.start = self._last = clock()

    def update(self, n: int) -> None:
        self.done += n
        now = self.clock()
        if now - self._last < self.every_secs:
            return
        self._last = now
        rate = self.done / max(now - self.start, 1e-9)
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        log.info(
            "%s: %d/%d examples (%.0f%%), %.0f examples/sec, ETA %.0fs",
            self.what,
            self.done,
            self.total,
            100.0 * self.done / max(self.total, 1),
            rate,
            max(eta, 0.0),
        )

    def close(self) -> None:
        if self.clock() - self.start >= self.every_secs:
            log.info("%s: %d examples in %.1fs", self.what, self.done, self.clock() - self.start)


class Evaluator:
    """Holds the dataset, model and compiled step; evaluates one checkpoint per call.

    Building it validates the dataset, model and preprocessing (so watch mode fails
    before it starts waiting); the model's variables are created on the first call.
    """

    def __init__(self, config: EvalConfig) -> None:
        # The net, its inputs and the dataset: given, else the training run's.
        self.spec = run_spec.resolve_run(
            config,
            split_name=config.dataset_split_name,
            dataset_name=config.dataset_name,
            resolve_checkpoint=False,  # watch mode: each new checkpoint, when it comes
        )
        self.descriptor = self.spec.dataset
        config = dataclasses.replace(config, **self.spec.settings)  # every setting known
        self.config = config
        self.moving_averages = config.use_moving_averages
        self.plan = self.spec.plan
        memory_bounds.check(
            size_flag="--eval_image_size",
            image_size=self.plan.image_size,
            channels=1 if config.use_grayscale else int(self.descriptor.channels or 3),
            batch_size=config.batch_size,
            model_name=config.model_name,
            default_size=self.plan.spec.default_image_size,
            training=False,
            on_gpu=bool(tf.config.list_logical_devices("GPU")),
        )
        self.num_classes = self.plan.num_classes
        self.top_k = config.eval_top_k  # sorted, each once (EvalConfig)
        self.split_size = int(self.descriptor.num_samples)
        self.class_names = self.spec.class_names
        self.split_pass = SplitPass(
            self.descriptor,
            self.plan.preprocess_fn(is_training=False),
            config.batch_size,
            num_classes=self.num_classes,
            labels_offset=config.labels_offset,
            top_k=self.top_k,
            max_batches=config.max_num_batches,
            num_readers=config.num_readers or None,
            num_parallel_calls=config.num_preprocessing_threads or None,
            max_image_pixels=config.max_image_pixels,
        )
        self._model: SlimModel | None = None

    def _build(self) -> None:
        self._model = modeling.build(self.plan)

    def resolve_checkpoint(self) -> str:
        """The checkpoint prefix ``checkpoint_path`` names now (its newest, for a directory;
        downloaded, for a published one)."""
        return run_spec.checkpoint_prefix(self.config.checkpoint_path, self.config.model_name)

    @property
    def model(self) -> SlimModel:
        if self._model is None:
            self._build()
        return self._model

    def evaluate(self, prefix: str) -> dict[str, Any]:
        """Evaluates the checkpoint ``prefix``; returns the metrics dict (see module doc).

        Raises:
          SlimclsError: unreadable or incompatible checkpoint, labels out of range,
            an empty or short split, a damaged shard (see :class:`SplitPass`).
        """
        model = self.model
        # A published checkpoint's moving averages are its evaluated weights (TF-Slim's).
        self.moving_averages = self.spec.moving_averages(prefix)
        modeling.restore(model, prefix, self.moving_averages)
        start = time.perf_counter()
        what = f"evaluating {os.path.basename(prefix)}"
        progress = EvalProgress(self.split_pass.expected_examples, what)
        counts = self.split_pass.run(model, on_batch=progress.update)
        progress.close()
        return self._metrics(prefix, counts, time.perf_counter() - start)

    def _metrics(self, prefix: str, counts: SplitCounts, seconds: float) -> dict[str, Any]:
        confusion, n = counts.confusion, counts.num_examples
        support = confusion.sum(axis=1)
        correct = np.diag(confusion)
        per_class = [
            {
                "id": i,
                "label": i + self.config.labels_offset,
                "name": self.class_names[i],
                "num_examples": int(support[i]),
                "correct": int(correct[i]),
                "accuracy": float(correct[i] / support[i]) if support[i] else None,
            }
            for i in range(self.num_classes)
        ]
        return {
            "accuracy": float(correct.sum() / n),
            **{f"recall_{k}": float(hits / n) for k, hits in zip(self.top_k, counts.top_k_hits)},
            "loss": float(counts.loss_sum / n),
            "num_examples": n,
            "split_size": self.split_size,
            "truncated": n < self.split_size,
            "num_batches": counts.num_batches,
            "global_step": checkpoints.global_step_of(prefix),
            "checkpoint": prefix,
            "moving_averages": self.moving_averages,
            "dataset_dir": self.config.dataset_dir,
            "split_name": self.config.dataset_split_name,
            "model_name": self.config.model_name,
            "image_size": self.plan.image_size,
            "per_class": per_class,
            "confusion_matrix": confusion,
            "eval_seconds": round(seconds, 3),
        }


def evaluate(config: EvalConfig, checkpoint: str | None = None) -> dict[str, Any]:
    """Evaluates one checkpoint (default: ``config.checkpoint_path`` resolved) once.

    Writes the outputs to ``config.eval_dir`` when it is set.

    Returns:
      ``accuracy``, ``recall_<k>`` for each k of ``eval_top_k`` (TF-Slim's ``recall_5``
      by default), ``loss`` (mean cross-entropy), ``num_examples``,
      ``split_size``, ``truncated``, ``global_step``, ``checkpoint``, ``per_class``
      (list of dicts), ``confusion_matrix`` (``[true, predicted]`` int array), ...

    Raises:
      SlimclsError: bad config, dataset, model or checkpoint.
    """
    evaluator = Evaluator(config)
    prefix = checkpoint or evaluator.resolve_checkpoint()
    metrics = evaluator.evaluate(prefix)
    if config.eval_dir:
        EvalWriter(config.eval_dir).write(metrics)
    return metrics


# --------------------------------------------------------------------------------------
# Watch mode.


def final_step_of(train_dir: str) -> int | None:
    """``--max_number_of_steps`` from ``<train_dir>/flags.txt`` (written by training)."""
    return run_info.recorded_int(train_dir, "max_number_of_steps")


def watch(
    config: EvalConfig,
    eval_interval_secs: float,
    timeout_secs: float | None = None,
    final_step: int | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[dict[str, Any]]:
    """Evaluates each new checkpoint in ``config.checkpoint_path`` (a directory) once.

    Polls every ``eval_interval_secs``. New checkpoints are evaluated oldest first; one
    that training deletes (``max_to_keep``) before its turn is skipped. Stops when
    a checkpoint at or past ``final_step`` has been evaluated (default: training's
    ``--max_number_of_steps`` from its ``flags.txt``), or when ``timeout_secs`` pass
    without a new checkpoint (None: wait forever).

    Returns:
      The metrics of every evaluated checkpoint, in order.
    """
    directory = config.checkpoint_path
    _check_watch(directory, eval_interval_secs)
    evaluator = Evaluator(config)  # validates everything before waiting
    writer = EvalWriter(config.eval_dir) if config.eval_dir else None
    done: set[str] = set()
    results: list[dict[str, Any]] = []
    last_new = clock()
    while True:
        started = clock()
        if final_step is None:
            final_step_now = final_step_of(directory)
        else:
            final_step_now = final_step
        new = [p for p in checkpoints.all_checkpoints(directory) if p not in done]
        for prefix in new:
            done.add(prefix)
            metrics = _evaluate_unless_gone(evaluator, prefix)
            if metrics is None:
                continue
            results.append(metrics)
            if writer:
                writer.write(metrics)
            if on_result:
                on_result(metrics)
            step = metrics["global_step"]
            if final_step_now is not None and step is not None and step >= final_step_now:
                log.info("evaluated the final step %d of training; stopping", step)
                return results
        if new:
            last_new = clock()
        elif timeout_secs is not None and clock() - last_new >= timeout_secs:
            log.info("no new checkpoint in %s for %.0f s; stopping", directory, timeout_secs)
            return results
        wait = eval_interval_secs - (clock() - started)
        if timeout_secs is not None:
            wait = min(wait, timeout_secs - (clock() - last_new))
        if wait > 0:
            sleep(wait)


def _check_watch(directory: str, eval_interval_secs: float) -> None:
    if not directory:
        raise SlimclsError("--checkpoint_path is required (the training directory to watch)")
    if tf.io.gfile.exists(directory) and not tf.io.gfile.isdir(directory):
        raise SlimclsError(
            f"--checkpoint_path={directory!r} is a file; watch mode (--eval_interval_secs) "
            "needs the training directory"
        )
    if eval_interval_secs <= 0:
        raise SlimclsError(f"--eval_interval_secs={eval_interval_secs} must be > 0")


def _evaluate_unless_gone(evaluator: Evaluator, prefix: str) -> dict[str, Any] | None:
    """The checkpoint's metrics; None when training deleted it before its turn or it is
    damaged (logged: one bad checkpoint does not end the watch)."""
    try:
        return evaluator.evaluate(prefix)
    except SlimclsError:
        if not tf.io.gfile.exists(prefix + ".index"):
            log.info("skipped %s: deleted by training before its turn", prefix)
            return None
        problem = checkpoints.verify(prefix)
        if problem:
            log.warning("skipped checkpoint %s: it %s", prefix, problem)
            return None
        raise
