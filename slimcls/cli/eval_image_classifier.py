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

import logging

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
    """The library config of the parsed flags, completed from the training run's flags.txt.

    Raises:
      SlimclsError: a given flag contradicts the run, or a required one is missing.
    """
    from_run = cli.settings_from_run(FLAGS.checkpoint_path, cli.FROM_RUN)
    return flag_defs.config_from_flags(EvalConfig, overrides=from_run)


def _main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise SlimclsError(f"unexpected arguments {argv[1:]}; all options are --flags")
    config = config_from_flags()
    watch = flag_defs.config_from_flags(WatchConfig)
    logging.getLogger("slimcls").setLevel(logging.INFO)  # progress on long splits
    cli.check_output_dir("eval_dir", config.eval_dir)
    from slimcls.inference import eval_report
    from slimcls.inference import evaluate as ev

    def report(metrics):
        print(eval_report.format_report(metrics), flush=True)
        if config.eval_dir:
            print(f"wrote {config.eval_dir.rstrip('/')}/metrics.json", flush=True)

    if watch.eval_interval_secs is None:
        report(ev.evaluate(config))
        return 0
    results = ev.watch(
        config, watch.eval_interval_secs, timeout_secs=watch.timeout, on_result=report
    )
    print(f"watch mode: evaluated {len(results)} checkpoint(s)", flush=True)
    return 0


def main() -> None:
    """Console-script entry point."""
    cli.run(_main, PROG, define_flags, __doc__, quiet_tf_info=True)  # tf-slim INFO chatter


if __name__ == "__main__":
    main()
