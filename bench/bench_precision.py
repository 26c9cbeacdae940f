"""Accuracy and speed of the quickstart's training in float32, bfloat16 and --deterministic,
and against slimcls's earlier defaults (TensorFlow's LRN gradient, per-image augmentation).

Trains CifarNet on scikit-learn's digits exactly as scripts/quickstart.sh does (800 steps,
batch 32, SGD 0.05, handwriting preprocessing, same seed), once per variant and seed, the
variants interleaved (A, B, C, A, B, C, ...) so machine noise hits all of them, and
evaluates each run on the 359 held-out digits. Reports validation accuracy (the parity
question: does bfloat16 reach float32's accuracy?) and training examples/sec (median
step, first 20 steps skipped), with ratios against float32.

Variants ``tf_nn_lrn`` and ``per_image_aug`` put back, for their runs only, what the
default speed-ups replaced: ``tf.nn.local_response_normalization`` (and its ``LRNGrad``) in
CifarNet, and the one-image-at-a-time ``map`` of the training augmentation (the batched
stage exists for ``--preprocessing=cifarnet``; the quickstart's handwriting style has none).

Usage: .venv/bin/python bench/bench_precision.py [--steps=800] [--seeds=0,1]
           [--variants=float32,bfloat16,deterministic,tf_nn_lrn,per_image_aug]
           [--preprocessing=handwriting] [--json=bench/results/precision.json]
Expected run time on 2 cores: about 1.5 minutes per run (6 runs by default).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

VARIANTS = {
    "float32": {},
    "bfloat16": {"mixed_precision": "bfloat16"},
    "deterministic": {"deterministic": True},
    "tf_nn_lrn": {},
    "per_image_aug": {},
}


@contextlib.contextmanager
def _earlier_default(variant: str):
    """For ``tf_nn_lrn`` / ``per_image_aug``: the replaced code path, for one run."""
    from slimcls.model import modeling
    from slimcls.core.compat import tf
    from slimcls.nets import cifarnet

    def tf_nn_lrn(net, name):
        dtype = net.dtype
        out = tf.nn.local_response_normalization(
            tf.cast(net, tf.float32), depth_radius=4, bias=1.0, alpha=0.001 / 9.0, beta=0.75,
            name=name,
        )  # fmt: skip
        return tf.cast(out, dtype)

    def per_image(plan):
        return plan.preprocess_fn(is_training=True)

    patches = {
        "tf_nn_lrn": (cifarnet, "_lrn", tf_nn_lrn),
        "per_image_aug": (modeling.ModelPlan, "train_input_fn", per_image),
    }
    if variant not in patches:
        yield
        return
    owner, name, replacement = patches[variant]
    original = getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _prepare(work_dir: str) -> str:
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    import demo_digits
    from slimcls.config import ConvertConfig
    from slimcls.datasets import converter

    images = os.path.join(work_dir, "digits_images")
    dataset = os.path.join(work_dir, "digits")
    if not os.path.exists(os.path.join(dataset, "dataset.json")):
        demo_digits.write_digits_folder(images, size=32)
        converter.convert(
            ConvertConfig(
                dataset_name="folder",
                dataset_dir=dataset,
                source_dir=images,
                output_name="digits",
                validation_fraction=0.2,
                random_seed=0,
                grayscale=True,
            )
        )
    return dataset


def _run(
    dataset: str, work_dir: str, variant: str, seed: int, steps: int, preprocessing: str
) -> dict:
    from slimcls import train
    from slimcls.inference import evaluate
    from slimcls.config import EvalConfig, LearningRateConfig, OptimizerConfig, TrainConfig

    train_dir = tempfile.mkdtemp(prefix=f"{variant}_{seed}_", dir=work_dir)
    config = TrainConfig(
        train_dir=train_dir,
        dataset_dir=dataset,
        model_name="cifarnet",
        preprocessing_name=preprocessing,
        batch_size=32,
        max_number_of_steps=steps,
        optimizer=OptimizerConfig(optimizer="sgd"),
        learning_rate=LearningRateConfig(learning_rate=0.05, learning_rate_decay_type="fixed"),
        log_every_n_steps=0,
        save_interval_secs=10**6,
        save_summaries_secs=10**6,
        random_seed=seed,
        **VARIANTS[variant],
    )
    started = time.perf_counter()
    with _earlier_default(variant):
        result = train.train(config)
    seconds = time.perf_counter() - started
    metrics = evaluate.evaluate(
        EvalConfig(
            checkpoint_path=train_dir,
            dataset_dir=dataset,
            model_name="cifarnet",
            preprocessing_name=preprocessing,
            dataset_split_name="validation",
        )
    )
    steady = result.step_seconds[20:] or result.step_seconds
    return {
        "variant": variant,
        "seed": seed,
        "validation_accuracy": metrics["accuracy"],
        "validation_examples": metrics["num_examples"],
        "examples_per_sec": 32 / statistics.median(steady),
        "train_seconds": round(seconds, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--preprocessing", default="handwriting", help="the quickstart's")
    parser.add_argument("--work_dir", default=None)
    parser.add_argument("--json", default=os.path.join(REPO, "bench", "results", "precision.json"))
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; expected some of {sorted(VARIANTS)}")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="slimcls_precision_")
    dataset = _prepare(work_dir)
    load_before = os.getloadavg()
    rows = []
    for seed in seeds:  # interleaved: every variant once per seed
        for variant in variants:
            row = _run(dataset, work_dir, variant, seed, args.steps, args.preprocessing)
            print(json.dumps(row), flush=True)
            rows.append(row)

    def mean(variant, key):
        values = [r[key] for r in rows if r["variant"] == variant]
        return statistics.mean(values) if values else None

    summary = {}
    base_speed = mean("float32", "examples_per_sec")
    base_acc = mean("float32", "validation_accuracy")
    for variant in variants:
        speed, acc = mean(variant, "examples_per_sec"), mean(variant, "validation_accuracy")
        summary[variant] = {
            "mean_validation_accuracy": acc,
            "mean_examples_per_sec": speed,
            "speed_vs_float32": speed / base_speed if base_speed else None,
            "accuracy_points_vs_float32": 100 * (acc - base_acc) if base_acc is not None else None,
        }
    print(f"{'variant':<14} {'accuracy':>9} {'vs f32 (pts)':>13} {'ex/s':>8} {'vs f32':>7}")
    for variant, s in summary.items():
        print(
            f"{variant:<14} {s['mean_validation_accuracy']:>9.4f} "
            f"{s['accuracy_points_vs_float32'] or 0:>+13.2f} {s['mean_examples_per_sec']:>8.0f} "
            f"{s['speed_vs_float32'] or 0:>7.2f}"
        )
    record = {
        "command": " ".join([os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]]),
        "steps": args.steps,
        "preprocessing": args.preprocessing,
        "seeds": seeds,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "runs": rows,
        "summary": summary,
    }
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
