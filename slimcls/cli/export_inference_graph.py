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

import slimcls  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from slimcls import cli
from slimcls.cli import flag_defs
from slimcls.config import ExportConfig, TfSlimExportConfig
from slimcls.core.errors import SlimclsError

FLAGS = flags.FLAGS
PROG = "export_inference_graph"
#: TF-Slim's export calls the image size --image_size (eval: --eval_image_size).
RENAME = {"eval_image_size": "image_size"}


def define_flags() -> list[flag_defs.FlagSpec]:
    """This command's flags: ExportConfig's (its classifier's flattened) and TF-Slim's
    unsupported --output_file."""
    return flag_defs.define_command_flags(ExportConfig, TfSlimExportConfig, rename=RENAME)


def config_from_flags() -> ExportConfig:
    """The library config of the parsed flags, completed from the training run's flags.txt."""
    wanted = {RENAME.get(name, name): run_name for name, run_name in cli.FROM_RUN.items()}
    from_run = cli.settings_from_run(FLAGS.checkpoint_path, wanted)
    return flag_defs.config_from_flags(ExportConfig, rename=RENAME, overrides=from_run)


def _main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise SlimclsError(f"unexpected arguments {argv[1:]}; all options are --flags")
    if flag_defs.config_from_flags(TfSlimExportConfig).output_file:
        raise SlimclsError(
            "--output_file (a frozen GraphDef) is not supported; pass --output_dir to get a "
            "SavedModel with the weights and preprocessing inside"
        )
    config = config_from_flags()
    from absl import logging as absl_logging

    from slimcls import export as ex
    from slimcls.nets import nets_factory

    size = config.classifier.eval_image_size
    if size is not None:  # checked here so the error names export's flag, --image_size
        nets_factory.check_image_size(config.classifier.model_name, size, flag="--image_size")
    absl_logging.set_verbosity(absl_logging.WARNING)  # SavedModel writer INFO lines
    info = ex.export_saved_model(config)
    print(json.dumps(info, indent=2, ensure_ascii=False))
    print(f"wrote SavedModel to {info['output_dir']}")
    return 0


def main() -> None:
    """Console-script entry point."""
    cli.run(_main, PROG, define_flags, __doc__, quiet_tf_info=True)  # tf-slim INFO chatter


if __name__ == "__main__":
    main()
