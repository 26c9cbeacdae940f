"""TF-Slim-style `preprocessing` package of slimcls (imports slimcls.core.compat first)."""

import slimcls.core.compat  # noqa: F401  (legacy Keras + tf-slim aliases before tf_slim)
