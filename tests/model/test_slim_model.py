"""The TF1-style net wrapper: TF-Slim names, training, BN statistics, XLA, distribution."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tf_slim as slim  # noqa: F401  (used by the exec'd net source)

from slimcls.core.compat import tf
from slimcls.model.slim_model import SlimModel

TINY_SOURCE = """
def tiny_net(images, num_classes, is_training=False, scope="Tiny"):
    with tf.compat.v1.variable_scope(scope, "Tiny", [images]):
        with slim.arg_scope(
            [slim.conv2d],
            normalizer_fn=slim.batch_norm,
            normalizer_params={"is_training": is_training, "decay": 0.9},
            weights_regularizer=slim.l2_regularizer(1e-3),
        ):
            net = slim.conv2d(images, 4, [3, 3], scope="conv1")
            net = slim.flatten(net)
            net = slim.fully_connected(net, 8, scope="fc2")
            logits = slim.fully_connected(net, num_classes, activation_fn=None, scope="logits")
    return logits, {"conv1": net, "Logits": logits}
"""
exec(TINY_SOURCE)  # defines tiny_net; the same source runs in the subprocess test

EXPECTED_NAMES = {
    "Tiny/conv1/weights",
    "Tiny/conv1/BatchNorm/beta",
    "Tiny/conv1/BatchNorm/moving_mean",
    "Tiny/conv1/BatchNorm/moving_variance",
    "Tiny/fc2/weights",
    "Tiny/fc2/biases",
    "Tiny/logits/weights",
    "Tiny/logits/biases",
}


def _model():
    model = SlimModel(tiny_net, num_classes=3)  # noqa: F821 (defined by exec)
    model.build_variables((8, 8, 3))
    return model


def _images(seed=0):
    return tf.constant(np.random.RandomState(seed).rand(6, 8, 8, 3).astype("float32") * 3 + 1)


def test_variable_names_are_tf_slim_names():
    model = _model()
    assert set(model.variables_by_name()) == EXPECTED_NAMES
    trainable = {v.name[:-2] for v in model.trainable_variables}
    assert trainable == EXPECTED_NAMES - {
        "Tiny/conv1/BatchNorm/moving_mean",
        "Tiny/conv1/BatchNorm/moving_variance",
    }
    # Calling again reuses, never duplicates, variables.
    model(_images(), training=True)
    assert len(model.variables) == len(EXPECTED_NAMES)


def test_weight_decay_is_collected():
    model = _model()
    w = model.variables_by_name()["Tiny/conv1/weights"]
    expected = 1e-3 * 0.5 * float(tf.reduce_sum(w * w))  # slim.l2_regularizer = scale * l2_loss
    assert float(model.regularization_loss()) == pytest.approx(expected, rel=1e-5)


def _train_step_fn(model, jit_compile):
    opt = tf.compat.v1.train.GradientDescentOptimizer(0.1)

    @tf.function(jit_compile=jit_compile)
    def step(images, labels):
        with tf.GradientTape() as tape:
            logits, _ = model(images, training=True)
            loss = (
                tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
                )
                + model.regularization_loss()
            )
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step


@pytest.mark.parametrize("jit_compile", [False, True], ids=["tf_function", "xla"])
def test_train_step_updates_weights_and_bn_statistics(jit_compile):
    model = _model()
    v = model.variables_by_name()
    before = {k: x.numpy().copy() for k, x in v.items()}
    step = _train_step_fn(model, jit_compile)
    labels = tf.constant([0, 1, 2, 0, 1, 2])
    loss0 = float(step(_images(), labels))
    for _ in range(20):
        loss = float(step(_images(), labels))
    assert loss < loss0
    for name in EXPECTED_NAMES:
        assert not np.array_equal(before[name], v[name].numpy()), f"{name} did not change"


def test_eval_mode_leaves_bn_statistics_alone_and_train_mode_moves_them():
    model = _model()
    mean = model.variables_by_name()["Tiny/conv1/BatchNorm/moving_mean"]
    start = mean.numpy().copy()
    model(_images(), training=False)
    tf.function(lambda x: model(x, training=False))(_images())
    np.testing.assert_array_equal(mean.numpy(), start)
    model(_images(), training=True)
    assert not np.allclose(mean.numpy(), start)
    after_eager = mean.numpy().copy()
    tf.function(lambda x: model(x, training=True))(_images(1))
    assert not np.allclose(mean.numpy(), after_eager)


def test_eval_mode_is_deterministic_and_uses_moving_statistics():
    model = _model()
    a, _ = model(_images(), training=False)
    b, _ = model(_images(), training=False)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.heavy
def test_mirrored_strategy_with_two_logical_cpus():
    """Runs in a fresh process: logical devices must be set before TF initialises."""
    code = (
        textwrap.dedent(
            """
        import numpy as np
        import tf_slim as slim
        from slimcls.core.compat import tf
        from slimcls.model.slim_model import SlimModel
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        """
        )
        + TINY_SOURCE
        + textwrap.dedent(
            """
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        with strategy.scope():
            model = SlimModel(tiny_net, num_classes=3)
            model.build_variables((8, 8, 3))
            opt = tf.compat.v1.train.GradientDescentOptimizer(0.1)
        names = sorted(model.variables_by_name())
        mean = model.variables_by_name()["Tiny/conv1/BatchNorm/moving_mean"]
        w = model.variables_by_name()["Tiny/logits/weights"]
        m0, w0 = mean.numpy().copy(), w.numpy().copy()
        images = np.random.RandomState(0).rand(8, 8, 8, 3).astype("float32") + 1
        labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
        ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8).repeat()
        it = iter(strategy.experimental_distribute_dataset(ds))

        @tf.function
        def step(batch):
            def replica_fn(x, y):
                with tf.GradientTape() as tape:
                    logits, _ = model(x, training=True)
                    loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(
                        labels=y, logits=logits)) / 8.0
                grads = tape.gradient(loss, model.trainable_variables)
                opt.apply_gradients(zip(grads, model.trainable_variables))
                return loss
            per = strategy.run(replica_fn, args=batch)
            return strategy.reduce("SUM", per, axis=None)

        for _ in range(3):
            loss = step(next(it))
        assert np.isfinite(float(loss))
        assert not np.allclose(w.numpy(), w0)
        assert not np.allclose(mean.numpy(), m0)
        print("NAMES", ",".join(names))
        print("MIRRORED_OK", type(w).__name__)
        """
        )
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "MIRRORED_OK" in res.stdout
    names = res.stdout.split("NAMES ")[1].splitlines()[0].split(",")
    assert set(names) == EXPECTED_NAMES
