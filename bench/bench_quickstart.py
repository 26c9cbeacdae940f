"""Benchmark: scripts/quickstart.sh end to end on this machine (no timed tests).

Runs the quickstart (reusing an existing .venv, so install time is excluded) and
reports wall time of each stage, the training time, the validation accuracy, the CPU
count and the load average before and after (other processes on a shared machine
inflate the times). Target (issue 6): >= 97% validation accuracy within 5 minutes on
2 CPU cores.

Usage: .venv/bin/python bench/bench_quickstart.py [--work_dir=/tmp/slimcls_bench] [--steps=800]
           [--json=bench/quickstart_result.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))

import common  # noqa: E402

TARGET_ACCURACY = 0.97
TARGET_SECONDS = 300


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work_dir", default="/tmp/slimcls_bench")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--json", default=None, help="also write the result here")
    args = parser.parse_args()

    env = dict(os.environ, STEPS=str(args.steps))
    load_before = os.getloadavg()
    start = time.perf_counter()
    stage_times: dict[str, float] = {}
    last_stage, last_t = None, start
    output = []
    proc = subprocess.Popen(
        ["bash", os.path.join(REPO, "scripts", "quickstart.sh"), args.work_dir],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    for line in proc.stdout:
        sys.stdout.write(line)
        output.append(line)
        if line.startswith("==> ") and not line.startswith("==> done"):
            now = time.perf_counter()
            if last_stage:
                stage_times[last_stage] = round(now - last_t, 1)
            last_stage, last_t = line[4:].strip(), now
    proc.wait()
    total = time.perf_counter() - start
    if last_stage:
        stage_times[last_stage] = round(time.perf_counter() - last_t, 1)
    if proc.returncode:
        print(f"quickstart failed with exit status {proc.returncode}", file=sys.stderr)
        return proc.returncode

    with open(os.path.join(args.work_dir, "eval", "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    train = re.search(r"training (\d+) s", "".join(output))
    result = {
        "steps": args.steps,
        "validation_accuracy": metrics["accuracy"],
        "validation_examples": metrics["num_examples"],
        "total_seconds_without_install": round(total, 1),
        "train_seconds": int(train.group(1)) if train else None,
        "stage_seconds": stage_times,
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "meets_target": metrics["accuracy"] >= TARGET_ACCURACY and total <= TARGET_SECONDS,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        common.write_result("quickstart", [result], quick=False, python=sys.executable,
                            path=args.json)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
