"""Shim that lets TF-Slim's own nets tests (TF1, 2019) run on TensorFlow 2.21 against slimcls.

Copied next to the upstream test files by scripts/run_tfslim_nets_tests.sh; nothing here
changes a test, it only recreates the world the tests were written for:

* TF-Slim's names (``from nets import inception``) resolve to slimcls's packages, and must
  not resolve to anything else (a TF-Slim checkout on sys.path would test TF-Slim itself);
* slimcls.core.compat before tf_slim (legacy Keras, tf-slim import fixes);
* TF1 behaviour (graph mode, sessions, ``tf.placeholder``) as the tests assume;
* numpy aliases removed in numpy 1.24 (``np.int``...) and ``google3``'s parameterized
  (mobilenet_v3_test), which is absl's.
"""

import importlib.util
import os
import sys
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _slimcls_tfslim_names  # noqa: E402

_slimcls_tfslim_names.install()
for _name in sorted(_slimcls_tfslim_names.NAMES):
    _spec = importlib.util.find_spec(_name)  # top level: locates, imports nothing
    # slimcls's own folder (a checkout's top-level nets/ on sys.path) is fine too: loaded as
    # ``nets`` it makes itself the alias of ``slimcls.nets`` (one module object).
    _ours = importlib.util.find_spec(f"slimcls.{_name}")
    _same = _ours is not None and _spec is not None and _spec.origin == _ours.origin
    if (
        _spec is not None
        and not _same
        and not isinstance(_spec.loader, _slimcls_tfslim_names._AliasLoader)
    ):
        raise RuntimeError(
            f"top-level {_name!r} is {_spec.origin or _spec.submodule_search_locations}, not "
            "slimcls's: run from a directory without TF-Slim's packages on sys.path"
        )

import numpy as np  # noqa: E402

import slimcls.core.compat  # noqa: E402, F401  (before tf_slim)

for _alias, _type in (("int", int), ("float", float), ("bool", bool), ("object", object)):
    if _alias not in np.__dict__:
        setattr(np, _alias, _type)

import tensorflow.compat.v1 as tf  # noqa: E402

tf.disable_v2_behavior()

from absl.testing import parameterized  # noqa: E402

for _mod in ("google3", "google3.testing", "google3.testing.pybase"):
    sys.modules.setdefault(_mod, types.ModuleType(_mod))
sys.modules["google3.testing.pybase"].parameterized = parameterized
sys.modules["google3.testing.pybase.parameterized"] = parameterized
