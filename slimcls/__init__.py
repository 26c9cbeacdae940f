"""slimcls: TF-Slim-style image classification on today's TensorFlow.

Importing the package is cheap (no TensorFlow): commands can answer ``--help`` and
``--version`` fast. It only sets ``TF_USE_LEGACY_KERAS=1`` (unless the user chose
otherwise) so a TensorFlow imported afterwards has the legacy Keras 2 that tf-slim's
layers need. Every module that uses TensorFlow imports :mod:`slimcls.core.compat`,
which applies the remaining tf-slim shims; import it yourself before ``tf_slim``.
"""

import os as _os
import sys as _sys

_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

# TF-Slim's layout: nets/, preprocessing/ and datasets/ sit at the repository's top level and
# are installed inside this package (setup.py maps them), so no top-level `datasets` is ever
# installed. In a source checkout (the repository root on sys.path, installed or not), this
# finder maps slimcls.<folder> to that checkout's top-level folder. docs/design.md says why.
_CHECKOUT_ROOT = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
FOLDERS = ("nets", "preprocessing", "datasets")


class _CheckoutFolders:
    """Finds ``slimcls.nets`` (etc.) in ``<checkout>/nets`` when the package lacks it."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        package, _, folder = fullname.rpartition(".")
        if package != __name__ or folder not in FOLDERS:
            return None
        if _os.path.isdir(_os.path.join(_CHECKOUT_ROOT, __name__, folder)):
            return None  # an installed wheel: the folder is inside the package
        location = _os.path.join(_CHECKOUT_ROOT, folder)
        init = _os.path.join(location, "__init__.py")
        if not _os.path.isfile(init):
            return None
        from importlib.util import spec_from_file_location

        return spec_from_file_location(fullname, init, submodule_search_locations=[location])


# First: the checkout this package was imported from decides, also when another slimcls is
# installed (an editable install's finder would otherwise map the folders to its own tree).
if _CheckoutFolders not in _sys.meta_path:
    _sys.meta_path.insert(0, _CheckoutFolders)

__version__ = "0.2.0"
