"""download_and_convert_data: raw images -> sharded TFRecords + labels.txt + dataset.json.

Usage:
  download_and_convert_data --dataset_name=folder --source_dir=~/photos/pets \\
      --dataset_dir=/data/pets [--validation_fraction=0.1 --random_seed=0 --num_shards=N]
  download_and_convert_data --dataset_name=flowers --dataset_dir=/data/flowers
  download_and_convert_data --dataset_name=cifar10 --dataset_dir=/data/cifar10 \\
      [--source_dir=cifar-10-batches-bin | cifar-10-batches-py | cifar-10-*.tar.gz]
  download_and_convert_data --dataset_name=hwdb --source_dir=/data/HWDB1.1 \\
      --dataset_dir=/data/hwdb [--skip_corrupt]

Re-running on a complete output does nothing (pass --overwrite to convert again); the
leftovers of an interrupted run are removed and converted again. This module only parses
flags; the converters live in ``datasets/``.
"""

from __future__ import annotations

import os

from absl import flags

import slimcls  # noqa: F401  (compat before TensorFlow)
from slimcls.cli import flag_defs
from slimcls.core.errors import SlimclsError

PROG = "download_and_convert_data"
DATASETS = ("folder", "flowers", "cifar10", "hwdb")
FLAGS = flags.FLAGS


# define_once: another entry point imported into the same process (tests) may own a name
# already; main() validates the values itself.

flag_defs.define_once(
    flags.DEFINE_enum,
    "dataset_name",
    None,
    DATASETS,
    "Converter: folder (a folder of class sub-folders), flowers (TensorFlow's "
    "flower_photos, downloaded when --source_dir is not given), cifar10, hwdb. Required.",
)
flag_defs.define_once(
    flags.DEFINE_string,
    "dataset_dir",
    None,
    "Output directory for shards, labels.txt and dataset.json (local or a tf.io.gfile URL "
    "such as gs://...). Required.",
)
flag_defs.define_once(
    flags.DEFINE_string,
    "source_dir",
    None,
    "Input: folder: class sub-folders; cifar10: cifar-10-batches-bin, cifar-10-batches-py or "
    "a .tar.gz of either; hwdb: train/ and test/ folders of .gnt (or .zip) files. None: "
    "flowers and cifar10 download their archive into --dataset_dir.",
)
flag_defs.define_once(
    flags.DEFINE_integer,
    "num_shards",
    None,
    "Shards per split. None: one shard per 5,000 images.",
    lower_bound=1,
)
flag_defs.define_once(
    flags.DEFINE_float,
    "validation_fraction",
    0.1,
    "folder/flowers: share of each class put in the validation split (0 = train only). "
    "hwdb from one folder of .gnt files: share of writers (files) held out as test.",
)
flag_defs.define_once(
    flags.DEFINE_integer, "random_seed", 0, "Seed of the train/validation split and record order."
)
flag_defs.define_once(
    flags.DEFINE_string,
    "output_name",
    None,
    "Dataset name (dataset.json 'name', shard prefix). None: the source folder's name for "
    "folder, else the dataset_name.",
)
flag_defs.define_once(
    flags.DEFINE_boolean, "overwrite", False, "Convert again even when the output is complete."
)
flag_defs.define_once(
    flags.DEFINE_boolean, "grayscale", False, "folder/flowers: store 1-channel (L) images."
)
flag_defs.define_once(
    flags.DEFINE_boolean,
    "skip_corrupt",
    False,
    "hwdb: skip and count corrupt .gnt records instead of stopping at the first one.",
)
flag_defs.define_once(
    flags.DEFINE_integer,
    "num_workers",
    None,
    "Decode/encode processes. None: one per CPU core; 0: convert in the main process.",
    lower_bound=0,
)
flag_defs.define_once(
    flags.DEFINE_string,
    "download_url",
    None,
    "flowers/cifar10 without --source_dir: download from this URL (a mirror) instead of "
    "the official one; the checksum is still verified.",
)
flag_defs.define_once(
    flags.DEFINE_integer,
    "max_image_pixels",
    50_000_000,
    "folder/flowers: images with more pixels (width * height, read from the header) are "
    "rejected before decoding and listed in rejected.txt.",
    lower_bound=1,
)
flag_defs.define_once(
    flags.DEFINE_integer,
    "max_image_size",
    None,
    "folder/flowers: downscale images whose longest side is above this many pixels (stored "
    "as PNG). None: keep every image's size.",
    lower_bound=1,
)


def convert(
    dataset_name: str,
    dataset_dir: str,
    source_dir: str | None = None,
    **kwargs,
) -> dict:
    """Runs the converter ``dataset_name``; returns the ``dataset.json`` contents.

    ``kwargs`` are the other :class:`slimcls.config.ConvertConfig` fields (flag names).
    """
    from slimcls.config import ConvertConfig
    from slimcls.datasets import converter

    if source_dir:
        source_dir = os.path.expanduser(source_dir)
    cls = converter.get_converter(dataset_name)  # unknown names: one line with the choices
    config = ConvertConfig(dataset_name, dataset_dir, source_dir, **kwargs)
    return cls(config).run()


def _main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise SlimclsError(f"unexpected arguments {argv[1:]}; expected only --flags")
    if not FLAGS.dataset_name:
        raise SlimclsError(f"--dataset_name is required; expected one of {list(DATASETS)}")
    convert(
        FLAGS.dataset_name,
        FLAGS.dataset_dir,
        FLAGS.source_dir,
        num_shards=FLAGS.num_shards,
        validation_fraction=FLAGS.validation_fraction,
        random_seed=FLAGS.random_seed,
        output_name=FLAGS.output_name,
        overwrite=FLAGS.overwrite,
        grayscale=FLAGS.grayscale,
        skip_corrupt=FLAGS.skip_corrupt,
        num_workers=FLAGS.num_workers,
        download_url=FLAGS.download_url,
        max_image_pixels=FLAGS.max_image_pixels,
        max_image_size=FLAGS.max_image_size,
    )
    return 0


def main() -> None:
    """Console-script entry point."""
    from slimcls.cli import run

    run(_main, PROG)


if __name__ == "__main__":
    main()
