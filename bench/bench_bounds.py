"""Upper bounds of slimcls training: in-memory input, the input pipeline alone, peak FLOP/s.

Usage: $PYTHON bench/bench_bounds.py [--quick] [--trials N] [--models cifarnet,inception_v3]
           [--workdir DIR] [--results_dir DIR]

Per case (net, batch, dtype), interleaved in child processes (real, synthetic, input,
real, synthetic, input, ...):
* real: slimcls' training loop on the TFRecord shards (examples/s after warm-up);
* synthetic: the same loop fed one cached batch (``slimcls_trial.py --synthetic``):
  ``real_over_synthetic`` = real / synthetic (1.0: the input costs the step nothing);
* input: ``slimcls.reader.input_pipeline.make_dataset`` with the net's training preprocessing,
  iterated without the model: ``input_over_step`` = pipeline examples/s / real training
  examples/s (above 1: the pipeline keeps up, on cores it shares with the step);
* achieved GFLOP/s = training FLOPs per example (tf.compat.v1.profiler on the forward
  graph, x3 for forward + backward) x examples/s, against the machine's peak for the dtype
  (derivation in the JSON's ``machine.peak`` and printed under the table).

Writes bench/results/bounds.json. Expected run time on 2 busy cores: --quick (CifarNet
only) ~1.5-2 min; full ~20-25 min.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
from bench_peers import DATA, STEPS  # noqa: E402

CASES = [
    ("cifarnet", 128, 32, "float32"),
    ("cifarnet", 128, 32, "bfloat16"),
    ("inception_v3", 16, 150, "float32"),
    ("inception_v3", 16, 150, "bfloat16"),
]
QUICK_CASES = CASES[:2]  # InceptionV3 traces for minutes on 2 cores: full runs only
TRIAL = os.path.join(HERE, "slimcls_trial.py")


def run_case(case, args, python, work, flops_cache):
    model, batch, size, dtype = case
    warmup, steps = STEPS[model]["quick" if args.quick else "full"]
    warmup, steps = args.warmup or warmup, args.steps or steps
    source, n_full, n_quick = DATA[model]
    data_dir = common.make_dataset(
        python, os.path.join(work, f"{model}_{source}"), source, n_quick if args.quick else n_full
    )
    base = [
        "--dataset_dir", data_dir, "--model", model, "--batch", str(batch),
        "--image_size", str(size), "--warmup", str(warmup), "--steps", str(steps),
    ]  # fmt: skip
    kinds = {
        "real": [python, TRIAL, "train", *base, "--dtype", dtype],
        "synthetic": [python, TRIAL, "train", *base, "--dtype", dtype, "--synthetic"],
        # The pipeline is cheap per batch: more batches for a steadier mean.
        "input": [python, TRIAL, "input", *base[:-1], str(max(steps, 4) * 4)],
    }
    env = common.child_env(TF_USE_LEGACY_KERAS="1")
    if (model, size) not in flops_cache:
        cmd = [python, TRIAL, "flops", "--model", model, "--image_size", str(size)]
        flops_cache[(model, size)] = common.run_child(cmd, env, args.timeout)
    flops = flops_cache[(model, size)]
    row = {
        "case": f"{model} {size}x{size} b{batch} {dtype}",
        "model": model, "batch": batch, "image_size": size, "dtype": dtype,
        "warmup_steps": warmup, "timed_steps": steps, "trials": {}, "errors": {},
        "commands": {k: " ".join(v) for k, v in kinds.items()},
    }  # fmt: skip
    for trial in range(args.trials):
        for kind, cmd in kinds.items():
            if kind in row["errors"]:
                continue
            result = common.run_child(cmd, env, args.timeout)
            print(f"  {row['case']} trial {trial + 1} {kind}: "
                  f"{result.get('error') or format(result['examples_per_s'], '.1f') + ' ex/s'}"
                  f" ({result['child_seconds']} s)", flush=True)  # fmt: skip
            if "error" in result:
                row["errors"][kind] = result["error"]
            else:
                row["trials"].setdefault(kind, []).append(result["examples_per_s"])
    real, synthetic, pipeline = (
        common.median(row["trials"].get(k, [])) for k in ("real", "synthetic", "input")
    )
    row.update(real_ex_s=real, synthetic_ex_s=synthetic, input_ex_s=pipeline)
    row["real_over_synthetic"] = common.ratio(real, synthetic)
    row["input_over_step"] = common.ratio(pipeline, real)
    train_flops = flops.get("train_flops_per_example")
    row["train_flops_per_example"] = train_flops
    row["train_mflop_per_example"] = train_flops / 1e6 if train_flops else None
    row["flops_method"] = flops.get("method") or flops.get("error")
    for name, rate in (("real", real), ("synthetic", synthetic)):
        row[f"gflops_{name}"] = train_flops * rate / 1e9 if train_flops and rate else None
    row["note"] = "; ".join(f"{k} failed: {v}" for k, v in row["errors"].items())
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer cases and steps, 1 trial")
    parser.add_argument("--trials", type=int, default=None, help="default 3, quick 1")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (per net)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (per net)")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per child")
    parser.add_argument("--results_dir", default=None)
    parser.add_argument("--models", default=None, help="comma-separated subset, e.g. cifarnet")
    args = parser.parse_args()
    args.trials = args.trials or (1 if args.quick else 3)
    python = common.default_python()
    flops_cache: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench_bounds_") as tmp:
        work = args.workdir or tmp
        cases = QUICK_CASES if args.quick else CASES
        if args.models:
            cases = [c for c in cases if c[0] in args.models.split(",")]
        rows = [run_case(case, args, python, work, flops_cache) for case in cases]
    info = common.cpu_info()
    peak = common.peak_gflops(info)
    for row in rows:
        row["peak_gflops"] = peak[f"{row['dtype']}_gflops"]
        row["fraction_of_peak_real"] = common.ratio(row["gflops_real"], row["peak_gflops"])
        row["fraction_of_peak_synthetic"] = common.ratio(
            row["gflops_synthetic"], row["peak_gflops"]
        )
    print()
    print(common.table(rows, [
        ("case", "case"), ("real_ex_s", "real ex/s"), ("synthetic_ex_s", "in-memory ex/s"),
        ("real_over_synthetic", "real/synthetic"), ("input_ex_s", "input pipeline ex/s"),
        ("input_over_step", "input/step"), ("train_mflop_per_example", "MFLOP/ex (train)"),
        ("gflops_real", "GFLOP/s"), ("peak_gflops", "peak GFLOP/s"),
        ("fraction_of_peak_real", "of peak"), ("note", "note"),
    ]))  # fmt: skip
    print(f"\npeak: {peak['derivation']}")
    path = common.write_result(
        "bounds", rows, quick=args.quick, python=python, results_dir=args.results_dir,
        extra={"peak": peak},
    )  # fmt: skip
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
