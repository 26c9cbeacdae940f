#!/usr/bin/env bash
# Usage: scripts/test.sh [--full | --run-slow] [pytest args...]
#   default: the fast tier (no training loops, ~5 min on 2 cores); --full: also the tests that
#   run training loops (what CI runs, ~16 min); --run-slow: everything (big nets, quickstart,
#   kill and multi-process trials).
# Creates .venv (if missing) with Python 3, installs slimcls with its dev extras, runs pytest.
# Expected run time: ~3 min install on a fresh machine, then the default suite (a few minutes).
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SLIMCLS_VENV:-$REPO_DIR/.venv}"
PYTHON="${PYTHON:-python3}"

cd "$REPO_DIR"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP_LOG="$VENV/pip-install.log"
if ! { "$VENV/bin/python" -m pip install --upgrade pip &&
       "$VENV/bin/python" -m pip install -e ".[dev,demo]"; } >"$PIP_LOG" 2>&1; then
  tail -n 40 "$PIP_LOG" >&2
  echo "scripts/test.sh: installing slimcls failed (full log: $PIP_LOG)" >&2
  exit 1
fi

export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
set +e
"$VENV/bin/python" -m pytest "$@"
status=$?
set -e
if [[ $status -eq 5 ]]; then
  echo "scripts/test.sh: pytest collected no tests; treating as failure" >&2
  exit 1
fi
exit $status
