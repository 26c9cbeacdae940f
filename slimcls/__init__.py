"""slimcls: TF-Slim-style image classification on today's TensorFlow.

Importing slimcls applies :mod:`slimcls.compat` (legacy Keras + tf-slim aliases), so
code that imports slimcls first can use ``tf_slim`` directly.
"""

from slimcls import compat as compat  # noqa: F401  (must run before tf_slim)

__version__ = "0.1.0"
