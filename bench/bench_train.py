"""Training throughput of slimcls' loop against TF-Slim's measured baseline.

Usage:
  .venv/bin/python bench/bench_train.py [--steps 20] [--warmup 3] [--jit both|off|on]
      [--models cifarnet,inception_v3] [--json out.json]

Wall time depends on what else runs on the machine: the table also shows the process's
CPU seconds per step (all its threads) and the load average, to judge a noisy run.

Runs ``slimcls.train.train`` end to end (TFRecord shards -> tf.data -> preprocessing ->
tf.function step -> TF1 optimizer -> EMA-free checkpoint at the end) on generated images,
so the numbers include the input pipeline, as TF-Slim's did. Steady-state time per step is
the median of the steps after ``--warmup`` (the first steps trace and compile the
function). The TF-Slim numbers are DESIGN.md's, measured on the same 2-core machine with
TF-Slim's own ``train_image_classifier.py`` (TF 2.21, eager disabled).

Measured 2026-11-23 on the shared 2-core CPU machine (load average ~1.2 during the run),
``--steps 30 --inception_steps 6``:

  model         batch  XLA   s/step     ex/s CPU s/step  TF-Slim s/step  vs TF-Slim
  cifarnet         32  off    0.079    402.7      0.153           0.109       1.37x
  cifarnet         32   on    0.102    312.5      0.184           0.109       1.06x
  inception_v3      8  off    2.562      3.1      4.960           3.770       1.47x
  inception_v3      8   on    2.847      2.8      5.487           3.770       1.32x

XLA (--jit_compile) is slower on this CPU for both nets; measure it on each device.

Expected run time on 2 CPU cores: ~1 min for CifarNet, ~5-8 min for InceptionV3
(tracing and XLA compilation of InceptionV3 take minutes), more when the CPU is busy.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import slimcls  # noqa: E402,F401  (compat before TensorFlow)
from slimcls import optim, train  # noqa: E402
from slimcls.datasets import dataset_utils  # noqa: E402

#: DESIGN.md, "Measured facts": TF-Slim's train_image_classifier.py on this machine.
BASELINES = {
    "cifarnet": dict(batch_size=32, image_size=32, tf_slim_sec_per_step=0.109),
    "inception_v3": dict(batch_size=8, image_size=299, tf_slim_sec_per_step=3.77),
}


def make_dataset(root: str, image_size: int, num_images: int) -> str:
    """Random RGB images (10 classes) as a converted dataset under ``root``."""
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


def bench_one(model_name: str, jit: bool, steps: int, warmup: int, root: str) -> dict:
    base = BASELINES[model_name]
    batch, size = base["batch_size"], base["image_size"]
    dataset_dir = make_dataset(root, size, num_images=max(4 * batch, 64))
    config = train.TrainConfig(
        train_dir=tempfile.mkdtemp(dir=root, prefix=f"{model_name}_"),
        dataset_dir=dataset_dir,
        model_name=model_name,
        train_image_size=size,
        batch_size=batch,
        max_number_of_steps=warmup + steps,
        optimizer=optim.OptimizerConfig("rmsprop"),  # TF-Slim's default optimizer
        log_every_n_steps=0,
        save_interval_secs=1e9,
        save_summaries_secs=1e9,
        num_summary_images=0,
        jit_compile=jit,
        random_seed=0,
        handle_signals=False,
    )
    started = time.perf_counter()
    result = train.train(config)
    total = time.perf_counter() - started
    steady = result.step_seconds[warmup:]
    sec = statistics.median(steady)
    cpu = statistics.median(result.step_cpu_seconds[warmup:])
    return dict(
        model=model_name,
        batch_size=batch,
        image_size=size,
        jit_compile=jit,
        steps=len(steady),
        sec_per_step=sec,
        examples_per_sec=batch / sec,
        cpu_sec_per_step=cpu,
        first_step_sec=result.step_seconds[0],
        total_sec=total,
        tf_slim_sec_per_step=base["tf_slim_sec_per_step"],
        tf_slim_examples_per_sec=batch / base["tf_slim_sec_per_step"],
        speedup=base["tf_slim_sec_per_step"] / sec,
    )


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'model':<13} {'batch':>5} {'XLA':>4} {'s/step':>8} {'ex/s':>8} "
        f"{'CPU s/step':>10} {'TF-Slim s/step':>15} {'TF-Slim ex/s':>13} {'vs TF-Slim':>10} "
        f"{'1st step s':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['model']:<13} {r['batch_size']:>5} {'on' if r['jit_compile'] else 'off':>4} "
            f"{r['sec_per_step']:>8.3f} {r['examples_per_sec']:>8.1f} "
            f"{r['cpu_sec_per_step']:>10.3f} "
            f"{r['tf_slim_sec_per_step']:>15.3f} {r['tf_slim_examples_per_sec']:>13.1f} "
            f"{r['speedup']:>9.2f}x {r['first_step_sec']:>10.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="cifarnet,inception_v3")
    parser.add_argument("--jit", choices=("both", "off", "on"), default="both")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed first steps")
    parser.add_argument("--inception_steps", type=int, default=6, help="timed InceptionV3 steps")
    parser.add_argument("--json", default=None, help="also write the rows here")
    parser.add_argument("--workdir", default=None, help="datasets/train dirs (default: temp)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    jits = {"both": [False, True], "off": [False], "on": [True]}[args.jit]
    root = args.workdir or tempfile.mkdtemp(prefix="bench_train_")
    rows = []
    for model in args.models.split(","):
        steps = args.inception_steps if model == "inception_v3" else args.steps
        for jit in jits:
            row = bench_one(model, jit, steps, args.warmup, root)
            print(json.dumps(row), flush=True)
            rows.append(row)
    print()
    print(f"nproc={os.cpu_count()}  load average={os.getloadavg()}")
    print_table(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
