"""`python -m slimcls.checkpoints`: runs :mod:`slimcls.cli.checkpoints` (the published list)."""

if __name__ == "__main__":
    from slimcls.cli import entry

    entry("checkpoints")
