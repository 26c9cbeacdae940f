"""TF-Slim's top-level import names (``nets``, ``preprocessing``, ``datasets``) for slimcls.

TF-Slim's scripts and notebooks say ``from nets import nets_factory`` or ``from datasets
import dataset_factory``. slimcls keeps those packages under ``slimcls.`` so that installing
it never writes a top-level ``datasets`` (which would overwrite, and on uninstall delete,
the files of Hugging Face's ``datasets``). This module makes the old names resolve to
slimcls's modules instead, at import time, with nothing installed under those names.

A ``.pth`` file shipped with slimcls calls :func:`install` at interpreter start-up, so this
module must stay cheap: it imports only ``os`` and ``sys`` (already loaded then), never
TensorFlow or ``slimcls`` (whose ``__init__`` sets ``TF_USE_LEGACY_KERAS``, which must not
happen in processes that never use slimcls). ``SLIMCLS_NO_TFSLIM_NAMES=1`` turns it off.

Rules:

* ``nets.X`` is the very module object ``slimcls.nets.X`` (``sys.modules`` holds one module
  under both names), so state such as registries is never duplicated.
* A real top-level ``nets``/``preprocessing``/``datasets`` (another distribution, or a
  TF-Slim checkout in the current directory) always wins: the fallback finder sits last on
  ``sys.meta_path`` and is only asked when no other finder knows the name.
* Under such a foreign package, a direct child it lacks (``datasets.dataset_factory`` under
  Hugging Face's ``datasets``) still resolves to slimcls's module when slimcls has one.
"""

import os
import sys

NAMES = frozenset({"datasets", "nets", "preprocessing"})
PACKAGE = "slimcls"
DISABLE_ENV = "SLIMCLS_NO_TFSLIM_NAMES"


def _target(fullname):
    return f"{PACKAGE}.{fullname}"


def _is_alias(name):
    """True when ``sys.modules[name]`` is slimcls's module put there by this finder."""
    module = sys.modules.get(name)
    return module is not None and module is sys.modules.get(_target(name))


def _slimcls_has(fullname):
    """Whether ``slimcls.<fullname>`` exists, found without executing any of slimcls.

    Executing ``slimcls.datasets/__init__`` would import TensorFlow just to answer a miss
    (e.g. Hugging Face code probing ``datasets.some_optional_module``), so the packages are
    located by path only.
    """
    from importlib.machinery import PathFinder
    from importlib.util import find_spec

    try:
        spec = find_spec(PACKAGE)  # top level: finds, does not execute
    except (ImportError, ValueError):
        return False
    name = PACKAGE
    for index, part in enumerate(fullname.split(".")):
        if spec is None or not spec.submodule_search_locations:
            return False
        locations = list(spec.submodule_search_locations)
        if index == 0:  # a checkout or editable install: the folder beside the package's
            locations += [os.path.dirname(os.path.abspath(p)) for p in locations]
        name = f"{name}.{part}"
        spec = PathFinder.find_spec(name, locations)
    return spec is not None


class _AliasLoader:
    """Loads ``name`` by importing ``slimcls.<name>`` and registering that same object."""

    def __init__(self, target):
        self.target = target

    def create_module(self, spec):
        return None  # a throw-away module; exec_module replaces it in sys.modules

    def exec_module(self, module):
        import importlib

        real = importlib.import_module(self.target)
        # The import system returns whatever sys.modules holds under the name after
        # exec_module, so the alias is the real module, with its own __spec__ untouched.
        sys.modules[module.__name__] = real


def _alias_spec(fullname):
    from importlib.machinery import ModuleSpec

    return ModuleSpec(fullname, _AliasLoader(_target(fullname)))


class _ChildFinder:
    """First on ``sys.meta_path``: children of an aliased package are slimcls's modules.

    It must come before the path finder, which would otherwise load
    ``slimcls/nets/nets_factory.py`` a second time as a new module named
    ``nets.nets_factory`` (the alias package's ``__path__`` is slimcls's folder).
    """

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        parent, dot, _ = fullname.rpartition(".")
        if not dot or fullname.partition(".")[0] not in NAMES or not _is_alias(parent):
            return None
        from importlib.util import find_spec

        try:
            found = find_spec(_target(fullname))  # the parent is imported: cheap
        except (ImportError, ValueError):
            return None
        return _alias_spec(fullname) if found is not None else None


class _FallbackFinder:
    """Last on ``sys.meta_path``: answers only names that no other finder knows."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        top, dot, rest = fullname.partition(".")
        if top not in NAMES or "." in rest:
            return None
        # Finders added after start-up (appended behind this one) still take precedence.
        later = False
        for finder in list(sys.meta_path):
            if finder is cls:
                later = True
            elif later and hasattr(finder, "find_spec"):
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    return spec
        if dot and _is_alias(top):
            return None  # our own package lacks it; _ChildFinder already said so
        return _alias_spec(fullname) if _slimcls_has(fullname) else None


def become_alias(name):
    """Makes ``sys.modules[name]`` slimcls's package when a checkout's folder loads as ``name``.

    From the repository root, ``import nets`` finds the top-level folder ``nets/`` on the path
    before any finder of ours is asked. Its ``__init__`` calls this, so the name still gives the
    one module object ``slimcls.nets``, and the child finder serves ``nets.<module>``. It runs
    even when ``SLIMCLS_NO_TFSLIM_NAMES`` is set: a second copy of a module is never right.
    """
    import importlib

    if _ChildFinder not in sys.meta_path:
        sys.meta_path.insert(0, _ChildFinder)
    sys.modules[name] = importlib.import_module(_target(name))


def install():
    """Puts the two finders on ``sys.meta_path`` (idempotent; no-op when disabled)."""
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return
    if _ChildFinder not in sys.meta_path:
        sys.meta_path.insert(0, _ChildFinder)
    if _FallbackFinder not in sys.meta_path:
        sys.meta_path.append(_FallbackFinder)


def uninstall():
    """Removes the finders (existing aliases in ``sys.modules`` stay)."""
    for finder in (_ChildFinder, _FallbackFinder):
        while finder in sys.meta_path:
            sys.meta_path.remove(finder)
