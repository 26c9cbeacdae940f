"""Evaluates classifier checkpoints exactly: every example of a split once.

TF-Slim's eval ran ``num_batches = ceil(num_samples / batch_size)`` batches from a
repeating queue, so on a split whose size is not a multiple of the batch size it
counted wrapped-around examples twice, and it ran once. Here the split is read once
(no repeat, no dropped remainder), metrics are accumulated in NumPy from per-example
predictions, and :func:`watch` re-evaluates each new checkpoint of a running training
(the ``cifar10_eval`` pattern).

The model-loading helpers at the top (:func:`resolve_net`, :func:`eval_preprocess_fn`,
:func:`restore_model`) are shared with ``classify`` and ``export`` so the three tools
see images and weights the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from slimcls import checkpoints, run_info
from slimcls.config import EvalConfig
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.core.fileio import write_text_atomic
from slimcls.slim_model import SlimModel

log = logging.getLogger(__name__)

RECALL_K = 5
#: Above this many classes metrics.json leaves the confusion matrix out (see the CSV).
MAX_CLASSES_IN_JSON = 100


# --------------------------------------------------------------------------------------
# Shared by evaluate, classify and export: which net, which preprocessing, which weights.


@dataclasses.dataclass(frozen=True)
class NetChoice:
    """A registered net resolved against the user's overrides."""

    model_name: str
    preprocessing_name: str
    image_size: int


def resolve_net(
    model_name: str,
    preprocessing_name: str | None = None,
    image_size: int | None = None,
    size_flag: str = "--eval_image_size",
) -> NetChoice:
    """Looks up ``model_name`` and fills in its default preprocessing and image size.

    Raises:
      SlimclsError: unknown model, or an image size below the net's minimum.
    """
    from slimcls.nets import nets_factory

    spec = nets_factory.get_spec(model_name)
    size = int(image_size or spec.default_image_size)
    nets_factory.check_image_size(model_name, size, flag=size_flag)
    return NetChoice(model_name, preprocessing_name or spec.preprocessing, size)


def eval_preprocess_fn(
    net: NetChoice, use_grayscale: bool = False
) -> Callable[[tf.Tensor], tf.Tensor]:
    """The eval-mode preprocessing as a one-argument function of a uint8 image.

    Raises:
      SlimclsError: unknown preprocessing name.
    """
    from slimcls.preprocessing import preprocessing_factory

    try:
        fn = preprocessing_factory.get_preprocessing(
            net.preprocessing_name, is_training=False, use_grayscale=use_grayscale
        )
    except SlimclsError:
        raise
    except (KeyError, ValueError) as e:
        raise SlimclsError(str(e).strip("'\"")) from None
    size = net.image_size
    return lambda image: fn(image, size, size)


def preprocessed_shape(
    preprocess: Callable[[tf.Tensor], tf.Tensor], channels: int, size: int
) -> tuple[int, int, int]:
    """The ``(H, W, C)`` a preprocessing function makes of a ``size``x``size`` image."""
    out = preprocess(tf.zeros((size, size, channels), tf.uint8))
    return tuple(int(d) for d in out.shape)


def ema_name_map(model: SlimModel, prefix: str) -> dict[str, str]:
    """Maps each model variable to its ``<var>/ExponentialMovingAverage`` shadow.

    As TF1's ``ExponentialMovingAverage.variables_to_restore``: a variable without a
    shadow is read under its own name, unless it is trainable (then the checkpoint was
    not written with moving averages of the weights, and evaluating it would silently
    evaluate the raw weights).

    Raises:
      SlimclsError: the checkpoint has no shadows for the trainable variables.
    """
    keys = set(checkpoints.read_shapes(prefix))
    trainable = {v.ref() for v in model.trainable_variables}
    name_map, missing = {}, []
    for name, var in model.variables_by_name().items():
        shadow = checkpoints.ema_name(name)
        if shadow in keys:
            name_map[name] = shadow
        elif var.ref() in trainable:
            missing.append(name)
    if missing:
        what = "no" if len(missing) == len(model.trainable_variables) else "incomplete"
        raise SlimclsError(
            f"checkpoint {prefix!r} has {what} moving averages (e.g. no "
            f"{checkpoints.ema_name(missing[0])!r}); train with --moving_average_decay or "
            "evaluate without --moving_average_decay"
        )
    return name_map


def restore_model(model: SlimModel, prefix: str, use_moving_averages: bool = False) -> None:
    """Restores a built model from a checkpoint, the EMA shadows when asked.

    Raises:
      SlimclsError: missing keys, other shapes, or no moving averages.
    """
    name_map = ema_name_map(model, prefix) if use_moving_averages else None
    checkpoints.restore_variables(model.variables_by_name(), prefix, name_map=name_map)


@contextlib.contextmanager
def quiet_tensorflow_info():
    """Hides TensorFlow's INFO log lines (tf-slim's "Scale of 0 disables regularizer",
    SavedModel writer chatter) that say nothing to users of the command-line tools."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def build_model(model_name: str, num_classes: int, image_shape: Sequence[int]) -> SlimModel:
    """The registered net with its variables created, for inputs of ``image_shape``."""
    from slimcls.models import create_model

    with quiet_tensorflow_info():
        model = create_model(model_name, num_classes)
        model.build_variables(tuple(image_shape))
    return model


def load_model(
    model_name: str,
    num_classes: int,
    image_shape: Sequence[int],
    prefix: str,
    use_moving_averages: bool = False,
) -> SlimModel:
    """Builds the registered net and restores it from the checkpoint ``prefix``."""
    model = build_model(model_name, num_classes, image_shape)
    restore_model(model, prefix, use_moving_averages)
    return model


def read_labels_file(path: str) -> dict[int, str]:
    """Reads a TF-Slim ``labels.txt`` (``<id>:<name>`` per line, UTF-8).

    Raises:
      SlimclsError: missing or malformed file.
    """
    from slimcls.datasets import dataset_utils

    if not tf.io.gfile.exists(path):
        raise SlimclsError(f"labels file {path!r} does not exist")
    return dataset_utils.read_label_file(path)


def class_names(labels_to_names: Mapping[int, str] | None, num_classes: int, offset: int = 0):
    """Names of model classes ``0..num_classes-1`` (dataset label = class + offset)."""
    labels_to_names = labels_to_names or {}
    return [str(labels_to_names.get(i + offset, i + offset)) for i in range(num_classes)]


# --------------------------------------------------------------------------------------
# Evaluation.


def _check_config(config: EvalConfig) -> None:
    if config.batch_size is None or config.batch_size < 1:
        raise SlimclsError(f"--batch_size={config.batch_size} must be at least 1")
    if config.max_num_batches is not None and config.max_num_batches < 1:
        raise SlimclsError(
            f"--max_num_batches={config.max_num_batches} must be at least 1 (or unset: all)"
        )
    if config.labels_offset < 0:
        raise SlimclsError(f"--labels_offset={config.labels_offset} must be >= 0")
    if not config.dataset_dir:
        raise SlimclsError("--dataset_dir is required (a directory with dataset.json)")


def _make_dataset(descriptor, preprocess, config: EvalConfig):
    from slimcls import input_pipeline

    kwargs: dict[str, Any] = {"labels_offset": config.labels_offset}
    if config.num_readers:
        kwargs["num_readers"] = config.num_readers
    if config.num_preprocessing_threads:
        kwargs["num_parallel_calls"] = config.num_preprocessing_threads
    try:
        return input_pipeline.make_dataset(
            descriptor, preprocess, config.batch_size, False, **kwargs
        )
    except TypeError:  # pipeline without the optional parallelism arguments
        return input_pipeline.make_dataset(
            descriptor,
            preprocess,
            config.batch_size,
            False,
            labels_offset=config.labels_offset,
        )


def _images_and_labels(batch):
    if isinstance(batch, Mapping):
        return batch["image"], batch["label"]
    return batch[0], batch[1]


class Evaluator:
    """Holds the dataset, model and compiled step; evaluates one checkpoint per call.

    Building it validates the dataset, model and preprocessing (so watch mode fails
    before it starts waiting); the model's variables are created on the first call.
    """

    def __init__(self, config: EvalConfig) -> None:
        from slimcls.datasets import dataset_factory

        _check_config(config)
        self.config = config
        self.descriptor = dataset_factory.get_dataset(
            config.dataset_name, config.dataset_split_name, config.dataset_dir
        )
        self.num_classes = int(self.descriptor.num_classes) - config.labels_offset
        if self.num_classes < 1:
            raise SlimclsError(
                f"--labels_offset={config.labels_offset} leaves no classes of the "
                f"{self.descriptor.num_classes} in {config.dataset_dir!r}"
            )
        self.split_size = int(self.descriptor.num_samples)
        self.class_names = class_names(
            self.descriptor.labels_to_names, self.num_classes, config.labels_offset
        )
        self.net = resolve_net(config.model_name, config.preprocessing_name, config.eval_image_size)
        self.preprocess = eval_preprocess_fn(self.net, config.use_grayscale)
        self.image_shape = preprocessed_shape(
            self.preprocess, int(self.descriptor.channels or 3), self.net.image_size
        )
        self.dataset = _make_dataset(self.descriptor, self.preprocess, config)
        if config.max_num_batches:
            self.dataset = self.dataset.take(config.max_num_batches)
        self._model: SlimModel | None = None
        self._step = None

    def _build(self) -> None:
        model = build_model(self.config.model_name, self.num_classes, self.image_shape)
        k = min(RECALL_K, self.num_classes)
        num_classes = self.num_classes

        @tf.function(reduce_retracing=True)
        def step(images, labels):
            logits, _ = model(images, training=False)
            logits = tf.cast(tf.reshape(logits, [tf.shape(logits)[0], -1]), tf.float32)
            labels = tf.cast(labels, tf.int32)
            valid = tf.logical_and(labels >= 0, labels < num_classes)
            safe = tf.where(valid, labels, tf.zeros_like(labels))
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe, logits=logits)
            in_top_k = tf.math.in_top_k(safe, logits, k)
            return labels, tf.argmax(logits, -1, output_type=tf.int32), in_top_k, losses

        self._model, self._step = model, step

    @property
    def model(self) -> SlimModel:
        if self._model is None:
            self._build()
        return self._model

    def evaluate(self, prefix: str) -> dict[str, Any]:
        """Evaluates the checkpoint ``prefix``; returns the metrics dict (see module doc).

        Raises:
          SlimclsError: unreadable or incompatible checkpoint, labels out of range,
            an empty split.
        """
        model = self.model
        restore_model(model, prefix, self.config.use_moving_averages)
        start = time.perf_counter()
        confusion = np.zeros((self.num_classes, self.num_classes), np.int64)
        top_k_hits = 0
        loss_sum = 0.0
        num_batches = 0
        for batch in self.dataset:
            images, labels = _images_and_labels(batch)
            labels, preds, in_top_k, losses = (t.numpy() for t in self._step(images, labels))
            bad = (labels < 0) | (labels >= self.num_classes)
            if bad.any():
                raise SlimclsError(
                    f"label {int(labels[bad][0]) + self.config.labels_offset} in split "
                    f"{self.config.dataset_split_name!r} is outside the net's {self.num_classes} "
                    f"classes (--labels_offset={self.config.labels_offset})"
                )
            np.add.at(confusion, (labels, preds), 1)
            top_k_hits += int(in_top_k.sum())
            loss_sum += float(losses.astype(np.float64).sum())
            num_batches += 1
        seconds = time.perf_counter() - start
        num_examples = int(confusion.sum())
        if num_examples == 0:
            raise SlimclsError(
                f"--dataset_split_name={self.config.dataset_split_name!r} of "
                f"{self.config.dataset_dir!r} has no examples"
            )
        return self._metrics(prefix, confusion, top_k_hits, loss_sum, num_batches, seconds)

    def _metrics(self, prefix, confusion, top_k_hits, loss_sum, num_batches, seconds):
        n = int(confusion.sum())
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
            "recall_5": float(top_k_hits / n),
            "loss": float(loss_sum / n),
            "num_examples": n,
            "split_size": self.split_size,
            "truncated": n < self.split_size,
            "num_batches": num_batches,
            "global_step": checkpoints.global_step_of(prefix),
            "checkpoint": prefix,
            "moving_averages": self.config.use_moving_averages,
            "dataset_dir": self.config.dataset_dir,
            "split_name": self.config.dataset_split_name,
            "model_name": self.config.model_name,
            "image_size": self.net.image_size,
            "per_class": per_class,
            "confusion_matrix": confusion,
            "eval_seconds": round(seconds, 3),
        }


def evaluate(config: EvalConfig, checkpoint: str | None = None) -> dict[str, Any]:
    """Evaluates one checkpoint (default: ``config.checkpoint_path`` resolved) once.

    Writes the outputs to ``config.eval_dir`` when it is set.

    Returns:
      ``accuracy``, ``recall_5``, ``loss`` (mean cross-entropy), ``num_examples``,
      ``split_size``, ``truncated``, ``global_step``, ``checkpoint``, ``per_class``
      (list of dicts), ``confusion_matrix`` (``[true, predicted]`` int array), ...

    Raises:
      SlimclsError: bad config, dataset, model or checkpoint.
    """
    evaluator = Evaluator(config)
    prefix = checkpoint or checkpoints.resolve_checkpoint(config.checkpoint_path)
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
    if not directory:
        raise SlimclsError("--checkpoint_path is required (the training directory to watch)")
    if tf.io.gfile.exists(directory) and not tf.io.gfile.isdir(directory):
        raise SlimclsError(
            f"--checkpoint_path={directory!r} is a file; watch mode (--eval_interval_secs) "
            "needs the training directory"
        )
    if eval_interval_secs <= 0:
        raise SlimclsError(f"--eval_interval_secs={eval_interval_secs} must be > 0")
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
            try:
                metrics = evaluator.evaluate(prefix)
            except SlimclsError:
                if not tf.io.gfile.exists(prefix + ".index"):
                    log.info("skipped %s: deleted by training before its turn", prefix)
                    continue
                raise
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


# --------------------------------------------------------------------------------------
# Reporting and outputs.


def json_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics as JSON-ready values (the confusion matrix only for small nets)."""
    out = {k: v for k, v in metrics.items() if k != "confusion_matrix"}
    confusion = metrics.get("confusion_matrix")
    if confusion is not None and len(confusion) <= MAX_CLASSES_IN_JSON:
        out["confusion_matrix"] = np.asarray(confusion).tolist()
    return out


def format_report(metrics: Mapping[str, Any], max_rows: int = 20) -> str:
    """TF-Slim's two lines plus a per-class table (worst classes first when long)."""
    lines = [
        f"eval/Accuracy[{metrics['accuracy']:.4f}]",
        f"eval/Recall_5[{metrics['recall_5']:.4f}]",
        f"eval/Loss[{metrics['loss']:.4f}]",
        f"{metrics['num_examples']} examples of split {metrics['split_name']!r}, "
        f"checkpoint {metrics['checkpoint']} (step {metrics['global_step']})"
        + (" [moving averages]" if metrics.get("moving_averages") else ""),
    ]
    if metrics.get("truncated"):
        lines.append(
            f"note: --max_num_batches stopped after {metrics['num_examples']} of "
            f"{metrics['split_size']} examples; these metrics cover only those"
        )
    rows = [r for r in metrics["per_class"] if r["num_examples"]]
    title = "per-class accuracy"
    if len(rows) > max_rows:
        rows = sorted(rows, key=lambda r: (r["accuracy"], r["id"]))[:max_rows]
        title += f" ({max_rows} lowest of {len(metrics['per_class'])} classes)"
    width = max([len("class")] + [len(r["name"]) for r in rows])
    lines.append(title + ":")
    lines.append(f"  {'id':>5}  {'class':<{width}}  {'accuracy':>8}  {'correct':>13}")
    for r in rows:
        count = f"{r['correct']}/{r['num_examples']}"
        lines.append(f"  {r['id']:>5}  {r['name']:<{width}}  {r['accuracy']:>8.4f}  {count:>13}")
    return "\n".join(lines)


def render_confusion_matrix(confusion: np.ndarray, names: Sequence[str] | None = None):
    """Draws the confusion matrix (rows: true, columns: predicted) as a PIL image.

    Cells are shaded by the row-normalised rate; up to 30 classes get counts and
    axis labels, larger matrices are drawn as a heat map of at least 1 pixel per cell.
    """
    from PIL import Image, ImageDraw, ImageFont

    confusion = np.asarray(confusion, np.int64)
    n = len(confusion)
    rates = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    shade = (255 * (1.0 - rates)).astype(np.uint8)
    # White (0) to dark blue (1): red and green fade, blue stays high.
    rgb = np.stack([shade, (shade * 0.85 + 38).astype(np.uint8), np.full_like(shade, 255)], -1)
    rgb[rates == 0] = 255
    if n > 30:
        cell = max(1, 800 // n)
        return Image.fromarray(np.kron(rgb, np.ones((cell, cell, 1), np.uint8)), "RGB")

    font = ImageFont.load_default()
    labels = [str(i) for i in range(n)]  # columns: ids; rows: "id name"
    if names is not None:
        labels = [f"{i} {_drawable(str(nm), '')}".strip()[:16] for i, nm in enumerate(names)]
    cell = 30
    margin = 10 + 7 * max(len(label) for label in labels)
    top = 40
    size = (margin + cell * n + 8, top + cell * n + 8)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.text((4, 4), "true (rows) vs predicted (columns)", fill="black", font=font)
    grid = Image.fromarray(np.kron(rgb, np.ones((cell, cell, 1), np.uint8)), "RGB")
    image.paste(grid, (margin, top))
    for i, label in enumerate(labels):
        draw.text((4, top + i * cell + cell // 3), label, fill="black", font=font)
        draw.text((margin + i * cell + cell // 3, top - 14), str(i), fill="black", font=font)
    for i in range(n):
        for j in range(n):
            if confusion[i, j]:
                color = "white" if rates[i, j] > 0.5 else "black"
                x, y = margin + j * cell + 3, top + i * cell + cell // 3
                draw.text((x, y), str(confusion[i, j])[:4], fill=color, font=font)
    draw.rectangle([margin - 1, top - 1, margin + cell * n, top + cell * n], outline="gray")
    return image


def _drawable(text: str, fallback: str) -> str:
    """``text`` when the default bitmap font can draw it (Latin-1), else ``fallback``."""
    try:
        text.encode("latin-1")
        return text
    except UnicodeEncodeError:
        return fallback


class EvalWriter:
    """Writes metrics.json, confusion_matrix.{png,csv}, a history line and summaries."""

    def __init__(self, eval_dir: str) -> None:
        self.eval_dir = eval_dir
        tf.io.gfile.makedirs(eval_dir)
        self._summaries = tf.summary.create_file_writer(eval_dir)

    def write(self, metrics: Mapping[str, Any]) -> dict[str, str]:
        """Writes the outputs for one evaluation; returns ``{what: path}``."""
        d = self.eval_dir
        paths = {
            "metrics": os.path.join(d, "metrics.json"),
            "history": os.path.join(d, "metrics_history.jsonl"),
            "confusion_png": os.path.join(d, "confusion_matrix.png"),
            "confusion_csv": os.path.join(d, "confusion_matrix.csv"),
            "summaries": d,
        }
        record = json_metrics(metrics)
        write_text_atomic(paths["metrics"], json.dumps(record, indent=2, ensure_ascii=False) + "\n")
        summary_line = {
            k: v for k, v in record.items() if k not in ("per_class", "confusion_matrix")
        }
        with tf.io.gfile.GFile(paths["history"], "a") as f:
            f.write(json.dumps(summary_line, ensure_ascii=False) + "\n")
        confusion = np.asarray(metrics["confusion_matrix"])
        names = [r["name"] for r in metrics["per_class"]]
        image = render_confusion_matrix(confusion, names)
        with tf.io.gfile.GFile(paths["confusion_png"], "wb") as f:
            image.save(f, format="PNG")
        header = "true\\predicted," + ",".join(_csv(n) for n in names)
        rows = [header] + [
            _csv(names[i]) + "," + ",".join(str(int(c)) for c in row)
            for i, row in enumerate(confusion)
        ]
        write_text_atomic(paths["confusion_csv"], "\n".join(rows) + "\n")
        # tf.summary.scalar/image need the tensorboard package; slimcls writes the same
        # records through tf.summary.write (helpers shared with training).
        from slimcls import summaries

        step = int(metrics.get("global_step") or 0)
        with self._summaries.as_default():
            summaries.scalar("eval/Accuracy", metrics["accuracy"], step)
            summaries.scalar("eval/Recall_5", metrics["recall_5"], step)
            summaries.scalar("eval/Loss", metrics["loss"], step)
            pixels = np.asarray(image, np.float32)[None] / 255.0
            summaries.images("eval/confusion_matrix", pixels, step)
        self._summaries.flush()
        return paths


def _csv(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def summary_numbers(metrics: Mapping[str, Any]) -> str:
    """One log line: step, accuracy, recall@5, loss."""
    return (
        f"step {metrics['global_step']}: accuracy {metrics['accuracy']:.4f}, "
        f"recall@5 {metrics['recall_5']:.4f}, loss {metrics['loss']:.4f} "
        f"({metrics['num_examples']} examples, {metrics['eval_seconds']:.1f} s)"
    )


__all__ = [
    "EvalWriter",
    "Evaluator",
    "build_model",
    "NetChoice",
    "evaluate",
    "eval_preprocess_fn",
    "format_report",
    "json_metrics",
    "load_model",
    "read_labels_file",
    "render_confusion_matrix",
    "resolve_net",
    "restore_model",
    "watch",
]
