"""slimcls: TF-Slim-style image classification on today's TensorFlow.

Importing the package is cheap (no TensorFlow): commands can answer ``--help`` and
``--version`` fast. It only sets ``TF_USE_LEGACY_KERAS=1`` (unless the user chose
otherwise) so a TensorFlow imported afterwards has the legacy Keras 2 that tf-slim's
layers need. Every module that uses TensorFlow imports :mod:`slimcls.core.compat`,
which applies the remaining tf-slim shims; import it yourself before ``tf_slim``.
"""

import os as _os

_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

__version__ = "0.2.0"
