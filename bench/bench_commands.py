"""Eval throughput, classify latency and every command's start-up time.

Usage: $PYTHON bench/bench_commands.py [--quick] [--model cifarnet] [--workdir DIR]
           [--results_dir DIR]

* eval: ``slimcls.inference.evaluate.Evaluator`` on a generated test split; examples/s of full
  passes after a first (tracing) pass, median of ``--repeats``.
* classify: ``slimcls.inference.classify.Classifier`` loaded once, then one image classified
  ``--runs`` times (default 50): p50 and p95 latency (decode + preprocess + net + top-k).
* start-up: ``python -m slimcls.<command> --help`` for each command, and one-image
  ``classify_image`` end to end (load, restore, trace, classify), each as a fresh process,
  3 runs (1 with --quick), median wall seconds.

The checkpoint comes from a one-step ``slimcls.train.train`` run, so eval and classify read
what the training command writes. Writes bench/results/commands.json. Expected run time
on 2 busy cores: --quick ~1.5-2 min; full ~3 min.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402

from slimcls.__main__ import COMMANDS  # noqa: E402  (the five commands, one list)

TRIAL = os.path.join(HERE, "slimcls_trial.py")


def wall_seconds(cmd, env, runs, ok_codes=(0,)):
    """Median wall seconds of ``runs`` fresh processes (None and the reason if one fails).

    absl's ``--help`` prints the flags and exits with status 1, hence ``ok_codes``.
    """
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=common.ROOT)
        times.append(time.perf_counter() - started)
        if proc.returncode not in ok_codes or not proc.stdout.strip():
            tail = [s for s in proc.stderr.splitlines() if s.strip()]
            return None, times, common.first_line(tail[-1] if tail else f"exit {proc.returncode}")
    return common.median(times), times, None


def write_png(dataset_dir, path, size):
    """One image of the generated test split, as a PNG file (what users classify)."""
    code = (
        "import sys, numpy as np\n"
        f"sys.path.insert(0, {HERE!r})\n"
        "from PIL import Image\n"
        "from bench_convert import _smooth_images\n"
        f"img = _smooth_images(np.random.default_rng(3), 1, {size}, {size}, 3)[0]\n"
        f"Image.fromarray(img).save({path!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller test split, 1 eval repeat")
    parser.add_argument("--model", default="cifarnet")
    parser.add_argument("--image_size", type=int, default=32)
    parser.add_argument("--runs", type=int, default=50, help="classify latency runs")
    parser.add_argument("--startup_runs", type=int, default=None, help="default 3, quick 1")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--results_dir", default=None)
    args = parser.parse_args()
    args.startup_runs = args.startup_runs or (1 if args.quick else 3)
    python = common.default_python()
    env = common.child_env(TF_USE_LEGACY_KERAS="1")
    n_test = 1000 if args.quick else 10000
    repeats = 1 if args.quick else 3
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_commands_") as tmp:
        work = args.workdir or tmp
        size = args.image_size
        data = common.make_dataset(python, os.path.join(work, f"eval_{size}"), size, 256, n_test)
        train_dir = os.path.join(work, f"train_{args.model}")
        base = ["--dataset_dir", data, "--model", args.model, "--image_size", str(size)]
        ckpt = common.run_child(
            [python, TRIAL, "checkpoint", *base, "--batch", "32", "--train_dir", train_dir],
            env, args.timeout,
        )  # fmt: skip
        if "error" in ckpt:
            rows.append({"case": "checkpoint for eval/classify", "note": ckpt["error"]})
        else:
            cmd = [python, TRIAL, "eval", *base, "--train_dir", train_dir, "--batch", "100",
                   "--repeats", str(repeats)]  # fmt: skip
            r = common.run_child(cmd, env, args.timeout)
            rows.append({
                "case": f"eval {args.model} {size}x{size} b100, {n_test} examples",
                "metric": "examples/s", "value": r.get("examples_per_s"),
                "runs": r.get("examples_per_s_runs"), "note": r.get("error", ""),
                "command": " ".join(cmd),
            })  # fmt: skip
            image = write_png(data, os.path.join(work, "one.png"), size)
            cmd = [python, TRIAL, "classify", *base, "--train_dir", train_dir,
                   "--image", image, "--runs", str(args.runs)]  # fmt: skip
            r = common.run_child(cmd, env, args.timeout)
            for key in ("p50_ms", "p95_ms"):
                rows.append({
                    "case": f"classify 1 image, model loaded ({args.model}), {key[:3]}",
                    "metric": "ms", "value": r.get(key), "runs": args.runs,
                    "note": r.get("error", ""), "command": " ".join(cmd),
                })  # fmt: skip
            cmd = [python, "-m", "slimcls.classify_image", f"--checkpoint_path={train_dir}",
                   f"--model_name={args.model}", f"--dataset_dir={data}", image]  # fmt: skip
            median, times, error = wall_seconds(cmd, env, args.startup_runs)
            rows.append({
                "case": "classify_image 1 image end to end (fresh process)",
                "metric": "s", "value": median, "runs": times, "note": error or "",
                "command": " ".join(cmd),
            })  # fmt: skip
        for name in COMMANDS:
            cmd = [python, "-m", f"slimcls.{name}", "--help"]
            median, times, error = wall_seconds(cmd, env, args.startup_runs, ok_codes=(0, 1))
            rows.append({
                "case": f"{name} --help (fresh process)", "metric": "s", "value": median,
                "runs": times, "note": error or "", "command": " ".join(cmd),
            })  # fmt: skip
    print()
    print(common.table(rows, [("case", "case"), ("value", "median"), ("metric", "unit"),
                              ("runs", "runs"), ("note", "note")]))  # fmt: skip
    path = common.write_result(
        "commands", rows, quick=args.quick, python=python, results_dir=args.results_dir
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
