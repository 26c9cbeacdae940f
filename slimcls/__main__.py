"""``python -m slimcls <command> [flags]``: runs one of the commands."""

from __future__ import annotations

import sys

COMMANDS = (
    "download_and_convert_data",
    "train_image_classifier",
    "eval_image_classifier",
    "classify_image",
    "export_inference_graph",
    "make_image_classifier",
    "checkpoints",
)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("usage: python -m slimcls <command> [--flags]\n\ncommands:")
        for name in COMMANDS:
            print(f"  {name}")
        print("\n`python -m slimcls <command> --help` lists a command's flags.")
        return 0 if argv else 2
    if argv[0] == "--version":
        from slimcls import __version__

        print(f"slimcls {__version__}")
        return 0
    if argv[0] not in COMMANDS:
        sys.stderr.write(
            f"slimcls: error: unknown command {argv[0]!r}; expected one of {', '.join(COMMANDS)}\n"
        )
        return 2
    from slimcls.cli import entry

    sys.argv = [argv[0], *argv[1:]]
    entry(argv[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
