"""Training throughput with 1 and 2 model clones on the CPU (``--num_clones --clone_on_cpu``).

Usage:
  .venv/bin/python bench/bench_clones.py [--model cifarnet] [--batch_size 32] [--steps 30]
      [--warmup 3] [--trials 3] [--clones 1,2] [--json out.json]

Each run is a fresh process (logical CPU devices are fixed when TensorFlow starts), and
the runs are interleaved (1, 2, 2, 1, 1, 2, ...) so drift in machine load hits both
settings alike. ``--batch_size`` is per clone, as in training: 2 clones train on twice the
examples per step; examples/sec is global. Steady-state time per step is the median of the
steps after ``--warmup``. Runs ``slimcls.train.train`` end to end on generated images
(TFRecord shards -> tf.data -> step), so the input pipeline is included.

On a CPU the clones share the same cores, so 2 clones mostly measure the overhead of the
replicated step (all-reduce, two smaller batches); the numbers matter on a quiet machine.
Not measured here: validated only with tiny step counts (``--steps 2 --warmup 1
--trials 1``: ~2 min on 2 busy cores).

Expected run time on 2 CPU cores: about (trials x clones) x 30 s for CifarNet at 30 steps.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "bench"))

import common  # noqa: E402


def make_dataset(root: str, image_size: int, num_images: int) -> str:
    """Random RGB images (10 classes, 2 shards) as a converted dataset under ``root``."""
    import numpy as np

    from slimcls.datasets import dataset_utils

    path = os.path.join(root, f"bench_{image_size}")
    if os.path.exists(os.path.join(path, "dataset.json")):
        return path
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, (num_images, image_size, image_size, 3), dtype=np.uint8)
    labels = rng.randint(0, 10, num_images)
    dataset_utils.write_dataset_from_arrays(
        path, "bench", {"train": (images, labels)}, [f"c{i}" for i in range(10)], num_shards=2
    )
    return path


def run_one(args: argparse.Namespace) -> dict:
    """One training run in this process (called in the child)."""
    import logging

    from slimcls import config as cfg
    from slimcls import train

    logging.basicConfig(level=logging.WARNING)
    config = cfg.TrainConfig(
        train_dir=tempfile.mkdtemp(dir=args.workdir, prefix=f"clones{args.one}_"),
        dataset_dir=args.dataset_dir,
        model_name=args.model,
        train_image_size=args.image_size,
        batch_size=args.batch_size,
        max_number_of_steps=args.warmup + args.steps,
        optimizer=cfg.OptimizerConfig("rmsprop"),
        log_every_n_steps=0,
        save_interval_secs=1e9,
        save_summaries_secs=1e9,
        num_summary_images=0,
        num_clones=args.one,
        clone_on_cpu=args.one > 1,
        random_seed=0,
        handle_signals=False,
    )
    result = train.train(config)
    sec = statistics.median(result.step_seconds[args.warmup :])
    cpu = statistics.median(result.step_cpu_seconds[args.warmup :])
    global_batch = args.batch_size * args.one
    return dict(
        model=args.model,
        num_clones=args.one,
        batch_size_per_clone=args.batch_size,
        global_batch_size=global_batch,
        steps=len(result.step_seconds) - args.warmup,
        sec_per_step=sec,
        examples_per_sec=global_batch / sec,
        cpu_sec_per_step=cpu,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="cifarnet")
    parser.add_argument("--image_size", type=int, default=32)
    parser.add_argument("--batch_size", type=int, default=32, help="per clone")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed first steps")
    parser.add_argument("--trials", type=int, default=3, help="runs per setting")
    parser.add_argument("--clones", default="1,2", help="settings to compare")
    parser.add_argument("--json", default=None, help="also write the rows here")
    parser.add_argument("--workdir", default=None, help="dataset/train dirs (default: temp)")
    parser.add_argument("--one", type=int, default=0, help=argparse.SUPPRESS)  # child
    parser.add_argument("--dataset_dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(run_one(args)), flush=True)
        return

    args.workdir = args.workdir or tempfile.mkdtemp(prefix="bench_clones_")
    clones = [int(c) for c in args.clones.split(",")]
    dataset_dir = make_dataset(
        args.workdir, args.image_size, max(4 * args.batch_size * max(clones), 64)
    )
    rows = []
    for trial in range(args.trials):
        order = clones if trial % 2 == 0 else clones[::-1]  # interleaved: ABBA...
        for n in order:
            started = time.perf_counter()
            cmd = [sys.executable, os.path.abspath(__file__), *sys.argv[1:]]
            cmd += [f"--one={n}", f"--dataset_dir={dataset_dir}", f"--workdir={args.workdir}"]
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                cwd=REPO,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            )
            if proc.returncode:
                sys.exit(f"bench_clones: run with {n} clone(s) failed:\n{proc.stderr[-3000:]}")
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
            row = {**json.loads(line[len("RESULT ") :]), "trial": trial}
            row["wall_sec"] = time.perf_counter() - started
            row["load_average"] = os.getloadavg()[0]
            print(json.dumps(row), flush=True)
            rows.append(row)

    print(f"\nnproc={os.cpu_count()}  affinity={len(os.sched_getaffinity(0))}")
    print(f"{'clones':>6} {'global batch':>12} {'ex/s (median)':>14} {'ex/s (all trials)':>30}")
    for n in clones:
        mine = [r for r in rows if r["num_clones"] == n]
        rates = [r["examples_per_sec"] for r in mine]
        print(
            f"{n:>6} {mine[0]['global_batch_size']:>12} {statistics.median(rates):>14.1f} "
            f"{', '.join(f'{x:.1f}' for x in rates):>30}"
        )
    if args.json:
        common.write_result("clones", rows, quick=False, python=sys.executable, path=args.json)


if __name__ == "__main__":
    main()
