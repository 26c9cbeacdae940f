"""export_inference_graph: SavedModel, TF Lite models, TF-Slim's frozen GraphDef.

Examples::

    export_inference_graph --checkpoint_path=/tmp/train --model_name=cifarnet \\
        --dataset_dir=/tmp/digits --output_dir=/tmp/export/digits/1 \\
        --tflite=float,dynamic_range,float16
    export_inference_graph --checkpoint_path=/tmp/train --model_name=inception_v3 \\
        --dataset_dir=/tmp/flowers --output_file=/tmp/frozen_inception_v3.pb

The SavedModel's ``serving_default`` signature takes ``image_bytes`` (string [N]: JPEG,
PNG, GIF, BMP or WebP) and returns ``classes``, ``labels`` and ``probabilities``, with
preprocessing inside; ``serving_images`` takes preprocessed float images (what TF Lite
and tf2onnx convert). --tflite writes TF Lite models of it to <output_dir>/tflite/.
--output_file writes what TF-Slim's export + freeze_graph produced: a GraphDef with the
weights as constants, input 'input', output '<Scope>/Predictions/Reshape_1'.

stdout is one JSON document describing what was written; the lines for people go to stderr.
--overwrite replaces only an earlier export (or an empty directory).
"""

from __future__ import annotations

import json
import sys

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
    --dataset_name and --quantize."""
    return flag_defs.define_command_flags(ExportConfig, TfSlimExportConfig, rename=RENAME)


def config_from_flags() -> ExportConfig:
    """The library config of the parsed flags (the library completes it from the training
    run's flags.txt: ``slimcls.model.run_spec``)."""
    return flag_defs.config_from_flags(ExportConfig, rename=RENAME)


def _check_dataset_name(name: str | None, dataset_dir: str | None) -> None:
    """TF-Slim's export took --dataset_name for the class count; here the dataset directory
    gives it, read as train and eval read it (a converted or a TF-Slim directory), so the
    name is only checked against it."""
    if not name:
        return
    if not dataset_dir:
        raise SlimclsError(
            f"--dataset_name={name} needs --dataset_dir (the dataset whose dataset.json or "
            "labels.txt give the classes)"
        )
    from slimcls.datasets import dataset_factory

    dataset_factory.get_dataset_info(name, dataset_dir)  # train's and eval's reading


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise SlimclsError(f"unexpected arguments {argv[1:]}; all options are --flags")
    tf_slim = flag_defs.config_from_flags(TfSlimExportConfig)
    if tf_slim.quantize:
        raise SlimclsError(
            "--quantize (TF-Slim's contrib.quantize graph) is not supported; expected "
            "--tflite=dynamic_range or --tflite=float16 for a quantised model"
        )
    config = config_from_flags()
    _check_dataset_name(tf_slim.dataset_name, config.classifier.dataset_dir)
    from absl import logging as absl_logging

    from slimcls.inference import export as ex

    absl_logging.set_verbosity(absl_logging.WARNING)  # SavedModel writer INFO lines
    info = ex.export(config)
    # stdout: exactly one JSON document (json.load-able); what was written, for people: stderr
    print(json.dumps(info, indent=2, ensure_ascii=False), flush=True)
    if "saved_model" in info:
        _say(f"wrote SavedModel to {info['saved_model']['output_dir']}")
        for mode, path in info["saved_model"]["tflite"].items():
            _say(f"wrote TF Lite model ({mode}) to {path}")
    if "graph_def" in info:
        graph = info["graph_def"]
        _say(
            f"wrote frozen GraphDef to {graph['output_file']}: input {graph['input']!r}, "
            f"output {graph['output_node_names']['Predictions']!r}"
        )
    return 0


def main() -> None:
    """Console-script entry point."""
    cli.run(_main, PROG, define_flags, __doc__, quiet_tf_info=True)  # tf-slim INFO chatter


if __name__ == "__main__":
    main()
