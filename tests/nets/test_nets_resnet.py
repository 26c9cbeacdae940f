"""slimcls's own ResNet v1/v2 (``slimcls.nets.resnet_utils``, ``resnet_v1``, ``resnet_v2``).

The golden numbers below are TF-Slim's: a scratch script (outside this repository) loaded
``research/slim/nets/resnet_{utils,v1,v2}.py`` of tensorflow/models at 0d9ef8d39 by file
path on TensorFlow 2.21 (``slimcls.core.compat`` first, eager execution disabled), built
``resnet_{v1,v2}_{50,101,152,200}`` with it and with slimcls's modules in TF1 graphs
(1000 classes at 224; ``num_classes=None, global_pool=False, output_stride=16`` and
``spatial_squeeze=False`` at 161; for v1 also ``store_non_strided_activations`` with
``output_stride=8`` and ``depth_multiplier=0.25, min_base_depth=4``), loaded the same
random weights into both and found the same variable names and shapes, end-point names,
regularisation losses and update ops, and outputs and end points equal to the last bit
(max |diff| 0). TF-Slim's own ``resnet_v1_test.py`` and ``resnet_v2_test.py`` pass
against these modules (``scripts/run_tfslim_nets_tests.sh``).
"""

import functools

import numpy as np
import pytest
import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.model.slim_model import SlimModel
from slimcls.nets import nets_factory, resnet_utils, resnet_v1, resnet_v2
from tests.nets.net_checks import build_net, check_checkpoint_restores, variables_digest

# name -> (all variables' elements, trainable ones, sha256[:16] of the sorted
# "name:shape" lines), 1000 classes at 224 (resnet_*_200 are in test_nets_zoo_a.py).
GOLDEN = {
    "resnet_v1_50": (25610152, 25557032, "903aed772e9188a0"),
    "resnet_v2_50": (25613800, 25568360, "5988798d241f33f5"),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_parameter_counts_and_variables(name):
    _, _, shapes = build_net(name, 1000, 224)
    total = sum(int(np.prod(s)) for s in shapes.values())
    trainable = sum(int(np.prod(s)) for n, s in shapes.items() if "moving_" not in n)
    assert (total, trainable, variables_digest(shapes)) == GOLDEN[name]


def _net(fn, size=64, batch=2, **kwargs):
    """Builds ``fn`` (a ResNet of slimcls) in a fresh graph under its arg scope:
    ``(graph, images, net, end_points, {variable name: shape})``."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [batch, size, size, 3])
        with slim.arg_scope(resnet_utils.resnet_arg_scope()):
            net, end_points = fn(images, **kwargs)
        shapes = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}
    return graph, images, net, end_points, shapes


def _tiny_resnet(module, images, num_classes=None, is_training=True, scope="tiny", **kwargs):
    """A small ResNet from ``module``'s generic builder and its block helper.

    Three blocks of 2, 2, 1 bottlenecks (16, 32, 32 channels) with strides 2, 2, 1:
    projection and identity shortcuts, strided units, nominal output stride 16, and a
    build time of a fraction of ResNet-50's.
    """
    if module is resnet_v1:
        generic, block = resnet_v1.resnet_v1, resnet_v1.resnet_v1_block
    else:
        generic, block = resnet_v2.resnet_v2, resnet_v2.resnet_v2_block
    blocks = [block("block1", 4, 2, 2), block("block2", 8, 2, 2), block("block3", 8, 1, 1)]
    return generic(images, blocks, num_classes, is_training, scope=scope, **kwargs)


_MODULES = pytest.mark.parametrize("module", [resnet_v1, resnet_v2], ids=["v1", "v2"])


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
@_MODULES
def test_spatial_squeeze_and_classification_end_points(module):
    tiny = functools.partial(_tiny_resnet, module)
    _, _, squeezed, points, _ = _net(tiny, num_classes=7)
    _, _, kept, kept_points, _ = _net(tiny, num_classes=7, spatial_squeeze=False)
    assert squeezed.shape.as_list() == [2, 7]
    assert points["tiny/spatial_squeeze"] is squeezed
    assert points["tiny/logits"].shape.as_list() == [2, 1, 1, 7]
    assert points["predictions"].shape.as_list() == [2, 7]
    assert points["global_pool"].shape.as_list() == [2, 1, 1, 32]
    assert kept.shape.as_list() == [2, 1, 1, 7]
    assert kept_points["tiny/logits"] is kept
    assert "tiny/spatial_squeeze" not in kept_points
    assert kept_points["predictions"].shape.as_list() == [2, 1, 1, 7]


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
@_MODULES
def test_num_classes_none_returns_features(module):
    tiny = functools.partial(_tiny_resnet, module)
    _, _, net, points, shapes = _net(tiny, num_classes=None)
    assert net.shape.as_list() == [2, 1, 1, 32]
    assert points["global_pool"] is net
    assert not any("logits" in n for n in list(shapes) + list(points))
    assert "predictions" not in points
    _, _, dense, points, _ = _net(tiny, num_classes=0, global_pool=False)
    assert dense.shape.as_list() == [2, 4, 4, 32]  # 64 / 16
    assert "global_pool" not in points


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
def test_resnet_50_feature_mode_through_the_registry():
    """``num_classes=0`` reaches the net as None: the pooled 2048 features, no logits."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [2, 64, 64, 3])
        features, points = nets_factory.get_network_fn("resnet_v1_50", 0)(images)
        names = [v.op.name for v in tf.compat.v1.global_variables()]
    assert points["global_pool"] is features
    assert not any("logits" in n for n in names + list(points))
    for fn in (resnet_v1.resnet_v1_50, resnet_v1.resnet_v1_200, resnet_v2.resnet_v2_152):
        assert fn.default_image_size == 224


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
def test_depth_multiplier_and_min_base_depth_set_channel_counts():
    quarter = dict(num_classes=None, is_training=False, depth_multiplier=0.25)
    _, _, _, points, shapes = _net(resnet_v1.resnet_v1_50, **quarter)
    unit = "resnet_v1_50/block1/unit_1/bottleneck_v1"
    assert shapes[f"{unit}/conv1/weights"] == [1, 1, 64, 16]  # 64 * 0.25
    assert points["resnet_v1_50/block4"].shape[-1] == 512  # 4 * 512 * 0.25
    # min_base_depth is a floor on every block's bottleneck depth (after the multiplier).
    _, _, _, points, shapes = _net(resnet_v1.resnet_v1_50, min_base_depth=40, **quarter)
    depths = [points[f"resnet_v1_50/block{i}"].shape[-1] for i in (1, 2, 3, 4)]
    assert depths == [4 * 40, 4 * 40, 4 * 64, 4 * 128]
    assert shapes[f"{unit}/conv1/weights"] == [1, 1, 64, 40]


def _initial_values(graph):
    with graph.as_default(), tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        return {v.op.name: sess.run(v) for v in tf.compat.v1.global_variables()}


def _run(graph, images, fetches, values):
    """Runs ``fetches`` with the variables set to ``values`` on fixed random images."""
    with graph.as_default(), tf.compat.v1.Session() as sess:
        for variable in tf.compat.v1.global_variables():
            variable.load(values[variable.op.name], sess)
        feed = np.random.RandomState(3).uniform(-1, 1, images.shape.as_list())
        return sess.run(fetches, {images: feed})


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
def test_store_non_strided_activations_keeps_block_ends_at_full_resolution():
    tiny = functools.partial(_tiny_resnet, resnet_v1, num_classes=3, is_training=False)
    graph, images, net, points, shapes = _net(tiny)
    values = _initial_values(graph)
    plain = _run(graph, images, (net, points["tiny/block1"]), values)
    graph, images, net, points, dense_shapes = _net(tiny, store_non_strided_activations=True)
    assert dense_shapes == shapes  # same variables: only where the stride happens moves
    assert points["tiny/block1"].shape.as_list() == [2, 16, 16, 16]  # not 8x8
    assert points["tiny/block2"].shape.as_list() == [2, 8, 8, 32]  # not 4x4
    dense = _run(graph, images, (net, points["tiny/block1"]), values)
    # The stride moved past the end point: subsampling the dense block end gives the
    # strided one, and the net's output does not change.
    np.testing.assert_allclose(dense[1][:, ::2, ::2], plain[1], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dense[0], plain[0], rtol=1e-4, atol=1e-4)
    assert np.std(plain[0]) > 1e-3


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
@_MODULES
def test_output_stride_uses_atrous_convolution_with_the_same_variables(module):
    tiny = functools.partial(_tiny_resnet, module, num_classes=None, global_pool=False)
    _, _, net, _, shapes = _net(tiny)
    _, _, dense, points, dense_shapes = _net(tiny, output_stride=8)
    assert net.shape.as_list() == [2, 4, 4, 32]
    assert dense.shape.as_list() == [2, 8, 8, 32]
    assert points["tiny/block1"].shape.as_list() == [2, 8, 8, 16]
    assert dense_shapes == shapes
    for stride, message in ((6, "multiple of 4"), (32, "cannot be reached")):
        with pytest.raises(ValueError, match=message):
            _net(tiny, output_stride=stride)


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
def test_is_training_none_defers_to_the_enclosing_batch_norm_scope():
    for outer in (True, False):
        graph = tf.Graph()
        with graph.as_default():
            images = tf.compat.v1.placeholder(tf.float32, [2, 32, 32, 3])
            with slim.arg_scope(resnet_utils.resnet_arg_scope()):
                with slim.arg_scope([slim.batch_norm], is_training=outer):
                    _tiny_resnet(resnet_v1, images, 3, is_training=None)
            updates = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
        assert bool(updates) == outer


def test_resnet_arg_scope_keywords():
    scope = resnet_utils.resnet_arg_scope(
        activation_fn=tf.nn.relu6, use_batch_norm=False, batch_norm_updates_collections=None
    )
    conv = scope[slim.arg_scope_func_key(slim.conv2d)]
    assert conv["activation_fn"] is tf.nn.relu6 and conv["normalizer_fn"] is None
    assert scope[slim.arg_scope_func_key(slim.batch_norm)]["updates_collections"] is None
    assert scope[slim.arg_scope_func_key(slim.max_pool2d)]["padding"] == "SAME"


# ------------------------------------------------------------------------------------
# Through slimcls's registry and TF2 wrapper.
# ------------------------------------------------------------------------------------


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
def test_registered_resnet_keeps_2d_logits():
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [2, 64, 64, 3])
        logits, points = nets_factory.get_network_fn("resnet_v2_50", 5)(images)
        # global_pool=False on a 4x4 map: the wrapper averages the class scores over space.
        wrapped = nets_factory._resnet(functools.partial(_tiny_resnet, resnet_v2))
        dense, dense_points = wrapped(images, 5, global_pool=False, spatial_squeeze=True)
    assert logits.shape.as_list() == dense.shape.as_list() == [2, 5]
    assert points["Logits"] is logits and dense_points["Logits"] is dense
    assert points["Predictions"].shape.as_list() == [2, 5]
    assert points["resnet_v2_50/logits"].shape.as_list() == [2, 1, 1, 5]
    assert dense_points["tiny/logits"].shape.as_list() == [2, 4, 4, 5]


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
@_MODULES
def test_tiny_resnet_checkpoint_round_trip_graph_and_tf2_wrapper(tmp_path, monkeypatch, module):
    """A checkpoint keyed by TF-Slim names restores into a TF1 graph and into SlimModel
    (eagerly and traced) with the same logits; training updates the moving statistics."""
    fn = nets_factory._resnet(functools.partial(_tiny_resnet, module))
    spec = nets_factory.NetSpec(
        fn=fn,
        arg_scope=nets_factory.NETWORKS["resnet_v1_50"].arg_scope,
        default_image_size=32,
        preprocessing="inception",
        background_class=False,
        min_image_size=8,
        logits_scopes=("tiny/logits",),
    )
    monkeypatch.setitem(nets_factory.NETWORKS, "tiny_resnet", spec)
    graph = tf.Graph()
    with graph.as_default():
        nets_factory.get_network_fn("tiny_resnet", 3)(
            tf.compat.v1.placeholder(tf.float32, [1, 32, 32, 3])
        )
        shapes = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}
    unit = "bottleneck_v1" if module is resnet_v1 else "bottleneck_v2"
    assert shapes[f"tiny/block1/unit_1/{unit}/shortcut/weights"] == [1, 1, 64, 16]
    assert f"tiny/block1/unit_2/{unit}/shortcut/weights" not in shapes  # identity
    assert ("tiny/postnorm/moving_mean" in shapes) == (module is resnet_v2)
    check_checkpoint_restores(tmp_path, "tiny_resnet", 3, 32, shapes)

    model = SlimModel(spec.fn, 3, arg_scope=nets_factory.arg_scope_fn("tiny_resnet", 1e-4))
    model.build_variables((32, 32, 3))
    assert {v: s.shape.as_list() for v, s in model.variables_by_name().items()} == shapes
    mean = model.variables_by_name()[f"tiny/block2/unit_1/{unit}/conv1/BatchNorm/moving_mean"]
    before = mean.numpy().copy()
    model(tf.random.stateless_uniform([2, 32, 32, 3], seed=[1, 2]), training=True)
    assert not np.allclose(mean.numpy(), before)
    assert len(model.losses) > 0
