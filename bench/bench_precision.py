"""float32 against bfloat16 (and other training variants): accuracy over several seeds and
datasets, and training speed, interleaved; the measurement behind --mixed_precision=auto.

Trains CifarNet as scripts/quickstart.sh does (batch 32, SGD 0.05, fixed rate, same seed
per run pair) on two datasets and evaluates each run on the held-out split:

* ``digits``: scikit-learn's 1,797 handwritten digits, the quickstart's data (the
  ``handwriting`` preprocessing, 359 validation images);
* ``shapes``: a generated 10-class set (``bench/data.py --shapes``: 2,000 train / 500
  validation 32x32 RGB images of a shape at a random place, size and colour on a noisy
  photo-like background; the ``cifarnet`` preprocessing).

Every run is a fresh child process (so ``--cpus`` can set oneDNN's environment before
TensorFlow starts), the variants interleaved per seed (A, B, A, B, ...) so machine noise
hits all of them. Reports validation accuracy (the parity question: does bfloat16 reach
float32's accuracy?) and training examples/s (median step, first 20 steps skipped), with
ratios against float32 of the same dataset and CPU.

``--cpus`` runs the same on other CPUs' kernels, emulated on this one (for the speed
rule; accuracy does not depend on it):

* ``native``: this CPU as it is;
* ``no_amx``: oneDNN limited to AVX512_BF16 (``ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16``): an
  AMX Xeon run as an AMD Zen 4 / Intel Cooper Lake; only differs on a CPU with AMX;
* ``no_bf16``: oneDNN limited to AVX-512 with VNNI (``ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI``):
  a CPU without bfloat16 instructions such as Intel Cascade Lake or Ice Lake, where oneDNN
  emulates bfloat16 (TensorFlow still sees this CPU's flags, so its own choices do not
  change);
* ``no_onednn``: ``TF_ENABLE_ONEDNN_OPTS=0``, TensorFlow's default on CPUs without VNNI,
  BF16 or AMX (AMD Zen 2/3, Intel Skylake and older): Eigen's kernels.

Variants ``tf_nn_lrn`` and ``per_image_aug`` put back, for their runs only, what the
default speed-ups replaced: ``tf.nn.local_response_normalization`` (and its ``LRNGrad``) in
CifarNet, and the one-image-at-a-time ``map`` of the training augmentation.

Usage: $PYTHON bench/bench_precision.py [--steps=800] [--seeds=0,1,2]
           [--datasets=digits,shapes] [--cpus=native,no_bf16,no_onednn]
           [--variants=float32,bfloat16,deterministic,tf_nn_lrn,per_image_aug]
           [--preprocessing=NAME (default: per dataset)] [--json=bench/results/precision.json]
Expected run time on 2 quiet cores: about 1-1.5 minutes per run of 800 steps (CifarNet
batch 32), so the default (2 datasets x 3 seeds x 2 variants = 12 runs) ~15 min; slower
for the emulated CPUs (no_onednn bfloat16 may be several times slower).
Needs scikit-learn for ``digits`` (the ``demo`` extra).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import common  # noqa: E402

VARIANTS = {
    "float32": {},
    "bfloat16": {"mixed_precision": "bfloat16"},
    "deterministic": {"deterministic": True},
    "tf_nn_lrn": {},
    "per_image_aug": {},
}
#: Other CPUs' kernels on this one: the environment each run starts with (see above).
CPUS = {
    "native": {},
    "no_amx": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"},
    "no_bf16": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_VNNI"},
    "no_onednn": {"TF_ENABLE_ONEDNN_OPTS": "0"},
}
#: dataset -> its default preprocessing.
DATASETS = {"digits": "handwriting", "shapes": "cifarnet"}
BATCH = 32
WARMUP_STEPS = 20


@contextlib.contextmanager
def _earlier_default(variant: str):
    """For ``tf_nn_lrn`` / ``per_image_aug``: the replaced code path, for one run."""
    from slimcls.core.compat import tf
    from slimcls.model import modeling
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


# ------------------------------------------------------------------------------ children


def prepare(dataset: str, work_dir: str) -> dict:
    """Writes (once) the converted ``dataset`` under ``work_dir``; returns its directory."""
    out = os.path.join(work_dir, dataset)
    if dataset == "shapes":
        import data

        return {"dataset_dir": data.write_shapes(out)}
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    import demo_digits

    from slimcls.config import ConvertConfig
    from slimcls.datasets import converter

    images = os.path.join(work_dir, "digits_images")
    if not os.path.exists(os.path.join(out, "dataset.json")):
        demo_digits.write_digits_folder(images, size=32)
        converter.convert(
            ConvertConfig(
                dataset_name="folder",
                dataset_dir=out,
                source_dir=images,
                output_name="digits",
                validation_fraction=0.2,
                random_seed=0,
                grayscale=True,
            )
        )
    return {"dataset_dir": out}


def train_and_evaluate(args) -> dict:
    """One run: train, evaluate on the validation split."""
    from slimcls import train
    from slimcls.config import EvalConfig, LearningRateConfig, OptimizerConfig, TrainConfig
    from slimcls.inference import evaluate

    train_dir = tempfile.mkdtemp(prefix=f"{args.variant}_{args.seed}_", dir=args.work_dir)
    config = TrainConfig(
        train_dir=train_dir,
        dataset_dir=args.dataset_dir,
        model_name="cifarnet",
        preprocessing_name=args.preprocessing,
        batch_size=BATCH,
        max_number_of_steps=args.steps,
        optimizer=OptimizerConfig(optimizer="sgd"),
        learning_rate=LearningRateConfig(learning_rate=0.05, learning_rate_decay_type="fixed"),
        log_every_n_steps=0,
        save_interval_secs=10**6,
        save_summaries_secs=10**6,
        random_seed=args.seed,
        **VARIANTS[args.variant],
    )
    started = time.perf_counter()
    with _earlier_default(args.variant):
        result = train.train(config)
    seconds = time.perf_counter() - started
    metrics = evaluate.evaluate(
        EvalConfig(
            checkpoint_path=train_dir,
            dataset_dir=args.dataset_dir,
            model_name="cifarnet",
            preprocessing_name=args.preprocessing,
            dataset_split_name="validation",
        )
    )
    steady = result.step_seconds[WARMUP_STEPS:] or result.step_seconds
    return {
        "validation_accuracy": metrics["accuracy"],
        "validation_examples": metrics["num_examples"],
        "examples_per_sec": BATCH / statistics.median(steady),
        "train_seconds": round(seconds, 1),
        "final_loss": result.losses.get("total_loss"),
    }


# ------------------------------------------------------------------------------ parent


def _child(args, *extra: str, env: dict | None = None) -> dict:
    cmd = [common.default_python(), os.path.abspath(__file__), "--work_dir", args.work_dir,
           *extra]  # fmt: skip
    return common.run_child(cmd, common.child_env(TF_USE_LEGACY_KERAS="1", **(env or {})),
                            timeout=args.timeout)  # fmt: skip


def summarize(rows: list[dict], variants: list[str]) -> list[dict]:
    """Per (dataset, cpu, variant): accuracy per seed and mean, speed, both against float32
    of the same dataset and CPU."""
    out = []
    groups = sorted({(r["dataset"], r["cpu"]) for r in rows}, key=lambda k: (k[0], k[1]))
    for dataset, cpu in groups:
        mine = [r for r in rows if r["dataset"] == dataset and r["cpu"] == cpu]

        def mean(variant, key, mine=mine):
            values = [r[key] for r in mine if r["variant"] == variant and r.get(key) is not None]
            return statistics.mean(values) if values else None

        base_speed, base_acc = (
            mean("float32", "examples_per_sec"),
            mean("float32", "validation_accuracy"),
        )
        for variant in variants:
            acc, speed = mean(variant, "validation_accuracy"), mean(variant, "examples_per_sec")
            seeds = [r for r in mine if r["variant"] == variant]
            out.append({
                "case": f"{dataset} {cpu} {variant}",
                "dataset": dataset, "cpu": cpu, "variant": variant,
                "accuracy_per_seed": [r.get("validation_accuracy") for r in seeds],
                "mean_validation_accuracy": acc,
                "accuracy_points_vs_float32": 100 * (acc - base_acc)
                if acc is not None and base_acc is not None else None,
                "mean_examples_per_sec": speed,
                "speed_vs_float32": common.ratio(speed, base_speed),
                "errors": sorted({r["error"] for r in seeds if r.get("error")}),
                "accuracy_percent": " / ".join(
                    "-" if r.get("validation_accuracy") is None
                    else f"{100 * r['validation_accuracy']:.2f}" for r in seeds
                ),
                "mean_percent": "-" if acc is None else f"{100 * acc:.2f}",
            })  # fmt: skip
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variants", default="float32,bfloat16")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--cpus", default="native", help=f"some of {', '.join(CPUS)}")
    parser.add_argument("--preprocessing", default=None, help="default: per dataset")
    parser.add_argument("--work_dir", default=None, help="datasets and runs (default: temp)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "precision.json"))
    # One run, in a child process (the parent never imports TensorFlow).
    parser.add_argument("--prepare", choices=sorted(DATASETS), help=argparse.SUPPRESS)
    parser.add_argument("--run", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dataset_dir", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        return common.report_child(lambda: prepare(args.prepare, args.work_dir))
    if args.run:
        return common.report_child(lambda: train_and_evaluate(args))

    def choose(flag, text, known):
        chosen = [v for v in text.split(",") if v]
        unknown = sorted(set(chosen) - set(known))
        if unknown or not chosen:
            parser.error(f"--{flag}={text!r}: unknown {unknown}; expected some of {list(known)}")
        return chosen

    variants = choose("variants", args.variants, VARIANTS)
    datasets = choose("datasets", args.datasets, DATASETS)
    cpus = choose("cpus", args.cpus, CPUS)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s]
    except ValueError:
        parser.error(f"--seeds={args.seeds!r}: expected comma-separated integers")
    if not seeds or args.steps <= WARMUP_STEPS:
        parser.error(f"need at least one seed and --steps > {WARMUP_STEPS} (the warm-up)")
    args.work_dir = os.path.abspath(args.work_dir or tempfile.mkdtemp(prefix="bench_precision_"))
    os.makedirs(args.work_dir, exist_ok=True)

    load_before = os.getloadavg()
    rows = []
    for dataset in datasets:
        prepared = _child(args, "--prepare", dataset)
        if "error" in prepared:
            print(f"{dataset}: cannot prepare: {prepared['error']}", flush=True)
            continue
        preprocessing = args.preprocessing or DATASETS[dataset]
        for seed in seeds:  # interleaved: every CPU and variant once per seed
            for cpu in cpus:
                for variant in variants:
                    result = _child(
                        args, "--run", "--dataset_dir", prepared["dataset_dir"],
                        "--variant", variant, "--seed", str(seed), "--steps", str(args.steps),
                        "--preprocessing", preprocessing, env=CPUS[cpu],
                    )  # fmt: skip
                    row = {"dataset": dataset, "preprocessing": preprocessing, "cpu": cpu,
                           "variant": variant, "seed": seed, **result}  # fmt: skip
                    print(
                        f"  {dataset} seed {seed} {cpu} {variant}: "
                        + (result.get("error") or f"accuracy {result['validation_accuracy']:.4f}"
                           f", {result['examples_per_sec']:.0f} ex/s")
                        + f" ({result['child_seconds']} s)", flush=True,
                    )  # fmt: skip
                    rows.append(row)

    summary = summarize(rows, variants)
    print()
    print(common.table(summary, [
        ("case", "dataset, CPU, variant"), ("accuracy_percent", "accuracy % per seed"),
        ("mean_percent", "mean %"), ("accuracy_points_vs_float32", "vs f32 (points)"),
        ("mean_examples_per_sec", "ex/s"), ("speed_vs_float32", "vs f32"),
    ]))  # fmt: skip
    path = common.write_result(
        "precision",
        summary,
        quick=False,
        python=common.default_python(),
        path=args.json,
        extra={
            "steps": args.steps,
            "batch": BATCH,
            "seeds": seeds,
            "cpus": {c: CPUS[c] for c in cpus},
            "load_average_before": [round(x, 2) for x in load_before],
            "runs": rows,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
