"""Helpers shared by the command-line entry points (never imported by library code)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from slimcls.errors import SlimclsError


def report_errors(main: Callable[[list[str]], object], prog: str) -> Callable[[list[str]], object]:
    """Wraps an absl ``main(argv)`` so expected errors print one line and exit 1."""

    def wrapped(argv: list[str]) -> object:
        try:
            return main(argv)
        except SlimclsError as e:
            sys.stderr.write(f"{prog}: error: {e}\n")
            sys.stderr.flush()
            os._exit(1) if os.environ.get("SLIMCLS_HARD_EXIT") else sys.exit(1)
        except KeyboardInterrupt:
            sys.stderr.write(f"{prog}: interrupted\n")
            sys.exit(130)

    return wrapped


def run(main: Callable[[list[str]], object], prog: str | None = None) -> None:
    """Runs an absl main with slimcls' error reporting (for console scripts)."""
    from absl import app

    prog = prog or os.path.basename(sys.argv[0]).removesuffix(".py")
    app.run(report_errors(main, prog))
