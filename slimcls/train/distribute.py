"""Which ``tf.distribute`` strategy a run uses, and who is the chief."""

from __future__ import annotations

import json
import logging
import os

from slimcls.core.compat import tf

log = logging.getLogger("slimcls.train")


def create_strategy(clone_on_cpu: bool = False) -> tf.distribute.Strategy:
    """The default one-device strategy, or all workers named in TF_CONFIG."""
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    workers = tf_config.get("cluster", {}).get("worker", [])
    if len(workers) > 1:
        log.info("TF_CONFIG names %d workers: MultiWorkerMirroredStrategy", len(workers))
        return tf.distribute.MultiWorkerMirroredStrategy()
    if clone_on_cpu and tf.config.list_logical_devices("GPU"):
        return tf.distribute.OneDeviceStrategy("/cpu:0")
    # One device: TensorFlow's default strategy (its first GPU, else the CPU) has the least
    # per-step overhead and the same API as the distributed ones.
    return tf.distribute.get_strategy()


def describe(strategy: tf.distribute.Strategy) -> str:
    if strategy is tf.distribute.get_strategy() and not tf.distribute.has_strategy():
        return "one device (default strategy)"
    return f"{strategy.__class__.__name__} ({strategy.num_replicas_in_sync} replicas)"


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
    """Where a non-chief worker writes the checkpoints it must write but nobody keeps."""
    task_id = getattr(getattr(strategy, "cluster_resolver", None), "task_id", 0)
    return os.path.join(train_dir, f".worker_tmp_{task_id}")
