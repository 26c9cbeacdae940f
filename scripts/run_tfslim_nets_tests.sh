#!/usr/bin/env bash
# Usage: scripts/run_tfslim_nets_tests.sh RESEARCH_SLIM_DIR [pytest args...]
#   e.g. git --git-dir=MODELS.git archive 0d9ef8d39 research/slim | tar -x -C /tmp/src
#        scripts/run_tfslim_nets_tests.sh /tmp/src/research/slim -k inception
# Runs TF-Slim's own nets tests (RESEARCH_SLIM_DIR/nets/**/*_test.py, copied to a temp dir;
# never TF-Slim's implementation files) against slimcls's nets through TF-Slim's import
# names (`from nets import inception`), then prints passed/failed/errors per test file.
# The shim the 2019 tests need on TensorFlow 2.21 is scripts/tfslim_upstream/conftest.py.
# Env: PYTHON (default: this repo's .venv/bin/python, else python3); SLIMCLS_REPO (the
# slimcls checkout to test, default this one); KEEP_WORK=1 keeps the temp dir.
# Expected run time: a minute when most nets are missing; ~10+ min on 2 cores with all of them.
set -euo pipefail

SCRIPT_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SLIMCLS_REPO="$(cd "${SLIMCLS_REPO:-$SCRIPT_REPO}" && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$SCRIPT_REPO/.venv/bin/python" ]]; then PYTHON="$SCRIPT_REPO/.venv/bin/python"
  else PYTHON=python3; fi
fi
if [[ $# -lt 1 || ! -d "$1/nets" ]]; then
  echo "usage: $0 RESEARCH_SLIM_DIR [pytest args...]  (a dir holding TF-Slim's nets/)" >&2
  exit 2
fi
SLIM_DIR="$(cd "$1" && pwd)"
shift

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tfslim_nets_tests.XXXXXX")"
if [[ "${KEEP_WORK:-0}" != 1 ]]; then trap 'rm -rf "$WORK"' EXIT; fi
# Copied under upstream_nets/, not nets/: a folder named nets on sys.path would shadow ours.
(cd "$SLIM_DIR/nets" && find . -name '*_test.py' -print0) |
  while IFS= read -r -d '' f; do
    mkdir -p "$WORK/upstream_nets/$(dirname "$f")"
    cp "$SLIM_DIR/nets/$f" "$WORK/upstream_nets/$f"
  done
cp "$SCRIPT_REPO/scripts/tfslim_upstream/conftest.py" "$WORK/conftest.py"
cat >"$WORK/pytest.ini" <<'INI'
[pytest]
junit_family = xunit1
filterwarnings =
    ignore::DeprecationWarning
    ignore::UserWarning
    ignore::FutureWarning
INI

echo "TF-Slim tests: $SLIM_DIR/nets ($(find "$WORK/upstream_nets" -name '*_test.py' | wc -l) files)"
echo "slimcls:       $SLIMCLS_REPO"
status=0
(
  cd "$WORK"
  # Only this checkout's slimcls and the names finder; the cwd holds no TF-Slim package.
  PYTHONPATH="$SLIMCLS_REPO:$SCRIPT_REPO" TF_CPP_MIN_LOG_LEVEL=3 PYTHONWARNINGS=ignore \
    "$PYTHON" -m pytest -q -p no:cacheprovider --import-mode=importlib -c pytest.ini \
    --rootdir . --continue-on-collection-errors --junitxml=report.xml -o console_output_style=classic "$@" upstream_nets \
    >pytest.log 2>&1
) || status=$?
tail -n 3 "$WORK/pytest.log"
if [[ ! -s "$WORK/report.xml" ]]; then
  tail -n 40 "$WORK/pytest.log" >&2
  exit "${status:-1}"
fi
"$PYTHON" "$SCRIPT_REPO/scripts/tfslim_upstream/summarize.py" "$WORK/report.xml" \
  upstream_nets/ nets/
[[ "${KEEP_WORK:-0}" == 1 ]] && echo "kept: $WORK (pytest.log, report.xml)"
exit "$status"
