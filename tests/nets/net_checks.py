"""Checks shared by the net tests: build a registered net in a TF1 graph, digest its
variables, write a TF-Slim-style checkpoint and compare the logits it restores to."""

import hashlib

import numpy as np

from slimcls.core.compat import tf
from slimcls.model.slim_model import SlimModel
from slimcls.nets import nets_factory


def build_net(name, num_classes, size, channels=3, batch=1, **kwargs):
    """Builds ``name`` in a fresh graph: ``(logits, end_points, {var name: shape})``."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [batch, size, size, channels])
        logits, end_points = nets_factory.get_network_fn(name, num_classes, **kwargs)(images)
        shapes = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}
    return logits, end_points, shapes


def variables_digest(shapes):
    """sha256[:16] of the sorted ``name:shape`` lines."""
    text = "\n".join(f"{n}:{','.join(map(str, s))}" for n, s in sorted(shapes.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_checkpoint(prefix, shapes, seed=0):
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


def logits_in_graph(name, num_classes, images, prefix):
    """Logits of the registered net ``name`` restored from ``prefix`` in a TF1 graph."""
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
    return restored_logits(model, images, prefix)


def restored_logits(model, images, prefix):
    """Logits of ``model`` with the checkpoint's values assigned by name (every variable,
    no more, no fewer); eager and traced calls agree."""
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


def check_checkpoint_restores(tmp_path, name, num_classes, size, shapes):
    """A checkpoint of random values for ``shapes`` restores by name into ``name``, in a TF1
    graph and through the TF2 wrapper, with the same logits."""
    prefix = str(tmp_path / "model.ckpt-0")
    write_checkpoint(prefix, shapes)
    images = np.random.RandomState(1).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    graph_logits = logits_in_graph(name, num_classes, images, prefix)
    wrapper_logits = _slim_model_logits(name, num_classes, images, prefix)
    assert graph_logits.shape == (2, num_classes)
    assert np.std(graph_logits) > 1e-3  # the restored weights matter
    np.testing.assert_allclose(wrapper_logits, graph_logits, rtol=1e-5, atol=1e-5)
