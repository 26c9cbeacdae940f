"""download_and_convert_data: raw images -> sharded TFRecords + labels.txt + dataset.json.

Usage:
  download_and_convert_data --dataset_name=folder --source_dir=~/photos/pets \\
      --dataset_dir=/data/pets [--validation_fraction=0.1 --random_seed=0 --num_shards=N]
  download_and_convert_data --dataset_name=flowers --dataset_dir=/data/flowers
  download_and_convert_data --dataset_name=cifar10 --dataset_dir=/data/cifar10 \\
      [--source_dir=cifar-10-batches-bin | cifar-10-batches-py | cifar-10-*.tar.gz]
  download_and_convert_data --dataset_name=hwdb --source_dir=/data/HWDB1.1 \\
      --dataset_dir=/data/hwdb [--skip_corrupt]
  download_and_convert_data --dataset_name=mnist --dataset_dir=/data/mnist \\
      [--source_dir=DIR with the four IDX files, .gz or not]
  download_and_convert_data --dataset_name=adopt --dataset_dir=/data/tfslim/cifar10 \\
      [--output_name=cifar10]   # dataset.json beside TF-Slim shards already there

Re-running on a complete output does nothing (pass --overwrite to convert again); the
leftovers of an interrupted run are removed and converted again.
"""

from __future__ import annotations

from absl import flags

import slimcls  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from slimcls import cli
from slimcls.cli import flag_defs
from slimcls.config import CONVERTER_NAMES, ConvertConfig
from slimcls.core.errors import SlimclsError

FLAGS = flags.FLAGS
PROG = "download_and_convert_data"
DATASETS = CONVERTER_NAMES


def define_flags() -> list[flag_defs.FlagSpec]:
    """This command's flags: ConvertConfig's."""
    return flag_defs.define_command_flags(ConvertConfig)


def _main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise SlimclsError(f"unexpected arguments {argv[1:]}; expected only --flags")
    config = flag_defs.config_from_flags(ConvertConfig)  # --dataset_name is required
    from slimcls.datasets import converter

    converter.convert(config)  # the library's one way in
    return 0


def main() -> None:
    """Console-script entry point."""
    cli.run(_main, PROG, define_flags, __doc__)


if __name__ == "__main__":
    main()
