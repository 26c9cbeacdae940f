"""make_image_classifier: a folder of class sub-folders in, a deployable classifier out.

One call composes the library's steps, as TF Hub's ``make_image_classifier`` does in one
command, on TF-Slim's nets and published weights:

1. convert the folder (``slimcls.datasets`` folder converter; a converted dataset is used
   as it is);
2. train a new classifier on the frozen pretrained body (TF Hub's default), on features
   computed once per image (:mod:`slimcls.train.feature_cache`);
3. with ``do_fine_tuning``, train all layers at a lower rate (:func:`slimcls.train.train`,
   TF-Slim's second phase, batch-norm decay fit to the run's length);
4. evaluate on the held-out split (:mod:`slimcls.inference.evaluate`: metrics.json, per-class
   report, confusion matrix);
5. export a SavedModel, a TF Lite model (:mod:`slimcls.inference.export`) and the labels;
6. write ``summary.json``.

Everything goes under ``output_dir``, which holds a marker file recording what each
stage was run with: a second run resumes (finished stages are skipped, fine-tuning
continues from its last checkpoint) or says the job is done; another tool's directory is
refused. :mod:`slimcls.workflow.stages` holds the stages themselves (the
head stage in :mod:`slimcls.workflow.head`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from slimcls.config import MakeClassifierConfig
from slimcls.core.errors import SlimclsError

log = logging.getLogger("slimcls.make_image_classifier")

PROG = "make_image_classifier"
#: The marker that makes an output directory ours: JSON with each stage's settings.
MARKER = ".slimcls-make_image_classifier"
SUMMARY_FILE = "summary.json"
FORMAT_VERSION = 1

#: Settings each stage's output depends on; a second run with other values of these is
#: refused for a stage that has started (its output would not match the flags).
STAGE_SETTINGS = {
    "data": ("image_dir", "validation_fraction", "random_seed"),
    "head": (
        "model_name",
        "checkpoint_path",
        "image_size",
        "train_epochs",
        "batch_size",
        "learning_rate",
        "momentum",
        "dropout_rate",
        "label_smoothing",
        "weight_decay",
        "mixed_precision",
        "random_seed",
    ),
    "fine_tune": (
        "do_fine_tuning",
        "fine_tuning_epochs",
        "fine_tuning_learning_rate",
        "batch_norm_decay",
    ),
}


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where each output goes (the flags' paths, or their defaults in ``output_dir``)."""

    output_dir: str
    data_dir: str
    head_dir: str
    fine_tune_dir: str
    eval_dir: str
    saved_model_dir: str
    tflite_file: str
    labels_file: str
    summaries_dir: str
    summary_file: str
    marker: str

    @classmethod
    def of(cls, config: MakeClassifierConfig) -> Layout:
        out = os.path.abspath(os.path.expanduser(config.output_dir))

        def given(path: str | None, default: str) -> str:
            return os.path.abspath(os.path.expanduser(path)) if path else os.path.join(out, default)

        head = os.path.join(out, "head")
        return cls(
            output_dir=out,
            data_dir=os.path.join(out, "data"),
            head_dir=head,
            fine_tune_dir=os.path.join(out, "fine_tune"),
            eval_dir=os.path.join(out, "eval"),
            saved_model_dir=given(config.saved_model_dir, "saved_model"),
            tflite_file=given(config.tflite_output_file, "model.tflite"),
            labels_file=given(config.labels_output_file, "labels.txt"),
            summaries_dir=given(config.summaries_dir, "head"),
            summary_file=os.path.join(out, SUMMARY_FILE),
            marker=os.path.join(out, MARKER),
        )

    def external(self) -> dict[str, str]:
        """Flag -> path of the outputs given outside ``output_dir``."""
        paths = {
            "saved_model_dir": self.saved_model_dir,
            "tflite_output_file": self.tflite_file,
            "labels_output_file": self.labels_file,
            "summaries_dir": self.summaries_dir,
        }
        return {k: p for k, p in paths.items() if not _inside(p, self.output_dir)}


def _inside(path: str, directory: str) -> bool:
    path, directory = os.path.realpath(path), os.path.realpath(directory)
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def remove_ours(path: str, output_dir: str) -> None:
    """Removes a stale output of ours (only ever inside the marked ``output_dir``)."""
    if not _inside(path, output_dir) or path == output_dir:
        raise AssertionError(f"refusing to remove {path}: not inside {output_dir}")
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def check_config(config: MakeClassifierConfig) -> None:
    """Checks the paths before anything is read or written (the config checked its
    values when it was built).

    Raises:
      SlimclsError: one line naming the bad value and what was expected.
    """
    if not config.image_dir:
        raise SlimclsError("--image_dir is required: a folder with one sub-folder per class")
    if not config.output_dir:
        raise SlimclsError("--output_dir is required: where the classifier and report go")
    image_dir = os.path.expanduser(config.image_dir)
    if not os.path.isdir(image_dir):
        what = "does not exist" if not os.path.exists(image_dir) else "is not a directory"
        raise SlimclsError(
            f"--image_dir={config.image_dir!r} {what}; expected a folder with one sub-folder "
            "of images per class"
        )
    layout = Layout.of(config)
    if _inside(layout.output_dir, image_dir):
        raise SlimclsError(
            f"--output_dir={config.output_dir!r} is inside --image_dir={config.image_dir!r}; "
            "expected a directory outside it (its files would be read as images)"
        )
    for flag, path in layout.external().items():
        if _inside(image_dir, path):
            raise SlimclsError(
                f"--{flag}={path!r} holds --image_dir; expected a path outside the images"
            )


# --------------------------------------------------------------------------- output dir


class OutputDir:
    """``output_dir`` and its marker: which stages ran with which settings.

    Never touches a directory it did not create or mark: a non-empty directory without
    the marker is refused, as is an output path given outside ``output_dir`` that exists
    and was not written by an earlier run of this job.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.state: dict[str, Any] = {"stages": {}, "written": []}
        self.created = False

    def check(self) -> None:
        """Refuses a foreign output directory or output path (nothing is written yet)."""
        out = self.layout.output_dir
        if os.path.exists(out):
            if not os.path.isdir(out):
                raise SlimclsError(f"--output_dir={out!r} is a file; expected a directory")
            if os.path.exists(self.layout.marker):
                self.state = self._read()
            elif os.listdir(out):
                raise SlimclsError(
                    f"--output_dir={out!r} is not empty and holds no earlier output of "
                    f"{PROG} (no {MARKER}); expected a new or empty directory"
                )
        from slimcls import cli

        cli.check_output_dir("output_dir", out)
        written = set(self.state.get("written", []))
        for flag, path in self.layout.external().items():
            if not os.path.exists(path) or path in written:
                continue
            if flag == "summaries_dir" and os.path.isdir(path) and not os.listdir(path):
                continue
            raise SlimclsError(
                f"--{flag}={path!r} already exists and was not written by this job; "
                "expected a new path (make_image_classifier never replaces files it did "
                "not write)"
            )

    def _read(self) -> dict[str, Any]:
        try:
            with open(self.layout.marker, encoding="utf-8") as f:
                state = json.load(f)
            if not isinstance(state, dict) or state.get("command") != PROG:
                raise ValueError("not this command's")
        except (OSError, ValueError) as e:
            raise SlimclsError(
                f"{self.layout.marker} is unreadable ({e}); expected {PROG}'s JSON marker "
                "(use a new --output_dir)"
            ) from None
        state.setdefault("stages", {})
        state.setdefault("written", [])
        return state

    def claim(self) -> None:
        """Creates ``output_dir`` (if new) and its marker."""
        out = self.layout.output_dir
        self.created = not os.path.exists(out)
        os.makedirs(out, exist_ok=True)
        if not os.path.exists(self.layout.marker):
            self.save()

    def save(self) -> None:
        from slimcls.core.fileio import write_text_atomic

        self.state.update(command=PROG, format_version=FORMAT_VERSION)
        write_text_atomic(self.layout.marker, json.dumps(self.state, indent=1) + "\n")

    def release_if_unused(self) -> None:
        """After a failed start: removes the directory this run created when it holds
        nothing but the marker and empty folders (so a bad input leaves nothing behind)."""
        out = self.layout.output_dir
        if not self.created or not os.path.isdir(out):
            return
        entries = [e for e in os.listdir(out) if e != MARKER]
        if any(not os.path.isdir(os.path.join(out, e)) for e in entries):
            return
        for entry in entries:
            try:
                os.removedirs(os.path.join(out, entry))  # only empty folders
            except OSError:
                return
        if os.path.exists(self.layout.marker):
            os.remove(self.layout.marker)
        os.rmdir(out)

    # ------------------------------------------------------------------ stages

    def check_stage(self, name: str, settings: Mapping[str, Any]) -> None:
        """Refuses settings that differ from those a started stage ran with."""
        recorded = self.state["stages"].get(name)
        if not recorded:
            return
        before = recorded.get("settings", {})
        for key, value in settings.items():
            if key in before and before[key] != value:
                raise SlimclsError(
                    f"--output_dir={self.layout.output_dir!r} holds a run made with "
                    f"--{key}={_flag_text(before[key])}, not {_flag_text(value)}; pass the "
                    "same flags to resume it, or use a new --output_dir"
                )

    def begin(self, name: str, settings: Mapping[str, Any]) -> None:
        self.state["stages"][name] = {"settings": dict(settings), "done": False}
        self.save()

    def done(self, name: str, result: Mapping[str, Any]) -> None:
        self.state["stages"].setdefault(name, {}).update(done=True, result=dict(result))
        self.save()

    def result(self, name: str) -> dict[str, Any] | None:
        """What a finished stage recorded, or None."""
        recorded = self.state["stages"].get(name) or {}
        return recorded.get("result") if recorded.get("done") else None

    def will_write(self, path: str) -> None:
        """Records an output outside ``output_dir`` before writing it (so a later run may
        replace it)."""
        if not _inside(path, self.layout.output_dir) and path not in self.state["written"]:
            self.state["written"].append(path)
            self.save()


def _flag_text(value: Any) -> str:
    if value is None:
        return "None (unset)"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def stage_settings(config: MakeClassifierConfig, stage: str) -> dict[str, Any]:
    """The values of ``STAGE_SETTINGS[stage]`` (``image_dir`` as an absolute path)."""
    values = {k: getattr(config, k) for k in STAGE_SETTINGS[stage]}
    if "image_dir" in values:
        values["image_dir"] = os.path.abspath(os.path.expanduser(values["image_dir"]))
    return values


# --------------------------------------------------------------------------- the job


def preflight(config: MakeClassifierConfig) -> tuple[Layout, OutputDir]:
    """Every check that needs no TensorFlow: the values, the output directory and paths,
    and the settings of an earlier run into it. Writes nothing.

    Raises:
      SlimclsError: one line naming the bad value.
    """
    check_config(config)
    layout = Layout.of(config)
    output = OutputDir(layout)
    output.check()
    for stage in STAGE_SETTINGS:
        output.check_stage(stage, stage_settings(config, stage))
    return layout, output


def make_image_classifier(
    config: MakeClassifierConfig,
    *,
    stream=None,
    out=None,
    argv: Sequence[str] = (),
) -> dict[str, Any]:
    """Runs the whole job; returns the summary (also written to ``summary.json``).

    Args:
      config: the command's settings.
      stream: where progress goes (default stderr).
      out: where the report and summary are printed (default stdout).
      argv: the command line, recorded with the training runs.

    Raises:
      SlimclsError: bad input, a foreign output directory, settings that contradict an
        earlier run into the same directory, or a failed stage (one line each).
    """
    from slimcls.workflow import stages

    started = time.perf_counter()
    out_stream = out if out is not None else sys.stdout
    layout, output = preflight(config)
    previous = _finished_summary(layout, output, config)
    if previous is not None:
        print(
            f"{PROG}: {layout.output_dir} already holds the finished classifier (validation "
            f"accuracy {100 * previous['evaluation']['accuracy']:.2f}%); nothing to do (use a "
            "new --output_dir to make another)",
            file=out_stream,
            flush=True,
        )
        print(format_summary(previous), file=out_stream, flush=True)
        return previous
    job = stages.Job(config, layout, output, stream=stream, argv=argv)
    try:
        summary = job.run()
    except BaseException:
        job.progress.close()
        output.release_if_unused()
        raise
    summary["seconds"] = round(time.perf_counter() - started, 1)
    write_summary(layout, summary)
    output.done("summary", {"file": layout.summary_file})
    print(job.report, file=out_stream, flush=True)
    print(format_summary(summary), file=out_stream, flush=True)
    return summary


def _finished_summary(
    layout: Layout, output: OutputDir, config: MakeClassifierConfig
) -> dict[str, Any] | None:
    """The earlier summary when the job is complete with these settings and its files
    are all there; else None."""
    if output.result("summary") is None or not os.path.exists(layout.summary_file):
        return None
    try:
        with open(layout.summary_file, encoding="utf-8") as f:
            summary = json.load(f)
    except (OSError, ValueError):
        return None
    if bool(summary.get("fine_tuning")) != config.do_fine_tuning:
        return None
    files = summary.get("files", {})
    paths = [layout.saved_model_dir, layout.tflite_file, layout.labels_file]
    if [files.get(k, {}).get("path") for k in ("saved_model", "tflite", "labels")] != paths:
        return None
    if not all(os.path.exists(p) for p in paths):
        return None
    return summary


def write_summary(layout: Layout, summary: Mapping[str, Any]) -> None:
    from slimcls.core.fileio import write_text_atomic

    text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    write_text_atomic(layout.summary_file, text)


def _size(nbytes: int | None) -> str:
    if nbytes is None:
        return "?"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} B"


def format_summary(summary: Mapping[str, Any]) -> str:
    """The closing block printed by the command (from ``summary.json``'s contents)."""
    from slimcls.workflow.job_progress import format_duration

    ev, head, files = summary["evaluation"], summary["head"], summary["files"]
    lines = [
        f"\n==> {PROG}: {summary['model_name']} on {summary['num_classes']} classes, "
        f"done in {format_duration(summary.get('seconds'))}",
        f"  validation accuracy  {100 * ev['accuracy']:.2f}%  ({ev['num_examples']} examples "
        f"of split {ev['split']!r}; top-5 {100 * ev['recall_5']:.2f}%)",
    ]
    cache = head.get("feature_cache") or {}
    how = "on cached features" if cache.get("used") else "through the body"
    timing = ""
    if cache.get("used") and head.get("later_epoch_seconds") is not None:
        timing = (
            f"; first epoch {head['first_epoch_seconds']:.1f}s with the feature pass, later "
            f"ones {head['later_epoch_seconds']:.3f}s"
        )
    lines.append(
        f"  head training        {head['epochs']} epochs, {head['steps']} steps, "
        f"{format_duration(head['seconds'])}, {how}{timing}"
    )
    if not cache.get("used") and cache.get("reason"):
        lines.append(f"                       (feature cache not used: {cache['reason']})")
    ft = summary.get("fine_tuning")
    if ft:
        lines.append(
            f"  fine-tuning          all layers, {ft['steps']} steps, "
            f"{format_duration(ft['seconds'])}, learning rate {ft['learning_rate']:g}, "
            f"batch-norm decay {ft['batch_norm_decay']:g}"
        )
        if ft.get("batch_norm_warning"):
            lines.append(f"                       warning: {ft['batch_norm_warning']}")
    lines += [
        f"  evaluation report    {summary['eval_dir']}  (metrics.json, confusion matrix)",
        f"  SavedModel           {files['saved_model']['path']}  "
        f"({_size(files['saved_model']['bytes'])})",
        f"  TF Lite              {files['tflite']['path']}  ({_size(files['tflite']['bytes'])})",
        f"  labels               {files['labels']['path']}  ({summary['num_classes']} classes)",
        f"  dataset              {summary['dataset_dir']}",
        f"  checkpoint           {summary['checkpoint']}",
        f"  summary              {summary['summary_file']}",
    ]
    return "\n".join(lines)
