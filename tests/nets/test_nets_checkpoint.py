"""Checkpoints written by TF-Slim variable name restore into the nets with no mapping, in a
TF1 graph (tf.compat.v1.train.Saver) and through the TF2 wrapper, with the same logits."""

import numpy as np
import pytest
from tests.nets.test_nets_cifarnet import CIFARNET_VARIABLES
from tests.nets.test_nets_inception_v3 import expected_variables as inception_v3_variables

from slimcls.core.compat import tf
from slimcls.nets import nets_factory
from slimcls.model.slim_model import SlimModel


def _write_checkpoint(prefix, shapes, seed=0):
    """A TF1 name-based checkpoint of random, well-scaled values (as TF-Slim's would be)."""
    rng = np.random.RandomState(seed)
    values = {}
    for name, shape in sorted(shapes.items()):
        if name.endswith("moving_variance"):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("weights"):
            value = rng.normal(0.0, 1.0 / np.sqrt(np.prod(shape[:-1])), shape)
        else:
            value = rng.normal(0.0, 0.1, shape)
        values[name] = value.astype("float32")
    names = sorted(values)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[values[n] for n in names],
    )
    return values


def _graph_logits(name, num_classes, images, prefix):
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, images.shape)
        logits, _ = nets_factory.get_network_fn(name, num_classes)(x)
        saver = tf.compat.v1.train.Saver()  # every variable, by its own name
        with tf.compat.v1.Session(graph=graph) as sess:
            saver.restore(sess, prefix)
            return sess.run(logits, {x: images})


def _slim_model_logits(name, num_classes, images, prefix):
    spec = nets_factory.NETWORKS[name]
    model = SlimModel(spec.fn, num_classes, arg_scope=nets_factory.arg_scope_fn(name))
    model.build_variables(images.shape[1:])
    reader = tf.train.load_checkpoint(prefix)
    variables = model.variables_by_name()
    assert set(variables) == set(reader.get_variable_to_shape_map())
    for var_name, variable in variables.items():
        variable.assign(reader.get_tensor(var_name))
    eager = model(tf.constant(images), training=False)[0].numpy()
    traced = tf.function(lambda x: model(x, training=False)[0])(tf.constant(images)).numpy()
    np.testing.assert_allclose(traced, eager, rtol=1e-5, atol=1e-5)
    return eager


def _check(tmp_path, name, num_classes, size, shapes):
    prefix = str(tmp_path / "model.ckpt-0")
    _write_checkpoint(prefix, shapes)
    images = np.random.RandomState(1).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    graph_logits = _graph_logits(name, num_classes, images, prefix)
    wrapper_logits = _slim_model_logits(name, num_classes, images, prefix)
    assert graph_logits.shape == (2, num_classes)
    assert np.std(graph_logits) > 1e-3  # the restored weights matter
    np.testing.assert_allclose(wrapper_logits, graph_logits, rtol=1e-5, atol=1e-5)


def test_cifarnet_checkpoint(tmp_path):
    _check(tmp_path, "cifarnet", 10, 32, CIFARNET_VARIABLES)


@pytest.mark.heavy
def test_inception_v3_checkpoint_at_75(tmp_path):
    shapes = inception_v3_variables(7)
    # At 75x75, Mixed_6e is 3x3: the auxiliary head's 5x5 conv shrinks to 1x1 (name too).
    del shapes["InceptionV3/AuxLogits/Conv2d_2a_5x5/weights"]
    shapes["InceptionV3/AuxLogits/Conv2d_2a_1x1/weights"] = [1, 1, 128, 768]
    for stat in ("beta", "moving_mean", "moving_variance"):
        old = f"InceptionV3/AuxLogits/Conv2d_2a_5x5/BatchNorm/{stat}"
        shapes[old.replace("5x5", "1x1")] = shapes.pop(old)
    _check(tmp_path, "inception_v3", 7, 75, shapes)


@pytest.mark.slow
def test_inception_v3_published_layout_checkpoint_at_299(tmp_path):
    """The layout of TF-Slim's inception_v3.ckpt: 1001 classes at 299x299."""
    _check(tmp_path, "inception_v3", 1001, 299, inception_v3_variables(1001))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet_v1_50", "resnet_v2_50", "inception_v2"])
def test_other_tf_slim_nets_checkpoint(tmp_path, name):
    graph = tf.Graph()
    with graph.as_default():
        nets_factory.get_network_fn(name, 5)(tf.compat.v1.placeholder(tf.float32, [1, 64, 64, 3]))
        shapes = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}
    _check(tmp_path, name, 5, 64, shapes)
