"""Optional third side: TF-Slim's own ``train_image_classifier.py`` from a user-given checkout.

Usage: python bench/tfslim_peer.py --tfslim_dir PATH/research/slim --dataset_dir D
           --model cifarnet|inception_v3 --batch 32 [--image_size N] [--steps 20] [--warmup 5]

Nothing of TF-Slim is in this repository: the user passes a research/slim checkout (e.g.
tensorflow/models at 0d9ef8d39). This script runs it in this process on TensorFlow 2.21
through an import shim: slimcls' compat (tf_keras legacy layers for tf_slim), stub
modules for ``tensorflow.contrib.quantize`` / ``tensorflow.contrib.training.HParams``
(imported, unused at these flags), TF1 control-flow aliases (``control_flow_ops.case``,
``cond``, ``while_loop``), ``np.int``, ``contextlib2`` -> ``contextlib``, eager
execution disabled (TF-Slim builds a TF1 graph and trains with ``slim.learning.train``),
``--clone_on_cpu``.

Data: slimcls' shards re-exposed under the file names TF-Slim's hard-coded datasets expect
(byte-concatenated into ``cifar10_train.tfrecord`` for CifarNet; symlinked as
``flowers_train_*.tfrecord`` for InceptionV3, whose logits then have flowers' 5 classes,
not 10 -- a negligible FLOP difference). Flags: ``--optimizer=sgd --learning_rate=0.01
--learning_rate_decay_type=fixed``, TF-Slim's default readers/threads (4/4) and weight decay.
Step time: TF-Slim's own per-step log line (``global step N: loss = ... (S sec/step)``,
the wall time of ``sess.run(train_op)`` including the queue dequeue), every step.
Prints one ``BENCH_RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import logging
import os
import re
import runpy
import shutil
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

os.environ["TF_USE_LEGACY_KERAS"] = "1"

from common import report_child, steady_examples_per_s  # noqa: E402

_STEP_LOG = re.compile(r"global step (\d+): loss = [-\d.naif]+ \(([\d.]+) sec/step\)")


def install_shim() -> None:
    """Makes 2019-era TF-Slim importable and runnable on TensorFlow 2.21 (TF1 graph mode)."""
    import numpy as np

    import slimcls.core.compat  # noqa: F401  (tf_keras legacy layers alias; tf_slim patched)
    from slimcls.core.compat import tf

    if not hasattr(np, "int"):
        np.int = int  # removed in NumPy 1.24; old TF-Slim code still says np.int
    sys.modules.setdefault("contextlib2", contextlib)

    contrib = types.ModuleType("tensorflow.contrib")
    quantize = types.ModuleType("tensorflow.contrib.quantize")

    def _no_quantize(*args, **kwargs):
        raise RuntimeError("tensorflow.contrib.quantize is not available (bench shim)")

    quantize.create_training_graph = quantize.create_eval_graph = _no_quantize
    training = types.ModuleType("tensorflow.contrib.training")

    class HParams:  # what nasnet's module level needs: attributes from keyword arguments
        def __init__(self, **kwargs):
            self.__dict__.update(kwargs)

        def values(self):
            return dict(self.__dict__)

    training.HParams = HParams
    contrib.quantize, contrib.training = quantize, training
    sys.modules.update(
        {
            "tensorflow.contrib": contrib,
            "tensorflow.contrib.quantize": quantize,
            "tensorflow.contrib.training": training,
        }
    )
    # TF 2.21 moved TF1 control flow out of control_flow_ops; tf_slim's decoder calls it there.
    from tensorflow.python.ops import cond, control_flow_case, control_flow_ops, while_loop

    for name, module in (("case", control_flow_case), ("cond", cond), ("while_loop", while_loop)):
        if not hasattr(control_flow_ops, name):
            setattr(control_flow_ops, name, getattr(module, name))
    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.disable_v2_behavior()


def tfslim_dataset(dataset_dir: str, model: str, out: str) -> str:
    """slimcls' train shards under TF-Slim's hard-coded names; returns TF-Slim's dataset_name."""
    shards = sorted(glob.glob(os.path.join(dataset_dir, "*_train_*.tfrecord")))
    if not shards:
        raise RuntimeError(f"no *_train_*.tfrecord shards in {dataset_dir}")
    if model == "cifarnet":
        # TFRecord files are sequences of records: concatenating shards is a valid file.
        with open(os.path.join(out, "cifar10_train.tfrecord"), "wb") as f:
            for shard in shards:
                with open(shard, "rb") as s:
                    shutil.copyfileobj(s, f)
        return "cifar10"
    for i, shard in enumerate(shards):
        os.symlink(shard, os.path.join(out, f"flowers_train_{i:05d}-of-{len(shards):05d}.tfrecord"))
    return "flowers"


class _StepTimes(logging.Handler):
    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def emit(self, record):
        m = _STEP_LOG.search(record.getMessage())
        if m:
            self.seconds.append(float(m.group(2)))


def run(args) -> dict:
    script = os.path.join(args.tfslim_dir, "train_image_classifier.py")
    if not os.path.exists(script):
        raise RuntimeError(f"--tfslim_dir={args.tfslim_dir} has no train_image_classifier.py")
    install_shim()
    sys.path.insert(0, os.path.abspath(args.tfslim_dir))
    with tempfile.TemporaryDirectory(prefix="bench_tfslim_") as tmp:
        data_dir = os.path.join(tmp, "data")
        os.makedirs(data_dir)
        dataset_name = tfslim_dataset(args.dataset_dir, args.model, data_dir)
        sys.argv = [
            script,
            f"--train_dir={os.path.join(tmp, 'train')}",
            f"--dataset_name={dataset_name}",
            "--dataset_split_name=train",
            f"--dataset_dir={data_dir}",
            f"--model_name={args.model}",
            f"--batch_size={args.batch}",
            f"--max_number_of_steps={args.warmup + args.steps}",
            "--optimizer=sgd",
            "--learning_rate=0.01",
            "--learning_rate_decay_type=fixed",
            "--clone_on_cpu",
            "--log_every_n_steps=1",
            "--save_interval_secs=100000",
            "--save_summaries_secs=100000",
        ]
        if args.image_size:
            sys.argv.append(f"--train_image_size={args.image_size}")
        timer = _StepTimes()
        tf_logger = logging.getLogger("tensorflow")
        tf_logger.addHandler(timer)
        tf_logger.setLevel(logging.INFO)
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as e:
            if e.code not in (None, 0):
                raise RuntimeError(f"train_image_classifier.py exited with {e.code}") from None
        finally:
            tf_logger.removeHandler(timer)
    if not timer.seconds:
        raise RuntimeError("TF-Slim logged no 'global step N: ... sec/step' lines")
    return {
        "step_seconds": timer.seconds,
        "examples_per_s": steady_examples_per_s(timer.seconds, args.batch, args.warmup),
        "tfslim_dataset_name": dataset_name,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tfslim_dir", required=True)
    parser.add_argument("--dataset_dir", required=True)
    parser.add_argument("--model", default="cifarnet")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--image_size", type=int, default=None)
    parser.add_argument("--dtype", default="float32", choices=("float32",))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    return report_child(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
