"""The confusion matrix at real class counts: picture up to 50 classes, pairs table above."""

import numpy as np
from PIL import Image

from slimcls.inference import eval_report


def _confusion(n, seed=0):
    rng = np.random.default_rng(seed)
    confusion = np.diag(rng.integers(5, 20, n))
    confusion[1, 0] = 7  # the most confused pair
    confusion[2, 3] = 4
    return confusion


def test_picture_has_a_colour_scale_and_labels_up_to_50_classes():
    confusion = _confusion(40)
    names = [f"class{i}" for i in range(40)]
    image = eval_report.render_confusion_matrix(confusion, names)
    assert image is not None and image.mode == "RGB"
    pixels = np.asarray(image)
    # The scale bar sits right of the grid: dark blue at the top (100%), white at 0%.
    column = pixels[:, -51].astype(int)  # the middle of the 14-pixel bar
    shaded = np.where(column.sum(axis=1) < 3 * 250)[0]
    assert len(shaded) > 300, "no colour scale found"
    top, bottom = column[shaded[2]], column[shaded[-1]]
    assert top.sum() < 300 < bottom.sum()  # dark blue above, near white below
    # Row labels with names need room: the grid starts further right than with ids only.
    ids_only = eval_report.render_confusion_matrix(confusion)
    assert image.size[0] > ids_only.size[0]


def test_normalized_view_differs_from_counts():
    confusion = np.array([[30, 10], [0, 5]])
    counts = np.asarray(eval_report.render_confusion_matrix(confusion, ["a", "b"]))
    rates = np.asarray(eval_report.render_confusion_matrix(confusion, ["a", "b"], normalized=True))
    grid = (slice(60, 110), slice(40, 100))  # the 2x2 cells, below the title
    assert not np.array_equal(counts[grid], rates[grid])


def test_names_the_font_cannot_draw_fall_back_to_ids():
    font = eval_report._font(12)
    assert eval_report._can_draw(font, "cat")
    image = eval_report.render_confusion_matrix(np.eye(2, dtype=int), ["字", "cat"])
    assert isinstance(image, Image.Image)


def test_above_50_classes_a_pairs_table_replaces_the_picture(tmp_path):
    n = 300
    confusion = _confusion(n)
    names = [f"字{i}" for i in range(n)]
    assert eval_report.render_confusion_matrix(confusion, names) is None
    pairs = eval_report.most_confused_pairs(confusion, names, top=5)
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [(1, 0, 7), (2, 3, 4)]
    assert pairs[0]["true_name"] == "字1" and 0 < pairs[0]["rate"] < 1
    support = confusion.sum(axis=1)
    metrics = {
        "accuracy": 0.9,
        "recall_5": 1.0,
        "loss": 0.1,
        "num_examples": int(support.sum()),
        "split_name": "test",
        "checkpoint": "ckpt",
        "global_step": 1,
        "confusion_matrix": confusion,
        "per_class": [
            {
                "id": i,
                "name": names[i],
                "num_examples": int(support[i]),
                "correct": int(confusion[i, i]),
                "accuracy": float(confusion[i, i] / support[i]),
            }
            for i in range(n)
        ],
    }
    report = eval_report.format_report(metrics)
    assert "most confused pairs" in report and "字1 ->     0 字0: 7" in report
    paths = eval_report.EvalWriter(str(tmp_path)).write(metrics)
    assert "confusion_png" not in paths
    assert not (tmp_path / "confusion_matrix.png").exists()
    rows = (tmp_path / "most_confused_pairs.csv").read_text(encoding="utf-8").splitlines()
    assert rows[1].startswith("1,字1,0,字0,7,")


def test_eval_progress_logs_on_long_splits_only(caplog):
    import logging

    from slimcls.inference.evaluate import EvalProgress

    caplog.set_level(logging.INFO, logger="slimcls")
    now = [0.0]
    progress = EvalProgress(1000, "evaluating ckpt", every_secs=10, clock=lambda: now[0])
    for _ in range(10):
        now[0] += 3.0
        progress.update(100)
    progress.close()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "evaluating ckpt: 400/1000 examples (40%), 33 examples/sec, ETA 18s"
    assert lines[-1] == "evaluating ckpt: 1000 examples in 30.0s"
    caplog.clear()
    quick = EvalProgress(10, "quick", every_secs=10, clock=lambda: 0.0)
    quick.update(10)
    quick.close()
    assert caplog.records == []
