"""TF-Slim's `preprocessing` package, as research/slim lays it out; installed as
``slimcls.preprocessing``.

``import preprocessing`` (TF-Slim's name) gives this same module object, from an install or from
the repository root (see _slimcls_tfslim_names); it imports slimcls.core.compat first.
"""

# Loaded by TF-Slim's name from a checkout: become slimcls.preprocessing.
if __name__ == "preprocessing":
    import _slimcls_tfslim_names

    _slimcls_tfslim_names.become_alias(__name__)
else:
    import slimcls.core.compat  # noqa: F401  (legacy Keras + tf-slim aliases before tf_slim)
