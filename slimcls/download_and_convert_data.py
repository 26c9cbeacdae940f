"""`python -m slimcls.download_and_convert_data`: runs its :mod:`slimcls.cli` command."""

if __name__ == "__main__":
    from slimcls.cli import entry

    entry("download_and_convert_data")
