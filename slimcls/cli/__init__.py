"""Helpers shared by the command-line entry points (never imported by library code).

Every command reports expected problems the same way: one line
``<command>: error: <what was wrong and what was expected>`` on stderr, exit status 1,
no traceback. That covers bad flag values (absl's parser) and :class:`SlimclsError`
raised anywhere below the entry point.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from slimcls.core.errors import SlimclsError


def report_errors(main: Callable[[list[str]], object], prog: str) -> Callable[[list[str]], object]:
    """Wraps an absl ``main(argv)`` so expected errors print one line and exit 1."""

    def wrapped(argv: list[str]) -> object:
        try:
            return main(argv)
        except SlimclsError as e:
            sys.stderr.write(f"{prog}: error: {e}\n")
            sys.exit(1)
        except KeyboardInterrupt:
            sys.stderr.write(f"{prog}: interrupted\n")
            sys.exit(130)

    return wrapped


def one_line_flags_parser(prog: str) -> Callable[[list[str]], list[str]]:
    """absl's flag parser, but a bad flag is ``prog: error: ...`` and exit 1 (absl: 2 lines)."""
    from absl import flags

    def parse(argv: list[str]) -> list[str]:
        try:
            return flags.FLAGS(argv)
        except flags.Error as e:
            sys.stderr.write(f"{prog}: error: {e}\n")
            sys.exit(1)

    return parse


def quiet_tensorflow_info(main: Callable[[list[str]], object]) -> Callable[[list[str]], object]:
    """Wraps ``main(argv)`` so TensorFlow's INFO lines (tf-slim, SavedModel) are hidden."""

    def wrapped(argv: list[str]) -> object:
        from slimcls.core.logs import quiet_tensorflow_info as quiet

        with quiet():
            return main(argv)

    return wrapped


def show_flags_in_short_help(module_names: list[str]) -> None:
    """Lists the flags defined by ``module_names`` in ``--helpshort``.

    absl's short help shows the key flags of the module named ``sys.argv[0]``; for a
    console script (``.venv/bin/train_image_classifier``) that is the wrapper, which
    defines none, so ``--helpshort`` would list no flag at all.
    """
    from absl import flags

    by_module = flags.FLAGS.flags_by_module_dict()
    for name in module_names:
        for flag in by_module.get(name, []):
            flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)


def run(main: Callable[[list[str]], object], prog: str, quiet_tf_info: bool = False) -> None:
    """Runs an absl ``main`` with slimcls' one-line error reporting (console scripts).

    Args:
      main: absl-style ``main(argv)``; its return value is the exit status.
      prog: the command's name, prefixed to error lines.
      quiet_tf_info: hide TensorFlow's INFO log lines while ``main`` runs.
    """
    from absl import app

    # The entry point's own flags and the shared groups it defined through flag_defs.
    show_flags_in_short_help([main.__module__, "slimcls.cli.flag_defs"])
    if quiet_tf_info:
        main = quiet_tensorflow_info(main)
    app.run(report_errors(main, prog), flags_parser=one_line_flags_parser(prog))
