"""The one place where slimcls adapts TensorFlow and tf-slim to each other.

tf-slim 1.1.0 (2020) predates Keras 3. On TensorFlow 2.16+ two things break it:

1. ``tf.keras`` is Keras 3 unless ``TF_USE_LEGACY_KERAS=1`` is set *before*
   TensorFlow is first imported. The TF1-style variable tracking used by the net
   wrapper (``tf.compat.v1.keras.utils.track_tf1_style_variables``) and tf-slim's
   layers need the legacy Keras 2 (the ``tf_keras`` package).
2. ``tf_slim.batch_norm`` builds ``tensorflow.python.layers.normalization``, which
   lazily imports ``tf_keras.legacy_tf_layers.normalization``; tf_keras 2.16+ ships
   that module only as ``tf_keras.src.legacy_tf_layers`` (upstream
   google-research/tf-slim issue 24). We register the old module names as aliases.
3. TensorFlow 2.21 dropped ``tensorflow.python.framework.ops.Tensor``, which tf-slim's
   ``layers.utils``, ``layers.optimizers`` and ``learning`` still use; we alias it back.

Every other slimcls module imports this module before ``tf_slim``; no other module
patches TensorFlow or tf-slim. ``tests/core/test_compat.py`` fails loudly when upstream
changes make any of this unnecessary or insufficient.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings

UPSTREAM_ISSUE = "google-research/tf-slim issue 24"

# Must happen before TensorFlow's first import; setdefault respects a user's choice.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# Without an NVIDIA driver, TensorFlow's CUDA wheels log "failed call to cuInit" at ERROR
# level on every run; level 3 hides that expected noise. With a driver, keep errors.
_HAS_NVIDIA_DRIVER = os.path.exists("/proc/driver/nvidia/version")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if _HAS_NVIDIA_DRIVER else "3")


def _import_tensorflow_quietly():
    """Imports TensorFlow with stderr silenced at the file-descriptor level.

    The CUDA wheels print "Could not find cuda drivers" through C++ logging that runs
    before absl logging is initialised, so TF_CPP_MIN_LOG_LEVEL cannot hide it.
    Python exceptions are unaffected (they are raised after stderr is restored).
    Set SLIMCLS_TF_IMPORT_LOGS=1 to see those messages.
    """
    if "tensorflow" in sys.modules or os.environ.get("SLIMCLS_TF_IMPORT_LOGS") == "1":
        return importlib.import_module("tensorflow")
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters)
        return importlib.import_module("tensorflow")
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        return importlib.import_module("tensorflow")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


tf = _import_tensorflow_quietly()

#: module name tf-slim/TensorFlow import -> where tf_keras keeps it today.
LEGACY_MODULE_ALIASES = {
    "tf_keras.legacy_tf_layers": "tf_keras.src.legacy_tf_layers",
    "tf_keras.legacy_tf_layers.base": "tf_keras.src.legacy_tf_layers.base",
    "tf_keras.legacy_tf_layers.normalization": "tf_keras.src.legacy_tf_layers.normalization",
    "tf_keras.legacy_tf_layers.variable_scope_shim": (
        "tf_keras.src.legacy_tf_layers.variable_scope_shim"
    ),
}

aliased_modules: list[str] = []


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _install_aliases() -> None:
    for old, new in LEGACY_MODULE_ALIASES.items():
        if old in sys.modules or _module_exists(old):
            continue  # upstream provides it (again): nothing to patch
        sys.modules[old] = importlib.import_module(new)
        aliased_modules.append(old)


def _install_tensor_alias() -> bool:
    """tf-slim checks ``isinstance(x, ops.Tensor)``; TF 2.21 moved the class to
    ``tensorflow.python.framework.tensor.Tensor`` and dropped the old attribute, which
    breaks ``slim.batch_norm`` on 2-D inputs or with ``updates_collections=None``
    (via ``tf_slim.layers.utils.constant_value``) and ``tf_slim.learning``.
    Returns True when the alias was needed."""
    from tensorflow.python.framework import ops, tensor

    if hasattr(ops, "Tensor"):
        return False
    ops.Tensor = tensor.Tensor
    return True


def _install_control_flow_aliases() -> bool:
    """tf-slim's ``tfexample_decoder`` (``DatasetDataProvider``'s image decoding) calls
    ``control_flow_ops.cond`` and ``.case``, which TensorFlow moved to ``cond`` and
    ``control_flow_case``. Returns True when an alias was needed."""
    from tensorflow.python.ops import cond, control_flow_case, control_flow_ops

    needed = False
    for attr, target in (("cond", cond.cond), ("case", control_flow_case.case)):
        if not hasattr(control_flow_ops, attr):
            setattr(control_flow_ops, attr, target)
            needed = True
    return needed


def legacy_keras_active() -> bool:
    """True when ``tf.keras`` is the legacy Keras 2 (tf_keras) that tf-slim needs."""
    return tf.keras.__name__.startswith("tf_keras")


def check() -> None:
    """Raises RuntimeError with a fix when the environment cannot run tf-slim nets."""
    if not legacy_keras_active():
        raise RuntimeError(
            "TensorFlow was imported before slimcls with TF_USE_LEGACY_KERAS unset, so "
            f"tf.keras is {tf.keras.__name__} (Keras 3). Import slimcls (or nets, datasets, "
            "preprocessing) before tensorflow, or export TF_USE_LEGACY_KERAS=1."
        )


_install_aliases()
tensor_alias_installed = _install_tensor_alias()
control_flow_aliases_installed = _install_control_flow_aliases()

# tf-slim's layers call TF1 layer APIs that warn on every call (`layer.apply`,
# `tf.layers.flatten`, `layer.updates`); they are tf-slim internals, not user code.
warnings.filterwarnings("ignore", category=UserWarning, module=r"tensorflow\.python\.keras")
warnings.filterwarnings("ignore", category=UserWarning, module=r"tf_keras")

import tf_slim  # noqa: E402,F401  (imported here so every user gets the patched one)


def op_determinism(enabled: bool) -> bool:
    """Turns TensorFlow's process-wide op determinism on or off; returns the old state.

    TensorFlow exports only ``enable_op_determinism``; a library that turns it on for one
    training run must be able to turn it off again, or every later random op in the
    process (other runs, the caller's code) without a seed fails.
    """
    from tensorflow.python.framework import config as tf_config

    before = bool(tf_config.is_op_determinism_enabled())
    if enabled:
        tf.config.experimental.enable_op_determinism()
    else:
        tf_config.disable_op_determinism()
    return before
