"""`python -m slimcls.train_image_classifier`: runs :mod:`slimcls.cli.train_image_classifier`."""

if __name__ == "__main__":
    from slimcls.cli import entry

    entry("train_image_classifier")
