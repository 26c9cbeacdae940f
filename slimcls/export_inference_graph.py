"""`python -m slimcls.export_inference_graph`: runs :mod:`slimcls.cli.export_inference_graph`."""

if __name__ == "__main__":
    from slimcls.cli import entry

    entry("export_inference_graph")
