"""Command-line flags, defined once in groups and shared by the entry points.

Names, defaults and meanings are TF-Slim's (``train_image_classifier.py`` /
``eval_image_classifier.py``), so users' shell scripts keep working; additions are
marked as such in their help text. Only entry points import this module (library code
takes plain config objects). Each ``define_*`` function defines its group once per
process, so two entry points imported in one process (tests) do not clash.

Typical use in an entry point::

    from slimcls.cli import flag_defs
    flag_defs.define_dataset_flags(default_split="train", default_batch_size=32)
    flag_defs.define_model_flags(image_size_flag_name="train_image_size")
    FLAGS = flags.FLAGS
"""

from __future__ import annotations

import datetime
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from absl import flags

if TYPE_CHECKING:
    from slimcls.config import ClassifierConfig

FLAGS = flags.FLAGS

OPTIMIZERS = ("adadelta", "adagrad", "adam", "ftrl", "momentum", "sgd", "rmsprop")
LEARNING_RATE_DECAY_TYPES = ("fixed", "exponential", "polynomial", "cosine")
MIXED_PRECISION = ("bfloat16", "float16")

_defined: set[str] = set()


def define_once(define_fn, name: str, *args, **kwargs) -> None:
    """Defines a flag unless another entry point in this process already did.

    Tests (and tools) import several entry points into one process; a name defined
    twice keeps its first definition instead of raising DuplicateFlagError.
    """
    if name not in FLAGS:
        define_fn(name, *args, **kwargs)


def _once(group: str) -> bool:
    """True the first time a group is defined in this process."""
    if group in _defined:
        return False
    _defined.add(group)
    return True


def define_dataset_flags(default_split: str = "train", default_batch_size: int = 32) -> None:
    """dataset_name, dataset_split_name, dataset_dir, labels_offset, batch_size, readers.

    Args:
      default_split: TF-Slim uses "train" for training and "test" for eval.
      default_batch_size: TF-Slim uses 32 for training and 100 for eval.
    """
    if not _once("dataset"):
        return
    define_once(
        flags.DEFINE_string,
        "dataset_name",
        None,
        "Name of the converted dataset in --dataset_dir (the 'name' in its dataset.json, "
        "e.g. cifar10, flowers, hwdb). A name that disagrees with dataset.json is an error. "
        "None: use whatever dataset --dataset_dir holds.",
    )
    define_once(
        flags.DEFINE_string,
        "dataset_split_name",
        default_split,
        "Split to read (a key of dataset.json's 'splits').",
    )
    define_once(
        flags.DEFINE_string,
        "dataset_dir",
        None,
        "Directory of a converted dataset (TFRecord shards + dataset.json + labels.txt). Required.",
    )
    define_once(
        flags.DEFINE_integer,
        "labels_offset",
        0,
        "Subtracted from every label: 1 trains a net without a background class on a "
        "dataset whose label 0 is background (TF-Slim's ImageNet convention).",
    )
    define_once(
        flags.DEFINE_integer, "batch_size", default_batch_size, "Number of examples in each batch."
    )
    define_once(
        flags.DEFINE_integer,
        "num_readers",
        4,
        "Shards read in parallel (tf.data interleave cycle length). 0 or None: AUTOTUNE.",
    )
    define_once(
        flags.DEFINE_integer,
        "num_preprocessing_threads",
        4,
        "Parallel decode + preprocess calls (tf.data map num_parallel_calls). 0 or None: AUTOTUNE.",
    )


def define_model_flags(image_size_flag_name: str = "train_image_size") -> None:
    """model_name, preprocessing_name, use_grayscale and the image-size flag.

    ``model_name`` is an enum over ``nets.nets_factory.NETWORKS``, imported here (at
    definition time) so a typo fails at flag parsing with the choices.

    Args:
      image_size_flag_name: "train_image_size" (train) or "eval_image_size" (eval).
    """
    if not _once("model"):
        return
    from slimcls.nets.nets_factory import NETWORKS  # lazily: only entry points define flags

    define_once(
        flags.DEFINE_enum,
        "model_name",
        "inception_v3",
        sorted(NETWORKS),
        "Name of the architecture (a key of nets_factory.NETWORKS).",
    )
    define_once(
        flags.DEFINE_string,
        "preprocessing_name",
        None,
        "Preprocessing to use (see preprocessing_factory). None: the net's own "
        "(NETWORKS[model_name].preprocessing).",
    )
    define_once(
        flags.DEFINE_boolean,
        "use_grayscale",
        False,
        "Convert images to grayscale during preprocessing (the net then sees 1 channel).",
    )
    define_once(
        flags.DEFINE_integer,
        image_size_flag_name,
        None,
        "Height and width in pixels of the images fed to the net. None: the net's "
        "default_image_size.",
    )


def define_moving_average_flags() -> None:
    """moving_average_decay (train: keep shadows; eval: read them)."""
    if not _once("moving_average"):
        return
    define_once(
        flags.DEFINE_float,
        "moving_average_decay",
        None,
        "Decay of the exponential moving averages of the model variables, saved as "
        "<var>/ExponentialMovingAverage. None: no moving averages.",
    )


def classifier_config_from_flags(image_size: int | None) -> ClassifierConfig:
    """The :class:`slimcls.classify.ClassifierConfig` of the parsed flags.

    For the commands that load a trained net (classify, export): they define the dataset,
    model and moving-average groups, ``checkpoint_path`` and ``labels_file``, and name
    their image-size flag differently, so its value is passed in.
    """
    from slimcls.config import ClassifierConfig  # imports TF: only when called

    return ClassifierConfig(
        checkpoint_path=FLAGS.checkpoint_path,
        model_name=FLAGS.model_name,
        dataset_dir=FLAGS.dataset_dir,
        labels_file=FLAGS.labels_file,
        labels_offset=FLAGS.labels_offset,
        preprocessing_name=FLAGS.preprocessing_name,
        eval_image_size=image_size,
        use_grayscale=FLAGS.use_grayscale,
        moving_average_decay=FLAGS.moving_average_decay,
    )


def define_optimizer_flags() -> None:
    """optimizer, weight_decay and every optimizer's hyper-parameters (TF-Slim's)."""
    if not _once("optimizer"):
        return
    define_once(
        flags.DEFINE_float, "weight_decay", 0.00004, "Weight decay (L2) on the model's weights."
    )
    define_once(
        flags.DEFINE_enum,
        "optimizer",
        "rmsprop",
        list(OPTIMIZERS),
        "Optimizer; update rules are TF1's tf.compat.v1.train ones.",
    )
    define_once(flags.DEFINE_float, "adadelta_rho", 0.95, "Decay rate for adadelta.")
    define_once(
        flags.DEFINE_float,
        "adagrad_initial_accumulator_value",
        0.1,
        "Starting value for the AdaGrad accumulators.",
    )
    define_once(
        flags.DEFINE_float,
        "adam_beta1",
        0.9,
        "Exponential decay rate for the 1st moment estimates.",
    )
    define_once(
        flags.DEFINE_float,
        "adam_beta2",
        0.999,
        "Exponential decay rate for the 2nd moment estimates.",
    )
    define_once(
        flags.DEFINE_float, "opt_epsilon", 1.0, "Epsilon term of adadelta, adam and rmsprop."
    )
    define_once(
        flags.DEFINE_float, "ftrl_learning_rate_power", -0.5, "Learning rate power of ftrl."
    )
    define_once(
        flags.DEFINE_float,
        "ftrl_initial_accumulator_value",
        0.1,
        "Starting value for the FTRL accumulators.",
    )
    define_once(flags.DEFINE_float, "ftrl_l1", 0.0, "The FTRL l1 regularization strength.")
    define_once(flags.DEFINE_float, "ftrl_l2", 0.0, "The FTRL l2 regularization strength.")
    define_once(flags.DEFINE_float, "momentum", 0.9, "Momentum of the momentum optimizer.")
    define_once(flags.DEFINE_float, "rmsprop_momentum", 0.9, "Momentum of rmsprop.")
    define_once(flags.DEFINE_float, "rmsprop_decay", 0.9, "Decay term of rmsprop.")


def define_learning_rate_flags() -> None:
    """learning_rate, decay type and its parameters, warmup_epochs, label_smoothing."""
    if not _once("learning_rate"):
        return
    define_once(
        flags.DEFINE_enum,
        "learning_rate_decay_type",
        "exponential",
        list(LEARNING_RATE_DECAY_TYPES),
        "How the learning rate decays: fixed, exponential (staircase), polynomial (power 1 "
        "down to --end_learning_rate) or cosine (addition: down to --end_learning_rate at "
        "--max_number_of_steps).",
    )
    define_once(flags.DEFINE_float, "learning_rate", 0.01, "Initial learning rate.")
    define_once(
        flags.DEFINE_float,
        "end_learning_rate",
        0.0001,
        "Minimal learning rate of polynomial and cosine decay.",
    )
    define_once(flags.DEFINE_float, "label_smoothing", 0.0, "Amount of label smoothing (0 = none).")
    define_once(
        flags.DEFINE_float, "learning_rate_decay_factor", 0.94, "Learning rate decay factor."
    )
    define_once(
        flags.DEFINE_float,
        "num_epochs_per_decay",
        2.0,
        "Epochs after which the learning rate decays; decay steps = int(num_samples / "
        "batch_size * num_epochs_per_decay), num_samples from dataset.json.",
    )
    define_once(
        flags.DEFINE_float,
        "warmup_epochs",
        0.0,
        "Addition: epochs of linear warmup from 0 to --learning_rate before decay starts. "
        "0: no warmup.",
    )


def define_checkpoint_flags() -> None:
    """Fine-tuning (checkpoint_path, scopes) and checkpoint-saving flags for training."""
    if not _once("checkpoint"):
        return
    define_once(
        flags.DEFINE_string,
        "checkpoint_path",
        None,
        "Checkpoint to fine-tune from: a prefix (model.ckpt-1000, inception_v3.ckpt) or a "
        "directory (its latest). Not used when --train_dir already holds a checkpoint "
        "(training resumes from that). None: start from scratch.",
    )
    define_once(
        flags.DEFINE_string,
        "checkpoint_exclude_scopes",
        None,
        "Comma-separated variable scopes not restored from --checkpoint_path, e.g. "
        "InceptionV3/Logits,InceptionV3/AuxLogits. None: restore every model variable.",
    )
    define_once(
        flags.DEFINE_string,
        "trainable_scopes",
        None,
        "Comma-separated variable scopes to train; all others stay frozen. "
        "None: train every trainable variable.",
    )
    define_once(
        flags.DEFINE_boolean,
        "ignore_missing_vars",
        False,
        "When restoring from --checkpoint_path, skip model variables the checkpoint lacks "
        "instead of failing.",
    )
    define_once(
        flags.DEFINE_integer,
        "save_interval_secs",
        600,
        "Seconds between checkpoint saves (also saved at the end).",
    )
    define_once(
        flags.DEFINE_integer,
        "max_checkpoints_to_keep",
        5,
        "Addition: newest checkpoints kept in --train_dir. 0: keep all.",
    )


def define_train_flags() -> None:
    """train_dir, steps, logging, summaries and the additions of slimcls' loop."""
    if not _once("train"):
        return
    define_once(
        flags.DEFINE_string,
        "train_dir",
        "/tmp/tfmodel/",
        "Directory where checkpoints and event logs are written.",
    )
    define_once(
        flags.DEFINE_integer,
        "max_number_of_steps",
        None,
        "Maximum number of training steps. None: train forever.",
    )
    define_once(flags.DEFINE_integer, "log_every_n_steps", 10, "Steps between log lines.")
    define_once(
        flags.DEFINE_integer, "save_summaries_secs", 600, "Seconds between TensorBoard summaries."
    )
    define_once(
        flags.DEFINE_enum,
        "mixed_precision",
        None,
        list(MIXED_PRECISION),
        "Addition: compute in bfloat16 or float16 with float32 variables (for GPUs/TPUs). "
        "None: float32 everywhere.",
    )
    define_once(
        flags.DEFINE_boolean,
        "jit_compile",
        False,
        "Addition: compile the train step with XLA. Measure first: on CPU it is often slower.",
    )
    define_once(
        flags.DEFINE_integer,
        "random_seed",
        None,
        "Addition: seed for initialisation and input shuffling. None: nondeterministic.",
    )
    define_once(
        flags.DEFINE_string,
        "validation_split_name",
        None,
        "Addition: a split evaluated during training every --eval_every_n_steps (accuracy "
        "logged and summarised). None: no evaluation during training.",
    )
    define_once(
        flags.DEFINE_integer,
        "eval_every_n_steps",
        1000,
        "Addition: steps between evaluations on --validation_split_name.",
    )


def define_distribution_flags() -> None:
    """TF-Slim's deployment flags: num_clones, clone_on_cpu and the parameter-server set.

    Multi-worker training uses TF_CONFIG with tf.distribute; the parameter-server flags
    are accepted so old scripts parse, and explain what to use instead.
    """
    if not _once("distribution"):
        return
    define_once(
        flags.DEFINE_string, "master", "", "TF-Slim's TF1 session target. Not used (TF2 has none)."
    )
    define_once(
        flags.DEFINE_integer,
        "num_clones",
        1,
        "Model clones (one per local device). Only 1 is supported yet.",
    )
    define_once(
        flags.DEFINE_boolean,
        "clone_on_cpu",
        False,
        "Place the clone on the CPU even if GPUs exist.",
    )
    define_once(
        flags.DEFINE_integer,
        "worker_replicas",
        1,
        "TF-Slim's worker count. Not used: set TF_CONFIG instead.",
    )
    define_once(
        flags.DEFINE_integer,
        "num_ps_tasks",
        0,
        "TF-Slim's parameter servers. Not used: set TF_CONFIG instead.",
    )
    define_once(
        flags.DEFINE_integer, "task", 0, "TF-Slim's task id. Not used: set TF_CONFIG instead."
    )
    define_once(
        flags.DEFINE_boolean,
        "sync_replicas",
        False,
        "TF-Slim's SyncReplicasOptimizer switch. Not used (TF_CONFIG).",
    )
    define_once(
        flags.DEFINE_integer,
        "replicas_to_aggregate",
        1,
        "TF-Slim's sync-replica count. Not used (TF_CONFIG).",
    )
    define_once(
        flags.DEFINE_integer,
        "quantize_delay",
        -1,
        "TF-Slim's quantized training. Not supported: must stay -1.",
    )


def parse_scopes(value: str | None) -> list[str]:
    """Splits a comma-separated scope list, dropping surrounding spaces and empty items."""
    if not value:
        return []
    return [s.strip() for s in value.split(",") if s.strip()]


def write_flagfile(
    directory: str,
    module_names: Iterable[str] = (),
    filename: str = "flags.txt",
    flag_values: flags.FlagValues = FLAGS,
) -> str:
    """Writes the effective flags to ``<directory>/<filename>`` for ``--flagfile``.

    Writes every flag defined by this module and by ``module_names`` (the entry point,
    e.g. ``sys.argv[0]``'s module) that has a value, one ``--name=value`` per line, with
    a comment header. Flags whose value is None are written as comments.

    Returns:
      The path written.
    """
    from slimcls.core.compat import tf
    from slimcls.core.fileio import write_text_atomic

    by_module = flag_values.flags_by_module_dict()
    names = [__name__, *module_names]
    seen: dict[str, flags.Flag] = {}
    for module in names:
        for flag in by_module.get(module, []):
            seen.setdefault(flag.name, flag)
    lines = [
        f"# Effective flags of `{os.path.basename(sys.argv[0])}`, "
        f"{datetime.datetime.now().isoformat(timespec='seconds')}.",
        f"# Reuse with --flagfile={os.path.join(directory, filename)}",
    ]
    for name in sorted(seen):
        flag = seen[name]
        text = flag.serialize()
        lines.append(text if text else f"# --{name} is None")
    path = os.path.join(directory, filename)
    tf.io.gfile.makedirs(directory)
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
