"""Evaluation outputs: TF-Slim's report lines, metrics.json, the confusion matrix.

:func:`format_report` prints what TF-Slim printed plus a per-class table;
:class:`EvalWriter` writes ``metrics.json``, a ``metrics_history.jsonl`` line, the
confusion matrix as PNG and CSV, and TensorBoard summaries.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from slimcls import summaries
from slimcls.core.compat import tf
from slimcls.core.fileio import write_text_atomic

#: Above this many classes metrics.json leaves the confusion matrix out (see the CSV).
MAX_CLASSES_IN_JSON = 100


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
