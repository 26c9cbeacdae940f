"""export_inference_graph: a SavedModel that maps encoded images to classes.

Example::

    export_inference_graph --checkpoint_path=/tmp/train --model_name=cifarnet \\
        --dataset_dir=/tmp/digits --output_dir=/tmp/export/digits/1

The ``serving_default`` signature takes ``image_bytes`` (string [N]: JPEG, PNG, GIF or
BMP) and returns ``classes``, ``labels`` and ``probabilities``; preprocessing runs inside
and ``labels.txt`` is an asset. Unlike TF-Slim's (a GraphDef without weights, to be
frozen), the output holds the weights and loads with ``tf.saved_model.load``.
"""

from __future__ import annotations

import json

from absl import flags

from slimcls import cli
from slimcls import export as ex
from slimcls.cli import flag_defs
from slimcls.config import ExportConfig
from slimcls.core.errors import SlimclsError

flag_defs.define_dataset_flags(default_split="test", default_batch_size=32)
flag_defs.define_model_flags(image_size_flag_name="image_size")
flag_defs.define_moving_average_flags()
if "checkpoint_path" not in flags.FLAGS:
    flags.DEFINE_string(
        "checkpoint_path",
        None,
        "Checkpoint to export: a prefix or a directory (its latest). Required.",
    )
flags.DEFINE_string(
    "output_dir",
    None,
    "Directory for the SavedModel (for TF Serving: <model_base>/<version>). Required.",
)
flags.DEFINE_string(
    "labels_file",
    None,
    "labels.txt naming the classes. None: the one in --dataset_dir; without either, the "
    "class ids are the labels.",
)
flags.DEFINE_boolean("overwrite", False, "Replace an existing --output_dir.")
flags.DEFINE_string(
    "output_file",
    None,
    "TF-Slim's GraphDef output. Not supported: slimcls writes a SavedModel to --output_dir.",
)

FLAGS = flags.FLAGS
PROG = "export_inference_graph"


def config_from_flags() -> ExportConfig:
    """The library config of the parsed flags."""
    return ExportConfig(
        classifier=flag_defs.classifier_config_from_flags(FLAGS.image_size),
        output_dir=FLAGS.output_dir,
        overwrite=FLAGS.overwrite,
    )


def _main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise SlimclsError(f"unexpected arguments {argv[1:]}; all options are --flags")
    if FLAGS.output_file:
        raise SlimclsError(
            "--output_file (a frozen GraphDef) is not supported; pass --output_dir to get a "
            "SavedModel with the weights and preprocessing inside"
        )
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)  # SavedModel writer INFO lines
    info = ex.export_saved_model(config_from_flags())
    print(json.dumps(info, indent=2, ensure_ascii=False))
    print(f"wrote SavedModel to {info['output_dir']}")
    return 0


def main() -> None:
    """Console-script entry point."""
    cli.run(_main, PROG, quiet_tf_info=True)  # tf-slim and SavedModel INFO chatter


if __name__ == "__main__":
    main()
