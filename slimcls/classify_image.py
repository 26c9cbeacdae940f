"""`python -m slimcls.classify_image`: runs :mod:`slimcls.cli.classify_image`."""

if __name__ == "__main__":
    from slimcls.cli import entry

    entry("classify_image")
