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
from PIL import Image, ImageDraw, ImageFont

from slimcls.train import summaries
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
    confusion = metrics.get("confusion_matrix")
    if confusion is not None and len(confusion) > MAX_CLASSES_IN_PICTURE:
        names = [r["name"] for r in metrics["per_class"]]
        pairs = most_confused_pairs(confusion, names, top=10)
        if pairs:
            lines.append("most confused pairs (true -> predicted):")
            for pair in pairs:
                lines.append(
                    f"  {pair['true']:>5} {pair['true_name']} -> {pair['predicted']:>5} "
                    f"{pair['predicted_name']}: {pair['count']} ({100 * pair['rate']:.1f}%)"
                )
    return "\n".join(lines)


#: Up to this many classes the confusion matrix is drawn; above, a table of the most
#: confused pairs replaces the picture (a 3755-class matrix is 1 pixel per cell).
MAX_CLASSES_IN_PICTURE = 50
#: Up to this many classes every cell shows its number.
MAX_CLASSES_WITH_NUMBERS = 30
#: Fonts tried for labels, CJK-capable first (found under the system's font folders).
_FONTS = (
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJKsc-Regular.otf",
    "wqy-microhei.ttc",
    "wqy-zenhei.ttc",
    "DejaVuSans.ttf",
)


def _font(size: int):
    """The first installed font of :data:`_FONTS`, else Pillow's built-in one."""
    for name in _FONTS:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _can_draw(font, text: str) -> bool:
    """True when ``font`` has a glyph for every character (no tofu boxes)."""
    try:
        missing = font.getmask("\uffff").getbbox()  # what an absent glyph looks like
        return all(font.getmask(c).getbbox() != missing or c.isspace() for c in text)
    except Exception:  # noqa: BLE001  (bitmap fonts: Latin-1 only)
        try:
            text.encode("latin-1")
            return True
        except UnicodeEncodeError:
            return False


def _colours(rates: np.ndarray) -> np.ndarray:
    """White (0) to dark blue (1), RGB uint8."""
    r = 255 - rates * (255 - 8)
    g = 255 - rates * (255 - 48)
    b = 255 - rates * (255 - 107)
    return np.stack([r, g, b], -1).astype(np.uint8)


def render_confusion_matrix(
    confusion: np.ndarray, names: Sequence[str] | None = None, normalized: bool = False
):
    """Draws the confusion matrix (rows: true, columns: predicted) as a PIL image.

    Cells are coloured by the row-normalised rate, with a colour scale; up to
    :data:`MAX_CLASSES_WITH_NUMBERS` classes each cell shows its count (or, with
    ``normalized``, its percentage of the true class). Rows are labelled ``id name``
    when the installed fonts can draw the name (CJK needs a CJK font; otherwise the id
    alone, the names are in ``confusion_matrix.csv``).

    Returns:
      The image, or None above :data:`MAX_CLASSES_IN_PICTURE` classes (see
      :func:`most_confused_pairs`).
    """
    confusion = np.asarray(confusion, np.int64)
    n = len(confusion)
    if n > MAX_CLASSES_IN_PICTURE:
        return None
    rates = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    font, small = _font(12), _font(10)
    names = [str(x) for x in names] if names is not None else [""] * n
    labels = [
        f"{i} {name}"[:24] if name and name != str(i) and _can_draw(font, name) else str(i)
        for i, name in enumerate(names)
    ]
    cell = 30 if n <= MAX_CLASSES_WITH_NUMBERS else max(12, 600 // n)
    left = 12 + max(int(font.getlength(label)) for label in labels)
    top, bar_width = 56, 14
    title = "true class (rows) vs predicted class (columns)"
    title += ", % of each true class" if normalized else ", counts"
    width = max(left + cell * n + 24 + bar_width + 44, 12 + int(font.getlength(title)))
    height = top + cell * n + 40
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((6, 6), title, fill="black", font=font)
    grid = np.kron(_colours(rates), np.ones((cell, cell, 1), np.uint8))
    image.paste(Image.fromarray(grid, "RGB"), (left, top))
    for i, label in enumerate(labels):
        y = top + i * cell + (cell - 12) // 2
        draw.text((6, y), label, fill="black", font=font)
        if n <= MAX_CLASSES_WITH_NUMBERS or i % 5 == 0:
            draw.text((left + i * cell + 2, top - 16), str(i), fill="black", font=small)
    if n <= MAX_CLASSES_WITH_NUMBERS:
        for i in range(n):
            for j in range(n):
                if confusion[i, j]:
                    text = f"{100 * rates[i, j]:.0f}" if normalized else str(confusion[i, j])
                    colour = "white" if rates[i, j] > 0.5 else "black"
                    x = left + j * cell + (cell - font.getlength(text[:4])) / 2
                    draw.text((x, top + i * cell + 8), text[:4], fill=colour, font=font)
    draw.rectangle([left - 1, top - 1, left + cell * n, top + cell * n], outline="gray")
    # Colour scale: the row-normalised rate, 0% to 100%.
    x0, bar_height = width - 44 - bar_width, cell * n
    ramp = _colours(np.linspace(1.0, 0.0, bar_height)[:, None].repeat(bar_width, 1))
    image.paste(Image.fromarray(ramp, "RGB"), (x0, top))
    draw.rectangle([x0 - 1, top - 1, x0 + bar_width, top + bar_height], outline="gray")
    for frac in (0.0, 0.5, 1.0):
        y = top + (1.0 - frac) * (bar_height - 1)
        draw.text((x0 + bar_width + 4, y - 6), f"{100 * frac:.0f}%", fill="black", font=small)
    return image


def most_confused_pairs(
    confusion: np.ndarray, names: Sequence[str], top: int = 20
) -> list[dict[str, Any]]:
    """The off-diagonal cells with the most examples, largest first.

    Each pair: ``true``, ``predicted`` (class ids), their names, ``count`` and ``rate``
    (share of the true class's examples predicted as ``predicted``).
    """
    confusion = np.asarray(confusion, np.int64)
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(-off, axis=None, kind="stable")[:top]
    support = confusion.sum(axis=1)
    pairs = []
    for index in flat:
        i, j = np.unravel_index(index, off.shape)
        if off[i, j] == 0:
            break
        pairs.append(
            {
                "true": int(i),
                "true_name": str(names[i]),
                "predicted": int(j),
                "predicted_name": str(names[j]),
                "count": int(off[i, j]),
                "rate": float(off[i, j] / max(support[i], 1)),
            }
        )
    return pairs


class EvalWriter:
    """Writes metrics.json, a history line, the confusion matrix and summaries.

    The matrix is always written as CSV, with ``most_confused_pairs.csv``; up to
    :data:`MAX_CLASSES_IN_PICTURE` classes also as ``confusion_matrix.png`` (counts) and
    ``confusion_matrix_normalized.png`` (% of each true class).
    """

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
        header = "true\\predicted," + ",".join(_csv(n) for n in names)
        rows = [header] + [
            _csv(names[i]) + "," + ",".join(str(int(c)) for c in row)
            for i, row in enumerate(confusion)
        ]
        write_text_atomic(paths["confusion_csv"], "\n".join(rows) + "\n")
        pairs = most_confused_pairs(confusion, names, top=100)
        paths["confused_pairs"] = os.path.join(d, "most_confused_pairs.csv")
        lines = ["true,true_name,predicted,predicted_name,count,rate"] + [
            f"{p['true']},{_csv(p['true_name'])},{p['predicted']},"
            f"{_csv(p['predicted_name'])},{p['count']},{p['rate']:.4f}"
            for p in pairs
        ]
        write_text_atomic(paths["confused_pairs"], "\n".join(lines) + "\n")
        image = render_confusion_matrix(confusion, names)
        if image is None:  # too many classes to draw: the pairs table is the view
            del paths["confusion_png"]
        else:
            paths["confusion_normalized_png"] = os.path.join(d, "confusion_matrix_normalized.png")
            for key, picture in (
                ("confusion_png", image),
                ("confusion_normalized_png", render_confusion_matrix(confusion, names, True)),
            ):
                with tf.io.gfile.GFile(paths[key], "wb") as f:
                    picture.save(f, format="PNG")
        step = int(metrics.get("global_step") or 0)
        with self._summaries.as_default():
            summaries.scalar("eval/Accuracy", metrics["accuracy"], step)
            summaries.scalar("eval/Recall_5", metrics["recall_5"], step)
            summaries.scalar("eval/Loss", metrics["loss"], step)
            if image is not None:
                pixels = np.asarray(image, np.float32)[None] / 255.0
                summaries.images("eval/confusion_matrix", pixels, step)
        self._summaries.flush()
        return paths


def _csv(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text
