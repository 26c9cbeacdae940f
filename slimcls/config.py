"""The plain configuration objects of every command: one dataclass per job.

Field names are the commands' flag names (TF-Slim's), and each default, help text and
choice list is declared here once, in the field's metadata (see :func:`setting`):
``slimcls.cli`` generates the absl flags from these classes, and library code takes these
objects, never flags. Importing this module is cheap (no TensorFlow), so a command can
answer ``--help`` and reject a bad flag before TensorFlow loads.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from typing import Any


def _net_table():
    """``slimcls.nets.net_table``, loaded without running ``slimcls.nets``' ``__init__``.

    That ``__init__`` applies the tf-slim shims (it imports TensorFlow) for the net modules;
    the table is plain data, and ``--help`` must answer before TensorFlow loads. The module
    is registered under its own name, so a later ``import`` gives this same object.
    """
    name = "slimcls.nets.net_table"
    if name not in sys.modules:
        folder = importlib.util.find_spec("slimcls.nets").submodule_search_locations[0]
        spec = importlib.util.spec_from_file_location(name, f"{folder}/net_table.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


CACHE_IMAGES = ("auto", "memory", "none")
#: ``--model_name``'s choices, from the one net table (readable without TensorFlow, so
#: ``--help`` stays fast). The video nets (i3d, s3dg) are Python-only and not offered.
MODEL_NAMES = _net_table().MODEL_NAMES
#: TF-Slim's video nets: ``--model_name`` refuses them at parse time, saying why.
VIDEO_MODEL_NAMES = tuple(sorted(n for n, row in _net_table().NETS.items() if row.video))
_VIDEO_NET = (
    "is a video net (it takes clips [batch, time, height, width, 3]), for TF-Slim's Python "
    "API only (nets_factory.get_network_fn); the commands take image nets"
)
REFUSED_MODEL_NAMES = {name: _VIDEO_NET for name in VIDEO_MODEL_NAMES}
OPTIMIZERS = ("adadelta", "adagrad", "adam", "ftrl", "momentum", "sgd", "rmsprop")
DECAY_TYPES = ("fixed", "exponential", "polynomial", "cosine")
MIXED_PRECISION = ("auto", "bfloat16", "float16", "float32")


def close_matches(value: str, choices: tuple[str, ...] | list[str], n: int = 3) -> list[str]:
    """The choices nearest to a mistyped ``value``: those it begins (``resnet`` ->
    every ``resnet_*``), else difflib's closest ``n``, best first; may be empty."""
    import difflib

    started = [c for c in choices if value and c.startswith(value)]
    if started:
        return sorted(started)
    return difflib.get_close_matches(value, list(choices), n=n, cutoff=0.6)


def unknown_choice(name: str, value: str, choices, refused: dict[str, str] | None = None) -> str:
    """The message for ``--name=value`` outside ``choices``: a refused value's reason, or
    "did you mean" the closest choices (all choices when none is close or there are few).
    """
    choices = list(choices)
    if refused and value in refused:
        return f"{name} {value!r} {refused[value]} (--help lists the {len(choices)})"
    near = close_matches(value, choices)
    if near and len(choices) > 8:
        return (
            f"unknown {name} {value!r}; did you mean {' or '.join(near)}? "
            f"(--help lists all {len(choices)} choices)"
        )
    guess = f"did you mean {' or '.join(near)}? " if near else ""
    return f"unknown {name} {value!r}; {guess}expected one of {', '.join(choices)}"


def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",  # noqa: A002  (absl's word)
    *,
    choices: tuple[str, ...] | None = None,
    flag_default: Any = dataclasses.MISSING,
    lower_bound: int | float | None = None,
    flag: bool = True,
    default_factory: Any = dataclasses.MISSING,
    refused: dict[str, str] | None = None,
    upper_bound: int | float | None = None,
) -> Any:
    """A dataclass field that also describes its command-line flag.

    Args:
      default: the field's default; none: a required field (its flag defaults to None and
        the command reports a missing value).
      help: the flag's help text (says what None means).
      choices: allowed string values (an enum flag: a typo fails at parsing).
      flag_default: the flag's default where TF-Slim's command had one and the library
        has none (``--train_dir=/tmp/tfmodel/``).
      lower_bound: smallest accepted number.
      upper_bound: largest accepted number.
      flag: False: a library-only knob, not a flag.
      default_factory: for nested configs (their fields become flags of the same names).
      refused: values outside ``choices`` that get their own reason when given (the
        video nets for ``--model_name``).
    """
    metadata = {
        "help": help,
        "choices": choices,
        "refused": refused,
        "flag_default": flag_default,
        "lower_bound": lower_bound,
        "upper_bound": upper_bound,
        "flag": flag,
    }
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# Help texts shared by several commands (one wording, one place).
_DATASET_DIR = "Directory of a converted dataset (TFRecord shards + dataset.json + labels.txt)."
_DATASET_NAME = (
    "Name of the converted dataset in --dataset_dir (the 'name' in its dataset.json, e.g. "
    "cifar10, flowers, hwdb). A name that disagrees with dataset.json is an error. None: use "
    "whatever dataset --dataset_dir holds."
)
_SPLIT = "Split to read (a key of dataset.json's 'splits')."
_LABELS_OFFSET = (
    "Subtracted from every label: 1 trains a net without a background class on a dataset "
    "whose label 0 is background (TF-Slim's ImageNet convention)."
)
_IMAGENET = (
    "TF-Slim's published ImageNet checkpoint of --model_name, downloaded once into "
    "$SLIMCLS_CACHE_DIR; list: python -m slimcls checkpoints"
)
_MODEL_NAME = "Name of the net (docs/nets.md lists them with their sizes)."
_FROM_RUN = " None: the one recorded in the training run's flags.txt (next to --checkpoint_path)."
_MODEL_FROM_RUN = (
    " None: the training run's (its flags.txt, next to --checkpoint_path), else the net the "
    "checkpoint's variables show."
)
_PREPROCESSING = (
    "Preprocessing style: cifarnet, inception, vgg, lenet or handwriting (TF-Slim's model "
    "names work too). None: the net's own."
)
_GRAYSCALE = "Convert images to grayscale during preprocessing (the net then sees 1 channel)."
_IMAGE_SIZE = "Height and width in pixels of the images fed to the net. None: the net's default."
_EMA = (
    "Decay of the exponential moving averages of the model variables, saved as "
    "<var>/ExponentialMovingAverage. None: no moving averages."
)
_READERS = "Shards read in parallel (tf.data interleave cycle length). 0 or None: AUTOTUNE."
_THREADS = (
    "Parallel decode + preprocess calls (tf.data map num_parallel_calls). 0 or None: AUTOTUNE."
)
_TF_CONFIG = "Not used: set TF_CONFIG instead (tf.distribute)."
_MAX_IMAGE_PIXELS = (
    "Addition: a record whose image has more pixels than this (read from its header, before "
    "decoding) stops the run with one line naming the shard and record, instead of "
    "decoding it into memory. None: no limit."
)


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """TF-Slim's optimizer flags (same names and defaults)."""

    optimizer: str = setting(
        "rmsprop", "Optimizer; update rules are TF1's tf.compat.v1.train ones.", choices=OPTIMIZERS
    )
    adadelta_rho: float = setting(0.95, "Decay rate for adadelta.")
    adagrad_initial_accumulator_value: float = setting(
        0.1, "Starting value for the AdaGrad accumulators."
    )
    adam_beta1: float = setting(0.9, "Exponential decay rate for the 1st moment estimates.")
    adam_beta2: float = setting(0.999, "Exponential decay rate for the 2nd moment estimates.")
    opt_epsilon: float = setting(1.0, "Epsilon term of adadelta, adam and rmsprop.")
    ftrl_learning_rate_power: float = setting(-0.5, "Learning rate power of ftrl.")
    ftrl_initial_accumulator_value: float = setting(
        0.1, "Starting value for the FTRL accumulators."
    )
    ftrl_l1: float = setting(0.0, "The FTRL l1 regularization strength.")
    ftrl_l2: float = setting(0.0, "The FTRL l2 regularization strength.")
    momentum: float = setting(0.9, "Momentum of the momentum optimizer.")
    rmsprop_momentum: float = setting(0.9, "Momentum of rmsprop.")
    rmsprop_decay: float = setting(0.9, "Decay term of rmsprop.")


@dataclasses.dataclass(frozen=True)
class LearningRateConfig:
    """TF-Slim's learning-rate flags plus ``warmup_epochs`` and the cosine type."""

    learning_rate: float = setting(0.01, "Initial learning rate.", lower_bound=0)
    learning_rate_decay_type: str = setting(
        "exponential",
        "How the learning rate decays: fixed, exponential (staircase), polynomial (power 1 "
        "down to --end_learning_rate) or cosine (addition: down to --end_learning_rate at "
        "--max_number_of_steps).",
        choices=DECAY_TYPES,
    )
    learning_rate_decay_factor: float = setting(0.94, "Learning rate decay factor.", lower_bound=0)
    num_epochs_per_decay: float = setting(
        2.0,
        "Epochs after which the learning rate decays; decay steps = int(num_samples / "
        "batch_size * num_epochs_per_decay), num_samples from dataset.json.",
        lower_bound=0,
    )
    end_learning_rate: float = setting(
        0.0001, "Minimal learning rate of polynomial and cosine decay.", lower_bound=0
    )
    warmup_epochs: float = setting(
        0.0,
        "Addition: epochs of linear warmup from 0 to --learning_rate before decay starts. "
        "0: no warmup.",
        lower_bound=0,
    )


@dataclasses.dataclass
class TrainConfig:
    """Everything ``train`` needs; field names are TF-Slim's flag names (see each help)."""

    train_dir: str = setting(
        help="Directory where checkpoints, flags.txt, runs.jsonl and event logs are written.",
        flag_default="/tmp/tfmodel/",
    )
    dataset_dir: str = setting(help=_DATASET_DIR + " Required.")
    dataset_name: str | None = setting(None, _DATASET_NAME)
    dataset_split_name: str = setting("train", _SPLIT)
    labels_offset: int = setting(0, _LABELS_OFFSET, lower_bound=0)
    model_name: str = setting(
        "inception_v3", _MODEL_NAME, choices=MODEL_NAMES, refused=REFUSED_MODEL_NAMES
    )
    preprocessing_name: str | None = setting(None, _PREPROCESSING)
    use_grayscale: bool = setting(False, _GRAYSCALE)
    train_image_size: int | None = setting(None, _IMAGE_SIZE)
    batch_size: int = setting(32, "Number of examples in each batch.", lower_bound=1)
    max_number_of_steps: int | None = setting(
        None, "Maximum number of training steps. None: train until interrupted.", lower_bound=1
    )
    num_readers: int | None = setting(4, _READERS)
    num_preprocessing_threads: int | None = setting(4, _THREADS)
    max_image_pixels: int | None = setting(50_000_000, _MAX_IMAGE_PIXELS, lower_bound=1)
    shuffle_buffer_size: int = setting(
        10000, "Addition: examples in the shuffle buffer.", lower_bound=1
    )
    cache_images: str = setting(
        "auto",
        "Addition: keep the decoded training images in memory after the first epoch, so "
        "later epochs skip reading and decoding. Only for preprocessing that runs on whole "
        "batches (cifarnet style), whose per-image part gives fixed-size uint8 images. "
        "auto: when they take at most 2 GiB and a quarter of the available memory; "
        "memory: whenever possible; none: never.",
        choices=CACHE_IMAGES,
    )
    weight_decay: float = setting(
        0.00004, "Weight decay (L2) on the model's weights.", lower_bound=0
    )
    batch_norm_decay: float | None = setting(
        None,
        "Addition: moving-average decay of every batch norm of the net (its moving mean "
        "and variance, which evaluation uses). TF-Slim's 0.9997 (MobileNet, Inception) "
        "needs tens of thousands of steps to forget the initial statistics: for runs of a "
        "few thousand steps use about 1 - 10/steps (e.g. 0.99). None: the net's own "
        "(TF-Slim's) value. No effect on nets without batch norm.",
        lower_bound=0,
        upper_bound=1,
    )
    optimizer: OptimizerConfig = setting(default_factory=OptimizerConfig)
    learning_rate: LearningRateConfig = setting(default_factory=LearningRateConfig)
    label_smoothing: float = setting(
        0.0, "Amount of label smoothing (0 = none).", lower_bound=0, upper_bound=1
    )
    moving_average_decay: float | None = setting(None, _EMA, lower_bound=0, upper_bound=1)
    checkpoint_path: str | None = setting(
        None,
        "Checkpoint to fine-tune from: a prefix (model.ckpt-1000, inception_v3.ckpt), a "
        "directory (its latest), or 'imagenet' (" + _IMAGENET + "; its head is not restored "
        "when the dataset's classes differ). Not used when --train_dir already holds a "
        "checkpoint (training resumes from that). None: start from scratch.",
    )
    checkpoint_exclude_scopes: tuple[str, ...] = setting(
        (),
        "Comma-separated variable scopes not restored from --checkpoint_path, e.g. "
        "InceptionV3/Logits,InceptionV3/AuxLogits. Empty: restore every model variable.",
    )
    trainable_scopes: tuple[str, ...] = setting(
        (),
        "Comma-separated variable scopes to train; all others stay frozen. Empty: train "
        "every trainable variable.",
    )
    ignore_missing_vars: bool = setting(
        False,
        "When restoring from --checkpoint_path, skip model variables the checkpoint lacks "
        "instead of failing.",
    )
    log_every_n_steps: int = setting(10, "Steps between log lines.", lower_bound=1)
    save_summaries_secs: float = setting(
        600,
        "Seconds between TensorBoard summaries (also written at the first and the last "
        "step). 0: only --save_summaries_steps decides.",
        lower_bound=0,
    )
    save_summaries_steps: int | None = setting(
        None,
        "Addition: steps between TensorBoard summaries, besides --save_summaries_secs. "
        "None: by time only.",
        lower_bound=1,
    )
    save_interval_secs: float = setting(
        600, "Seconds between checkpoint saves (also saved at the end).", lower_bound=0
    )
    max_checkpoints_to_keep: int = setting(
        5, "Addition: newest checkpoints kept in --train_dir. 0: keep all.", lower_bound=0
    )
    num_clones: int = setting(
        1,
        "Model clones, one per local device (MirroredStrategy over this many GPUs, or CPU "
        "devices with --clone_on_cpu). --batch_size is per clone: each step trains on "
        "num_clones x batch_size examples (x workers with TF_CONFIG/Slurm).",
        lower_bound=1,
    )
    clone_on_cpu: bool = setting(
        False,
        "Place the clones on the CPU even if GPUs exist (with --num_clones=N: N logical CPU "
        "devices sharing the cores).",
    )
    sync_batch_norm: bool = setting(
        False,
        "Addition: with several clones or workers, BatchNorm uses the mean and variance of "
        "the global batch (one all-reduce per BatchNorm layer and step). Default: each clone "
        "normalises with its own batch's statistics (TF-Slim's behaviour).",
    )
    steps_per_call: int = setting(
        1,
        "Addition: train steps run in one tf.function call without returning to Python "
        "(less per-step host overhead on GPUs/TPUs). Hooks (logs, summaries, checkpoints, "
        "NaN check) then run once per call, at the first call ending on or after each "
        "step they are due.",
        lower_bound=1,
    )
    mixed_precision: str | None = setting(
        None,
        "Addition: compute in bfloat16 or float16 with float32 variables. auto: bfloat16 "
        "where it is fast (CPUs with AMX-BF16 or AVX512_BF16, GPUs of compute capability "
        "8.0+), else float32. "
        "float16 needs a GPU. None or float32: float32 everywhere.",
        choices=MIXED_PRECISION,
    )
    jit_compile: bool = setting(
        False,
        "Addition: compile the train step with XLA. Measure first: on CPU it is often slower.",
    )
    random_seed: int | None = setting(
        None, "Addition: seed for initialisation and input shuffling. None: nondeterministic."
    )
    deterministic: bool = setting(
        False,
        "Addition: bit-identical runs: TensorFlow op determinism and a deterministic input "
        "order (needs --random_seed). Costs speed: see the README.",
    )
    early_stopping_patience: int | None = setting(
        None,
        "Addition: stop after this many evaluations on --validation_split_name without a "
        "better accuracy. None: never stop early.",
        lower_bound=1,
    )
    validation_split_name: str | None = setting(
        None,
        "Addition: a split evaluated during training every --eval_every_n_steps (accuracy "
        "logged and summarised). None: no evaluation during training.",
    )
    eval_every_n_steps: int = setting(
        1000, "Addition: steps between evaluations on --validation_split_name.", lower_bound=1
    )
    num_summary_images: int = setting(
        3, "Addition: preprocessed input images shown in TensorBoard.", lower_bound=0
    )
    handle_signals: bool = setting(True, flag=False)
    #: The live progress bar of training (None: when stderr is a terminal); False where a
    #: caller draws its own (make_image_classifier).
    progress_bar: bool | None = setting(None, flag=False)


@dataclasses.dataclass(frozen=True)
class TfSlimDeploymentConfig:
    """TF-Slim's TF1 deployment flags: accepted so old scripts parse, then explained.

    Multi-worker training uses TF_CONFIG with tf.distribute; any non-default value here
    is an error saying so (``master`` is only ignored, with a warning).
    """

    master: str = setting("", "TF-Slim's TF1 session target. Not used (TF2 has none).")
    worker_replicas: int = setting(1, "TF-Slim's worker count. " + _TF_CONFIG)
    num_ps_tasks: int = setting(0, "TF-Slim's parameter servers. " + _TF_CONFIG)
    task: int = setting(0, "TF-Slim's task id. " + _TF_CONFIG)
    sync_replicas: bool = setting(False, "TF-Slim's SyncReplicasOptimizer switch. " + _TF_CONFIG)
    replicas_to_aggregate: int = setting(1, "TF-Slim's sync-replica count. " + _TF_CONFIG)
    quantize_delay: int = setting(-1, "TF-Slim's quantized training. Not supported: must stay -1.")


@dataclasses.dataclass
class EvalConfig:
    """What ``eval_image_classifier`` evaluates (TF-Slim's flag names; see each help).

    ``use_moving_averages``: evaluate the EMA shadows (``moving_average_decay`` > 0).
    """

    checkpoint_path: str = setting(
        help="The checkpoint to evaluate: a prefix (train_dir/model.ckpt-1000), a directory "
        "(its latest checkpoint; in watch mode, the directory to watch) or 'imagenet' ("
        + _IMAGENET
        + "). Required."
    )
    dataset_dir: str = setting(help=_DATASET_DIR + _FROM_RUN)
    model_name: str = setting(
        help=_MODEL_NAME + _MODEL_FROM_RUN, choices=MODEL_NAMES, refused=REFUSED_MODEL_NAMES
    )
    dataset_name: str | None = setting(None, _DATASET_NAME)
    dataset_split_name: str = setting("test", _SPLIT)
    batch_size: int = setting(
        100, "Examples per batch (the last batch may be smaller).", lower_bound=1
    )
    max_num_batches: int | None = setting(
        None,
        "Evaluate only this many batches (reported as truncated). None: the whole split, "
        "every example once.",
        lower_bound=1,
    )
    labels_offset: int = setting(0, _LABELS_OFFSET + " Default: the run's.", lower_bound=0)
    preprocessing_name: str | None = setting(None, _PREPROCESSING + " Default: the run's.")
    eval_image_size: int | None = setting(
        None, _IMAGE_SIZE + " Default: the run's --train_image_size."
    )
    use_grayscale: bool = setting(False, _GRAYSCALE + " Default: the run's.")
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
    num_readers: int | None = setting(None, _READERS)
    num_preprocessing_threads: int | None = setting(None, _THREADS)
    max_image_pixels: int | None = setting(50_000_000, _MAX_IMAGE_PIXELS, lower_bound=1)

    @property
    def use_moving_averages(self) -> bool:
        return bool(self.moving_average_decay)


@dataclasses.dataclass(frozen=True)
class WatchConfig:
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
class ClassifierConfig:
    """What to load for classification or export (see each help).

    ``channels`` (None: the dataset's, else 3) and ``num_classes`` (None: from the
    dataset, else from the checkpoint's logits layer) are library-only overrides.
    """

    checkpoint_path: str = setting(
        help="Checkpoint to load: a prefix, a directory (its latest) or 'imagenet' ("
        + _IMAGENET
        + "; its ImageNet classes). Required."
    )
    model_name: str = setting(
        help=_MODEL_NAME + _MODEL_FROM_RUN, choices=MODEL_NAMES, refused=REFUSED_MODEL_NAMES
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
    labels_offset: int = setting(0, _LABELS_OFFSET + " Default: the run's.", lower_bound=0)
    preprocessing_name: str | None = setting(None, _PREPROCESSING + " Default: the run's.")
    eval_image_size: int | None = setting(
        None, _IMAGE_SIZE + " Default: the run's --train_image_size."
    )
    use_grayscale: bool = setting(False, _GRAYSCALE + " Default: the run's.")
    moving_average_decay: float | None = setting(
        None, "When set (> 0), load the moving averages (EMA shadows). None: the variables."
    )
    channels: int | None = setting(None, flag=False)
    num_classes: int | None = setting(None, flag=False)


@dataclasses.dataclass(frozen=True)
class ClassifyOutputConfig:
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
class ExportConfig:
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


@dataclasses.dataclass(frozen=True)
class TfSlimExportConfig:
    """TF-Slim's export flags outside ``ExportConfig``: checked, or explained if unsupported."""

    dataset_name: str | None = setting(None, _DATASET_NAME)
    quantize: bool = setting(
        False,
        "TF-Slim's contrib.quantize eval graph. Not supported (contrib is gone): use "
        "--tflite=dynamic_range or --tflite=float16.",
    )


#: Converters of ``download_and_convert_data`` (``slimcls.datasets.converter`` registry);
#: ``tests/cli/test_flags.py`` checks the two agree.
CONVERTER_NAMES = ("folder", "flowers", "cifar10", "hwdb", "mnist", "adopt")


@dataclasses.dataclass(frozen=True)
class ConvertConfig:
    """``download_and_convert_data``'s settings (TF-Slim's names where TF-Slim had them)."""

    dataset_name: str = setting(
        help="Converter: folder (class sub-folders, or train/ + validation/ (val/) + test/ "
        "of class sub-folders), flowers, cifar10, hwdb, mnist, or adopt (writes dataset.json "
        "beside TF-Slim shards already in --dataset_dir, counting their records). Required.",
        choices=CONVERTER_NAMES,
    )
    dataset_dir: str = setting(
        help="Output directory: TFRecord shards, labels.txt and dataset.json. Required."
    )
    source_dir: str | None = setting(
        None,
        "Input: a folder of class sub-folders (folder/flowers), cifar-10-batches-{bin,py} or "
        "its .tar.gz (cifar10), a folder of .gnt files or train/ and test/ (hwdb), the four "
        "IDX files, gzipped or not (mnist). None: flowers, cifar10 and mnist download their "
        "files into --dataset_dir (checksums verified).",
    )
    num_shards: int | None = setting(
        None, "Shards per split. None: one per 5,000 images.", lower_bound=1
    )
    validation_fraction: float = setting(
        0.1,
        "folder/flowers: share of each class held out as 'validation'; hwdb from one folder: "
        "share of writers held out as 'test'.",
    )
    random_seed: int = setting(0, "Seed of the split and of the record order.")
    output_name: str | None = setting(
        None,
        "Dataset name (shard prefix, dataset.json 'name'). None: the source folder's name "
        "(folder) or --dataset_name.",
    )
    overwrite: bool = setting(
        False,
        "Convert again even when --dataset_dir holds the complete dataset (the new one "
        "replaces the old only once it is complete).",
    )
    grayscale: bool = setting(False, "folder/flowers: store 1-channel images.")
    skip_corrupt: bool = setting(
        False, "hwdb: skip corrupt records (counted) instead of stopping at the first."
    )
    num_workers: int | None = setting(
        None, "Encoding processes. None: one per core; 0: in the main process.", lower_bound=0
    )
    download_url: str | None = setting(
        None, "flowers/cifar10: a mirror of the official archive (the checksum is still checked)."
    )
    max_image_pixels: int | None = setting(
        50_000_000,
        "folder/flowers: images with more pixels than this (read from the header, before "
        "decoding) are rejected and listed in rejected.txt. None: no limit.",
        lower_bound=1,
    )
    max_file_bytes: int | None = setting(
        256 * 1024 * 1024,
        "folder/flowers: files larger than this are not read (listed in rejected.txt). None: "
        "no limit.",
        lower_bound=1,
    )
    max_image_size: int | None = setting(
        None,
        "folder/flowers: longest side above which images are downscaled at conversion "
        "(stored as PNG), so training memory stays bounded. None: keep every image's size.",
        lower_bound=1,
    )


#: make_image_classifier's default net (see the README's "Fine-tune on your own photos"
#: for the measurement behind it).
MAKE_CLASSIFIER_MODEL = "mobilenet_v3_small_minimalistic"
CACHE_FEATURES = ("auto", "none")


@dataclasses.dataclass(frozen=True)
class MakeClassifierConfig:
    """``make_image_classifier``'s settings: TF Hub's tool's flag names where it has them."""

    image_dir: str = setting(
        help="A folder with one sub-folder of images per class (as download_and_convert_data "
        "--dataset_name=folder takes), or a dataset directory that command converted (with "
        "dataset.json), used as it is. Required."
    )
    output_dir: str = setting(
        help="Directory for everything the command writes: data/ (the converted images), "
        "head/ and fine_tune/ (training runs), eval/, saved_model/, model.tflite, "
        "labels.txt and summary.json. Must be new, empty, or this command's earlier output "
        "(then it resumes, or says it is done). Required."
    )
    model_name: str = setting(
        MAKE_CLASSIFIER_MODEL,
        "Net to fine-tune (a key of nets_factory.NETWORKS whose classifier is one layer on "
        "pooled features: the MobileNets, inception_v3, resnet_*, ...).",
        choices=MODEL_NAMES,
    )
    checkpoint_path: str = setting(
        "imagenet",
        "Weights to start from: 'imagenet' (the published ImageNet checkpoint of "
        "--model_name, downloaded once into the cache), or a checkpoint prefix, file or "
        "directory.",
    )
    image_size: int | None = setting(
        None,
        "Height and width the net sees. None: the published checkpoint's (else the net's "
        "default).",
        lower_bound=1,
    )
    train_epochs: int = setting(
        5, "Epochs of head-only training (the new classifier on the frozen body).", lower_bound=1
    )
    batch_size: int = setting(32, "Examples per training step.", lower_bound=1)
    learning_rate: float = setting(
        0.005, "Learning rate of head-only training (SGD with --momentum).", lower_bound=0
    )
    momentum: float = setting(0.9, "Momentum of the SGD optimizer (0: plain SGD).", lower_bound=0)
    dropout_rate: float = setting(
        0.2, "Dropout on the features the new classifier sees during head-only training."
    )
    label_smoothing: float = setting(0.1, "Label smoothing of the training loss.", lower_bound=0)
    weight_decay: float = setting(
        0.00004, "L2 weight decay (TF-Slim's) on the classifier, and on all layers when "
        "fine-tuning.", lower_bound=0
    )
    do_fine_tuning: bool = setting(
        False,
        "After head-only training, also train all layers (TF-Slim's second phase), at "
        "--fine_tuning_learning_rate for --fine_tuning_epochs, with the net's training "
        "preprocessing (random crops, flips, colour).",
    )
    fine_tuning_epochs: int | None = setting(
        None, "Epochs of fine-tuning all layers. None: --train_epochs.", lower_bound=1
    )
    fine_tuning_learning_rate: float | None = setting(
        None,
        "Learning rate of fine-tuning all layers (cosine decay to 1% of it). None: "
        "--learning_rate / 10.",
        lower_bound=0,
    )
    batch_norm_decay: float | None = setting(
        None,
        "Moving-average decay of the batch norms while fine-tuning all layers. None: fit "
        "to the run's length (about 1 - 10/steps; TF-Slim's 0.9997 would leave the "
        "ImageNet statistics in place in a short run).",
    )
    cache_features: str = setting(
        "auto",
        "Head-only training computes each image's body features once and trains the "
        "classifier on them (the body runs in evaluation mode, without augmentation). "
        "auto: when they fit in memory (at most 2 GiB and a quarter of what is free); "
        "none: run the body on every step.",
        choices=CACHE_FEATURES,
    )
    validation_fraction: float = setting(
        0.2,
        "Share of each class held out for validation when converting a class folder "
        "(as download_and_convert_data's flag). Not used for a converted dataset.",
    )
    random_seed: int = setting(0, "Seed of the split, the example order and initialisation.")
    mixed_precision: str = setting(
        "auto",
        "Compute dtype: auto (bfloat16 where it is fast, else float32), bfloat16, float16 "
        "(GPUs) or float32. Variables and checkpoints stay float32.",
        choices=MIXED_PRECISION,
    )
    saved_model_dir: str | None = setting(
        None, "Where the SavedModel goes (must not exist). None: <output_dir>/saved_model."
    )
    tflite_output_file: str | None = setting(
        None, "Where the float32 TF Lite model goes. None: <output_dir>/model.tflite."
    )
    labels_output_file: str | None = setting(
        None,
        "Where the class names go, one per line in the order of the model's outputs (TF "
        "Hub's format). None: <output_dir>/labels.txt.",
    )
    summaries_dir: str | None = setting(
        None,
        "TensorBoard logs of head-only training (train/, validation/). None: "
        "<output_dir>/head. Fine-tuning writes its own in <output_dir>/fine_tune.",
    )


@dataclasses.dataclass(frozen=True)
class CheckpointsConfig:
    """``python -m slimcls checkpoints``: which published checkpoints to list."""

    model_name: str | None = setting(
        None, "List only this net's published checkpoints. None: every net's.", choices=MODEL_NAMES
    )
