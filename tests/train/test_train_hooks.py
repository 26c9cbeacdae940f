"""The training hooks' outputs, driven without a training loop: TensorBoard's ``train/``
scalars and train_log.csv rows."""

import csv

import pytest

from slimcls.core.compat import tf
from slimcls.train import hooks, summaries
from slimcls.train.losses import TRUE_LABEL_LOSS


def _scalars(logdir):
    """``{tag: [(step, value), ...]}`` of the event files in ``logdir``."""
    out = {}
    for path in sorted(tf.io.gfile.glob(str(logdir / "events.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                scalar = float(tf.make_ndarray(value.tensor))
                out.setdefault(value.tag, []).append((event.step, pytest.approx(scalar)))
    return out


def _values(cross_entropy, regularization, **more):
    return {
        "cross_entropy": cross_entropy,
        "regularization": regularization,
        "total_loss": cross_entropy + regularization,
        "accuracy": 0.5,
        "learning_rate": 0.1,
        **more,
    }


def _drive(hook, steps):
    run = hooks.Run(config=None, state=None, save_dir="")
    hook.begin(run)
    for step, values in steps:
        run.step, run.values = step, values
        hook.after_step(run)
    hook.end(run)
    return run


def test_train_loss_curve_is_cross_entropy_and_total_loss_is_counted_once(tmp_path):
    writer = summaries.SummaryWriter(str(tmp_path))
    # Written at the first step, then at the end (the mean of steps 2 and 3).
    _drive(
        hooks.SummaryHook(writer, every_secs=0),
        [(1, _values(0.5, 0.04)), (2, _values(0.3, 0.04)), (3, _values(0.1, 0.02))],
    )
    scalars = _scalars(tmp_path)
    # The same quantity as validation's `loss`: cross-entropy, without weight decay.
    assert scalars["loss"] == [(1, 0.5), (3, 0.2)]
    assert scalars["losses/cross_entropy"] == [(1, 0.5), (3, 0.2)]
    assert scalars["losses/regularization"] == [(1, 0.04), (3, 0.03)]
    assert scalars["losses/total_loss"] == [(1, 0.54), (3, 0.23)]  # once, not twice
    assert scalars["accuracy"] == [(1, 0.5), (3, 0.5)]


def test_with_label_smoothing_the_loss_curve_is_against_the_true_labels(tmp_path):
    writer = summaries.SummaryWriter(str(tmp_path))
    _drive(
        hooks.SummaryHook(writer, every_secs=0),
        [(1, _values(0.9, 0.0, **{TRUE_LABEL_LOSS: 0.25}))],
    )
    scalars = _scalars(tmp_path)
    assert scalars["loss"] == [(1, 0.25)]
    assert scalars["losses/cross_entropy"] == [(1, 0.9)]  # the smoothed term optimised


def test_csv_loss_column_matches_the_curves_and_a_resume_keeps_old_columns(tmp_path):
    path = tmp_path / "train_log.csv"
    _drive(hooks.CsvLogHook(str(path), every_n_steps=1), [(1, _values(0.5, 0.04))])
    with open(path) as f:
        row = next(csv.DictReader(f))
    assert float(row["loss"]) == pytest.approx(0.5)
    assert float(row["total_loss"]) == pytest.approx(0.54)
    # A file of an earlier version (no total_loss column): rows keep its columns.
    old = "step,epoch,split,loss,accuracy\n1,0.1,train,0.7,0.25\n"
    path.write_text(old)
    _drive(hooks.CsvLogHook(str(path), every_n_steps=1), [(2, _values(0.5, 0.04))])
    lines = path.read_text().splitlines()
    assert lines[:2] == old.splitlines() and lines[2].split(",")[2:] == ["train", "0.5", "0.5"]
