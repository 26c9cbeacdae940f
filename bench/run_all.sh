#!/usr/bin/env bash
# Runs every slimcls benchmark and prints one table; each writes bench/results/<name>.json.
#
# Usage: bench/run_all.sh [--quick] [--tfslim_dir=PATH/research/slim] [--results_dir=DIR]
#   PYTHON=...  interpreter to use (default: <repo>/.venv/bin/python)
# Expected run time on 2 CPU cores: --quick ~8-10 min (fewer cases, 1 trial per side,
# a few steps: checks that everything runs, the numbers are rough); full ~1-1.5 h.
# Run it on a quiet machine: other processes change the numbers, and only numbers from
# one run (interleaved A/B trials) compare fairly.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
export PYTHON TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"

QUICK=()
PEER_ARGS=()
RESULTS_ARGS=()
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=(--quick) ;;
    --tfslim_dir=*) PEER_ARGS+=("$arg") ;;
    --results_dir=*) RESULTS_ARGS+=(--results_dir "${arg#*=}") ;;
    *) echo "usage: $0 [--quick] [--tfslim_dir=DIR] [--results_dir=DIR]" >&2; exit 2 ;;
  esac
done

cd "$REPO"
started=$SECONDS
for bench in bench_peers bench_bounds bench_convert bench_commands; do
  echo "==> $bench ${QUICK[*]}"
  extra=()
  [[ $bench == bench_peers ]] && extra=("${PEER_ARGS[@]}")
  # One benchmark failing must not lose the others: report it and go on.
  "$PYTHON" "bench/$bench.py" "${QUICK[@]}" "${extra[@]}" "${RESULTS_ARGS[@]}" \
    || echo "!! $bench failed (exit status $?)" >&2
  echo "    ($((SECONDS - started)) s so far)"
done
echo
echo "==> all benchmarks ($((SECONDS - started)) s)"
"$PYTHON" bench/report.py "${RESULTS_ARGS[@]}"
