"""The settings of the inference commands: ``eval_image_classifier`` (and its watch
mode), ``classify_image`` and ``export_inference_graph``."""

from __future__ import annotations

import dataclasses
from typing import Any

from slimcls.config.settings import (
    HELP_DATASET_DIR,
    HELP_DATASET_NAME,
    HELP_FROM_RUN,
    HELP_GRAYSCALE,
    HELP_IMAGE_SIZE,
    HELP_IMAGENET,
    HELP_LABELS_OFFSET,
    HELP_MAX_IMAGE_PIXELS,
    HELP_MODEL_FROM_RUN,
    HELP_MODEL_NAME,
    HELP_PREPROCESSING,
    HELP_READERS,
    HELP_RUN_ELSE,
    HELP_SPLIT,
    HELP_THREADS,
    MODEL_NAMES,
    REFUSED_MODEL_NAMES,
    Settings,
    registered_nets,
    setting,
)
from slimcls.core.errors import SlimclsError

#: TF-Slim's eval/Recall_5: ``--eval_top_k``'s default.
RECALL_K = 5


def top_k_values(values) -> tuple[int, ...]:
    """``--eval_top_k``'s ks, sorted, duplicates dropped (empty: TF-Slim's 5).

    Raises:
      SlimclsError: a value that is not a positive integer.
    """
    ks = []
    for value in values or ():
        try:
            k = int(str(value).strip())
        except ValueError:
            k = 0
        if k < 1:
            raise SlimclsError(
                f"--eval_top_k={','.join(map(str, values))}: {value} is not a positive "
                "integer; expected comma-separated k values, e.g. 1,3,5"
            )
        ks.append(k)
    return tuple(sorted(set(ks))) or (RECALL_K,)


def from_run(name: str) -> Any:
    """The field of a setting eval, classify and export take from the training run when
    not given (``slimcls.model.run_spec``): one definition for each of their configs."""
    fields = {
        "labels_offset": lambda: setting(
            None, HELP_LABELS_OFFSET + HELP_RUN_ELSE.format("0"), lower_bound=0
        ),
        "preprocessing_name": lambda: setting(None, HELP_PREPROCESSING + " Default: the run's."),
        "eval_image_size": lambda: setting(
            None, HELP_IMAGE_SIZE + " Default: the run's --train_image_size."
        ),
        "use_grayscale": lambda: setting(None, HELP_GRAYSCALE + HELP_RUN_ELSE.format("false")),
    }
    return fields[name]()


@dataclasses.dataclass
class EvalConfig(Settings):
    """What ``eval_image_classifier`` evaluates (TF-Slim's flag names; see each help).

    ``use_moving_averages``: evaluate the EMA shadows (``moving_average_decay`` > 0).
    """

    checkpoint_path: str = setting(
        help="The checkpoint to evaluate: a prefix (train_dir/model.ckpt-1000), a directory "
        "(its latest checkpoint; in watch mode, the directory to watch) or 'imagenet' ("
        + HELP_IMAGENET
        + "). Required."
    )
    dataset_dir: str | None = setting(None, HELP_DATASET_DIR + HELP_FROM_RUN)
    model_name: str | None = setting(
        None,
        HELP_MODEL_NAME + HELP_MODEL_FROM_RUN,
        choices=MODEL_NAMES,
        more_choices=registered_nets,
        refused=REFUSED_MODEL_NAMES,
    )
    dataset_name: str | None = setting(None, HELP_DATASET_NAME)
    dataset_split_name: str = setting("test", HELP_SPLIT)
    batch_size: int = setting(
        100, "Examples per batch (the last batch may be smaller).", lower_bound=1
    )
    max_num_batches: int | None = setting(
        None,
        "Evaluate only this many batches (reported as truncated). None: the whole split, "
        "every example once.",
        lower_bound=1,
    )
    labels_offset: int | None = from_run("labels_offset")
    preprocessing_name: str | None = from_run("preprocessing_name")
    eval_image_size: int | None = from_run("eval_image_size")
    use_grayscale: bool | None = from_run("use_grayscale")
    moving_average_decay: float | None = setting(
        None,
        "When set (> 0), evaluate the moving averages (EMA shadows). None: the variables.",
        lower_bound=0,
        upper_bound=1,
    )
    eval_top_k: tuple[int, ...] = setting(
        (5,),
        "Addition: the k values of top-k recall reported (eval/Recall_<k>, recall_<k> in "
        "metrics.json), comma-separated, e.g. 1,3,5. Default: TF-Slim's Recall_5.",
    )
    eval_dir: str | None = setting(
        None,
        "Directory for metrics.json, confusion_matrix.png/.csv and TensorBoard summaries. "
        "None: eval_<split> in the checkpoint's directory (the training run's), e.g. "
        "<train_dir>/eval_validation.",
    )
    num_readers: int | None = setting(None, HELP_READERS)
    num_preprocessing_threads: int | None = setting(None, HELP_THREADS)
    max_image_pixels: int | None = setting(50_000_000, HELP_MAX_IMAGE_PIXELS, lower_bound=1)

    def __post_init__(self) -> None:
        self.eval_top_k = top_k_values(self.eval_top_k)  # checked, sorted, one each
        super().__post_init__()

    @property
    def use_moving_averages(self) -> bool:
        return bool(self.moving_average_decay)


@dataclasses.dataclass(frozen=True)
class WatchConfig(Settings):
    """eval's watch mode: evaluate each new checkpoint of a running training."""

    eval_interval_secs: float | None = setting(
        None,
        "Watch mode: poll --checkpoint_path (a directory) this often and evaluate each new "
        "checkpoint once. None: evaluate once and exit.",
        lower_bound=0.001,
    )
    timeout: float | None = setting(
        None,
        "Watch mode: stop after this many seconds without a new checkpoint. None: wait until "
        "training's final step (--max_number_of_steps in its flags.txt) has been evaluated.",
        lower_bound=0,
    )


@dataclasses.dataclass
class ClassifierConfig(Settings):
    """What to load for classification or export (see each help).

    ``channels`` (None: the dataset's, else 3) and ``num_classes`` (None: from the
    dataset, else from the checkpoint's logits layer) are library-only overrides.
    """

    checkpoint_path: str = setting(
        help="Checkpoint to load: a prefix, a directory (its latest) or 'imagenet' ("
        + HELP_IMAGENET
        + "; its ImageNet classes). Required."
    )
    model_name: str | None = setting(
        None,
        HELP_MODEL_NAME + HELP_MODEL_FROM_RUN,
        choices=MODEL_NAMES,
        more_choices=registered_nets,
        refused=REFUSED_MODEL_NAMES,
    )
    dataset_dir: str | None = setting(
        None,
        "A converted dataset: its dataset.json gives the number of classes and channels, its "
        "labels.txt the names. None: the run's (flags.txt), if any.",
    )
    labels_file: str | None = setting(
        None,
        "labels.txt (<id>:<name> per line) naming the classes. None: the one in "
        "--dataset_dir; without either, class ids are the labels.",
    )
    labels_offset: int | None = from_run("labels_offset")
    preprocessing_name: str | None = from_run("preprocessing_name")
    eval_image_size: int | None = from_run("eval_image_size")
    use_grayscale: bool | None = from_run("use_grayscale")
    moving_average_decay: float | None = setting(
        None, "When set (> 0), load the moving averages (EMA shadows). None: the variables."
    )
    channels: int | None = setting(None, flag=False)
    num_classes: int | None = setting(None, flag=False)


@dataclasses.dataclass(frozen=True)
class ClassifyOutputConfig(Settings):
    """classify_image's own settings: how many classes, batching, JSON output."""

    top_k: int = setting(5, "Number of most probable classes reported per image.", lower_bound=1)
    batch_size: int = setting(32, "Images classified per batch.", lower_bound=1)
    output_json: str | None = setting(
        None, "Also write all results as JSON to this file ('-': print only JSON to stdout)."
    )
    max_image_pixels: int | None = setting(
        50_000_000,
        "Images with more pixels than this (read from the header, before decoding) are "
        "reported as errors instead of decoded. None: no limit.",
        lower_bound=1,
    )


#: TF Lite variants ``export_inference_graph --tflite`` writes (``--tflite``'s choices).
TFLITE_MODES = ("float", "dynamic_range", "float16")


@dataclasses.dataclass
class ExportConfig(Settings):
    """``ClassifierConfig`` fields plus what to write where.

    Attributes:
      classifier: what to load (its ``eval_image_size`` is export's ``--image_size``,
        TF-Slim's name).
      output_dir: the SavedModel directory (must not exist unless ``overwrite``).
      overwrite: replace an existing ``output_dir`` / ``output_file``.
      tflite: TF Lite variants written to ``<output_dir>/tflite/`` (``TFLITE_MODES``).
      output_file: TF-Slim's output: a frozen inference GraphDef.
      batch_size: the GraphDef input's batch dimension (None: any).
      is_training: TF-Slim's training-mode graph; refused for a frozen graph.
      write_text_graphdef: write ``output_file`` as a text proto.
    """

    classifier: ClassifierConfig
    output_dir: str | None = setting(
        None,
        "Directory for the SavedModel (for TF Serving: <model_base>/<version>). None: no "
        "SavedModel (then --output_file is required).",
    )
    overwrite: bool = setting(
        False,
        "Replace an existing --output_file, or an --output_dir holding an earlier export and "
        "nothing else (other folders are never replaced).",
    )
    tflite: tuple[str, ...] = setting(
        (),
        "Also write TF Lite models (of the float-image signature) to <output_dir>/tflite/, "
        "with labels.txt: comma-separated of 'float' (float32), 'dynamic_range' (int8 "
        "weights, float activations; ~4x smaller) and 'float16' (float16 weights; ~2x "
        "smaller). Empty: none.",
    )
    output_file: str | None = setting(
        None,
        "TF-Slim's output: write a frozen inference GraphDef here (weights as constants; "
        "input placeholder 'input', float [batch, size, size, channels] preprocessed images; "
        "output '<Scope>/Predictions/Reshape_1', printed and written to <output_file>.json). "
        "None: none.",
    )
    batch_size: int | None = setting(
        None,
        "Batch dimension of the GraphDef's 'input' placeholder. None: any batch size.",
        lower_bound=1,
    )
    is_training: bool = setting(
        False,
        "TF-Slim's training-mode graph. Not supported: a frozen graph has no variables to "
        "train; fine-tune from the checkpoint with train_image_classifier instead.",
    )
    write_text_graphdef: bool = setting(
        False, "Write --output_file as a text GraphDef (.pbtxt) instead of a binary one."
    )

    def validate(self) -> None:
        """The settings' bounds, then what to write (the paths themselves are checked on
        disk by ``slimcls.inference.export.check_config``).

        Raises:
          SlimclsError: nothing to write, an unknown ``--tflite`` mode, ``--tflite``
            without ``--output_dir``, or ``--is_training``.
        """
        super().validate()
        if not self.output_dir and not self.output_file:
            raise SlimclsError(
                "--output_dir (SavedModel) or --output_file (frozen GraphDef) is required"
            )
        unknown = [m for m in self.tflite if m not in TFLITE_MODES]
        if unknown:
            raise SlimclsError(
                f"--tflite={','.join(self.tflite)}: unknown {unknown[0]!r}; expected a "
                f"comma-separated list of {', '.join(TFLITE_MODES)}"
            )
        if self.tflite and not self.output_dir:
            raise SlimclsError(
                "--tflite needs --output_dir (TF Lite models go to <output_dir>/tflite)"
            )
        if self.is_training:
            raise SlimclsError(
                "--is_training=true: a frozen or served graph has no variables to train; "
                "expected --is_training=false (fine-tune with train_image_classifier)"
            )


@dataclasses.dataclass(frozen=True)
class TfSlimExportConfig(Settings):
    """TF-Slim's export flags outside ``ExportConfig``: checked, or explained if unsupported."""

    dataset_name: str | None = setting(None, HELP_DATASET_NAME)
    quantize: bool = setting(
        False,
        "TF-Slim's contrib.quantize eval graph. Not supported (contrib is gone): use "
        "--tflite=dynamic_range or --tflite=float16.",
    )

    def validate(self) -> None:
        """Raises: SlimclsError: --quantize, with the TF Lite flags that replace it."""
        super().validate()
        if self.quantize:
            raise SlimclsError(
                "--quantize (TF-Slim's contrib.quantize graph) is not supported; expected "
                "--tflite=dynamic_range or --tflite=float16 for a quantised model"
            )
