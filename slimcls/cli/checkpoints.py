"""checkpoints: TF-Slim's published ImageNet checkpoints slimcls can use by name.

Example::

    python -m slimcls checkpoints [--model_name=mobilenet_v1_025]

One line per published checkpoint: the net (--model_name), the --checkpoint_path value
that picks it ('imagenet' is the net's default), the archive, the image size and
classes, TF-Slim's published top-1/top-5 accuracy (%), and whether it is in the cache
(downloaded and verified). Any command taking --checkpoint_path downloads a checkpoint on
first use into $SLIMCLS_CACHE_DIR (else $XDG_CACHE_HOME/slimcls, else ~/.cache/slimcls);
$SLIMCLS_CHECKPOINT_MIRROR (a base URL or a folder) replaces the download host.
"""

from __future__ import annotations

import os

from absl import flags

import slimcls  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from slimcls import cli
from slimcls.cli import flag_defs
from slimcls.config import CheckpointsConfig
from slimcls.core.errors import SlimclsError

FLAGS = flags.FLAGS
PROG = "checkpoints"


def define_flags() -> list[flag_defs.FlagSpec]:
    """This command's flags: CheckpointsConfig's."""
    return flag_defs.define_command_flags(CheckpointsConfig)


def format_table(rows: list[dict]) -> str:
    """The listing as aligned text columns."""
    header = ("net", "--checkpoint_path", "archive", "size", "classes", "top-1", "top-5",
              "cached")  # fmt: skip
    lines = [header]
    for r in rows:
        lines.append(
            (
                r["model_name"],
                r["checkpoint_path"],
                r["archive"],
                str(r["image_size"]),
                str(r["num_classes"]),
                f"{r['top1']:.1f}",
                "-" if r["top5"] is None else f"{r['top5']:.1f}",
                "yes" if r["cached"] else "no",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines
    )


def _main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise SlimclsError(f"unexpected arguments {argv[1:]}; all options are --flags")
    config = flag_defs.config_from_flags(CheckpointsConfig)
    from slimcls.model import pretrained
    from slimcls.nets import published

    rows = pretrained.listing(config.model_name)
    if not rows:
        raise SlimclsError(
            f"--model_name={config.model_name} has no published ImageNet checkpoint; the nets "
            f"with one are {', '.join(published.models_with_weights())}"
        )
    print(format_table(rows))
    cached = sum(1 for r in rows if r["cached"])
    mirror = os.environ.get(pretrained.MIRROR_ENV)
    print(
        f"\n{len(rows)} published checkpoints, {cached} cached in "
        f"{os.path.join(pretrained.cache_dir(), 'checkpoints')}"
        + (f"; mirror {mirror}" if mirror else "")
    )
    return 0


def main() -> None:
    """Console-script entry point."""
    cli.run(_main, PROG, define_flags, __doc__)


if __name__ == "__main__":
    main()
