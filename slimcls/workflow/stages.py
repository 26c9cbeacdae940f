"""The stages of ``make_image_classifier`` (see :mod:`slimcls.workflow.make_image_classifier`).

Each stage calls the library as the separate commands do (converter, feature cache and
head trainer, training loop, evaluation, export) and records what it did in the output
directory's marker, so a second run skips it.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Sequence
from typing import Any

from slimcls.config import (
    ClassifierConfig,
    EvalConfig,
    ExportConfig,
    LearningRateConfig,
    MakeClassifierConfig,
    OptimizerConfig,
    TrainConfig,
)
from slimcls.core.errors import SlimclsError
from slimcls.workflow import make_image_classifier as mic
from slimcls.workflow.head import HeadStage, flag_lines
from slimcls.workflow.job_progress import JobProgress, Stage, format_duration

log = logging.getLogger("slimcls.make_image_classifier")

#: Guesses before anything is measured: seconds per cached head step, and for the export
#: (SavedModel + TF Lite conversion).
HEAD_STEP_SECONDS = 0.003
EXPORT_SECONDS = 20.0
#: A training step (forward + backward) costs about this many forward passes.
TRAIN_STEP_FORWARDS = 3.0
EVAL_SPLITS = ("validation", "test")


def published_record(checkpoint_path: str, model_name: str):
    """The published checkpoint ``checkpoint_path`` names (``imagenet[:<name>]``), else
    the net's default published one (its image size and head scopes apply to a copy of
    it given as a file), or None."""
    from slimcls.model import pretrained
    from slimcls.nets import published

    if pretrained.is_published(checkpoint_path):
        return pretrained.lookup(checkpoint_path, model_name)
    return published.default_for(model_name)


def resolve_checkpoint(checkpoint_path: str, model_name: str) -> str:
    """``imagenet[:<name>]`` -> the cached published checkpoint (downloaded once, with a
    progress bar, verified); anything else unchanged."""
    from slimcls.model import pretrained

    return pretrained.resolve_checkpoint(checkpoint_path, model_name, progress=True)


def _tree_bytes(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files
    )


def train_config_values(config: TrainConfig) -> dict[str, Any]:
    """TrainConfig's flags (nested configs flattened) -> values, for ``flags.txt``."""
    import dataclasses

    values = {}
    for field in dataclasses.fields(config):
        if not field.metadata.get("flag", True):
            continue
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            values.update(train_config_values(value))
        else:
            values[field.name] = value
    return values


def _is_converted(directory: str) -> bool:
    """A converted dataset (``dataset.json``), or TF-Slim's records without one (no class
    sub-folders, and ``dataset_factory`` finds a training split)."""
    from slimcls.datasets import dataset_factory
    from slimcls.datasets import record_format as rf

    if os.path.exists(os.path.join(directory, rf.DATASET_JSON)):
        return True
    if any(os.path.isdir(os.path.join(directory, e)) for e in os.listdir(directory)):
        return False
    try:
        dataset_factory.get_dataset(None, "train", directory)
    except SlimclsError:
        return False
    return True


class _StageHook:
    """Feeds the training loop's steps to the job's progress bar (a
    :class:`slimcls.train.hooks.Hook` by its methods: that module imports TensorFlow)."""

    def __init__(self, progress: JobProgress) -> None:
        self.progress = progress

    def begin(self, run) -> None:
        pass

    def after_step(self, run, metrics) -> None:
        self.progress.advance(to=metrics.step, detail="fine-tuning all layers")

    def end(self, run, metrics, stop) -> None:
        pass

    def result(self) -> dict[str, Any]:
        return {}


class Job(HeadStage):
    """One run of the job: its stages, in order, and what they produced."""

    def __init__(
        self,
        config: MakeClassifierConfig,
        layout: mic.Layout,
        output: mic.OutputDir,
        stream=None,
        argv: Sequence[str] = (),
    ) -> None:
        self.config, self.layout, self.output = config, layout, output
        self.argv = list(argv)
        self.report = ""
        self.progress = JobProgress(
            [
                Stage("convert", 1, "datasets"),
                Stage("features", 0, "images"),
                Stage("head", 0, "steps", estimate=self._head_step_seconds),
                Stage("fine_tune", 0, "steps", estimate=self._train_step_seconds),
                Stage("evaluate", 0, "images", estimate=self._forward_seconds),
                Stage("export", 1, "models", estimate=lambda: EXPORT_SECONDS),
            ],
            stream=stream,
        )
        self.use_cache = True

    # ------------------------------------------------------------------ ETA estimates

    def _forward_seconds(self) -> float | None:
        """The body's seconds per image, as the feature pass measured it."""
        return self.progress.stage("features").measured(self.progress.clock())

    def _head_step_seconds(self) -> float | None:
        if self.use_cache:
            return HEAD_STEP_SECONDS
        forward = self._forward_seconds()
        return None if forward is None else forward * self.config.batch_size

    def _train_step_seconds(self) -> float | None:
        forward = self._forward_seconds()
        return None if forward is None else forward * self.config.batch_size * TRAIN_STEP_FORWARDS

    # ------------------------------------------------------------------ the job

    def run(self) -> dict[str, Any]:
        config = self.config
        self.progress.attach_to_logging()
        try:
            from slimcls.model import checkpoints

            # Before anything is written: a checkpoint that cannot be had or read.
            source = resolve_checkpoint(config.checkpoint_path, config.model_name)
            self.checkpoint = checkpoints.resolve_checkpoint(source)
            checkpoints.read_shapes(self.checkpoint)
            self.output.claim()
            self._convert()
            self._plan()
            head = self._head()
            fine_tuning = self._fine_tune(head) if config.do_fine_tuning else None
            if fine_tuning is None:
                self.progress.skip("fine_tune")
            final = fine_tuning["checkpoint"] if fine_tuning else head["checkpoint"]
            evaluation = self._evaluate(final)
            files = self._export(final)
        finally:
            self.progress.close()
        return {
            "command": mic.PROG,
            "image_dir": os.path.abspath(os.path.expanduser(config.image_dir)),
            "output_dir": self.layout.output_dir,
            "dataset_dir": self.dataset_dir,
            "model_name": config.model_name,
            "checkpoint": self.checkpoint,
            "image_size": self.plan.image_size,
            "compute_dtype": self.plan.compute_dtype,
            "num_classes": self.plan.num_classes,
            "class_names": self.class_names,
            "num_train": self.num_train,
            "num_validation": self.num_eval,
            "head": head,
            "fine_tuning": fine_tuning,
            "evaluation": evaluation,
            "final_checkpoint": final,
            "eval_dir": self.layout.eval_dir,
            "files": files,
            "summary_file": self.layout.summary_file,
        }

    # ------------------------------------------------------------------ 1. data

    def _convert(self) -> None:
        from slimcls.datasets import record_format as rf

        config, layout = self.config, self.layout
        image_dir = os.path.abspath(os.path.expanduser(config.image_dir))
        if _is_converted(image_dir):
            self.dataset_dir = image_dir
            self.progress.skip("convert")
            self.progress.write_line(f"using the converted dataset in {image_dir}")
            return
        from slimcls.datasets.convert_folder import convert_folder

        settings = mic.stage_settings(config, "data")
        self.progress.begin("convert", f"converting {image_dir} into {layout.data_dir}")
        if self.output.result("data") is None:
            self.output.begin("data", settings)
        name = os.path.basename(image_dir.rstrip(os.sep))
        try:
            name = rf.validate_name(name)
        except SlimclsError:
            name = "images"
        info = convert_folder(
            image_dir,
            layout.data_dir,
            name=name,
            validation_fraction=config.validation_fraction,
            random_seed=config.random_seed,
            log=self.progress.write_line,
            progress_stream=self.progress.stream,
        )
        self.output.done("data", {"splits": info["splits"], "num_classes": info["num_classes"]})
        self.progress.end("convert")
        self.dataset_dir = layout.data_dir

    def _plan(self) -> None:
        from slimcls.datasets import dataset_factory
        from slimcls.model import modeling
        from slimcls.nets import nets_factory
        from slimcls.train import precision

        config = self.config
        self.train = dataset_factory.get_dataset(None, "train", self.dataset_dir)
        self.eval = None
        for split in EVAL_SPLITS:
            try:
                self.eval = dataset_factory.get_dataset(None, split, self.dataset_dir)
                break
            except SlimclsError:
                continue
        if self.eval is None or not self.eval.num_samples:
            raise SlimclsError(
                f"dataset {self.dataset_dir} has no validation or test examples to evaluate "
                "on; expected a class folder with enough images per class (or a converted "
                "dataset with a 'validation' or 'test' split)"
            )
        if int(self.train.channels) != 3:
            raise SlimclsError(
                f"dataset {self.dataset_dir} holds {self.train.channels}-channel images; the "
                "pretrained nets take RGB: expected a dataset converted without --grayscale"
            )
        self.num_train, self.num_eval = int(self.train.num_samples), int(self.eval.num_samples)
        if config.batch_size > self.num_train:
            raise SlimclsError(
                f"--batch_size={config.batch_size} is larger than the {self.num_train} "
                f"training images; expected at most {self.num_train}"
            )
        spec = nets_factory.image_spec(config.model_name)
        record = published_record(config.checkpoint_path, config.model_name)
        size = config.image_size or (record.image_size if record else None)
        self.plan = modeling.plan(
            config.model_name,
            self.train.num_classes,
            image_size=size,
            channels=3,
            compute_dtype=precision.compute_dtype(config.mixed_precision, config.model_name),
            size_flag="--image_size",
        )
        self.class_names = modeling.class_names(self.train.labels_to_names, self.plan.num_classes)
        self.head_scopes = tuple(record.head_scopes) if record else spec.logits_scopes
        self.steps_per_epoch = self.num_train // config.batch_size

    # ------------------------------------------------------------------ 3. fine-tuning

    def _fine_tune(self, head: dict[str, Any]) -> dict[str, Any]:
        from slimcls import train
        from slimcls.model import checkpoints, modeling, run_info

        config, layout = self.config, self.layout
        epochs = config.fine_tuning_epochs or config.train_epochs
        steps = max(1, epochs * self.steps_per_epoch)
        rate = config.fine_tuning_learning_rate
        rate = config.learning_rate / 10 if rate is None else rate
        decay = config.batch_norm_decay
        decay = modeling.fitted_batch_norm_decay(steps) if decay is None else decay
        done = self.output.result("fine_tune")
        if done and checkpoints.latest_checkpoint(layout.fine_tune_dir) == done["checkpoint"]:
            self.progress.skip("fine_tune")
            self.progress.write_line(f"fine-tuning: done ({done['checkpoint']})")
            return done
        train_config = self._fine_tune_config(steps, rate, decay, head["checkpoint"])
        if self.output.state["stages"].get("fine_tune") is None:
            self.output.begin("fine_tune", mic.stage_settings(config, "fine_tune"))
        self.progress.stage("fine_tune").total = steps
        self.progress.begin(
            "fine_tune",
            f"fine-tuning all layers: {steps} steps at learning rate {rate:g}, batch-norm "
            f"decay {decay:g}",
        )

        def record() -> None:
            values = train_config_values(train_config)
            run_info.record_run(layout.fine_tune_dir, flag_lines(values), self.argv, mic.PROG)

        started = time.perf_counter()
        result = train.train(train_config, on_start=record, extra_hooks=[_StageHook(self.progress)])
        if result.interrupted_by:
            raise KeyboardInterrupt
        self.progress.end("fine_tune")
        done = {
            "epochs": epochs,
            "steps": steps,
            "learning_rate": rate,
            "batch_norm_decay": decay,
            "checkpoint": checkpoints.latest_checkpoint(layout.fine_tune_dir),
            "seconds": round(time.perf_counter() - started, 2),
            "train_mode_accuracy": result.train_mode_accuracy,
            "eval_mode_accuracy": result.eval_mode_accuracy,
            "batch_norm_warning": result.batch_norm_warning,
        }
        self.output.done("fine_tune", done)
        return done

    def _fine_tune_config(self, steps: int, rate: float, decay: float, start: str) -> TrainConfig:
        """The training run of all layers from the head's checkpoint ``start``: momentum SGD
        (plain SGD without momentum), cosine decay to 1% of ``rate``."""
        config, layout = self.config, self.layout
        return TrainConfig(
            train_dir=layout.fine_tune_dir,
            dataset_dir=self.dataset_dir,
            model_name=config.model_name,
            train_image_size=self.plan.image_size,
            batch_size=config.batch_size,
            max_number_of_steps=steps,
            weight_decay=config.weight_decay,
            batch_norm_decay=decay,
            optimizer=OptimizerConfig(
                optimizer="momentum" if config.momentum > 0 else "sgd", momentum=config.momentum
            ),
            learning_rate=LearningRateConfig(
                learning_rate=rate,
                learning_rate_decay_type="cosine",
                end_learning_rate=rate / 100,
            ),
            label_smoothing=config.label_smoothing,
            checkpoint_path=start,
            mixed_precision=config.mixed_precision,
            random_seed=config.random_seed,
            log_every_n_steps=max(1, steps // 10),
            save_interval_secs=300,
            save_summaries_secs=120,
            max_checkpoints_to_keep=2,
            num_summary_images=0,
            progress_bar=False if self.progress.is_tty else None,
        )

    # ------------------------------------------------------------------ 4. evaluation

    def _evaluate(self, checkpoint: str) -> dict[str, Any]:
        from slimcls.inference import eval_report, evaluate

        self.progress.stage("evaluate").total = self.num_eval
        split = self.eval.split_name
        self.progress.begin("evaluate", f"evaluating on the {self.num_eval} images of '{split}'")
        metrics = evaluate.evaluate(
            EvalConfig(
                checkpoint_path=checkpoint,
                dataset_dir=self.dataset_dir,
                model_name=self.config.model_name,
                dataset_split_name=self.eval.split_name,
                eval_image_size=self.plan.image_size,
                eval_dir=self.layout.eval_dir,
                batch_size=min(100, self.num_eval),
            )
        )
        self.progress.end("evaluate")
        self.report = eval_report.format_report(metrics)
        return {
            "accuracy": metrics["accuracy"],
            "recall_5": metrics["recall_5"],
            "loss": metrics["loss"],
            "num_examples": metrics["num_examples"],
            "split": metrics["split_name"],
            "checkpoint": checkpoint,
            "metrics_file": os.path.join(self.layout.eval_dir, "metrics.json"),
        }

    # ------------------------------------------------------------------ 5. export

    def _export(self, checkpoint: str) -> dict[str, Any]:
        from slimcls.core.fileio import write_text_atomic
        from slimcls.inference import export

        layout = self.layout
        self.progress.begin("export", "exporting the SavedModel, TF Lite model and labels")
        for path in (layout.saved_model_dir, layout.tflite_file, layout.labels_file):
            self.output.will_write(path)  # ours from now on: a later run may replace it
        classifier = ClassifierConfig(
            checkpoint_path=checkpoint,
            model_name=self.config.model_name,
            dataset_dir=self.dataset_dir,
            eval_image_size=self.plan.image_size,
        )
        export.export(
            ExportConfig(classifier=classifier, output_dir=layout.saved_model_dir, overwrite=True)
        )
        temp = f"{layout.tflite_file}.tmp-{uuid.uuid4().hex}"
        try:
            export.write_tflite(layout.saved_model_dir, temp, "float")
            os.replace(temp, layout.tflite_file)
        finally:
            if os.path.exists(temp):
                os.remove(temp)
        write_text_atomic(layout.labels_file, "".join(f"{n}\n" for n in self.class_names))
        self.progress.end("export")
        return {
            name: {"path": path, "bytes": _tree_bytes(path)}
            for name, path in (
                ("saved_model", layout.saved_model_dir),
                ("tflite", layout.tflite_file),
                ("labels", layout.labels_file),
            )
        }


__all__ = ["Job", "format_duration", "published_record", "resolve_checkpoint"]
