"""Training's settings: ``train_image_classifier``'s flags (TF-Slim's names), with the
optimizer and learning-rate groups nested, and TF-Slim's TF1 deployment flags."""

from __future__ import annotations

import dataclasses

from slimcls.config.settings import (
    CACHE_IMAGES,
    DECAY_TYPES,
    HELP_DATASET_DIR,
    HELP_DATASET_NAME,
    HELP_EMA,
    HELP_GRAYSCALE,
    HELP_IMAGE_SIZE,
    HELP_IMAGENET,
    HELP_LABELS_OFFSET,
    HELP_MAX_IMAGE_PIXELS,
    HELP_MODEL_NAME,
    HELP_PREPROCESSING,
    HELP_READERS,
    HELP_SPLIT,
    HELP_TF_CONFIG,
    HELP_THREADS,
    MIXED_PRECISION,
    MODEL_NAMES,
    OPTIMIZERS,
    REFUSED_MODEL_NAMES,
    Settings,
    registered_nets,
    setting,
)
from slimcls.core.errors import SlimclsError


@dataclasses.dataclass(frozen=True)
class OptimizerConfig(Settings):
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
class LearningRateConfig(Settings):
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
class TrainConfig(Settings):
    """Everything ``train`` needs; field names are TF-Slim's flag names (see each help)."""

    train_dir: str = setting(
        help="Directory where checkpoints, flags.txt, runs.jsonl and event logs are written.",
        flag_default="/tmp/tfmodel/",
    )
    dataset_dir: str = setting(help=HELP_DATASET_DIR + " Required.")
    dataset_name: str | None = setting(None, HELP_DATASET_NAME)
    dataset_split_name: str = setting("train", HELP_SPLIT)
    labels_offset: int = setting(0, HELP_LABELS_OFFSET, lower_bound=0)
    model_name: str = setting(
        "inception_v3",
        HELP_MODEL_NAME,
        choices=MODEL_NAMES,
        more_choices=registered_nets,
        refused=REFUSED_MODEL_NAMES,
    )
    preprocessing_name: str | None = setting(None, HELP_PREPROCESSING)
    use_grayscale: bool = setting(False, HELP_GRAYSCALE)
    train_image_size: int | None = setting(None, HELP_IMAGE_SIZE)
    batch_size: int = setting(32, "Number of examples in each batch.", lower_bound=1)
    max_number_of_steps: int | None = setting(
        None, "Maximum number of training steps. None: train until interrupted.", lower_bound=1
    )
    num_readers: int | None = setting(4, HELP_READERS)
    num_preprocessing_threads: int | None = setting(4, HELP_THREADS)
    max_image_pixels: int | None = setting(50_000_000, HELP_MAX_IMAGE_PIXELS, lower_bound=1)
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
    moving_average_decay: float | None = setting(None, HELP_EMA, lower_bound=0, upper_bound=1)
    checkpoint_path: str | None = setting(
        None,
        "Checkpoint to fine-tune from: a prefix (model.ckpt-1000, inception_v3.ckpt), a "
        "directory (its latest), or 'imagenet' (" + HELP_IMAGENET + "; its head is not restored "
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
    log_every_n_steps: int = setting(
        10,
        "Steps between log lines (and train_log.csv rows). 0: no log lines, and a "
        "train_log.csv row every step (what the benchmarks use).",
        lower_bound=0,
    )
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

    def validate(self) -> None:
        """The settings' choices and bounds, then the rules between fields.

        Raises:
          SlimclsError: --deterministic without --random_seed, or cosine decay without
            --max_number_of_steps (where it reaches --end_learning_rate).
        """
        super().validate()
        if self.deterministic and self.random_seed is None:
            raise SlimclsError("--deterministic needs --random_seed (e.g. --random_seed=0)")
        decay = getattr(self.learning_rate, "learning_rate_decay_type", None)
        if decay == "cosine" and not self.max_number_of_steps:
            raise SlimclsError(
                "--learning_rate_decay_type=cosine needs --max_number_of_steps "
                "(the step where the rate reaches --end_learning_rate)"
            )


@dataclasses.dataclass(frozen=True)
class TfSlimDeploymentConfig(Settings):
    """TF-Slim's TF1 deployment flags: accepted so old scripts parse, then explained.

    Multi-worker training uses TF_CONFIG with tf.distribute; any non-default value here
    is an error saying so (``master`` is only ignored, with a warning).
    """

    master: str = setting("", "TF-Slim's TF1 session target. Not used (TF2 has none).")
    worker_replicas: int = setting(1, "TF-Slim's worker count. " + HELP_TF_CONFIG)
    num_ps_tasks: int = setting(0, "TF-Slim's parameter servers. " + HELP_TF_CONFIG)
    task: int = setting(0, "TF-Slim's task id. " + HELP_TF_CONFIG)
    sync_replicas: bool = setting(
        False, "TF-Slim's SyncReplicasOptimizer switch. " + HELP_TF_CONFIG
    )
    replicas_to_aggregate: int = setting(1, "TF-Slim's sync-replica count. " + HELP_TF_CONFIG)
    quantize_delay: int = setting(-1, "TF-Slim's quantized training. Not supported: must stay -1.")

    def validate(self) -> None:
        """Any non-default value (but ``master``) is an error saying what to do instead.

        Raises:
          SlimclsError: --quantize_delay set, or a parameter-server flag (use TF_CONFIG).
        """
        super().validate()
        if self.quantize_delay >= 0:
            raise SlimclsError(
                f"--quantize_delay={self.quantize_delay}: quantization-aware training is not "
                "supported (it needs TF1's contrib.quantize); leave --quantize_delay=-1"
            )
        used = [
            f"--{f.name}={getattr(self, f.name)}"
            for f in dataclasses.fields(self)
            if f.name in _PARAMETER_SERVER_FLAGS and getattr(self, f.name) != f.default
        ]
        if used:
            raise SlimclsError(
                f"{', '.join(used)} is TF-Slim's parameter-server setup; {_TF_CONFIG_HELP}"
            )


_PARAMETER_SERVER_FLAGS = (
    "worker_replicas", "num_ps_tasks", "task", "sync_replicas", "replicas_to_aggregate"
)  # fmt: skip
_TF_CONFIG_HELP = (
    "slimcls trains on several machines with tf.distribute instead of parameter servers: "
    "run the same command on every machine with TF_CONFIG set, e.g. "
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
    '"task": {"type": "worker", "index": 0}}\' (index 1 on host2), and drop '
    "--worker_replicas, --num_ps_tasks, --task, --sync_replicas and --replicas_to_aggregate"
)
