"""slimcls's own VGG (vgg_a/16/19), AlexNet-v2 and OverFeat, with research/slim's arguments.

Golden numbers are TF-Slim's: a scratch script (outside this repository) loaded
``research/slim/nets/{vgg,alexnet,overfeat}.py`` of tensorflow/models at 0d9ef8d39 by file
path on TensorFlow 2.21 (``slimcls.core.compat`` first, eager execution disabled), built
each net in a TF1 graph under its own arg scope, and compared it with slimcls's: the same
variable names and shapes, end-point names and output op names, and outputs and end points
equal to the last bit (max |diff| 0) with the same random weights loaded into both, also
with ``global_pool``, ``num_classes=0``, ``fc_conv_padding='SAME'`` and
``spatial_squeeze=False``. The tests below check slimcls against those numbers and the
arguments' documented behaviour.
"""

import importlib

import numpy as np
import pytest
import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.model.slim_model import SlimModel
from slimcls.nets import alexnet, net_table, nets_factory, overfeat, vgg
from tests.nets.net_checks import check_checkpoint_restores, variables_digest

# (module, net, arg scope, input side) -> TF-Slim's (all elements, trainable elements,
# sha256[:16] of the sorted "name:shape" lines) with 1000 classes.
GOLDEN = {
    "vgg_a": (vgg, "vgg_arg_scope", 224, (132863336, 132863336, "f8e0d1c8ce7a62ea")),
    "vgg_16": (vgg, "vgg_arg_scope", 224, (138357544, 138357544, "3a3ed751cf221b1c")),
    "vgg_19": (vgg, "vgg_arg_scope", 224, (143667240, 143667240, "26a9052551c33b0d")),
    "alexnet_v2": (
        alexnet,
        "alexnet_v2_arg_scope",
        224,
        (50303912, 50303912, "58d61838c76de13e"),
    ),
    "overfeat": (overfeat, "overfeat_arg_scope", 231, (145704424, 145704424, "d885ef9e51a8e740")),
}
# Convolutions per VGG block (conv1 ... conv5), from the paper's table 1.
VGG_CONVS = {"vgg_a": (1, 1, 2, 2, 2), "vgg_16": (2, 2, 3, 3, 3), "vgg_19": (2, 2, 4, 4, 4)}


def _build(name, batch=1, size=None, **kwargs):
    """``(net, end_points, {var name: shape}, graph)`` of the module's net in a new graph."""
    module, scope_fn, default_size, _ = GOLDEN[name]
    size = size or default_size
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [batch, size, size, 3])
        with slim.arg_scope(getattr(module, scope_fn)()):
            net, end_points = getattr(module, name)(images, **kwargs)
        shapes = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}
    return net, end_points, shapes, graph


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_variables_and_end_points(name):
    net, end_points, shapes, graph = _build(name, num_classes=1000)
    total = sum(int(np.prod(s)) for s in shapes.values())
    with graph.as_default():
        trainable = sum(int(np.prod(v.shape.as_list())) for v in tf.compat.v1.trainable_variables())
        losses = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)
    assert (total, trainable, variables_digest(shapes)) == GOLDEN[name][3]
    assert len(losses) == len(shapes) // 2  # weight decay on every kernel, none on biases
    assert net.shape.as_list() == [1, 1000] and net.op.name == f"{name}/fc8/squeezed"
    if name in VGG_CONVS:
        convs = [
            f"{name}/conv{b}/conv{b}_{i}"
            for b, n in enumerate(VGG_CONVS[name], 1)
            for i in range(1, n + 1)
        ]
        pools = [f"{name}/pool{b}" for b in range(1, 6)]
    else:
        convs = [f"{name}/conv{b}" for b in range(1, 6)]
        pools = [f"{name}/pool{b}" for b in (1, 2, 5)]
    fcs = [f"{name}/fc{i}" for i in (6, 7, 8)]
    assert sorted(end_points) == sorted(convs + pools + fcs)
    assert end_points[f"{name}/fc8"] is net


def test_vgg_aliases_and_sizes():
    assert vgg.vgg_d is vgg.vgg_16 and vgg.vgg_e is vgg.vgg_19
    assert {f.default_image_size for f in (vgg.vgg_a, vgg.vgg_16, vgg.vgg_19)} == {224}
    assert alexnet.alexnet_v2.default_image_size == 224
    assert overfeat.overfeat.default_image_size == 231


@pytest.mark.parametrize(
    "kwargs,size,shape,op_name",
    [
        ({}, 224, [1, 7], "vgg_a/fc8/squeezed"),
        ({"spatial_squeeze": False}, 224, [1, 1, 1, 7], "vgg_a/fc8/BiasAdd"),
        ({"spatial_squeeze": False}, 256, [1, 2, 2, 7], "vgg_a/fc8/BiasAdd"),
        ({"global_pool": True, "spatial_squeeze": False}, 256, [1, 1, 1, 7], "vgg_a/fc8/BiasAdd"),
        ({"global_pool": True}, 256, [1, 7], "vgg_a/fc8/squeezed"),
        ({"fc_conv_padding": "SAME", "spatial_squeeze": False}, 224, [1, 7, 7, 7], None),
    ],
)
def test_vgg_output_shapes(kwargs, size, shape, op_name):
    net, end_points, _, _ = _build("vgg_a", size=size, num_classes=7, **kwargs)
    assert net.shape.as_list() == shape
    if op_name:
        assert net.op.name == op_name
    assert ("global_pool" in end_points) == bool(kwargs.get("global_pool"))


@pytest.mark.parametrize("num_classes", [0, None])
@pytest.mark.parametrize("name", ["vgg_16", "alexnet_v2", "overfeat"])
def test_feature_mode_returns_fc7(name, num_classes):
    net, end_points, shapes, _ = _build(name, num_classes=num_classes)
    assert net.shape.as_list() == [1, 1, 1, 4096]
    assert net is end_points[f"{name}/fc7"]
    assert not any("fc8" in n for n in list(shapes) + list(end_points))


@pytest.mark.parametrize("name,size", [("alexnet_v2", 300), ("overfeat", 281), ("vgg_19", 256)])
def test_global_pool_any_input_size(name, size):
    net, end_points, _, _ = _build(name, size=size, num_classes=3, global_pool=True)
    assert net.shape.as_list() == [1, 3]
    assert end_points["global_pool"].shape.as_list() == [1, 1, 1, 4096]
    assert end_points[f"{name}/fc7"].shape.as_list()[1] > 1  # pooled over a real map


def test_vgg_reuse_shares_variables():
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [1, 224, 224, 3])
        vgg.vgg_a(images, num_classes=4, scope="tower")
        count = len(tf.compat.v1.global_variables())
        logits, _ = vgg.vgg_a(images, num_classes=4, is_training=False, scope="tower", reuse=True)
        assert len(tf.compat.v1.global_variables()) == count
    assert logits.op.name.startswith("tower_1/fc8")


def test_alexnet_features_global_pool_and_logits_arithmetic():
    """Feature mode returns the spatial mean of fc7, and fc8 is a linear map of it."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf.random.stateless_uniform([2, 256, 256, 3], seed=[3, 4], minval=-1, maxval=1)
        with slim.arg_scope(alexnet.alexnet_v2_arg_scope()):
            features, _ = alexnet.alexnet_v2(
                images, num_classes=0, is_training=False, global_pool=True
            )
            feature_mode_names = {v.op.name for v in tf.compat.v1.global_variables()}
            root = tf.compat.v1.get_variable_scope()
            with tf.compat.v1.variable_scope(root, reuse=tf.compat.v1.AUTO_REUSE):
                fc7 = alexnet.alexnet_v2(images, num_classes=0, is_training=False)[0]
                logits = alexnet.alexnet_v2(
                    images, num_classes=5, is_training=False, global_pool=True
                )[0]
        fc8 = {v.op.name: v for v in tf.compat.v1.global_variables()}
        fc8 = [fc8["alexnet_v2/fc8/weights"], fc8["alexnet_v2/fc8/biases"]]
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            features, fc7, logits, (kernel, bias) = sess.run([features, fc7, logits, fc8])
    assert not any("fc8" in n for n in feature_mode_names)
    assert features.shape == (2, 1, 1, 4096) and fc7.shape == (2, 2, 2, 4096)
    np.testing.assert_allclose(features, fc7.mean(axis=(1, 2), keepdims=True), rtol=1e-5)
    assert np.std(features) > 0
    expected = features.reshape(2, 4096) @ kernel.reshape(4096, 5) + bias
    assert logits.shape == (2, 5)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
def test_alexnet_checkpoint_round_trip_graph_and_tf2_wrapper(tmp_path):
    """A checkpoint keyed by TF-Slim's names restores into the registry's alexnet_v2 in a
    TF1 graph and through SlimModel, with the same logits."""
    _, _, shapes, _ = _build("alexnet_v2", num_classes=5)
    check_checkpoint_restores(tmp_path, "alexnet_v2", 5, 224, shapes)


@pytest.mark.parametrize("name", ["vgg_16", "vgg_19", "alexnet_v2", "vgg_a", "overfeat"])
def test_registry_uses_these_modules_with_the_same_variables(name):
    """nets_factory's records wrap these functions (2-D logits, Logits/Predictions) and
    create the same variables as the module under its own arg scope."""
    module = GOLDEN[name][0]
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [2, GOLDEN[name][2], GOLDEN[name][2], 3])
        logits, end_points = nets_factory.get_network_fn(name, 1000)(images)
        shapes = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}
    assert variables_digest(shapes) == GOLDEN[name][3][2]
    assert logits.shape.as_list() == [2, 1000]
    assert end_points["Logits"] is logits
    assert end_points["Predictions"].shape.as_list() == [2, 1000]
    assert f"{name}/fc8" in end_points
    row = net_table.NETS[name]  # the table points at this module's function
    assert getattr(importlib.import_module(f"slimcls.nets.{row.module}"), row.fn) is getattr(
        module, name
    )


def test_eager_end_points_have_the_graph_names():
    """SlimModel's first call runs eagerly, where tf_slim's end-point collections do not
    work; the nets record the same end points by hand there. In tf.function the
    collections take over again, and (as in TF-Slim under any outer name scope) the
    pooling layers' names, which come from name scopes, carry the Keras layer's."""
    spec = nets_factory.NETWORKS["alexnet_v2"]
    model = SlimModel(spec.fn, 5, arg_scope=nets_factory.arg_scope_fn("alexnet_v2"))
    images = tf.random.stateless_uniform([1, 224, 224, 3], seed=[5, 6])
    logits, eager = model(images, training=False)
    traced = tf.function(lambda x: model(x, training=False)[1])(images)
    graph = tf.Graph()
    with graph.as_default():
        placeholder = tf.compat.v1.placeholder(tf.float32, [1, 224, 224, 3])
        _, graph_end_points = nets_factory.get_network_fn("alexnet_v2", 5)(placeholder)
    assert sorted(eager) == sorted(graph_end_points)
    prefix = f"{model.name}/"
    assert sorted(k.removeprefix(prefix) for k in traced) == sorted(graph_end_points)
    assert f"{prefix}alexnet_v2/pool5" in traced
    assert eager["alexnet_v2/pool5"].shape == (1, 5, 5, 256)
    np.testing.assert_allclose(eager["Logits"].numpy(), logits.numpy())
    np.testing.assert_allclose(traced["Logits"].numpy(), logits.numpy(), rtol=1e-5, atol=1e-6)
