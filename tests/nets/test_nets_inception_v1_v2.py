"""slimcls's own InceptionV1 and InceptionV2 (``slimcls.nets.inception_v1``/``inception_v2``).

The golden numbers below are TF-Slim's: a scratch script (outside this repository) loaded
``research/slim/nets/inception_{utils,v1,v2}.py`` of tensorflow/models at 0d9ef8d39 by file
path on TensorFlow 2.21 (``slimcls.core.compat`` first, eager execution disabled), built
both nets with it and with slimcls's modules in TF1 graphs (1001 classes at 224, also with
``batch_norm_scale``; ``num_classes=0``/None; ``global_pool`` and ``spatial_squeeze=False``
at 256, for V2 also at 288; InceptionV2 at 112, with ``depth_multiplier`` 0.5 and 0.25,
and its trunk with ``use_separable_conv=False``, ``include_root_block=False`` and,
structure only, ``data_format='NCHW'``), loaded the same random weights into both and found the same
variable names and shapes, end-point names and tensor names, regularisation losses and
update ops, and outputs and end points equal to the last bit (max |diff| 0). TF-Slim's own
``inception_v1_test.py`` and ``inception_v2_test.py`` pass against these modules
(``scripts/run_tfslim_nets_tests.sh``).
"""

import importlib

import numpy as np
import pytest
import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.model.slim_model import SlimModel
from slimcls.nets import inception, inception_v1, inception_v2, net_table, nets_factory
from tests.nets.net_checks import check_checkpoint_restores, variables_digest

# name -> (all variables' elements, trainable ones, sha256[:16] of the sorted "name:shape"
# lines) with 1001 classes at 224 under the net's own arg scope.
GOLDEN = {
    "inception_v1": (6633209, 6618649, "29f537641bf41ba2"),
    "inception_v2": (11199137, 11179361, "506bb92ceb82c2cb"),
}
MODULES = {"inception_v1": inception_v1, "inception_v2": inception_v2}

ROOT = ["Conv2d_1a_7x7", "MaxPool_2a_3x3", "Conv2d_2b_1x1", "Conv2d_2c_3x3", "MaxPool_3a_3x3"]
# Trunk end points after the root block, in build order (the papers' table 1 rows).
V1_MIXED = ["Mixed_3b", "Mixed_3c", "MaxPool_4a_3x3"]
V1_MIXED += ["Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f", "MaxPool_5a_2x2"]
V1_MIXED += ["Mixed_5b", "Mixed_5c"]
V2_MIXED = ["Mixed_3b", "Mixed_3c", "Mixed_4a", "Mixed_4b", "Mixed_4c", "Mixed_4d"]
V2_MIXED += ["Mixed_4e", "Mixed_5a", "Mixed_5b", "Mixed_5c"]
TRUNK = {"inception_v1": ROOT + V1_MIXED, "inception_v2": ROOT + V2_MIXED}
HEAD = {
    "inception_v1": ["AvgPool_0a_7x7", "Logits", "Predictions"],
    "inception_v2": ["AvgPool_1a", "PreLogits", "Logits", "Predictions"],
}
SCOPE = {"inception_v1": "InceptionV1", "inception_v2": "InceptionV2"}


def _build(fn, shape, **kwargs):
    """``(net, end_points, {var name: shape}, graph)`` of ``fn`` in a new graph, under the
    module's arg scope."""
    module = inception_v1 if fn.__name__.startswith("inception_v1") else inception_v2
    arg_scope = getattr(module, module.__name__.rpartition(".")[2] + "_arg_scope")
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, shape)
        with slim.arg_scope(arg_scope()):
            net, end_points = fn(images, **kwargs)
        shapes = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}
    return net, end_points, shapes, graph


def _net(name):
    return getattr(MODULES[name], name)


def _base(name):
    return getattr(MODULES[name], name + "_base")


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_variables_end_points_and_losses(name):
    net, end_points, shapes, graph = _build(_net(name), [1, 224, 224, 3], num_classes=1001)
    total = sum(int(np.prod(s)) for s in shapes.values())
    with graph.as_default():
        trainable = sum(int(np.prod(v.shape.as_list())) for v in tf.compat.v1.trainable_variables())
        losses = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)
    assert (total, trainable, variables_digest(shapes)) == GOLDEN[name]
    # Weight decay on every conv2d kernel; InceptionV2's separable first layer has none
    # (the inception arg scope does not cover separable_conv2d, in TF-Slim either).
    kernels = [n for n in shapes if n.endswith("/weights")]
    assert len(losses) == len(kernels)
    assert list(end_points) == TRUNK[name] + HEAD[name]
    assert net.shape.as_list() == [1, 1001] and end_points["Logits"] is net
    assert net.op.name.endswith("/SpatialSqueeze") and net.op.name.startswith(SCOPE[name])
    assert end_points["Mixed_5c"].shape.as_list() == [1, 7, 7, 1024]


def test_inception_v1_keeps_tf_slims_odd_layer_name():
    """Mixed_5b's second "5x5" convolution is Conv2d_0a_3x3 in TF-Slim's checkpoint (every
    other module has Conv2d_0b_3x3), so it must be here too."""
    _, _, shapes, _ = _build(inception_v1.inception_v1_base, [1, 64, 64, 3])
    branch_2 = {n.rsplit("/", 1)[0] for n in shapes if "/Branch_2/" in n and "Batch" not in n}
    assert "InceptionV1/Mixed_5b/Branch_2/Conv2d_0a_3x3" in branch_2
    assert "InceptionV1/Mixed_5c/Branch_2/Conv2d_0b_3x3" in branch_2
    assert shapes["InceptionV1/Mixed_5b/Branch_2/Conv2d_0a_3x3/weights"] == [3, 3, 32, 128]


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_registry_uses_these_modules(name):
    """nets_factory's records wrap these functions (2-D logits, Logits/Predictions) and
    create the same variables, so published checkpoints keep loading."""
    spec = nets_factory.NETWORKS[name]
    row = net_table.NETS[name]
    assert getattr(importlib.import_module(f"slimcls.nets.{row.module}"), row.fn) is _net(name)
    assert spec.logits_scopes == row.head_scopes
    assert getattr(inception, name) is _net(name)
    assert getattr(inception, name + "_base") is _base(name)
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [2, 224, 224, 3])
        logits, end_points = nets_factory.get_network_fn(name, 1001)(images)
        shapes = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}
    assert variables_digest(shapes) == GOLDEN[name][2]
    assert logits.shape.as_list() == [2, 1001] and end_points["Logits"] is logits
    assert end_points["Predictions"].shape.as_list() == [2, 1001]


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_base_without_root_block_starts_at_mixed_3b(name):
    net, end_points, shapes, _ = _build(_base(name), [2, 28, 28, 192], include_root_block=False)
    assert list(end_points) == TRUNK[name][len(ROOT) :]
    assert net.shape.as_list() == [2, 7, 7, 1024]
    assert not any(root in n for n in shapes for root in ROOT)
    scope = SCOPE[name]
    assert shapes[f"{scope}/Mixed_3b/Branch_0/Conv2d_0a_1x1/weights"] == [1, 1, 192, 64]


@pytest.mark.parametrize("name", sorted(GOLDEN))
@pytest.mark.parametrize(
    "final_endpoint,include_root_block",
    [("Mixed_6a", True), ("Conv2d_1a_7x7", False), ("MaxPool_3a_3x3", False)],
)
def test_unknown_final_endpoint_raises_before_building(name, final_endpoint, include_root_block):
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [1, 64, 64, 3])
        with pytest.raises(ValueError, match=final_endpoint):
            _base(name)(
                images, final_endpoint=final_endpoint, include_root_block=include_root_block
            )
        assert not tf.compat.v1.global_variables()


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_base_stops_at_final_endpoint(name):
    stop = TRUNK[name].index("Mixed_4b")
    net, end_points, shapes, _ = _build(_base(name), [1, 64, 64, 3], final_endpoint="Mixed_4b")
    assert list(end_points) == TRUNK[name][: stop + 1]
    depth = {"inception_v1": 192 + 208 + 48 + 64, "inception_v2": 224 + 96 + 128 + 128}[name]
    assert net is end_points["Mixed_4b"] and net.shape.as_list() == [1, 4, 4, depth]
    assert not any("Mixed_4c" in n for n in shapes)


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
@pytest.mark.parametrize("num_classes", [0, None])
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_feature_mode_returns_pooled_features(name, num_classes):
    net, end_points, shapes, _ = _build(_net(name), [2, 224, 224, 3], num_classes=num_classes)
    pool = HEAD[name][0]
    assert net is end_points[pool] and net.shape.as_list() == [2, 1, 1, 1024]
    assert list(end_points) == TRUNK[name] + [pool]
    assert not any("Conv2d_0c_1x1" in n or "Conv2d_1c_1x1" in n for n in shapes)


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_global_pool_any_input_size(name):
    logits, end_points, _, _ = _build(_net(name), [2, 256, 256, 3], num_classes=3, global_pool=True)
    assert logits.shape.as_list() == [2, 3]
    assert end_points["global_pool"].shape.as_list() == [2, 1, 1, 1024]
    assert end_points["Mixed_5c"].shape.as_list() == [2, 8, 8, 1024]  # pooled over a real map
    assert HEAD[name][0] not in end_points
    # Without it the fixed 7x7 window slides over the 8x8 map: by 1 in V1 (a 2x2 map), by
    # slim.avg_pool2d's default stride 2 in V2 (1x1), as in TF-Slim.
    logits, _, _, _ = _build(_net(name), [2, 256, 256, 3], num_classes=3, spatial_squeeze=False)
    side = {"inception_v1": 2, "inception_v2": 1}[name]
    assert logits.shape.as_list() == [2, side, side, 3]


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
def test_inception_v2_pool_shrinks_to_small_inputs():
    logits, end_points, _, _ = _build(inception_v2.inception_v2, [1, 112, 112, 3], num_classes=4)
    assert end_points["Mixed_5c"].shape.as_list() == [1, 4, 4, 1024]
    assert end_points["AvgPool_1a"].shape.as_list() == [1, 1, 1, 1024]
    assert end_points["AvgPool_1a"].op.name == "InceptionV2/Logits/AvgPool_1a_4x4/AvgPool"
    assert logits.shape.as_list() == [1, 4]
    with tf.Graph().as_default():
        unknown = tf.compat.v1.placeholder(tf.float32, [1, None, None, 3])
        assert inception_v2._reduced_kernel_size_for_small_input(unknown, [7, 7]) == [7, 7]


@pytest.mark.parametrize(
    "depth_multiplier,min_depth,depthwise,pointwise",
    # depth(64) output channels; min(depth(64) // 3, 8) depthwise filters per input channel.
    [(1.0, 16, 8, 64), (0.5, 16, 8, 32), (0.25, 8, 5, 16), (0.1, 16, 5, 16)],
)
def test_inception_v2_first_layer_is_separable(depth_multiplier, min_depth, depthwise, pointwise):
    _, end_points, shapes, _ = _build(
        inception_v2.inception_v2_base,
        [1, 64, 64, 3],
        final_endpoint="Conv2d_1a_7x7",
        depth_multiplier=depth_multiplier,
        min_depth=min_depth,
    )
    # tf_slim's separable conv, outside the inception arg scope: biases, no batch norm.
    assert shapes == {
        "InceptionV2/Conv2d_1a_7x7/depthwise_weights": [7, 7, 3, depthwise],
        "InceptionV2/Conv2d_1a_7x7/pointwise_weights": [1, 1, 3 * depthwise, pointwise],
        "InceptionV2/Conv2d_1a_7x7/biases": [pointwise],
    }
    assert end_points["Conv2d_1a_7x7"].shape.as_list() == [1, 32, 32, pointwise]


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
def test_inception_v2_ordinary_first_convolution_keeps_end_point_shapes():
    base = inception_v2.inception_v2_base
    _, separable, _, _ = _build(base, [1, 64, 64, 3])
    _, ordinary, shapes, _ = _build(base, [1, 64, 64, 3], use_separable_conv=False)
    assert {k: v.shape.as_list() for k, v in ordinary.items()} == {
        k: v.shape.as_list() for k, v in separable.items()
    }
    first = {n: s for n, s in shapes.items() if "/Conv2d_1a_7x7/" in n}
    batch_norm = ("beta", "moving_mean", "moving_variance")
    assert first == {
        "InceptionV2/Conv2d_1a_7x7/weights": [7, 7, 3, 64],
        **{f"InceptionV2/Conv2d_1a_7x7/BatchNorm/{k}": [64] for k in batch_norm},
    }


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
def test_inception_v2_depth_multiplier_scales_every_layer():
    net, end_points, shapes, _ = _build(
        inception_v2.inception_v2, [1, 64, 64, 3], num_classes=2, depth_multiplier=0.25
    )
    # Mixed_5c's four branches: 352, 320, 224 and 128 channels, each times 0.25.
    assert end_points["Mixed_5c"].shape.as_list() == [1, 2, 2, 88 + 80 + 56 + 32]
    assert shapes["InceptionV2/Mixed_3b/Branch_3/Conv2d_0b_1x1/weights"] == [1, 1, 48, 16]
    assert shapes["InceptionV2/Logits/Conv2d_1c_1x1/weights"] == [1, 1, 256, 2]
    for bad in (0.0, -0.5):
        with tf.Graph().as_default(), pytest.raises(ValueError, match="depth_multiplier"):
            inception_v2.inception_v2(tf.zeros([1, 64, 64, 3]), 2, depth_multiplier=bad)


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
def test_inception_v2_nchw():
    base = inception_v2.inception_v2_base
    _, nhwc, nhwc_vars, _ = _build(base, [1, 64, 64, 3], use_separable_conv=False)
    _, nchw, nchw_vars, _ = _build(
        base, [1, 3, 64, 64], use_separable_conv=False, data_format="NCHW"
    )
    # The same kernels. (Batch norm is not told the layout, in TF-Slim either: under the
    # inception arg scope it normalises the last axis, so its variables differ.)
    kernels = {n: s for n, s in nhwc_vars.items() if n.endswith("weights")}
    assert {n: s for n, s in nchw_vars.items() if n.endswith("weights")} == kernels
    assert set(nchw_vars) == set(nhwc_vars)
    assert list(nchw) == list(nhwc)
    for key, tensor in nhwc.items():
        n, h, w, c = tensor.shape.as_list()
        assert nchw[key].shape.as_list() == [n, c, h, w], key
    with tf.Graph().as_default():
        images = tf.compat.v1.placeholder(tf.float32, [1, 3, 64, 64])
        with pytest.raises(ValueError, match="NCWH"):
            base(images, data_format="NCWH")
        with pytest.raises(ValueError, match="use_separable_conv"):
            base(images, data_format="NCHW")


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_features_are_the_mean_of_mixed_5c_and_logits_a_linear_map(name):
    """The pooled features average Mixed_5c (224: the 7x7 window covers it; larger: global
    pool), and the classifier is a plain 1x1 convolution on them (no dropout at eval)."""
    fn = _net(name)
    graph = tf.Graph()
    with graph.as_default():
        images = tf.random.stateless_uniform([2, 224, 224, 3], seed=[3, 4], minval=-1, maxval=1)
        with slim.arg_scope(getattr(MODULES[name], name + "_arg_scope")()):
            logits, end_points = fn(images, num_classes=5, is_training=False)
            with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(), reuse=True):
                pooled, _ = fn(images, num_classes=0, is_training=False, global_pool=True)
        head = [v for v in tf.compat.v1.global_variables() if "c_1x1" in v.op.name]
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            out = sess.run(
                [logits, end_points[HEAD[name][0]], pooled, end_points["Mixed_5c"], head]
            )
    logits, features, pooled, mixed_5c, (kernel, bias) = out
    assert np.std(features) > 0
    np.testing.assert_allclose(features, mixed_5c.mean(axis=(1, 2), keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(pooled, features, rtol=1e-5, atol=1e-6)
    expected = features.reshape(2, 1024) @ kernel.reshape(1024, 5) + bias
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_reuse_shares_variables(name):
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [1, 64, 64, 3])
        _net(name)(images, num_classes=4, global_pool=True, scope="tower")
        count = len(tf.compat.v1.global_variables())
        logits, _ = _net(name)(
            images, 4, is_training=False, global_pool=True, scope="tower", reuse=True
        )
        assert len(tf.compat.v1.global_variables()) == count
    assert logits.op.name.startswith("tower_1/")


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_eager_end_points_have_the_graph_names(name):
    """SlimModel's first call runs eagerly: the end points are a dict filled by the net
    itself, so they are the same as in a TF1 graph."""
    spec = nets_factory.NETWORKS[name]
    model = SlimModel(spec.fn, 5, arg_scope=nets_factory.arg_scope_fn(name))
    images = tf.random.stateless_uniform([1, 224, 224, 3], seed=[5, 6])
    logits, eager = model(images, training=False)
    graph = tf.Graph()
    with graph.as_default():
        placeholder = tf.compat.v1.placeholder(tf.float32, [1, 224, 224, 3])
        _, graph_end_points = nets_factory.get_network_fn(name, 5)(placeholder)
    assert sorted(eager) == sorted(graph_end_points)
    assert eager["Mixed_5c"].shape == (1, 7, 7, 1024)
    np.testing.assert_allclose(eager["Logits"].numpy(), logits.numpy())


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_checkpoint_round_trip_graph_and_tf2_wrapper(tmp_path, name):
    """A checkpoint keyed by TF-Slim's names restores into the registry's net in a TF1
    graph and through SlimModel (eagerly and traced), with the same logits."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [1, 224, 224, 3])
        nets_factory.get_network_fn(name, 5)(images)
        shapes = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}
    check_checkpoint_restores(tmp_path, name, 5, 224, shapes)
