"""Helpers for the tests that run the command-line tools in subprocesses (no tests here)."""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# TensorFlow's C++ logs and Python warnings off: tests read the tools' own stderr lines.
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}


def run_module(module, *args, timeout=300):
    """Runs ``python -m <module> args`` in the repository root; the CompletedProcess (text)."""
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        cwd=REPO,
    )


def stderr_lines(proc):
    """Non-empty stderr lines, without absl's pre-init C++ log noise."""
    return [
        ln
        for ln in proc.stderr.splitlines()
        if ln.strip() and not ln.startswith(("WARNING: All log messages", "I0000", "W0000"))
    ]
