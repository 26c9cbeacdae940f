"""train_image_classifier: TF-Slim's training command on a TF2 loop.

Usage:
  train_image_classifier --train_dir=/tmp/cifarnet --dataset_dir=/tmp/cifar10 \\
      --dataset_name=cifar10 --model_name=cifarnet --max_number_of_steps=1000

Flags are TF-Slim's (names, defaults, meanings), plus the additions marked in --help.
This module only parses flags and builds a :class:`slimcls.train.TrainConfig`; the loop
lives in :mod:`slimcls.train`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys

from absl import flags

import slimcls  # noqa: F401  (compat before TensorFlow)
from slimcls import config
from slimcls.cli import flag_defs
from slimcls.core.errors import SlimclsError

FLAGS = flags.FLAGS
PROG = "train_image_classifier"

flag_defs.define_train_flags()
flag_defs.define_dataset_flags(default_split="train", default_batch_size=32)
flag_defs.define_model_flags(image_size_flag_name="train_image_size")
flag_defs.define_moving_average_flags()
flag_defs.define_optimizer_flags()
flag_defs.define_learning_rate_flags()
flag_defs.define_checkpoint_flags()
flag_defs.define_distribution_flags()
flags.adopt_module_key_flags(flag_defs)
flags.mark_flag_as_required("dataset_dir")

_TF_CONFIG_HELP = (
    "slimcls trains on several machines with tf.distribute instead of parameter servers: "
    "run the same command on every machine with TF_CONFIG set, e.g. "
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
    '"task": {"type": "worker", "index": 0}}\' (index 1 on host2), and drop '
    "--worker_replicas, --num_ps_tasks, --task, --sync_replicas and --replicas_to_aggregate"
)


def _check_deployment_flags() -> None:
    """TF-Slim's parameter-server flags: explain TF_CONFIG; quantize_delay unsupported."""
    if FLAGS.quantize_delay >= 0:
        raise SlimclsError(
            f"--quantize_delay={FLAGS.quantize_delay}: quantization-aware training is not "
            "supported (it needs TF1's contrib.quantize); leave --quantize_delay=-1"
        )
    used = [
        f"--{name}={FLAGS[name].value}"
        for name, default in (
            ("worker_replicas", 1),
            ("num_ps_tasks", 0),
            ("task", 0),
            ("sync_replicas", False),
            ("replicas_to_aggregate", 1),
        )
        if FLAGS[name].value != default
    ]
    if used:
        raise SlimclsError(
            f"{', '.join(used)} is TF-Slim's parameter-server setup; {_TF_CONFIG_HELP}"
        )
    if FLAGS.master:
        logging.warning("--master=%s is ignored (TF2 has no session target)", FLAGS.master)


def _from_flags(config_class):
    """A config dataclass whose every field is the flag of the same name."""
    return config_class(**{f.name: FLAGS[f.name].value for f in dataclasses.fields(config_class)})


def config_from_flags():
    """The :class:`slimcls.train.TrainConfig` described by the parsed flags."""
    from slimcls import finetune

    opt = _from_flags(config.OptimizerConfig)
    lr = _from_flags(config.LearningRateConfig)
    return config.TrainConfig(
        train_dir=FLAGS.train_dir,
        dataset_dir=FLAGS.dataset_dir,
        dataset_name=FLAGS.dataset_name,
        dataset_split_name=FLAGS.dataset_split_name,
        labels_offset=FLAGS.labels_offset,
        model_name=FLAGS.model_name,
        preprocessing_name=FLAGS.preprocessing_name,
        use_grayscale=FLAGS.use_grayscale,
        train_image_size=FLAGS.train_image_size,
        batch_size=FLAGS.batch_size,
        max_number_of_steps=FLAGS.max_number_of_steps,
        num_readers=FLAGS.num_readers,
        num_preprocessing_threads=FLAGS.num_preprocessing_threads,
        weight_decay=FLAGS.weight_decay,
        optimizer=opt,
        learning_rate=lr,
        label_smoothing=FLAGS.label_smoothing,
        moving_average_decay=FLAGS.moving_average_decay,
        checkpoint_path=FLAGS.checkpoint_path,
        checkpoint_exclude_scopes=tuple(finetune.split_scopes(FLAGS.checkpoint_exclude_scopes)),
        trainable_scopes=tuple(finetune.split_scopes(FLAGS.trainable_scopes)),
        ignore_missing_vars=FLAGS.ignore_missing_vars,
        log_every_n_steps=FLAGS.log_every_n_steps,
        save_summaries_secs=FLAGS.save_summaries_secs,
        save_interval_secs=FLAGS.save_interval_secs,
        max_checkpoints_to_keep=FLAGS.max_checkpoints_to_keep,
        num_clones=FLAGS.num_clones,
        clone_on_cpu=FLAGS.clone_on_cpu,
        mixed_precision=FLAGS.mixed_precision,
        jit_compile=FLAGS.jit_compile,
        random_seed=FLAGS.random_seed,
        validation_split_name=FLAGS.validation_split_name,
        eval_every_n_steps=FLAGS.eval_every_n_steps,
    )


def _setup_logging() -> None:
    """INFO lines from slimcls' library loggers, in absl's format, on stderr."""
    logging.getLogger("slimcls").setLevel(logging.INFO)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise SlimclsError(f"unexpected arguments {argv[1:]}; all options are --flags")
    _setup_logging()
    _check_deployment_flags()
    from slimcls import train

    config = config_from_flags()

    def write_flags() -> None:  # once the run is known to start: failed starts leave no files
        path = flag_defs.write_flagfile(FLAGS.train_dir, module_names=[__name__, "__main__"])
        logging.info("Effective flags written to %s", path)

    result = train.train(config, on_start=write_flags)
    summary = {
        "global_step": result.global_step,
        "checkpoint": result.checkpoint,
        **{k: round(v, 6) for k, v in result.losses.items()},
    }
    if result.validation_accuracy is not None:
        summary["validation_accuracy"] = result.validation_accuracy
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

    cli.run(_main, PROG)


if __name__ == "__main__":
    main()
