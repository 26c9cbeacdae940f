"""A training run's plan: everything checked, and the strategy and input made, before
anything is built or written.

The order is chosen so a run that cannot work fails before it costs anything: flags and
dataset first (:func:`make_plan`), then (in :mod:`slimcls.train.loop`) the model and the
checkpoint it starts from, and only then files in ``train_dir``.
"""

from __future__ import annotations

import dataclasses
import logging
import os

from slimcls.config import TrainConfig
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.core.locking import DirLock
from slimcls.datasets import dataset_factory
from slimcls.model import checkpoints, memory_bounds, model_detect, modeling, run_info
from slimcls.reader import input_pipeline
from slimcls.train import distribute, precision

log = logging.getLogger("slimcls.train")


class TrainDirLock:
    """:class:`DirLock` on ``train_dir``, taken late, released always.

    Taken once the flags and the dataset are checked; a failed start removes the
    ``train_dir`` that only the lock created, so it leaves no files. URLs are not locked
    (we cannot see remote processes); that is logged.
    """

    def __init__(self, train_dir: str):
        self.train_dir = train_dir
        self._lock: DirLock | None = None
        self._created = False

    def acquire(self) -> None:
        if "://" in self.train_dir:
            log.warning(
                "--train_dir %s is a URL: not locked against a second training", self.train_dir
            )
            return
        self._created = not os.path.isdir(self.train_dir)
        self._lock = DirLock(self.train_dir, what="--train_dir", log=log.warning)
        try:
            self._lock.acquire()
        except BaseException:
            self._lock = None
            self._remove_if_unused()
            raise

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
            self._remove_if_unused()

    def _remove_if_unused(self) -> None:
        if self._created:
            try:
                os.rmdir(self.train_dir)  # only when empty
            except OSError:
                pass


@dataclasses.dataclass
class Plan:
    """What a run trains on, checked before anything is built or written."""

    descriptor: dataset_factory.DatasetDescriptor
    validation: dataset_factory.DatasetDescriptor | None
    model_plan: modeling.ModelPlan
    strategy: tf.distribute.Strategy
    global_batch_size: int


def make_plan(config: TrainConfig) -> Plan:
    """Checks flags, dataset, model and batch; creates the strategy.

    Raises:
      SlimclsError: anything that cannot work, before any file is written.
    """
    _check_resumed_model(config)
    # Before any TensorFlow op: logical CPU devices and the collective ops of a multi-worker
    # strategy can only be set up at program start (reading a dataset can create tensors).
    distribute.configure_local_devices(config.num_clones, config.clone_on_cpu)
    strategy = distribute.create_strategy(config.num_clones, config.clone_on_cpu)
    descriptor = dataset_factory.get_dataset(
        config.dataset_name, config.dataset_split_name, config.dataset_dir
    )
    model_plan = modeling.plan(
        config.model_name,
        descriptor.num_classes,
        preprocessing_name=config.preprocessing_name,
        image_size=config.train_image_size,
        channels=int(descriptor.channels or 3),
        use_grayscale=config.use_grayscale,
        labels_offset=config.labels_offset,
        compute_dtype=precision.compute_dtype(config.mixed_precision, config.model_name),
        batch_norm_decay=config.batch_norm_decay,
    )
    # --batch_size is per clone (TF-Slim): a step trains on the global batch, and the
    # epoch-based schedule counts global batches.
    replicas = strategy.num_replicas_in_sync
    global_batch_size = config.batch_size * replicas
    on_gpu = bool(tf.config.list_logical_devices("GPU")) and not config.clone_on_cpu
    memory_bounds.check(  # an image size that cannot fit fails now, not after minutes
        size_flag="--train_image_size",
        image_size=model_plan.image_size,
        channels=1 if config.use_grayscale else int(descriptor.channels or 3),
        batch_size=global_batch_size,
        model_name=config.model_name,
        default_size=model_plan.spec.default_image_size,
        training=True,
        on_gpu=on_gpu,
    )
    if global_batch_size > descriptor.num_samples:
        times = f" x {replicas} replicas = {global_batch_size}" if replicas > 1 else ""
        raise SlimclsError(
            f"--batch_size={config.batch_size}{times} is larger than split "
            f"{descriptor.split_name!r} of {descriptor.name!r} ({descriptor.num_samples} examples)"
        )
    validation = None
    if config.validation_split_name:  # fail now, not after building the model
        validation = dataset_factory.get_dataset(
            config.dataset_name, config.validation_split_name, config.dataset_dir
        )
    input_pipeline.check_shards(descriptor)  # cut shards: fail before any step
    if validation is not None:
        input_pipeline.check_shards(validation)
    return Plan(descriptor, validation, model_plan, strategy, global_batch_size)


def _check_resumed_model(config: TrainConfig) -> None:
    """A run is resumed with the net it trained: another ``--model_name`` is an error
    saying both ways out (a new ``--train_dir``, or the run's ``--model_name``).

    The run's net is the one in its ``flags.txt``, else (a directory of checkpoints from
    elsewhere) the one its newest checkpoint holds.
    """
    if "://" not in config.train_dir and not os.path.isdir(config.train_dir):
        return
    latest = checkpoints.latest_checkpoint(config.train_dir)
    if latest is None:
        return
    recorded = run_info.read_run_flags(config.train_dir).get("model_name")
    if isinstance(recorded, str) and recorded:
        held, what = [recorded], f"a run of {recorded} (its flags.txt)"
    else:
        held, scope = model_detect.nets_holding(latest)
        what = f"checkpoints of {model_detect.describe(held, scope)}"
    if not held or config.model_name in held:
        return
    fix = f"--model_name={held[0]}" if len(held) == 1 else f"--model_name=<one of {held}>"
    raise SlimclsError(
        f"--train_dir={config.train_dir} holds {what}, newest {os.path.basename(latest)}, "
        f"not --model_name={config.model_name}: to train {config.model_name}, pass a new "
        f"--train_dir; to continue this run, pass {fix}"
    )


def distributed_input(config: TrainConfig, plan: Plan):
    """The training split as a distributed dataset: each worker reads its own part.

    Batches are copied to each replica's device ahead of the step (a small per-replica
    buffer), so the step does not wait for host-to-device transfers.
    """
    descriptor = plan.descriptor
    preprocess = plan.model_plan.train_input_fn()
    cores = distribute.input_parallelism()
    cache = cache_images(config, plan, preprocess)

    def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        if ctx.num_input_pipelines > 1:
            how = "by file" if len(descriptor.files) >= ctx.num_input_pipelines else "by record"
            log.info(
                "Input: worker %d of %d reads its shard of %s/%s %s (%d files)",
                ctx.input_pipeline_id,
                ctx.num_input_pipelines,
                descriptor.name,
                descriptor.split_name,
                how,
                len(descriptor.files),
            )
        dataset = input_pipeline.make_dataset(
            descriptor,
            preprocess,
            ctx.get_per_replica_batch_size(plan.global_batch_size),
            is_training=True,
            labels_offset=config.labels_offset,
            shuffle_buffer_size=config.shuffle_buffer_size,
            num_readers=config.num_readers or None,
            num_parallel_calls=config.num_preprocessing_threads or None,
            seed=config.random_seed,
            input_context=ctx,
            cache=cache,
            num_classes=plan.model_plan.num_classes,
            max_image_pixels=config.max_image_pixels,
        )
        options = tf.data.Options()
        # tf.data's threads sized from the cores this process may use (its affinity: a
        # container's or Slurm's share), not the host's.
        options.threading.private_threadpool_size = cores
        return dataset.with_options(options)

    input_options = tf.distribute.InputOptions(
        experimental_fetch_to_device=True, experimental_per_replica_buffer_size=2
    )
    return plan.strategy.distribute_datasets_from_function(dataset_fn, options=input_options)


def cache_images(config: TrainConfig, plan: Plan, preprocess) -> bool:
    """Whether the training pipeline keeps its decoded images in memory; logs the choice."""
    workers = distribute.num_workers(plan.strategy)  # each caches its own part
    choice = input_pipeline.cache_choice(
        config.cache_images,
        preprocess,
        int(plan.descriptor.channels),
        -(-int(plan.descriptor.num_samples) // workers),
    )
    if choice is None:
        return False
    cache, nbytes, limit = choice
    log.info(
        "Input: %s the decoded training images in memory (%.0f MB%s)",
        "caching" if cache else "not caching",
        nbytes / 1e6,
        "" if cache else f", above --cache_images=auto's limit of {limit / 1e6:.0f} MB",
    )
    return cache


def log_start(config: TrainConfig, plan: Plan, state) -> None:
    image_shape = plan.model_plan.image_shape
    log.info(
        "Training %s (%d variables, %d trained, %d classes) on %s/%s (%d examples), "
        "batch %d per replica (%d global), image %dx%d, %s, %s",
        config.model_name,
        len(state.model_variables()),
        len(state.trainable),
        plan.model_plan.num_classes,
        plan.descriptor.name,
        plan.descriptor.split_name,
        plan.descriptor.num_samples,
        config.batch_size,
        plan.global_batch_size,
        image_shape[0],
        image_shape[1],
        plan.model_plan.compute_dtype,
        distribute.describe(plan.strategy),
    )
