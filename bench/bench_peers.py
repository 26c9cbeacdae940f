"""Training throughput: slimcls' loop against a Keras 3 ``model.fit`` peer, interleaved.

Usage: $PYTHON bench/bench_peers.py [--quick] [--trials N] [--cases 0,2] [--workdir DIR]
           [--tfslim_dir PATH/research/slim | --synthetic] [--results_dir DIR]

``--synthetic``: both sides train on one in-memory batch (their ``--synthetic``), so the
ratio is the training step alone, without either side's input pipeline.

Every trial is a fresh child process (slimcls needs TF_USE_LEGACY_KERAS=1, Keras 3 needs it
off), and the sides alternate -- slimcls, keras[, tfslim], slimcls, keras, ... -- so machine
noise lands on all of them. A trial's examples/s is ``batch / median step time`` over the
steps after the warm-up (tracing, autotuning); start-up is not timed. Both sides read the
same TFRecord shards with the same augmentation: slimcls through its training pipeline
(CifarNet's augmentation on whole batches), the Keras peer through a per-image ``map`` of the
same preprocessing function, as a Keras user writes it (``keras_peer.py``).

Cases: CifarNet batch 32 and 128, InceptionV3 at 150x150 batch 16 (CPU-friendly), each in
float32 and bfloat16. A side that fails (e.g. a kernel missing for bfloat16) becomes a row
with the one-line reason. With ``--tfslim_dir`` (a research/slim checkout given by the
user; nothing of TF-Slim is in this repository) TF-Slim's own ``train_image_classifier.py``
runs as a third side in the float32 cases (see ``tfslim_peer.py``).

Writes bench/results/peers.json. Expected run time on 2 cores: --quick ~4-6 min (1 trial
per side, a few steps, no InceptionV3 bfloat16); full (3 trials per side) ~30-45 min.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402

CASES = [
    # (model, batch, image_size, dtype)
    ("cifarnet", 32, 32, "float32"),
    ("cifarnet", 32, 32, "bfloat16"),
    ("cifarnet", 128, 32, "float32"),
    ("cifarnet", 128, 32, "bfloat16"),
    ("inception_v3", 16, 150, "float32"),
    ("inception_v3", 16, 150, "bfloat16"),
]
#: InceptionV3 traces for 1-2 min per process on 2 cores: --quick keeps only its float32.
QUICK_CASES = CASES[:5]
#: (warmup, timed steps) per model, full and --quick.
STEPS = {
    "cifarnet": {"full": (10, 50), "quick": (3, 6)},
    "inception_v3": {"full": (3, 12), "quick": (2, 2)},
}
#: generated source images: (side, train examples full, quick); inception crops and resizes.
DATA = {"cifarnet": (32, 4096, 1024), "inception_v3": (170, 512, 64)}


def side_command(side, python, args, model, batch, size, dtype, warmup, steps, data_dir):
    common_args = [
        "--dataset_dir", data_dir, "--model", model, "--batch", str(batch),
        "--image_size", str(size), "--dtype", dtype,
        "--warmup", str(warmup), "--steps", str(steps),
    ]  # fmt: skip
    if args.synthetic:
        common_args.append("--synthetic")
    if side == "slimcls":
        return [python, os.path.join(HERE, "slimcls_trial.py"), "train", *common_args]
    if side == "keras":
        return [python, os.path.join(HERE, "keras_peer.py"), *common_args]
    return [
        python, os.path.join(HERE, "tfslim_peer.py"), "--tfslim_dir", args.tfslim_dir,
        *common_args,
    ]  # fmt: skip


def side_env(side):
    # slimcls and TF-Slim need the legacy Keras 2; the Keras peer needs Keras 3.
    return common.child_env(TF_USE_LEGACY_KERAS="0" if side == "keras" else "1")


def run_case(case, sides, args, python, work, mode):
    model, batch, size, dtype = case
    warmup, steps = STEPS[model][mode]
    warmup, steps = args.warmup or warmup, args.steps or steps
    source, n_full, n_quick = DATA[model]
    data_dir = common.make_dataset(
        python, os.path.join(work, f"{model}_{source}"), source, n_quick if args.quick else n_full
    )
    row = {
        "case": f"{model} {size}x{size} b{batch} {dtype}",
        "model": model, "batch": batch, "image_size": size, "dtype": dtype,
        "warmup_steps": warmup, "timed_steps": steps, "trials": {}, "errors": {},
        "skipped": {}, "commands": {},
    }  # fmt: skip
    active = [s for s in sides if not (s == "tfslim" and dtype != "float32")]
    if "tfslim" in sides and "tfslim" not in active:
        row["skipped"]["tfslim"] = "TF-Slim's train_image_classifier has no mixed precision"
    for trial in range(args.trials):
        for side in active:
            if side in row["errors"]:
                continue  # failed once: it will fail again, do not spend the time
            cmd = side_command(side, python, args, model, batch, size, dtype, warmup, steps,
                               data_dir)  # fmt: skip
            row["commands"][side] = " ".join(cmd)
            result = common.run_child(cmd, side_env(side), timeout=args.timeout)
            print(f"  {row['case']} trial {trial + 1} {side}: "
                  f"{result.get('error') or format(result['examples_per_s'], '.1f') + ' ex/s'}"
                  f" ({result['child_seconds']} s)", flush=True)  # fmt: skip
            if "error" in result:
                row["errors"][side] = result["error"]
                continue
            row["trials"].setdefault(side, []).append(result["examples_per_s"])
            row.setdefault("step_seconds", {}).setdefault(side, []).append(result["step_seconds"])
    for side in sides:
        row[f"{side}_median"] = common.median(row["trials"].get(side, []))
    row["ratio_slimcls_over_keras"] = common.ratio(row["slimcls_median"], row["keras_median"])
    if "tfslim" in sides:
        row["ratio_slimcls_over_tfslim"] = common.ratio(row["slimcls_median"], row["tfslim_median"])
    row["note"] = "; ".join(
        [f"{k} failed: {v}" for k, v in row["errors"].items()]
        + [f"{k} skipped: {v}" for k, v in row["skipped"].items()]
    )
    for side in sides:
        row[f"{side}_trials"] = row["trials"].get(side)
    return row


def print_table(rows, sides):
    columns = [("case", "case")]
    for side in sides:
        columns += [(f"{side}_trials", f"{side} ex/s per trial"), (f"{side}_median", "median")]
    columns.append(("ratio_slimcls_over_keras", "slimcls/keras"))
    if "tfslim" in sides:
        columns.append(("ratio_slimcls_over_tfslim", "slimcls/TF-Slim"))
    columns.append(("note", "note"))
    print(common.table(rows, columns))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 trial per side, few steps")
    parser.add_argument("--trials", type=int, default=None, help="per side (default 3, quick 1)")
    parser.add_argument("--cases", default=None, help="comma list of case indices (0-based)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (per net)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (per net)")
    parser.add_argument("--workdir", default=None, help="generated datasets (default: temp)")
    parser.add_argument("--tfslim_dir", default=None, help="a TF-Slim research/slim checkout")
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="both sides train on one in-memory batch: the step alone, without input cost "
        "(not with --tfslim_dir)",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per trial")
    parser.add_argument("--results_dir", default=None)
    args = parser.parse_args()
    args.trials = args.trials or (1 if args.quick else 3)
    if args.synthetic and args.tfslim_dir:
        parser.error("--synthetic compares slimcls and Keras only; drop --tfslim_dir")
    python = common.default_python()
    sides = ["slimcls", "keras"] + (["tfslim"] if args.tfslim_dir else [])
    cases = QUICK_CASES if args.quick else CASES
    if args.cases:
        cases = [CASES[int(i)] for i in args.cases.split(",")]
    mode = "quick" if args.quick else "full"
    with tempfile.TemporaryDirectory(prefix="bench_peers_") as tmp:
        work = args.workdir or tmp
        rows = [run_case(case, sides, args, python, work, mode) for case in cases]
    print()
    print_table(rows, sides)
    path = common.write_result(
        "peers_synthetic" if args.synthetic else "peers",
        rows,
        quick=args.quick,
        python=python,
        results_dir=args.results_dir,
        extra={
            "sides": sides,
            "synthetic": args.synthetic,
            "method": "interleaved trials, one child process each; examples/s = batch / median "
            "step seconds after the warm-up steps; ratio = median slimcls / median peer",
        },
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
