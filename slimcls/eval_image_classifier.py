"""`python -m slimcls.eval_image_classifier`: runs :mod:`slimcls.cli.eval_image_classifier`."""

if __name__ == "__main__":
    from slimcls.cli import entry

    entry("eval_image_classifier")
