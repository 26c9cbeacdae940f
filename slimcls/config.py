"""The plain configuration objects of every command: one dataclass per job.

Field names are the commands' flag names (TF-Slim's), and each default is declared
here once: ``slimcls.cli`` generates the absl flags from these classes, and library
code takes these objects, never flags.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """TF-Slim's optimizer flags (same names and defaults)."""

    optimizer: str = "rmsprop"
    adadelta_rho: float = 0.95
    adagrad_initial_accumulator_value: float = 0.1
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    opt_epsilon: float = 1.0
    ftrl_learning_rate_power: float = -0.5
    ftrl_initial_accumulator_value: float = 0.1
    ftrl_l1: float = 0.0
    ftrl_l2: float = 0.0
    momentum: float = 0.9
    rmsprop_momentum: float = 0.9
    rmsprop_decay: float = 0.9


@dataclasses.dataclass(frozen=True)
class LearningRateConfig:
    """TF-Slim's learning-rate flags plus ``warmup_epochs`` and the cosine type."""

    learning_rate: float = 0.01
    learning_rate_decay_type: str = "exponential"
    learning_rate_decay_factor: float = 0.94
    num_epochs_per_decay: float = 2.0
    end_learning_rate: float = 0.0001
    warmup_epochs: float = 0.0


@dataclasses.dataclass
class TrainConfig:
    """Everything ``train`` needs; field names are TF-Slim's flag names.

    ``None`` means: dataset_name -> whatever dataset_dir holds; preprocessing_name ->
    the net's; train_image_size -> the net's default size; max_number_of_steps -> train
    until interrupted; moving_average_decay -> no moving averages; checkpoint_path ->
    start from scratch; random_seed -> nondeterministic; mixed_precision -> float32;
    validation_split_name -> no evaluation during training.
    """

    train_dir: str
    dataset_dir: str
    dataset_name: str | None = None
    dataset_split_name: str = "train"
    labels_offset: int = 0
    model_name: str = "inception_v3"
    preprocessing_name: str | None = None
    use_grayscale: bool = False
    train_image_size: int | None = None
    batch_size: int = 32
    max_number_of_steps: int | None = None
    num_readers: int | None = 4
    num_preprocessing_threads: int | None = 4
    shuffle_buffer_size: int = 10000
    weight_decay: float = 0.00004
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    learning_rate: LearningRateConfig = dataclasses.field(default_factory=LearningRateConfig)
    label_smoothing: float = 0.0
    moving_average_decay: float | None = None
    checkpoint_path: str | None = None
    checkpoint_exclude_scopes: tuple[str, ...] = ()
    trainable_scopes: tuple[str, ...] = ()
    ignore_missing_vars: bool = False
    log_every_n_steps: int = 10
    save_summaries_secs: float = 600
    save_interval_secs: float = 600
    max_checkpoints_to_keep: int = 5
    num_clones: int = 1
    clone_on_cpu: bool = False
    mixed_precision: str | None = None
    jit_compile: bool = False
    random_seed: int | None = None
    validation_split_name: str | None = None
    eval_every_n_steps: int = 1000
    num_summary_images: int = 3
    handle_signals: bool = True


@dataclasses.dataclass
class EvalConfig:
    """What ``eval_image_classifier`` evaluates (TF-Slim's flag names).

    Attributes:
      checkpoint_path: a checkpoint prefix or a directory (its latest; watch mode
        watches it).
      dataset_dir: a converted dataset (``dataset.json``).
      model_name: a key of ``nets.nets_factory.NETWORKS``.
      dataset_name: must match ``dataset.json`` when given; None accepts any.
      dataset_split_name: the split to evaluate.
      batch_size: examples per batch (the last batch may be smaller).
      max_num_batches: evaluate only this many batches (reported as truncated).
      labels_offset: subtracted from the dataset labels; the net has
        ``num_classes - labels_offset`` outputs.
      preprocessing_name: None: the net's own.
      eval_image_size: None: the net's default size.
      use_grayscale: preprocessing converts to one channel.
      moving_average_decay: when set (> 0), evaluate the EMA shadows.
      eval_dir: where metrics.json, confusion_matrix.png/.csv and summaries go; None:
        nothing is written.
      num_readers, num_preprocessing_threads: tf.data parallelism (None: AUTOTUNE).
    """

    checkpoint_path: str
    dataset_dir: str
    model_name: str
    dataset_name: str | None = None
    dataset_split_name: str = "test"
    batch_size: int = 100
    max_num_batches: int | None = None
    labels_offset: int = 0
    preprocessing_name: str | None = None
    eval_image_size: int | None = None
    use_grayscale: bool = False
    moving_average_decay: float | None = None
    eval_dir: str | None = None
    num_readers: int | None = None
    num_preprocessing_threads: int | None = None

    @property
    def use_moving_averages(self) -> bool:
        return bool(self.moving_average_decay)


@dataclasses.dataclass
class ClassifierConfig:
    """What to load for classification or export.

    Attributes:
      checkpoint_path: a checkpoint prefix or a directory (its latest).
      model_name: a key of ``nets.nets_factory.NETWORKS``.
      dataset_dir: a converted dataset: its ``dataset.json`` gives the number of
        classes and channels, its ``labels.txt`` the names. Optional.
      labels_file: a ``labels.txt`` that overrides the dataset's.
      labels_offset: as in training: class i of the net is dataset label i + offset.
      preprocessing_name: None: the net's own.
      eval_image_size: None: the net's default size.
      use_grayscale: as in training.
      moving_average_decay: when set (> 0), load the EMA shadows.
      channels: channels images are decoded to; None: the dataset's, else 3.
      num_classes: None: from the dataset, else from the checkpoint's logits layer.
    """

    checkpoint_path: str
    model_name: str
    dataset_dir: str | None = None
    labels_file: str | None = None
    labels_offset: int = 0
    preprocessing_name: str | None = None
    eval_image_size: int | None = None
    use_grayscale: bool = False
    moving_average_decay: float | None = None
    channels: int | None = None
    num_classes: int | None = None


@dataclasses.dataclass
class ExportConfig:
    """``ClassifierConfig`` fields plus where to write.

    Attributes:
      classifier: what to load (checkpoint, net, labels, EMA, preprocessing).
      output_dir: the SavedModel directory (must not exist unless ``overwrite``).
      overwrite: replace an existing ``output_dir``.
    """

    classifier: ClassifierConfig
    output_dir: str
    overwrite: bool = False


@dataclasses.dataclass(frozen=True)
class ConvertConfig:
    """``download_and_convert_data``'s flags (same names and defaults).

    Attributes:
      dataset_name: the converter (``datasets.converter`` registry name).
      dataset_dir: output directory of shards, ``labels.txt`` and ``dataset.json``.
      source_dir: input; None: flowers and cifar10 download their archive.
      num_shards: shards per split; None: one per 5,000 images.
      validation_fraction: folder: share of each class in validation; hwdb from one folder:
        share of writers held out as test.
      random_seed: seed of the split and of the record order.
      output_name: dataset name; None: the source folder's name (folder) or dataset_name.
      overwrite: convert again even when the output is complete.
      grayscale: folder/flowers: store 1-channel images.
      skip_corrupt: hwdb: skip corrupt records instead of stopping.
      num_workers: encoding processes; None: one per core, 0: in the main process.
      download_url: flowers/cifar10: a mirror of the official archive.
      max_image_pixels: folder/flowers: images with more pixels (from the header) are
        rejected before decoding; None: no limit.
      max_image_size: folder/flowers: longest side above which images are downscaled at
        conversion (stored as PNG); None: keep every image's size.
    """

    dataset_name: str
    dataset_dir: str
    source_dir: str | None = None
    num_shards: int | None = None
    validation_fraction: float = 0.1
    random_seed: int = 0
    output_name: str | None = None
    overwrite: bool = False
    grayscale: bool = False
    skip_corrupt: bool = False
    num_workers: int | None = None
    download_url: str | None = None
    max_image_pixels: int | None = 50_000_000
    max_image_size: int | None = None
