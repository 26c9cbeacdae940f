#!/usr/bin/env bash
# Usage: scripts/train_multiworker_local.sh [WORK_DIR]     (default WORK_DIR: /tmp/slimcls_multiworker)
#   (PYTHON: default <repo>/.venv/bin/python; override STEPS, BATCH_SIZE, PORT0, PORT1 as
#   environment variables)
# Runs MultiWorkerMirroredStrategy on one machine: writes a tiny generated dataset (64 12x12
# images, 4 classes, 4 shards), starts 2 workers on localhost ports with TF_CONFIG, trains
# small_cnn for STEPS steps (batch BATCH_SIZE per worker), waits for both, then lists the
# chief's checkpoint. Each worker's log is WORK_DIR/worker<i>.log.
# Expected run time on 2 shared CPU cores: ~1-1.5 min (two TensorFlow start-ups dominate;
# measured 77 s on a busy machine).
set -euo pipefail

WORK_DIR="${1:-/tmp/slimcls_multiworker}"
STEPS="${STEPS:-40}"
BATCH_SIZE="${BATCH_SIZE:-8}"
PORT0="${PORT0:-23456}"
PORT1="${PORT1:-23457}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"   # the project's venv (scripts/test.sh creates it)
if ! command -v "$PYTHON" >/dev/null; then
  echo "$(basename "$0"): no Python at $PYTHON; run scripts/test.sh to create .venv, or set PYTHON=/path/to/python" >&2
  exit 2
fi
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"

DATASET_DIR="$WORK_DIR/data"
TRAIN_DIR="$WORK_DIR/train"
mkdir -p "$WORK_DIR"

# 1. A tiny dataset (the class sets the mean colour), unless an earlier run wrote it.
if [[ ! -f "$DATASET_DIR/dataset.json" ]]; then
  "$PYTHON" - "$DATASET_DIR" <<'PY'
import sys
import numpy as np
from slimcls.datasets import dataset_utils
rng = np.random.RandomState(0)
labels = np.arange(64) % 4
images = (rng.randint(0, 60, (64, 12, 12, 3)) + (labels * 60)[:, None, None, None]).astype("uint8")
dataset_utils.write_dataset_from_arrays(
    sys.argv[1], "toy", {"train": (images, labels)}, ["a", "b", "c", "d"], num_shards=4)
PY
fi

# 2. Two workers; worker 0 is the chief (checkpoints, summaries, flags.txt in TRAIN_DIR).
CLUSTER="{\"worker\": [\"localhost:$PORT0\", \"localhost:$PORT1\"]}"
pids=()
for i in 0 1; do
  TF_CONFIG="{\"cluster\": $CLUSTER, \"task\": {\"type\": \"worker\", \"index\": $i}}" \
    "$PYTHON" -m slimcls.train_image_classifier \
      --train_dir="$TRAIN_DIR" --dataset_dir="$DATASET_DIR" --model_name=small_cnn \
      --train_image_size=12 --batch_size="$BATCH_SIZE" --max_number_of_steps="$STEPS" \
      --log_every_n_steps=10 --optimizer=momentum --learning_rate=0.01 \
      --shuffle_buffer_size=64 --save_interval_secs=30 \
      >"$WORK_DIR/worker$i.log" 2>&1 &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null || true' INT TERM
status=0
for i in 0 1; do
  if ! wait "${pids[$i]}"; then
    echo "$(basename "$0"): worker $i failed; see $WORK_DIR/worker$i.log" >&2
    status=1
  fi
done
[[ $status -eq 0 ]] || exit $status
for i in 0 1; do grep -h "examples/sec" "$WORK_DIR/worker$i.log" | tail -n 2; done
echo "Chief's checkpoints in $TRAIN_DIR:"
ls "$TRAIN_DIR" | grep -E '^(checkpoint|model\.ckpt-)' || true
