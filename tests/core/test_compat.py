"""The compat shim: needed on this TensorFlow, and sufficient for tf-slim's layers."""

import importlib
import subprocess
import sys
import textwrap

from slimcls.core import compat


def test_legacy_keras_is_active():
    assert compat.legacy_keras_active(), compat.tf.keras.__name__
    compat.check()


def test_shim_still_needed_and_working():
    """Fails loudly when upstream tf-slim/tf_keras change (see UPSTREAM_ISSUE)."""
    # Upstream still lacks the module: our alias is what makes batch_norm work.
    assert "tf_keras.legacy_tf_layers" in compat.aliased_modules, (
        f"tf_keras ships tf_keras.legacy_tf_layers again: the alias for "
        f"{compat.UPSTREAM_ISSUE} may be unnecessary; re-check slimcls/compat.py"
    )
    mod = importlib.import_module("tf_keras.legacy_tf_layers.normalization")
    assert hasattr(mod, "BatchNormalization"), (
        f"the shim for {compat.UPSTREAM_ISSUE} no longer provides BatchNormalization"
    )


def test_batch_norm_fails_without_shim():
    """A fresh interpreter without slimcls reproduces the upstream crash."""
    code = textwrap.dedent(
        """
        import os
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        import tensorflow as tf, tf_slim as slim
        g = tf.Graph()
        with g.as_default():
            try:
                slim.batch_norm(tf.compat.v1.placeholder(tf.float32, [2, 4, 4, 3]))
                print("WORKS")
            except ModuleNotFoundError as e:
                print("CRASH", e)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    ).stdout
    assert "CRASH" in out, (
        f"tf-slim batch_norm now works without slimcls.core.compat ({compat.UPSTREAM_ISSUE} "
        f"fixed upstream?): drop the alias. Output: {out!r}"
    )


def test_importing_packages_applies_shim_in_fresh_process():
    code = (
        "import slimcls.nets, slimcls.datasets, slimcls.preprocessing\n"
        "import tf_slim as slim, tensorflow as tf\n"
        "g = tf.Graph()\n"
        "with g.as_default():\n"
        "    y = slim.batch_norm(tf.compat.v1.placeholder(tf.float32, [2, 4, 4, 3]))\n"
        "print('OK', tf.keras.__name__)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "OK tf_keras" in res.stdout


def test_ops_tensor_alias_still_needed_and_working():
    """TF 2.21 removed ops.Tensor; tf-slim's batch_norm on 2-D inputs needs it."""
    assert compat.tensor_alias_installed, (
        "tensorflow.python.framework.ops.Tensor exists again: the alias in "
        "slimcls/compat.py may be unnecessary"
    )
    import tf_slim as slim

    with compat.tf.Graph().as_default():
        x = compat.tf.compat.v1.placeholder(compat.tf.float32, [4, 5])
        y = slim.batch_norm(x, updates_collections=None, is_training=True)
    assert y.shape.as_list() == [4, 5]
