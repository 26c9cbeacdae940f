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
    metrics = hooks.StepMetrics(0)
    for step, values in steps:
        metrics = hooks.StepMetrics(step, values=values)
        hook.after_step(run, metrics)
    hook.end(run, metrics, None)
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


def test_the_csv_speed_is_the_step_records_whatever_hooks_run(tmp_path):
    """The loop measures the speed; train_log.csv needs no progress hook before it."""
    path = tmp_path / "train_log.csv"
    hook = hooks.CsvLogHook(str(path), every_n_steps=1)
    run = hooks.Run(config=None, state=None, save_dir="")
    hook.begin(run)
    hook.after_step(run, hooks.StepMetrics(1, 0.25, _values(0.5, 0.04), examples_per_sec=123.5))
    with open(path) as f:
        row = next(csv.DictReader(f))
    assert float(row["examples_per_sec"]) == 123.5 and float(row["epoch"]) == 0.25


def test_validation_asks_to_stop_by_returning_a_stop_reason(tmp_path):
    from slimcls.train import validation

    hook = validation.ValidationHook(
        lambda: (0.5, 1.0, 16), 1, "validation", summaries.SummaryWriter(str(tmp_path)), patience=2
    )
    run = hooks.Run(config=None, state=None, save_dir="")
    hook.begin(run)
    asked = [hook.after_step(run, hooks.StepMetrics(step)) for step in (1, 2, 3, 4)]
    stop = hooks.StopReason("early_stopping", "--early_stopping_patience=2")
    assert asked == [None, None, stop, stop]  # no better accuracy after step 1
    hook.end(run, hooks.StepMetrics(4), stop)
    assert hook.result() == {
        "validation_accuracy": 0.5,
        "best_checkpoint": None,
        "best_validation_accuracy": 0.5,
    }


def test_a_signal_outranks_a_planned_stop_asked_at_the_same_step():
    from slimcls.train import loop

    early, sigterm = hooks.StopReason("early_stopping"), hooks.StopReason("SIGTERM")
    assert loop._first_stop([None, early, None, sigterm]) == sigterm
    assert loop._first_stop([early, None]) == early and loop._first_stop([None]) is None


def test_workers_stop_together_at_the_agreement_step(monkeypatch):
    """A stop asked on one worker waits for the next agreement step; a worker that was
    not asked stops there too, as peer_stopped."""
    from slimcls.train import distribute

    flags_seen = []

    def agree(strategy, flags, anyone_stops=True):
        flags_seen.append(flags)
        return [anyone_stops]

    monkeypatch.setattr(distribute, "agree", agree)
    stop = distribute.AgreedStop(strategy=None, every_n_steps=5)
    early = hooks.StopReason("early_stopping")
    assert stop(early, 3) is None and flags_seen == []  # not an agreement step
    assert stop(early, 5) == early and flags_seen == [[True]]
    assert stop(None, 10) == hooks.StopReason("peer_stopped") and flags_seen[-1] == [False]
    monkeypatch.setattr(distribute, "agree", lambda s, flags: [False])
    assert stop(None, 15) is None
