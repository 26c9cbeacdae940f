#!/usr/bin/env bash
# Runs every slimcls benchmark and prints one table; each writes bench/results/<name>.json.
#
# Usage: bench/run_all.sh [--quick] [--tfslim_dir=PATH/research/slim] [--torch_python=PY]
#                         [--results_dir=DIR]
#   PYTHON=...  interpreter with slimcls' dependencies (TensorFlow); default: the active
#               environment's ($VIRTUAL_ENV, $CONDA_PREFIX), else <repo>/.venv, else python3
#               on PATH -- the first that has TensorFlow. Exits 127 saying what it tried.
#   TORCH_PYTHON=... (or --torch_python) interpreter with torch and timm for the PyTorch
#               side of bench_peers (default: $PYTHON; skipped with a line if it has none).
# Expected run time on 2 CPU cores: --quick ~10-15 min (fewer cases, 1 trial per side,
# a few steps: checks that everything runs, the numbers are rough); full ~1.5-2 h.
# Run it on a quiet machine: other processes change the numbers, and only numbers from
# one run (interleaved A/B trials) compare fairly.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

has_tensorflow() {
  "$1" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('tensorflow') is None)" \
    >/dev/null 2>&1
}

FOUND=""
TRIED=""
find_python() {
  # Sets FOUND to the interpreter to use; else TRIED to what was tried, and returns 1.
  local candidate
  if [[ -n "${PYTHON:-}" ]]; then
    if [[ -x "$PYTHON" ]] || command -v "$PYTHON" >/dev/null 2>&1; then
      FOUND="$PYTHON"
      return 0
    fi
    TRIED="PYTHON=$PYTHON, which is not an executable"
    return 1
  fi
  [[ -n "${VIRTUAL_ENV:-}${CONDA_PREFIX:-}" ]] || TRIED="no active environment"
  for candidate in "${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}" \
                   "${CONDA_PREFIX:+$CONDA_PREFIX/bin/python}" \
                   "$REPO/.venv/bin/python" "$(command -v python3 || true)"; do
    [[ -n "$candidate" ]] || continue
    if [[ ! -x "$candidate" ]]; then
      TRIED="${TRIED:+$TRIED, }$candidate (missing)"
    elif has_tensorflow "$candidate"; then
      FOUND="$candidate"
      return 0
    else
      TRIED="${TRIED:+$TRIED, }$candidate (no tensorflow)"
    fi
  done
  return 1
}

QUICK=()
PEER_ARGS=()
RESULTS_ARGS=()
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=(--quick) ;;
    --tfslim_dir=*|--torch_python=*) PEER_ARGS+=("$arg") ;;
    --results_dir=*) RESULTS_ARGS+=(--results_dir "${arg#*=}") ;;
    *) echo "usage: $0 [--quick] [--tfslim_dir=DIR] [--torch_python=PY] [--results_dir=DIR]" >&2
       exit 2 ;;
  esac
done

find_python || {
  echo "bench/run_all.sh: no Python with TensorFlow found (tried: $TRIED); activate the" \
       "environment slimcls is installed in, create <repo>/.venv, or set PYTHON=/path/to/python" >&2
  exit 127
}
PYTHON="$FOUND"
echo "==> using $PYTHON"
export PYTHON TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"

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
