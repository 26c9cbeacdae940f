"""classify_image: top-k class names with probabilities for image files.

Example::

    classify_image --checkpoint_path=/tmp/train --model_name=cifarnet \\
        --dataset_dir=/tmp/digits photos/ more/*.png one.jpg

Arguments are files, directories (their images, recursively) or globs. Each image is
decoded and preprocessed as eval does; an unreadable file is reported on stderr and
the others are still classified (exit status 1 if any failed).
"""

from __future__ import annotations

import json
import sys

from absl import flags

from slimcls import classify as cl
from slimcls import cli
from slimcls.cli import flag_defs
from slimcls.config import ClassifierConfig
from slimcls.core.errors import SlimclsError

flag_defs.define_dataset_flags(default_split="test", default_batch_size=32)
flag_defs.define_model_flags(image_size_flag_name="eval_image_size")
flag_defs.define_moving_average_flags()
if "checkpoint_path" not in flags.FLAGS:
    flags.DEFINE_string(
        "checkpoint_path",
        None,
        "Checkpoint to classify with: a prefix or a directory (its latest). Required.",
    )
flags.DEFINE_string(
    "labels_file",
    None,
    "labels.txt (<id>:<name> per line) naming the classes. None: the one in --dataset_dir; "
    "without either, class ids are printed.",
)
flags.DEFINE_integer("top_k", 5, "Number of most probable classes reported per image.")
flags.DEFINE_string(
    "output_json",
    None,
    "Also write all results as JSON to this file ('-': print only JSON to stdout).",
)

FLAGS = flags.FLAGS
PROG = "classify_image"


def config_from_flags() -> ClassifierConfig:
    """The library config of the parsed flags."""
    return flag_defs.classifier_config_from_flags(FLAGS.eval_image_size)


def _main(argv: list[str]) -> int:
    inputs = argv[1:]
    if not inputs:
        raise SlimclsError("no images given; usage: classify_image [--flags] IMAGE|DIR|GLOB ...")
    if FLAGS.top_k < 1 or FLAGS.batch_size < 1:
        raise SlimclsError("--top_k and --batch_size must be at least 1")
    paths = cl.expand_inputs(inputs)
    if not paths:
        raise SlimclsError(f"no image files found in {inputs}")
    classifier = cl.Classifier(config_from_flags())
    json_only = FLAGS.output_json == "-"

    def show(result):
        if "error" in result:
            sys.stderr.write(f"{PROG}: {cl.format_result(result)}\n")
            sys.stderr.flush()
        elif not json_only:
            print(cl.format_result(result), flush=True)

    results = classifier.classify_files(paths, FLAGS.top_k, FLAGS.batch_size, on_result=show)
    if FLAGS.output_json:
        text = json.dumps(results, indent=2, ensure_ascii=False) + "\n"
        if json_only:
            sys.stdout.write(text)
        else:
            with open(FLAGS.output_json, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"wrote {FLAGS.output_json}")
    failed = sum("error" in r for r in results)
    if failed:
        sys.stderr.write(f"{PROG}: {failed} of {len(results)} image(s) could not be classified\n")
        return 1
    return 0


def main() -> None:
    """Console-script entry point."""
    cli.run(_main, PROG, quiet_tf_info=True)  # tf-slim and SavedModel INFO chatter


if __name__ == "__main__":
    main()
