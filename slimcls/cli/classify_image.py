"""classify_image: the most probable classes of image files.

Usage:
  classify_image --checkpoint_path=/tmp/train photos/ more/*.png one.jpg

Arguments are files, directories (their images, recursively) or globs. Each image is
decoded and preprocessed as eval does; the model and the class names default to the
training run's. An unreadable file is reported on stderr and the others are still
classified (exit status 1 if any failed).
"""

from __future__ import annotations

import json
import sys

from absl import flags

import slimcls  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from slimcls import cli
from slimcls.cli import flag_defs
from slimcls.config import ClassifierConfig, ClassifyOutputConfig
from slimcls.core.errors import SlimclsError

FLAGS = flags.FLAGS
PROG = "classify_image"


def define_flags() -> list[flag_defs.FlagSpec]:
    """This command's flags: ClassifierConfig's and ClassifyOutputConfig's."""
    return flag_defs.define_command_flags(ClassifierConfig, ClassifyOutputConfig)


def config_from_flags() -> ClassifierConfig:
    """The library config of the parsed flags; the library completes it from the
    training run's flags.txt (``slimcls.model.run_spec``)."""
    return flag_defs.config_from_flags(ClassifierConfig)


def _main(argv: list[str]) -> int:
    inputs = argv[1:]
    if not inputs:
        raise SlimclsError("no images given; usage: classify_image [--flags] IMAGE|DIR|GLOB ...")
    config = config_from_flags()
    output = flag_defs.config_from_flags(ClassifyOutputConfig)
    from slimcls.inference import classify as cl

    paths = cl.expand_inputs(inputs)
    if not paths:
        raise SlimclsError(f"no image files found in {inputs}")
    classifier = cl.Classifier(config)
    classifier.max_image_pixels = output.max_image_pixels
    json_only = output.output_json == "-"

    def show(result):
        if "error" in result:
            sys.stderr.write(f"{PROG}: {cl.format_result(result)}\n")
            sys.stderr.flush()
        elif not json_only:
            print(cl.format_result(result), flush=True)

    results = classifier.classify_files(paths, output.top_k, output.batch_size, on_result=show)
    if output.output_json:
        text = json.dumps(results, indent=2, ensure_ascii=False) + "\n"
        if json_only:
            sys.stdout.write(text)
        else:
            with open(output.output_json, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"wrote {output.output_json}")
    failed = sum("error" in r for r in results)
    if failed:
        sys.stderr.write(f"{PROG}: {failed} of {len(results)} image(s) could not be classified\n")
        return 1
    return 0


def main() -> None:
    """Console-script entry point."""
    cli.run(_main, PROG, define_flags, __doc__, quiet_tf_info=True)  # tf-slim INFO chatter


if __name__ == "__main__":
    main()
