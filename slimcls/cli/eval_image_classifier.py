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

from absl import flags

from slimcls import cli, eval_report
from slimcls import evaluate as ev
from slimcls.cli import flag_defs
from slimcls.config import EvalConfig
from slimcls.core.errors import SlimclsError

flag_defs.define_dataset_flags(default_split="test", default_batch_size=100)
flag_defs.define_model_flags(image_size_flag_name="eval_image_size")
flag_defs.define_moving_average_flags()
if "checkpoint_path" not in flags.FLAGS:  # training defines it too (one process in tests)
    flags.DEFINE_string(
        "checkpoint_path",
        None,
        "The checkpoint to evaluate: a prefix (train_dir/model.ckpt-1000) or a directory "
        "(its latest checkpoint; in watch mode, the directory to watch). Required.",
    )
flags.DEFINE_string(
    "eval_dir",
    "/tmp/tfmodel/",
    "Directory for metrics.json, confusion_matrix.png/.csv and TensorBoard summaries.",
)
flags.DEFINE_integer(
    "max_num_batches",
    None,
    "Evaluate only this many batches (reported as truncated). None: the whole split, every "
    "example once.",
)
flags.DEFINE_float(
    "eval_interval_secs",
    None,
    "Watch mode: poll --checkpoint_path (a directory) this often and evaluate each new "
    "checkpoint once. None: evaluate once and exit.",
)
flags.DEFINE_float(
    "timeout",
    None,
    "Watch mode: stop after this many seconds without a new checkpoint. None: wait until "
    "training's final step (--max_number_of_steps in its flags.txt) has been evaluated.",
)

FLAGS = flags.FLAGS
PROG = "eval_image_classifier"


def config_from_flags() -> EvalConfig:
    """The library config of the parsed flags."""
    return EvalConfig(
        checkpoint_path=FLAGS.checkpoint_path,
        dataset_dir=FLAGS.dataset_dir,
        model_name=FLAGS.model_name,
        dataset_name=FLAGS.dataset_name,
        dataset_split_name=FLAGS.dataset_split_name,
        batch_size=FLAGS.batch_size,
        max_num_batches=FLAGS.max_num_batches,
        labels_offset=FLAGS.labels_offset,
        preprocessing_name=FLAGS.preprocessing_name,
        eval_image_size=FLAGS.eval_image_size,
        use_grayscale=FLAGS.use_grayscale,
        moving_average_decay=FLAGS.moving_average_decay,
        eval_dir=FLAGS.eval_dir,
        num_readers=FLAGS.num_readers,
        num_preprocessing_threads=FLAGS.num_preprocessing_threads,
    )


def _main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise SlimclsError(f"unexpected arguments {argv[1:]}; all options are --flags")
    config = config_from_flags()

    def report(metrics):
        print(eval_report.format_report(metrics), flush=True)
        if config.eval_dir:
            print(f"wrote {config.eval_dir.rstrip('/')}/metrics.json", flush=True)

    if FLAGS.eval_interval_secs is None:
        report(ev.evaluate(config))
        return 0
    if FLAGS.timeout is not None and FLAGS.timeout < 0:
        raise SlimclsError(f"--timeout={FLAGS.timeout} must be >= 0")
    results = ev.watch(
        config, FLAGS.eval_interval_secs, timeout_secs=FLAGS.timeout, on_result=report
    )
    print(f"watch mode: evaluated {len(results)} checkpoint(s)", flush=True)
    return 0


def main() -> None:
    """Console-script entry point."""
    cli.run(_main, PROG, quiet_tf_info=True)  # tf-slim and SavedModel INFO chatter


if __name__ == "__main__":
    main()
