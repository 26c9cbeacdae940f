"""TF-Slim-style `datasets` package of slimcls (imports slimcls.compat first)."""

import slimcls.compat  # noqa: F401  (legacy Keras + tf-slim aliases before tf_slim)
