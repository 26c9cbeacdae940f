"""Helpers shared by the command-line entry points (never imported by library code).

Every command reports expected problems the same way: one line
``<command>: error: <what was wrong and what was expected>`` on stderr, exit status 1,
no traceback. That covers bad flag values (absl's parser) and :class:`SlimclsError`
raised anywhere below the entry point. Ctrl-C at any moment is one line and status 130.
``--help``, ``--helpshort``, ``--helpfull`` and ``--version`` exit 0 without importing
TensorFlow: entry points import the library inside their ``_main``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from slimcls.core.errors import SlimclsError
from slimcls.core.signals import EXIT_TERMINATED, Terminated

HELP_FLAGS = ("--help", "-help", "-h", "-?", "--helpshort", "-helpshort")
HELPFULL_FLAGS = ("--helpfull", "-helpfull")


def interrupted(prog: str) -> None:
    """Ctrl-C: one line, exit status 130, no traceback (even half-way through an import)."""
    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001  (a closed pipe must not turn into a traceback)
        pass
    sys.stderr.write(f"\n{prog}: interrupted\n")
    sys.stderr.flush()
    os._exit(130)  # skip interpreter teardown: a half-imported TensorFlow can hang or print


def entry(command: str) -> None:
    """Imports ``slimcls.cli.<command>`` and runs its ``main``; Ctrl-C while importing is
    handled too (the ``python -m slimcls.<command>`` stubs call this)."""
    try:
        module = importlib.import_module(f"slimcls.cli.{command}")
        module.main()
    except KeyboardInterrupt:
        interrupted(command)


def report_errors(main: Callable[[list[str]], object], prog: str) -> Callable[[list[str]], object]:
    """Wraps an absl ``main(argv)`` so expected errors print one line and exit 1."""

    def wrapped(argv: list[str]) -> object:
        try:
            return main(argv)
        except SlimclsError as e:
            sys.stderr.write(f"{prog}: error: {e}\n")
            sys.exit(1)
        except KeyboardInterrupt:
            interrupted(prog)
        except Terminated as e:  # SIGTERM, after the library cleaned up: one line, 143
            try:
                sys.stdout.flush()
            except Exception:  # noqa: BLE001
                pass
            sys.stderr.write(f"{prog}: {e}\n")
            sys.stderr.flush()
            os._exit(EXIT_TERMINATED)

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


def _options(argv: Sequence[str]) -> list[str]:
    args = list(argv[1:])
    return args[: args.index("--")] if "--" in args else args


def plain_text(doc: str) -> str:
    """A docstring as users read it in ``--help``: reST markup taken out (````x````,
    ``:class:`x```, ``Example::``), the text otherwise as written."""
    import re

    text = re.sub(r":[a-z]+:`~?([^`]*)`", r"\1", doc)
    text = re.sub(r"``([^`]*)``", r"\1", text)
    return re.sub(r"(?m)(\S)::$", r"\1:", text)


def help_text(prog: str, doc: str | None, names: Sequence[str], full: bool = False) -> str:
    """The command's usage (its docstring, without markup) and its own flags (``full``:
    absl's too)."""
    from absl import flags

    if full:
        listing = flags.FLAGS.get_help()
    else:
        by_name = flags.FLAGS._flags()  # noqa: SLF001  (absl has no public name -> Flag map)
        lines: list[str] = []
        flags.FLAGS._render_flag_list([by_name[n] for n in sorted(names)], lines)  # noqa: SLF001
        listing = "\n".join(lines)
    more = "" if full else "\n\n--helpfull also lists absl's flags (logging, --flagfile)."
    return f"{plain_text(doc or prog).strip()}\n\nflags of {prog}:\n{listing}{more}"


def answer_help_or_version(prog: str, doc: str | None, names: Sequence[str]) -> None:
    """Prints help or the version and exits 0 when argv asks for it (before parsing)."""
    options = _options(sys.argv)
    if any(a in HELPFULL_FLAGS for a in options):
        text = help_text(prog, doc, names, full=True)
    elif any(a in HELP_FLAGS for a in options):
        text = help_text(prog, doc, names)
    elif "--version" in options:
        from slimcls import __version__

        text = f"{prog} (slimcls {__version__})"
    else:
        return
    try:
        print(text, flush=True)
    except BrokenPipeError:  # `--help | head`: the reader has all it wanted
        os._exit(0)
    sys.exit(0)


def check_output_dir(flag: str, path: str | None) -> None:
    """A local output directory must be a directory we can write, or creatable.

    Checked before anything starts, so a typo fails in a second with one line instead of
    after TensorFlow loaded and the data was read. URLs (``gs://``) are left to TensorFlow.

    Raises:
      SlimclsError: ``path`` is a file, or it (or the folder it would be created in) is
        not writable.
    """
    if not path or "://" in path:
        return
    full = os.path.abspath(os.path.expanduser(path))
    if os.path.exists(full):
        if not os.path.isdir(full):
            raise SlimclsError(f"--{flag}={path!r} is not a directory; expected a directory")
        if not os.access(full, os.W_OK | os.X_OK):
            raise SlimclsError(
                f"--{flag}={path!r} is not writable; expected a directory you can write"
            )
        return
    parent = os.path.dirname(full)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise SlimclsError(f"--{flag}={path!r} cannot be created: {parent!r} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SlimclsError(f"--{flag}={path!r} cannot be created: {parent!r} is not writable")


def run(
    main: Callable[[list[str]], object],
    prog: str,
    define_flags: Callable[[], Sequence[Any]],
    doc: str | None = None,
    quiet_tf_info: bool = False,
) -> None:
    """Defines the command's flags and runs its absl ``main`` with slimcls' conventions.

    Args:
      main: absl-style ``main(argv)``; its return value is the exit status.
      prog: the command's name, prefixed to error lines.
      define_flags: defines the command's flags; returns their specs (names).
      doc: the usage text shown by ``--help``.
      quiet_tf_info: hide TensorFlow's INFO log lines while ``main`` runs.
    """
    try:
        from absl import app, flags

        names = [spec.name for spec in define_flags()]
        answer_help_or_version(prog, doc, names)
        for name in names:  # absl's own --helpshort lists the main module's key flags
            flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])
        if quiet_tf_info:
            main = quiet_tensorflow_info(main)
        app.run(report_errors(main, prog), flags_parser=one_line_flags_parser(prog))
    except KeyboardInterrupt:
        interrupted(prog)
