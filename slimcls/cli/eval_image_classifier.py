"""eval_image_classifier: TF-Slim's eval command on slimcls' exact evaluation.

Evaluates a checkpoint (or, with ``--eval_interval_secs``, each new checkpoint of a
running training) on every example of a split once; prints ``eval/Accuracy[...]`` and
``eval/Recall_5[...]`` as TF-Slim did plus a per-class table, and writes
``<eval_dir>/metrics.json``, ``confusion_matrix.png``/``.csv`` and TensorBoard summaries.

Example::

    eval_image_classifier --checkpoint_path=/tmp/train --dataset_dir=/tmp/digits \\
        --dataset_split_name=validation --model_name=cifarnet --eval_dir=/tmp/eval
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
