"""make_image_classifier: a folder of photos in, a deployable classifier and its report out.

Usage:
  make_image_classifier --image_dir=~/photos/flowers --output_dir=/tmp/flowers_classifier \\
      [--model_name=mobilenet_v2 --do_fine_tuning --train_epochs=5 --image_size=224]

--image_dir holds one sub-folder of images per class (or is a dataset converted by
download_and_convert_data). The command converts it (holding out --validation_fraction of
each class), trains a new classifier on the frozen body of --model_name's published
ImageNet weights (--checkpoint_path=imagenet, downloaded once) on features computed once
per image, with --do_fine_tuning then all layers at a lower rate, evaluates on the
held-out images, and exports a SavedModel, a TF Lite model and the labels, printing a
summary also written to <output_dir>/summary.json. Running it again with the same flags
resumes an interrupted job or says it is done. Flag names are TF Hub's
make_image_classifier's where it has them.
"""

from __future__ import annotations

import logging
import sys

from absl import flags

import slimcls  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from slimcls import cli
from slimcls.cli import flag_defs
from slimcls.config import MakeClassifierConfig
from slimcls.core.errors import SlimclsError

FLAGS = flags.FLAGS
PROG = "make_image_classifier"


def define_flags() -> list[flag_defs.FlagSpec]:
    """This command's flags: MakeClassifierConfig's."""
    return flag_defs.define_command_flags(MakeClassifierConfig)


def _main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise SlimclsError(f"unexpected arguments {argv[1:]}; all options are --flags")
    config = flag_defs.config_from_flags(MakeClassifierConfig)
    from slimcls.workflow import make_image_classifier as mic

    mic.preflight(config)  # before TensorFlow loads: a typo or a foreign dir fails at once
    logging.getLogger("slimcls").setLevel(logging.INFO)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from absl import logging as absl_logging

    from slimcls.core.logs import quiet_tensorflow_info

    absl_logging.set_verbosity(absl_logging.WARNING)  # the SavedModel writer's INFO lines

    with quiet_tensorflow_info():  # tf-slim's and the SavedModel writer's INFO lines
        mic.make_image_classifier(config, argv=sys.argv)
    return 0


def main() -> None:
    """Console-script entry point."""
    cli.run(_main, PROG, define_flags, __doc__)


if __name__ == "__main__":
    main()
