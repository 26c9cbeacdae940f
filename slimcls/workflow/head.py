"""The head stage of ``make_image_classifier``: a new classifier on the frozen body.

The net is restored from the (published) checkpoint without its classifier, each image's
body features are computed once (:mod:`slimcls.train.feature_cache`) unless they do not
fit in memory, and the net's own classifier layer is trained on them; the whole model is
then saved as one TF-Slim checkpoint with a ``flags.txt``, so the other commands take it
as ``--checkpoint_path``. :class:`HeadStage` is a part of
:class:`slimcls.workflow.stages.Job`.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import time
from typing import Any

from slimcls.config import OptimizerConfig
from slimcls.workflow import make_image_classifier as mic

log = logging.getLogger("slimcls.make_image_classifier")


def flag_lines(values: dict[str, Any]) -> list[str]:
    """``--name=value`` lines (``# --name is None`` when unset), as ``flags.txt`` holds."""
    lines = []
    for name in sorted(values):
        value = values[name]
        if value is None:
            lines.append(f"# --{name} is None")
        elif isinstance(value, bool):
            lines.append(f"--{name}" if value else f"--no{name}")
        elif isinstance(value, (tuple, list)):
            lines.append(f"--{name}={','.join(map(str, value))}")
        else:
            lines.append(f"--{name}={value}")
    return lines


class HeadStage:
    """The head stage's methods (a mixin of ``Job``, whose attributes they use)."""

    # ------------------------------------------------------------------ 2. head

    def _head(self) -> dict[str, Any]:
        from slimcls.model import checkpoints

        config, layout = self.config, self.layout
        done = self.output.result("head")
        if done and checkpoints.latest_checkpoint(layout.head_dir) == done["checkpoint"]:
            self.progress.skip("features")
            self.progress.skip("head")
            self.progress.write_line(f"head training: done ({done['checkpoint']})")
            return done
        model, head, restore_report = self._build_head_model()
        self.output.begin("head", mic.stage_settings(config, "head"))
        partial = layout.head_dir + ".partial"
        for stale in (partial, layout.head_dir):
            if os.path.exists(stale):
                mic.remove_ours(stale, layout.output_dir)
        os.makedirs(partial)
        started = time.perf_counter()
        result = self._train_head(model, head, partial, restore_report)
        tensors = {name: v.numpy() for name, v in model.variables_by_name().items()}
        tensors[checkpoints.GLOBAL_STEP] = result["steps"]
        prefix = checkpoints.save_checkpoint(tensors, partial, result["steps"], max_to_keep=1)
        self._record_head_run(partial, result["steps"])
        os.rename(partial, layout.head_dir)
        result["checkpoint"] = os.path.join(layout.head_dir, os.path.basename(prefix))
        result["seconds"] = round(time.perf_counter() - started, 2)
        self.output.done("head", result)
        return result

    def _build_head_model(self):
        from slimcls.core.compat import tf
        from slimcls.model import finetune, modeling, pretrained
        from slimcls.train import feature_cache

        config = self.config
        tf.keras.utils.set_random_seed(config.random_seed)
        model = modeling.build(self.plan, weight_decay=config.weight_decay)
        spec = self.plan.spec
        # A published checkpoint: the cached one, from its moving averages where it has them.
        checkpoint, _, moving_averages, _ = pretrained.finetune_source(
            config.checkpoint_path, config.model_name, self.plan.num_classes, progress=False
        )
        report = finetune.restore_for_finetuning(
            model.variables_by_name(),
            checkpoint if pretrained.is_published(config.checkpoint_path) else self.checkpoint,
            exclude_scopes=list(self.head_scopes),  # a new head, whatever the classes
            logits_scopes=spec.logits_scopes,
            num_classes=self.plan.num_classes,
            background_class=spec.background_class,
            use_moving_averages=moving_averages,
        )
        log.info("%s", report.summary())
        head = feature_cache.find_head(model, spec.logits_scopes[0], self.plan.image_shape)
        return model, head, report

    def _train_head(self, model, head, run_dir: str, restore_report) -> dict[str, Any]:
        from slimcls.reader import input_pipeline
        from slimcls.train import feature_cache as fc

        config = self.config
        features = fc.feature_fn(model)
        fits, nbytes = fc.cache_fits(self.num_train + self.num_eval, head.feature_dim)
        self.use_cache = config.cache_features == "auto" and fits
        reason = None
        if config.cache_features == "none":
            reason = "--cache_features=none"
        elif not fits:
            reason = f"the features take {nbytes / 1e6:.0f} MB, above the memory limit"
        eval_fn = self.plan.preprocess_fn(is_training=False)

        def split_dataset(descriptor, training: bool):
            return input_pipeline.make_dataset(
                descriptor, eval_fn, config.batch_size, is_training=training,
                shuffle_buffer_size=min(10000, descriptor.num_samples), seed=config.random_seed,
            )  # fmt: skip

        # The validation features are cached for the per-epoch accuracy when they fit.
        eval_fits = fc.cache_fits(self.num_eval, head.feature_dim)[0]
        started = time.perf_counter()
        train_cache, eval_cache = self._extract_features(features, split_dataset, eval_fits)
        feature_seconds = time.perf_counter() - started
        epochs = self._fit_head(head, features, split_dataset, train_cache, eval_cache, run_dir)
        first = epochs[0]["seconds"] + (feature_seconds if self.use_cache else 0.0)
        later = [e["seconds"] for e in epochs[1:]]
        return {
            "epochs": config.train_epochs,
            "steps": config.train_epochs * self.steps_per_epoch,
            "learning_rate": config.learning_rate,
            "restored": restore_report.summary(),
            "feature_cache": {"used": self.use_cache, "bytes": nbytes, "reason": reason},
            "feature_seconds": round(feature_seconds, 2),
            "first_epoch_seconds": round(first, 3),
            "later_epoch_seconds": round(sum(later) / len(later), 4) if later else None,
            "validation_accuracy": epochs[-1]["validation_accuracy"],
            "history": [
                {k: (round(v, 5) if isinstance(v, float) else v) for k, v in e.items()}
                for e in epochs
            ],
        }

    def _extract_features(self, features, split_dataset, eval_fits: bool) -> tuple:
        """The body's features of the training images (when cached) and of the validation
        images (when they fit): ``(train_cache or None, eval_cache or None)``."""
        from slimcls.train import feature_cache as fc

        stage = self.progress.stage("features")
        stage.total = (self.num_train if self.use_cache else 0) + (
            self.num_eval if eval_fits else 0
        )
        parts = [f"{self.num_train} training"] if self.use_cache else []
        parts += [f"{self.num_eval} validation"] if eval_fits else []
        plan = self.plan
        self.progress.begin(
            "features",
            f"computing {self.config.model_name} features of {' and '.join(parts) or 'no'} "
            f"images ({plan.image_size}x{plan.image_size}, {plan.compute_dtype})",
        )
        train_cache = eval_cache = None
        if self.use_cache:
            train_cache = fc.extract_features(
                features, split_dataset(self.train, False), self.progress.advance
            )
        if eval_fits:
            eval_cache = fc.extract_features(
                features, split_dataset(self.eval, False), self.progress.advance
            )
        self.progress.end("features")
        return train_cache, eval_cache

    def _fit_head(
        self, head, features, split_dataset, train_cache, eval_cache, run_dir: str
    ) -> list[dict[str, Any]]:
        """Trains the classifier ``train_epochs`` epochs, on the cached features or through
        the frozen body; one stats record per epoch (also in ``train_log.csv``)."""
        from slimcls.train import feature_cache as fc

        config = self.config
        optimizer = OptimizerConfig(
            optimizer="momentum" if config.momentum > 0 else "sgd", momentum=config.momentum
        )
        trainer = fc.HeadTrainer(
            head, optimizer, config.learning_rate, config.weight_decay,
            config.label_smoothing, config.dropout_rate, seed=config.random_seed,
        )  # fmt: skip
        self.progress.stage("head").total = config.train_epochs * self.steps_per_epoch
        how = "on cached features" if self.use_cache else "through the frozen body"
        self.progress.begin(
            "head", f"training a new {self.plan.num_classes}-class classifier {how}"
        )
        stream = None if self.use_cache else iter(split_dataset(self.train, True))
        writer = _HeadLog(run_dir, self._summaries_dir(run_dir))
        epochs = []
        for epoch in range(config.train_epochs):
            if self.use_cache:
                batches = fc.cached_batches(
                    *train_cache, config.batch_size, config.random_seed, epoch
                )
            else:
                batches = fc.body_batches(
                    features, (next(stream) for _ in range(self.steps_per_epoch))
                )
            detail = f"head training, epoch {epoch + 1}/{config.train_epochs}"
            stats = trainer.train_epoch(
                batches, on_step=lambda _, d=detail: self.progress.advance(1, detail=d)
            )
            stats["validation_accuracy"], stats["validation_loss"] = (
                trainer.evaluate(*eval_cache) if eval_cache else (None, None)
            )
            stats["epoch"] = epoch + 1
            epochs.append(stats)
            writer.epoch(int(trainer.step.numpy()), stats, self.steps_per_epoch)
            _log_epoch(stats, config.train_epochs)
        writer.close()
        self.progress.end("head")
        return epochs

    def _summaries_dir(self, run_dir: str) -> str:
        if self.layout.summaries_dir == self.layout.head_dir:
            return run_dir
        self.output.will_write(self.layout.summaries_dir)
        return self.layout.summaries_dir

    def _record_head_run(self, run_dir: str, steps: int) -> None:
        """``flags.txt``, so eval, classify and export take the model from the run."""
        from slimcls.model import run_info

        values = {
            "model_name": self.config.model_name,
            "train_image_size": self.plan.image_size,
            "dataset_dir": self.dataset_dir,
            "dataset_split_name": "train",
            "preprocessing_name": None,
            "use_grayscale": False,
            "labels_offset": 0,
            "batch_size": self.config.batch_size,
            "max_number_of_steps": steps,
            "trainable_scopes": (self.plan.spec.logits_scopes[0],),
            "checkpoint_path": self.checkpoint,
        }
        run_info.record_run(run_dir, flag_lines(values), self.argv, mic.PROG)


def _log_epoch(stats: dict[str, Any], epochs: int) -> None:
    validation = stats["validation_accuracy"]
    log.info(
        "head epoch %d/%d: loss %.4f, accuracy %.4f, validation accuracy %s (%.3fs)",
        stats["epoch"], epochs, stats["loss"], stats["accuracy"],
        "-" if validation is None else f"{validation:.4f}", stats["seconds"],
    )  # fmt: skip


class _HeadLog:
    """Head training's ``train_log.csv`` rows and TensorBoard scalars (per epoch)."""

    FIELDS = ("step", "epoch", "split", "loss", "accuracy")

    def __init__(self, run_dir: str, summaries_dir: str) -> None:
        from slimcls.core.compat import tf

        self.csv_path = os.path.join(run_dir, "train_log.csv")
        self.rows = io.StringIO()
        self.csv = csv.writer(self.rows, lineterminator="\n")
        self.csv.writerow(self.FIELDS)
        self.writers = {
            split: tf.summary.create_file_writer(os.path.join(summaries_dir, split))
            for split in ("train", "validation")
        }

    def epoch(self, step: int, stats: dict[str, Any], steps_per_epoch: int) -> None:
        from slimcls.train import summaries

        epoch = stats["epoch"]
        for split, loss, accuracy in (
            ("train", stats["loss"], stats["accuracy"]),
            ("validation", stats["validation_loss"], stats["validation_accuracy"]),
        ):
            if loss is None:  # no validation features (they did not fit in memory)
                continue
            self.csv.writerow([step, epoch, split, f"{loss:.6g}", f"{accuracy:.6g}"])
            with self.writers[split].as_default():
                summaries.scalar("loss", loss, step)
                summaries.scalar("accuracy", accuracy, step)

    def close(self) -> None:
        from slimcls.core.fileio import write_text_atomic

        for writer in self.writers.values():
            writer.flush()
            writer.close()
        write_text_atomic(self.csv_path, self.rows.getvalue())
