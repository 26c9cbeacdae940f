"""TF-Slim's `datasets` package, as research/slim lays it out; installed as ``slimcls.datasets``.

``import datasets`` (TF-Slim's name) gives this same module object, from an install or from the
repository root (see _slimcls_tfslim_names); it imports slimcls.core.compat first.
"""

if __name__ == "datasets":  # loaded by TF-Slim's name from a checkout: become slimcls.datasets
    import _slimcls_tfslim_names

    _slimcls_tfslim_names.become_alias(__name__)
else:
    import slimcls.core.compat  # noqa: F401  (legacy Keras + tf-slim aliases before tf_slim)
