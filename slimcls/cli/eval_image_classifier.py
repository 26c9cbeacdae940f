"""eval_image_classifier: evaluates a checkpoint on every example of a split, once.

Usage:
  eval_image_classifier --checkpoint_path=/tmp/train --dataset_split_name=validation \\
      [--eval_dir=/tmp/eval] [--eval_top_k=1,3,5] [--eval_interval_secs=60]

Prints eval/Accuracy[...] and eval/Recall_5[...] as TF-Slim did, plus a per-class table,
and writes metrics.json, confusion_matrix.png/.csv and TensorBoard summaries to --eval_dir.
The model, its image size and the dataset default to the training run's (its flags.txt).
With --eval_interval_secs it evaluates each new checkpoint of a running training.
"""

from __future__ import annotations

import dataclasses
import logging
import os

from absl import flags

import slimcls  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from slimcls import cli
from slimcls.cli import flag_defs
from slimcls.config import EvalConfig, WatchConfig
from slimcls.core.errors import SlimclsError

FLAGS = flags.FLAGS
PROG = "eval_image_classifier"


def define_flags() -> list[flag_defs.FlagSpec]:
    """This command's flags: EvalConfig's and WatchConfig's."""
    return flag_defs.define_command_flags(EvalConfig, WatchConfig)


def config_from_flags() -> EvalConfig:
    """The library config of the parsed flags; the library completes it from the
    training run's flags.txt (``slimcls.model.run_spec``).

    Raises:
      SlimclsError: a required flag is missing.
    """
    return flag_defs.config_from_flags(EvalConfig)


def default_eval_dir(config: EvalConfig) -> str:
    """``eval_<split>`` beside the checkpoint, in the training run's directory (not a
    directory shared by every run, such as TF-Slim's /tmp/tfmodel)."""
    from slimcls.model import run_info

    run_dir = run_info.run_dir(config.checkpoint_path)
    return os.path.join(run_dir, f"eval_{config.dataset_split_name}")


def _with_eval_dir(config: EvalConfig) -> tuple[EvalConfig, bool]:
    """The config with its output directory, checked; and whether that is the default."""
    if config.eval_dir:
        cli.check_output_dir("eval_dir", config.eval_dir)
        return config, False
    eval_dir = default_eval_dir(config)
    try:
        cli.check_output_dir("eval_dir", eval_dir)
    except SlimclsError as e:
        raise SlimclsError(
            f"{e} (the default --eval_dir, beside the checkpoint; pass --eval_dir)"
        ) from None
    return dataclasses.replace(config, eval_dir=eval_dir), True


def _main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise SlimclsError(f"unexpected arguments {argv[1:]}; all options are --flags")
    config = config_from_flags()
    watch = flag_defs.config_from_flags(WatchConfig)
    logging.getLogger("slimcls").setLevel(logging.INFO)  # progress on long splits
    config, default = _with_eval_dir(config)
    eval_dir = config.eval_dir.rstrip("/")
    from slimcls.core import signals
    from slimcls.inference import eval_report
    from slimcls.inference import evaluate as ev

    done = []

    def report(metrics):
        done.append(metrics["checkpoint"])
        print(eval_report.format_report(metrics), flush=True)
        note = " (the default --eval_dir, beside the checkpoint)" if default else ""
        print(f"wrote {eval_dir}/metrics.json{note}", flush=True)

    try:
        with signals.sigterm_raises():
            if watch.eval_interval_secs is None:
                report(ev.evaluate(config))
                return 0
            results = ev.watch(
                config, watch.eval_interval_secs, timeout_secs=watch.timeout, on_result=report
            )
    except signals.Terminated:
        raise signals.Terminated(
            f"stopped by SIGTERM after evaluating {len(done)} checkpoint(s) (results in "
            f"{eval_dir}); nothing was written for the one in progress"
        ) from None
    print(f"watch mode: evaluated {len(results)} checkpoint(s)", flush=True)
    return 0


def main() -> None:
    """Console-script entry point."""
    cli.run(_main, PROG, define_flags, __doc__, quiet_tf_info=True)  # tf-slim INFO chatter


if __name__ == "__main__":
    main()
