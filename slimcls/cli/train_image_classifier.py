"""train_image_classifier: trains an image classifier (TF-Slim's command, on TensorFlow 2).

Usage:
  train_image_classifier --train_dir=/tmp/cifarnet --dataset_dir=/tmp/cifar10 \\
      --dataset_name=cifar10 --model_name=cifarnet --max_number_of_steps=1000

Reads a dataset converted by download_and_convert_data (or by TF-Slim), and writes
checkpoints, flags.txt, train_log.csv and TensorBoard summaries to --train_dir; run again,
it resumes from the latest checkpoint there. Flags are TF-Slim's (names, defaults,
meanings); those whose help starts with "Addition" are slimcls's own.
"""

from __future__ import annotations

import json
import logging
import sys

from absl import flags

import slimcls  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from slimcls import config
from slimcls.cli import flag_defs
from slimcls.core.errors import SlimclsError

FLAGS = flags.FLAGS
PROG = "train_image_classifier"


def define_flags() -> list[flag_defs.FlagSpec]:
    """This command's flags: TrainConfig's (nested optimizer and learning rate flattened)
    and TF-Slim's deployment flags."""
    return flag_defs.define_command_flags(config.TrainConfig, config.TfSlimDeploymentConfig)


def _check_deployment_flags() -> None:
    """TF-Slim's deployment flags: the config refuses the parameter-server ones and
    --quantize_delay (see ``TfSlimDeploymentConfig.validate``); --master is only ignored."""
    deployment = flag_defs.config_from_flags(config.TfSlimDeploymentConfig)
    if deployment.master:
        logging.warning("--master=%s is ignored (TF2 has no session target)", deployment.master)


def config_from_flags() -> config.TrainConfig:
    """The :class:`slimcls.config.TrainConfig` described by the parsed flags."""
    return flag_defs.config_from_flags(config.TrainConfig)


def _setup_logging() -> None:
    """INFO lines from slimcls' library loggers, in absl's format, on stderr."""
    logging.getLogger("slimcls").setLevel(logging.INFO)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise SlimclsError(f"unexpected arguments {argv[1:]}; all options are --flags")
    _setup_logging()
    _check_deployment_flags()
    train_config = config_from_flags()
    from slimcls import cli

    cli.check_output_dir("train_dir", train_config.train_dir)
    from slimcls import train
    from slimcls.model import run_info

    specs = flag_defs.flag_specs(config.TrainConfig)

    def record_run() -> None:  # once the run is known to start: failed starts leave no files
        lines = flag_defs.serialized(specs)
        path = run_info.record_run(train_config.train_dir, lines, sys.argv, PROG)
        logging.info("Run recorded in %s", path)

    result = train.train(train_config, on_start=record_run)
    summary = {
        "global_step": result.global_step,
        "checkpoint": result.checkpoint,
        **{k: round(v, 6) for k, v in result.losses.items()},
    }
    if result.validation_accuracy is not None:
        summary["validation_accuracy"] = result.validation_accuracy
    if result.best_checkpoint:
        summary["best_checkpoint"] = result.best_checkpoint
        summary["best_validation_accuracy"] = result.best_validation_accuracy
    if result.stop_reason == "early_stopping":
        summary["stopped"] = "early stopping (--early_stopping_patience)"
    logging.info("Finished: %s", json.dumps(summary))
    if result.interrupted_by:
        sys.stderr.write(
            f"train_image_classifier: stopped by {result.interrupted_by} after saving "
            f"{result.checkpoint}\n"
        )
        return 130 if result.interrupted_by == "SIGINT" else 143
    return 0


def main() -> None:
    """Console-script entry point (``train_image_classifier``)."""
    from slimcls import cli

    cli.run(_main, PROG, define_flags, __doc__)


if __name__ == "__main__":
    main()
