"""Training throughput: slimcls' loop against Keras 3, PyTorch (and TF-Slim), interleaved.

Usage: $PYTHON bench/bench_peers.py [--quick] [--trials N] [--cases 0,2] [--workdir DIR]
           [--torch_python PY] [--torch_sides eager,compile]
           [--tfslim_dir PATH/research/slim | --synthetic] [--results_dir DIR]

``--synthetic``: every side trains on one in-memory batch (their ``--synthetic``), so the
ratio is the training step alone, without any side's input pipeline.

Every trial is a fresh child process (slimcls needs TF_USE_LEGACY_KERAS=1, Keras 3 needs it
off, PyTorch runs in its own interpreter), and the sides alternate -- slimcls, keras,
torch, torch_compile[, tfslim], slimcls, keras, ... -- so machine noise lands on all of
them. A trial's examples/s is ``batch / median step time`` over the steps after the
warm-up (tracing, autotuning, compiling); start-up is not timed.

What each side does (the details are in each side's docstring):

* ``slimcls`` (``slimcls_trial.py``): ``slimcls.train.train`` as ``train_image_classifier``
  runs it: TFRecord shards, decoded images cached in memory, CifarNet's augmentation on
  whole batches (InceptionV3's per image), ``--mixed_precision=bfloat16`` for bfloat16.
* ``keras`` (``keras_peer.py``): Keras 3 ``model.fit`` of the same net on the same shards
  with the same augmentation, as a Keras user writes it (a per-image ``tf.data`` map),
  the ``mixed_bfloat16`` policy for bfloat16.
* ``torch``, ``torch_compile`` (``torch_peer.py``): PyTorch in its strongest practical CPU
  setup: the same training split decoded once into memory as uint8 (``bench/data.py
  --uint8``), the same augmentation on whole batches in the training thread, channels_last,
  ``torch.autocast`` bfloat16 for bfloat16; CifarNet with ``nn.LocalResponseNorm``, timm's
  ``inception_v3``; ``torch_compile`` adds ``torch.compile``. They run in ``--torch_python``
  (default: $TORCH_PYTHON, else this interpreter) so slimcls' environment needs no torch;
  an interpreter without torch (or timm, for InceptionV3) skips them with a line saying so.
* ``tfslim`` (``tfslim_peer.py``, only with ``--tfslim_dir``, float32 only): TF-Slim's own
  ``train_image_classifier.py`` from a user-given research/slim checkout.

Cases: CifarNet batch 32 and 128, InceptionV3 at 150x150 batch 16 (CPU-friendly), each in
float32 and bfloat16. A side that fails (e.g. a kernel missing for bfloat16) becomes a row
with the one-line reason.

Writes bench/results/peers.json (with the CPU model, its AMX / AVX512_BF16 / AVX-512 flags
and what ``--mixed_precision=auto`` picks there). Expected run time on 2 quiet cores:
--quick ~6-10 min (1 trial per side, a few steps, no InceptionV3 bfloat16, torch eager
only); full (3 trials per side, torch eager and compiled) ~60-80 min; ``--cases 0,1,2,3``
(CifarNet only) ~15-20 min.
"""

from __future__ import annotations

import argparse
import os
import subprocess
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


#: The PyTorch sides and the torch_peer.py flags that make them.
TORCH_SIDES = {"torch": [], "torch_compile": ["--compile"]}


def side_command(side, python, args, model, batch, size, dtype, warmup, steps, data_dir):
    common_args = [
        "--model", model, "--batch", str(batch),
        "--image_size", str(size), "--dtype", dtype,
        "--warmup", str(warmup), "--steps", str(steps),
    ]  # fmt: skip
    if args.synthetic:
        common_args.append("--synthetic")
    if side in TORCH_SIDES:
        return [
            args.torch_python, os.path.join(HERE, "torch_peer.py"),
            "--data", uint8_path(data_dir), *common_args, *TORCH_SIDES[side],
        ]  # fmt: skip
    common_args = ["--dataset_dir", data_dir, *common_args]
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


def uint8_path(data_dir: str) -> str:
    return data_dir.rstrip(os.sep) + ".train_uint8.npz"


def torch_check(torch_python: str) -> dict:
    """torch's and timm's versions in ``torch_python``, or why it cannot run the torch side:
    ``{"torch": v or None, "timm": v or None, "skip_all": reason, "skip_timm": reason}``."""
    cmd = [torch_python, os.path.join(HERE, "torch_peer.py"), "--check"]
    result = common.run_child(cmd, common.child_env(), timeout=300)
    found = {"torch": result.get("torch"), "timm": result.get("timm")}
    install = (
        "pass --torch_python=/path/to/python of a venv with the bench extra "
        "(pip install -e '.[bench]'; bench/README.md)"
    )
    missing = next((m for m in ("torch", "numpy") if not result.get(m)), None)
    if missing:
        why = result.get(f"{missing}_error") or result.get("error") or "not installed"
        found["skip_all"] = f"no {missing} in {torch_python} ({why}); {install}"
    elif not found["timm"]:
        why = result.get("timm_error") or "not installed"
        found["skip_timm"] = f"no timm in {torch_python} ({why}); {install}"
    return found


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
    torch_sides = [s for s in active if s in TORCH_SIDES]
    skip_torch = args.torch_found.get("skip_all") or (
        args.torch_found.get("skip_timm") if model == "inception_v3" else None
    )
    if skip_torch:
        active = [s for s in active if s not in TORCH_SIDES]
        row["skipped"].update({s: skip_torch for s in torch_sides})
    elif torch_sides:
        # The torch sides' input: the same training split, decoded once (not timed).
        export = subprocess.run([python, os.path.join(HERE, "data.py"), "--uint8", data_dir,
                                 uint8_path(data_dir)], capture_output=True, text=True,
                                env=common.child_env(), cwd=common.ROOT)  # fmt: skip
        if export.returncode:
            tail = [s for s in export.stderr.splitlines() if s.strip()] or ["no output"]
            why = f"the uint8 export of {data_dir} failed: {common.first_line(tail[-1])}"
            row["errors"].update({s: why for s in torch_sides})
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
    for side in sides[1:]:
        row[f"ratio_slimcls_over_{side}"] = common.ratio(
            row["slimcls_median"], row[f"{side}_median"]
        )
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
    columns += [(f"ratio_slimcls_over_{side}", f"slimcls/{side}") for side in sides[1:]]
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
    parser.add_argument(
        "--torch_python",
        default=os.environ.get("TORCH_PYTHON"),
        help="interpreter with torch and timm for the PyTorch sides (default: $TORCH_PYTHON, "
        "else this one); without torch they are skipped with a line saying so",
    )
    parser.add_argument(
        "--torch_sides",
        default=None,
        help="comma list of torch sides: eager (torch), compile (torch_compile); '' for "
        "none (default: eager,compile; --quick: eager)",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per trial")
    parser.add_argument("--results_dir", default=None)
    args = parser.parse_args()
    args.trials = args.trials or (1 if args.quick else 3)
    if args.synthetic and args.tfslim_dir:
        parser.error("--synthetic compares slimcls and Keras only; drop --tfslim_dir")
    python = common.default_python()
    args.torch_python = args.torch_python or python
    if args.torch_sides is None:
        args.torch_sides = "eager" if args.quick else "eager,compile"
    names = {"eager": "torch", "compile": "torch_compile"}
    wanted = [w for w in args.torch_sides.split(",") if w]
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        parser.error(f"--torch_sides: unknown {unknown}; expected some of eager, compile")
    torch_sides = [names[w] for w in wanted]
    args.torch_found = torch_check(args.torch_python) if torch_sides else {}
    if args.torch_found.get("skip_all"):
        print(f"torch sides skipped: {args.torch_found['skip_all']}", flush=True)
    elif torch_sides:
        print(f"torch sides: {args.torch_python}: torch {args.torch_found['torch']}, "
              f"timm {args.torch_found['timm']}", flush=True)  # fmt: skip
        if args.torch_found.get("skip_timm"):
            print(f"torch sides skip InceptionV3: {args.torch_found['skip_timm']}", flush=True)
    sides = ["slimcls", "keras", *torch_sides] + (["tfslim"] if args.tfslim_dir else [])
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
            "torch_python": args.torch_python if torch_sides else None,
            "torch_versions": {k: args.torch_found.get(k) for k in ("torch", "timm")}
            if torch_sides
            else None,
            "method": "interleaved trials, one child process each; examples/s = batch / median "
            "step seconds after the warm-up steps; ratio = median slimcls / median peer",
        },
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
