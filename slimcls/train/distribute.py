"""Which ``tf.distribute`` strategy a run uses, who is the chief, and what workers agree on.

* One device: TensorFlow's default strategy (least overhead).
* ``--num_clones=N`` on one machine: ``MirroredStrategy`` over N GPUs, or over N logical
  CPU devices with ``--clone_on_cpu`` (:func:`configure_local_devices` must run before
  TensorFlow initialises its devices).
* Several machines: ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names more than
  one worker, or Slurm started more than one task (``SLURM_NTASKS`` > 1); each worker
  mirrors over its own GPUs.

Workers of a multi-worker run execute the same collectives in the same order, so any
decision that makes one worker run a collective (a checkpoint reads synchronised
variables; stopping ends the steps) is taken by all of them together: :func:`agree`,
:class:`AgreedCheckpointHook` and :class:`AgreedStop`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.train import hooks

log = logging.getLogger("slimcls.train")

#: Prefix of the per-worker scratch directories in train_dir (removed at the end).
WORKER_TMP_PREFIX = ".worker_tmp_"


def _tf_config_workers() -> list[str]:
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    cluster = tf_config.get("cluster", {})
    return list(cluster.get("chief", [])) + list(cluster.get("worker", []))


def slurm_tasks() -> int:
    """Tasks of the Slurm job step this process belongs to (0 outside Slurm)."""
    try:
        return int(os.environ.get("SLURM_NTASKS") or os.environ.get("SLURM_NPROCS") or 0)
    except ValueError:
        return 0


def is_multi_worker() -> bool:
    """True when TF_CONFIG names several tasks, or Slurm started several tasks."""
    return len(_tf_config_workers()) > 1 or slurm_tasks() > 1


def configure_local_devices(num_clones: int, clone_on_cpu: bool) -> None:
    """Splits the CPU into ``num_clones`` logical devices for ``--clone_on_cpu``.

    TensorFlow fixes its device list the first time it runs an op, so this is the first
    thing ``train`` does. A process whose devices are already initialised (e.g. a test
    that ran ops before) keeps them; :func:`create_strategy` then checks there are enough.
    """
    if not clone_on_cpu or num_clones < 2:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) >= num_clones:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * num_clones
        )
    except RuntimeError:  # already initialised: create_strategy reports a shortage
        log.warning("TensorFlow's devices were initialised before train(); keeping them")


def _local_devices(num_clones: int, clone_on_cpu: bool) -> list[str]:
    kind = "CPU" if clone_on_cpu else "GPU"
    found = [d.name for d in tf.config.list_logical_devices(kind)]
    if len(found) < num_clones:
        hint = (
            "TensorFlow's devices were set up before training started"
            if clone_on_cpu
            else "use --clone_on_cpu to run the clones on CPU devices"
        )
        raise SlimclsError(
            f"--num_clones={num_clones} needs {num_clones} {kind} devices; this machine has "
            f"{len(found)} ({hint})"
        )
    return found[:num_clones]


def _cluster_resolver(clone_on_cpu: bool):
    if len(_tf_config_workers()) > 1:
        return tf.distribute.cluster_resolver.TFConfigClusterResolver()
    # Slurm: one task per worker; the resolver derives host:port pairs from the step's node
    # list (ports from SLIMCLS_SLURM_PORT_BASE, default 8888, up) and gives each task its
    # share of the node's GPUs (CUDA_VISIBLE_DEVICES, else nvidia-smi).
    port_base = int(os.environ.get("SLIMCLS_SLURM_PORT_BASE", "8888"))
    resolver = tf.distribute.cluster_resolver.SlurmClusterResolver
    if not clone_on_cpu:
        try:
            return resolver(port_base=port_base)
        except (OSError, RuntimeError) as e:  # no nvidia-smi / no GPU: CPU workers
            log.info("Slurm: no GPUs found (%s); workers run on their CPUs", e)
    # The resolver hands out GPUs even when there are none and fails at zero; CPU workers
    # get one placeholder "GPU" slot each and CUDA_VISIBLE_DEVICES is left alone.
    return resolver(
        port_base=port_base, gpus_per_node=slurm_tasks(), gpus_per_task=1, auto_set_gpu=False
    )


def create_strategy(num_clones: int = 1, clone_on_cpu: bool = False) -> tf.distribute.Strategy:
    """The run's strategy (see the module docstring).

    Raises:
      SlimclsError: fewer local devices than ``num_clones``.
    """
    if is_multi_worker():
        resolver = _cluster_resolver(clone_on_cpu)
        communication = tf.distribute.experimental.CommunicationOptions()
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            cluster_resolver=resolver, communication_options=communication
        )
        log.info(
            "%s: MultiWorkerMirroredStrategy, %d replicas in sync, this is %s %d",
            "TF_CONFIG" if len(_tf_config_workers()) > 1 else "Slurm",
            strategy.num_replicas_in_sync,
            resolver.task_type,
            resolver.task_id,
        )
        return strategy
    if num_clones > 1:
        devices = _local_devices(num_clones, clone_on_cpu)
        if clone_on_cpu:  # NCCL is GPU-only; CPU replicas reduce through one device
            ops = tf.distribute.ReductionToOneDevice(reduce_to_device=devices[0])
            return tf.distribute.MirroredStrategy(devices, cross_device_ops=ops)
        return tf.distribute.MirroredStrategy(devices)
    if clone_on_cpu and tf.config.list_logical_devices("GPU"):
        return tf.distribute.OneDeviceStrategy("/cpu:0")
    # One device: TensorFlow's default strategy (its first GPU, else the CPU) has the least
    # per-step overhead and the same API as the distributed ones.
    return tf.distribute.get_strategy()


def describe(strategy: tf.distribute.Strategy) -> str:
    if strategy is tf.distribute.get_strategy() and not tf.distribute.has_strategy():
        return "one device (default strategy)"
    devices = getattr(strategy.extended, "worker_devices", ())
    where = f" on {', '.join(devices)}" if devices and len(devices) <= 8 else ""
    return f"{strategy.__class__.__name__} ({strategy.num_replicas_in_sync} replicas{where})"


def num_workers(strategy: tf.distribute.Strategy) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return sum(len(spec.get(kind, [])) for kind in ("chief", "worker"))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def worker_dir(train_dir: str, strategy: tf.distribute.Strategy) -> str:
    """Where a non-chief worker writes the checkpoints it must write but nobody keeps.

    Every worker takes part in a save (reading synchronised variables is a collective),
    so the others write to their own scratch directory, removed by :func:`cleanup`.
    """
    task_id = getattr(getattr(strategy, "cluster_resolver", None), "task_id", 0)
    return os.path.join(train_dir, f"{WORKER_TMP_PREFIX}{task_id}")


def cleanup(directory: str, train_dir: str) -> None:
    """Removes a non-chief worker's scratch directory (never ``train_dir`` itself)."""
    if os.path.normpath(directory) == os.path.normpath(train_dir):
        return
    if "://" in directory:
        if tf.io.gfile.exists(directory):
            tf.io.gfile.rmtree(directory)
    else:
        shutil.rmtree(directory, ignore_errors=True)


def agree(strategy: tf.distribute.Strategy, flags: list[bool]) -> list[bool]:
    """Each flag OR-ed over all workers (one tiny all-reduce); unchanged on one worker.

    Call at the same step on every worker: it is a collective.
    """
    if num_workers(strategy) <= 1:
        return list(flags)
    local = tf.constant([1.0 if f else 0.0 for f in flags], tf.float32)
    total = _agree_fn(strategy)(local)
    return [bool(v > 0) for v in total.numpy()]


_AGREE_FNS: dict[int, object] = {}


def _agree_fn(strategy):
    key = id(strategy)
    if key not in _AGREE_FNS:

        @tf.function
        def fn(local):
            per_replica = strategy.run(lambda: tf.identity(local))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        _AGREE_FNS[key] = fn
    return _AGREE_FNS[key]


def input_parallelism() -> int:
    """CPU cores this process may use (its affinity mask, e.g. a container's or Slurm's
    share), for sizing tf.data's parallel calls."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class AgreedCheckpointHook(hooks.CheckpointHook):
    """A multi-worker run's checkpoints, taken by all workers together.

    Every ``every_n_steps`` (the loop ends calls on these steps) the workers OR their "a
    checkpoint is due by my clock" flags in one all-reduce, and all save (the chief to
    train_dir, the others to their scratch directory; a save reads synchronised
    variables, a collective) at the same step.
    """

    def __init__(self, every_secs: float, strategy, every_n_steps: int, clock=time.monotonic):
        super().__init__(every_secs, clock)
        self.strategy = strategy
        self.every_n_steps = max(1, every_n_steps)

    def after_step(self, run: hooks.Run, metrics: hooks.StepMetrics) -> None:
        if metrics.step % self.every_n_steps:
            return
        (save,) = agree(self.strategy, [self.clock() - self._last >= self.every_secs])
        if save:
            self.save(run)


class AgreedStop:
    """How a multi-worker run stops: all workers at the same step.

    A stop one worker's hooks asked for (a signal, early stopping) waits for the next
    multiple of ``every_n_steps``, where the workers OR their "I was asked to stop" flags
    in one all-reduce; then every worker stops, a worker that was not asked with the
    reason ``"peer_stopped"``. So none waits forever in a collective for a peer that left.
    """

    def __init__(self, strategy, every_n_steps: int):
        self.strategy = strategy
        self.every_n_steps = max(1, every_n_steps)

    def __call__(self, asked: hooks.StopReason | None, step: int) -> hooks.StopReason | None:
        """The stop all workers take at ``step`` (None: go on); ``asked`` is this
        worker's pending request."""
        if step % self.every_n_steps:
            return None
        (stop,) = agree(self.strategy, [asked is not None])
        if not stop:
            return None
        if asked is None:
            log.warning("another worker stopped at step %d: stopping too", step)
            return hooks.StopReason("peer_stopped")
        return asked


def stop_agreement(strategy, every_n_steps: int) -> AgreedStop | None:
    """:class:`AgreedStop` for a multi-worker run; None (stop at once) on one worker."""
    return AgreedStop(strategy, every_n_steps) if num_workers(strategy) > 1 else None


class WorkerSpeedHook(hooks.Hook):
    """Logs this worker's own examples/sec (its share of each global batch) on the steps
    where the loop measured the speed; the chief's progress line carries the global rate."""

    def __init__(self, task: str, num_workers: int):
        self.task = task
        self.num_workers = max(1, num_workers)

    def after_step(self, run: hooks.Run, metrics: hooks.StepMetrics) -> None:
        if metrics.examples_per_sec is None:
            return
        rate = metrics.examples_per_sec / self.num_workers
        log.info("%s: step %d, %.1f examples/sec on this worker", self.task, metrics.step, rate)
