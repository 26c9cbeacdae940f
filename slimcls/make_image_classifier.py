"""`python -m slimcls.make_image_classifier`: runs :mod:`slimcls.cli.make_image_classifier`."""

if __name__ == "__main__":
    from slimcls.cli import entry

    entry("make_image_classifier")
