"""One slimcls measurement in its own process; prints one ``BENCH_RESULT {json}`` line.

Usage (the parent benchmarks build these command lines):
  python bench/slimcls_trial.py train --dataset_dir D --model cifarnet --batch 32
      [--image_size N] [--dtype float32|bfloat16] [--steps 20] [--warmup 5] [--synthetic]
  python bench/slimcls_trial.py input    --dataset_dir D --model M --batch B [--image_size N]
  python bench/slimcls_trial.py flops    --model M [--image_size N]
  python bench/slimcls_trial.py checkpoint --dataset_dir D --model M --train_dir T
  python bench/slimcls_trial.py eval     --dataset_dir D --model M --train_dir T [--repeats 3]
  python bench/slimcls_trial.py classify --dataset_dir D --model M --train_dir T --image F

``train`` runs ``slimcls.train.train`` and reads ``TrainResult.step_seconds`` (wall time of
each step, from fetching the batch to having the loss). ``--synthetic`` feeds the same loop
one cached batch: this script wraps ``slimcls.reader.input_pipeline.make_dataset`` (which
``train`` looks up at call time) so the pipeline is built as usual and then its first batch
repeats from a cache -- the model, step and loop are unchanged, only the input cost goes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tf-slim nets need Keras 2 before TF is imported

from common import report_child, steady_examples_per_s  # noqa: E402


def _train_config(args, train_dir, steps):
    from slimcls.config import LearningRateConfig, OptimizerConfig, TrainConfig

    return TrainConfig(
        train_dir=train_dir,
        dataset_dir=args.dataset_dir,
        model_name=args.model,
        train_image_size=args.image_size,
        batch_size=args.batch,
        max_number_of_steps=steps,
        optimizer=OptimizerConfig(args.optimizer),
        learning_rate=LearningRateConfig(learning_rate=0.01, learning_rate_decay_type="fixed"),
        log_every_n_steps=0,
        save_interval_secs=1e9,
        save_summaries_secs=1e9,
        num_summary_images=0,
        mixed_precision=None if args.dtype == "float32" else args.dtype,
        handle_signals=False,
    )


def _use_cached_batch() -> None:
    """Makes every training pipeline repeat its first batch from memory."""
    from slimcls.reader import input_pipeline

    real = input_pipeline.make_dataset

    def cached(*args, **kwargs):
        return real(*args, **kwargs).take(1).cache().repeat()

    input_pipeline.make_dataset = cached


def do_train(args) -> dict:
    from slimcls import train

    if args.synthetic:
        _use_cached_batch()
    with tempfile.TemporaryDirectory(prefix="bench_train_") as train_dir:
        result = train.train(_train_config(args, train_dir, args.warmup + args.steps))
    return {
        "step_seconds": [round(s, 5) for s in result.step_seconds],
        "examples_per_s": steady_examples_per_s(result.step_seconds, args.batch, args.warmup),
        "final_loss": result.losses.get("total_loss"),
    }


def do_input(args) -> dict:
    """The training input pipeline alone, as training builds it: the same preprocessing
    (CifarNet's batched stage), TrainConfig's default parallelism and --cache_images."""
    from slimcls.config import TrainConfig
    from slimcls.datasets import dataset_factory
    from slimcls.model import modeling
    from slimcls.reader import input_pipeline

    defaults = TrainConfig(train_dir="", dataset_dir="")
    descriptor = dataset_factory.get_dataset(None, "train", args.dataset_dir)
    preprocess = modeling.plan(args.model, 10, image_size=args.image_size).train_input_fn()
    choice = input_pipeline.cache_choice(
        defaults.cache_images, preprocess, int(descriptor.channels), int(descriptor.num_samples)
    )
    dataset = input_pipeline.make_dataset(
        descriptor,
        preprocess,
        args.batch,
        is_training=True,
        shuffle_buffer_size=defaults.shuffle_buffer_size,
        num_readers=defaults.num_readers,
        num_parallel_calls=defaults.num_preprocessing_threads,
        cache=bool(choice and choice[0]),
    )
    seconds = []
    iterator = iter(dataset)
    for _ in range(args.warmup + args.steps):
        started = time.perf_counter()
        images, _ = next(iterator)
        images.numpy()
        seconds.append(time.perf_counter() - started)
    # Mean over the steady batches: prefetching makes single batches bursty.
    steady = seconds[args.warmup :]
    return {"step_seconds": [round(s, 5) for s in seconds],
            "examples_per_s": args.batch * len(steady) / sum(steady)}  # fmt: skip


def do_flops(args) -> dict:
    """Forward FLOPs of one example through the training graph (tf.compat.v1.profiler)."""
    from slimcls.core.compat import tf
    from slimcls.nets import nets_factory

    spec = nets_factory.get_spec(args.model)
    size = args.image_size or spec.default_image_size
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [1, size, size, 3])
        net = nets_factory.get_network_fn(args.model, num_classes=10, is_training=True)
        net(images)
        options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        profile = tf.compat.v1.profiler.profile(graph, options=options)
    forward = int(profile.total_float_ops)
    return {
        "image_size": size,
        "forward_flops_per_example": forward,
        "train_flops_per_example": 3 * forward,
        "method": "tf.compat.v1.profiler float_operation on the is_training=True forward graph "
        "(2 FLOPs per multiply-add), x3 for forward + backward (input and weight gradients)",
    }


def do_checkpoint(args) -> dict:
    """A real (one-step) training run, so eval/classify read what the CLI writes."""
    from slimcls import train

    result = train.train(_train_config(args, args.train_dir, 1))
    return {"checkpoint": result.checkpoint}


def do_eval(args) -> dict:
    from slimcls.config import EvalConfig
    from slimcls.inference.evaluate import Evaluator
    from slimcls.model import checkpoints

    config = EvalConfig(
        checkpoint_path=args.train_dir,
        dataset_dir=args.dataset_dir,
        model_name=args.model,
        dataset_split_name="test",
        batch_size=args.batch,
        eval_image_size=args.image_size,
    )
    evaluator = Evaluator(config)
    prefix = checkpoints.resolve_checkpoint(args.train_dir)
    first = evaluator.evaluate(prefix)  # traces the step
    rates = []
    for _ in range(args.repeats):
        metrics = evaluator.evaluate(prefix)
        rates.append(metrics["num_examples"] / metrics["eval_seconds"])
    return {
        "num_examples": first["num_examples"],
        "first_pass_seconds": first["eval_seconds"],
        "examples_per_s_runs": rates,
        "examples_per_s": statistics.median(rates),
    }


def do_classify(args) -> dict:
    import numpy as np

    from slimcls.config import ClassifierConfig
    from slimcls.inference.classify import Classifier

    started = time.perf_counter()
    classifier = Classifier(
        ClassifierConfig(
            checkpoint_path=args.train_dir, model_name=args.model, dataset_dir=args.dataset_dir
        )
    )
    classifier.classify_files([args.image])  # traces
    load_seconds = time.perf_counter() - started
    latencies = []
    for _ in range(args.runs):
        t = time.perf_counter()
        result = classifier.classify_files([args.image])
        latencies.append(time.perf_counter() - t)
    if "error" in result[0]:
        raise RuntimeError(result[0]["error"])
    ms = np.asarray(latencies) * 1000
    return {
        "runs": args.runs,
        "load_and_first_seconds": round(load_seconds, 2),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
    }


MODES = {
    "train": do_train,
    "input": do_input,
    "flops": do_flops,
    "checkpoint": do_checkpoint,
    "eval": do_eval,
    "classify": do_classify,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--dataset_dir")
    parser.add_argument("--model", default="cifarnet")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--image_size", type=int, default=None)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--optimizer", default="sgd")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--train_dir")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    import logging

    logging.getLogger().setLevel(logging.ERROR)
    return report_child(lambda: MODES[args.mode](args))


if __name__ == "__main__":
    sys.exit(main())
