"""TF-Slim's zoo, part A: lenet, MobileNetV1/V2/V3/EdgeTPU, vgg_a, overfeat, resnet_*_200.

Golden numbers were verified against TF-Slim's own code: a scratch script (outside this
repository) imported ``research/slim/nets`` of tensorflow/models at 0d9ef8d39 on
TensorFlow 2.21 (``slimcls.core.compat`` for the tf_keras aliases, ``np.int = int`` for
mobilenet_v3's import, eager execution disabled), built each net through TF-Slim's
``nets_factory`` logic (``arg_scope(weight_decay=0.0)``, ``is_training=False``) and
slimcls's ``get_network_fn`` in TF1 graphs, and found the same variable names and shapes,
the same end-point names, and logits and end points equal to the last bit (max |diff| 0)
with the same random weights loaded into both. The counts below are TF-Slim's.
"""

import sys

import numpy as np
import pytest
import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.model import modeling
from slimcls.nets import nets_factory
from slimcls.preprocessing import preprocessing_factory
from tests.nets.net_checks import (
    build_net,
    logits_in_graph,
    restored_logits,
    variables_digest,
    write_checkpoint,
)

# name -> (all variables' elements, trainable ones, sha256[:16] of the sorted
# "name:shape" lines), at the default image size with TF-Slim's published class count
# (1001 for the MobileNets, 10 and 1-channel input for lenet, 1000 otherwise).
GOLDEN = {
    "lenet": (3274634, 3274634, "0177970906b85c55"),
    "mobilenet_v1": (4254889, 4233001, "d7a7b988b0812c51"),
    "mobilenet_v1_075": (2602745, 2586329, "2f7e9d5cb24625d9"),
    "mobilenet_v1_050": (1343049, 1332105, "73c223abe88b4139"),
    "mobilenet_v1_025": (475801, 470329, "51e5dc98882fcceb"),
    "mobilenet_v2": (3540265, 3506153, "8bedf0776756508b"),
    "mobilenet_v2_140": (6158505, 6110569, "8f640aabd83d2d73"),
    "mobilenet_v2_035": (1692489, 1678409, "3c9aa508479a2822"),
    "mobilenet_v3_small": (2555993, 2543881, "09d05e4e40f725d2"),
    "mobilenet_v3_large": (5508713, 5484313, "10a5b2987fd9b1d6"),
    "mobilenet_v3_small_minimalistic": (2057873, 2045761, "1f1c2d0da0c542d2"),
    "mobilenet_v3_large_minimalistic": (3949969, 3925569, "7b2c479ac8eab1da"),
    "mobilenet_edgetpu": (4131593, 4092713, "1664e75fccfac1e9"),
    "mobilenet_edgetpu_075": (3019569, 2989441, "d3357b60c3f674da"),
    "vgg_a": (132863336, 132863336, "f8e0d1c8ce7a62ea"),
    "overfeat": (145704424, 145704424, "d885ef9e51a8e740"),
    "resnet_v1_200": (64849832, 64673832, "b236e3232992b2f5"),
    "resnet_v2_200": (64894440, 64726120, "aaff39418f16d12f"),
}
SLOW_GOLDEN = {"resnet_v1_200", "resnet_v2_200"}
FAST_GOLDEN = {"lenet", "mobilenet_v1_025", "mobilenet_v2_035", "mobilenet_v3_small", "vgg_a"}


def _classes(name):
    return 10 if name == "lenet" else 1001 if "mobilenet" in name else 1000


def _golden_params():
    for name in sorted(GOLDEN):
        if name in SLOW_GOLDEN or name not in FAST_GOLDEN:
            yield pytest.param(name, marks=pytest.mark.slow)
        else:
            yield name


@pytest.mark.parametrize("name", _golden_params())
def test_golden_parameter_counts_and_variables(name):
    spec = nets_factory.NETWORKS[name]
    channels = 1 if name == "lenet" else 3
    _, _, shapes = build_net(name, _classes(name), spec.default_image_size, channels)
    total = sum(int(np.prod(s)) for s in shapes.values())
    trainable = sum(int(np.prod(s)) for n, s in shapes.items() if "moving_" not in n)
    assert (total, trainable, variables_digest(shapes)) == GOLDEN[name]


def test_every_zoo_a_net_has_golden_numbers():
    zoo_a = {n for n in nets_factory.NETWORKS if n.startswith(("mobilenet", "lenet"))}
    zoo_a |= {"vgg_a", "overfeat", "resnet_v1_200", "resnet_v2_200"}
    assert zoo_a == set(GOLDEN)


LENET_VARIABLES = {
    "LeNet/conv1/weights": [5, 5, 1, 32],
    "LeNet/conv1/biases": [32],
    "LeNet/conv2/weights": [5, 5, 32, 64],
    "LeNet/conv2/biases": [64],
    "LeNet/fc3/weights": [7 * 7 * 64, 1024],
    "LeNet/fc3/biases": [1024],
    "LeNet/fc4/weights": [1024, 10],
    "LeNet/fc4/biases": [10],
}


def test_lenet_variables_and_end_points():
    logits, end_points, shapes = build_net("lenet", 10, 28, channels=1, batch=2)
    assert shapes == LENET_VARIABLES
    assert logits.shape.as_list() == [2, 10]
    expected = {
        "conv1": [2, 28, 28, 32],
        "pool1": [2, 14, 14, 32],
        "conv2": [2, 14, 14, 64],
        "pool2": [2, 7, 7, 64],
        "Flatten": [2, 3136],
        "fc3": [2, 1024],
        "dropout3": [2, 1024],
        "Logits": [2, 10],
        "Predictions": [2, 10],
    }
    assert {k: v.shape.as_list() for k, v in end_points.items()} == expected


BN_STATS = ("beta", "gamma", "moving_mean", "moving_variance")


def _mobilenet_v1_variables(multiplier, num_classes):
    """TF-Slim's MobileNetV1 variable names and shapes, written out from its layer table."""
    depth = lambda d: max(int(d * multiplier), 8)

    def layer(scope, weights, shape, bn_depth):
        return {
            f"{scope}/{weights}": shape,
            **{f"{scope}/BatchNorm/{k}": [bn_depth] for k in BN_STATS},
        }

    prev = depth(32)
    out = layer("MobilenetV1/Conv2d_0", "weights", [3, 3, 3, prev], prev)
    for i, d in enumerate([64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]):
        scope = f"MobilenetV1/Conv2d_{i + 1}"
        out.update(layer(f"{scope}_depthwise", "depthwise_weights", [3, 3, prev, 1], prev))
        out.update(layer(f"{scope}_pointwise", "weights", [1, 1, prev, depth(d)], depth(d)))
        prev = depth(d)
    out["MobilenetV1/Logits/Conv2d_1c_1x1/weights"] = [1, 1, prev, num_classes]
    out["MobilenetV1/Logits/Conv2d_1c_1x1/biases"] = [num_classes]
    return out


@pytest.mark.parametrize("name,multiplier", [("mobilenet_v1_025", 0.25), ("mobilenet_v1", 1.0)])
def test_mobilenet_v1_variables_and_end_points(name, multiplier):
    logits, end_points, shapes = build_net(name, 5, 64, batch=2)
    assert shapes == _mobilenet_v1_variables(multiplier, 5)
    assert logits.shape.as_list() == [2, 5]
    last = max(int(1024 * multiplier), 8)
    assert end_points["Conv2d_0"].shape.as_list()[:3] == [2, 32, 32]
    assert end_points["Conv2d_13_pointwise"].shape.as_list() == [2, 2, 2, last]
    assert end_points["AvgPool_1a"].shape.as_list() == [2, 1, 1, last]  # 7x7 window shrunk
    expected = {"Conv2d_0", "AvgPool_1a", "Logits", "Predictions"}
    expected |= {f"Conv2d_{i}_{k}" for i in range(1, 14) for k in ("depthwise", "pointwise")}
    assert set(end_points) == expected


# name -> (number of end points at 64x64 with 5 classes (TF-Slim's), last layer, its shape)
MOBILENET_END_POINTS = {
    "mobilenet_v2_035": (72, "layer_19", [2, 2, 2, 1280]),
    "mobilenet_v3_small": (50, "layer_15", [2, 1, 1, 1024]),  # after its own 1x1 pooling
    "mobilenet_edgetpu_075": (83, "layer_24", [2, 2, 2, 1280]),
}


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
@pytest.mark.parametrize("name", sorted(MOBILENET_END_POINTS))
def test_mobilenet_builder_end_points(name):
    count, last, shape = MOBILENET_END_POINTS[name]
    logits, end_points, _ = build_net(name, 5, 64, batch=2)
    assert logits.shape.as_list() == [2, 5]
    assert len(end_points) == count
    assert end_points[last].shape.as_list() == shape
    assert f"layer_{int(last[6:]) + 1}" not in end_points
    assert end_points["global_pool"].shape.as_list() == [2, 1, 1, shape[-1]]
    assert end_points["Predictions"].shape.as_list() == [2, 5]
    # Each block's named outputs, as TF-Slim's graph scan reported them.
    assert end_points["layer_2/output"] is end_points["layer_2"]
    assert end_points["layer_3/expansion_output"].shape.as_list()[0] == 2
    if name != "mobilenet_edgetpu_075":  # fused blocks have no depthwise layer
        assert "layer_3/depthwise_output" in end_points


@pytest.mark.heavy  # full-size graphs: --full (CI) runs it
def test_mobilenet_v2_first_block_and_feature_mode():
    _, end_points, shapes = build_net("mobilenet_v2", 0, 64)
    # The first block's expansion factor 1 leaves it without an expansion layer.
    assert "layer_2/expansion_output" not in end_points
    assert not any(n.startswith("MobilenetV2/expanded_conv/expand/") for n in shapes)
    assert "MobilenetV2/expanded_conv_1/expand/weights" in shapes
    assert end_points["global_pool"].shape.as_list() == [1, 1, 1, 1280]
    assert not any("Logits/Conv2d_1c_1x1" in n for n in shapes)


@pytest.mark.heavy
def test_tf_slim_style_module_usage():
    """TF-Slim users' code: the modules, function names and keyword arguments."""
    from slimcls.nets import (
        alexnet,
        lenet,
        mobilenet_v1,
        overfeat,
        resnet_utils,
        resnet_v1,
        resnet_v2,
        vgg,
    )
    from slimcls.nets.mobilenet import conv_blocks, mobilenet, mobilenet_v2, mobilenet_v3

    assert mobilenet_v1.mobilenet_v1.default_image_size == 224
    assert lenet.lenet.default_image_size == 28
    assert overfeat.overfeat.default_image_size == 231
    assert vgg.vgg_a.default_image_size == 224 and callable(alexnet.alexnet_v2_arg_scope)
    assert resnet_v1.resnet_v1_200 and resnet_v2.resnet_v2_200 and resnet_utils.Block
    assert callable(conv_blocks.expanded_conv) and callable(mobilenet.mobilenet_base)
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [1, 64, 64, 3])
        with slim.arg_scope(mobilenet_v2.training_scope(is_training=False, weight_decay=1e-4)):
            logits, _ = mobilenet_v2.mobilenet(images)
        with slim.arg_scope(mobilenet_v3.training_scope(is_training=False)):
            small, _ = mobilenet_v3.small(images, num_classes=7)
        scope = mobilenet_v1.mobilenet_v1_arg_scope(is_training=False, weight_decay=1e-4)
        with slim.arg_scope(scope):
            base, _ = mobilenet_v1.mobilenet_v1_base(images, final_endpoint="Conv2d_3_pointwise")
        names = [v.op.name for v in tf.compat.v1.global_variables()]
        losses = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)
    assert logits.shape.as_list() == [1, 1001]  # TF-Slim's default class count
    assert small.shape.as_list() == [1, 7]
    assert base.shape.as_list() == [1, 16, 16, 128]
    assert "MobilenetV3/expanded_conv/squeeze_excite/Conv_1/biases" in names
    assert "MobilenetV1/Conv2d_4_depthwise/depthwise_weights" not in names
    assert losses


def test_tf_slim_factory_maps_and_signature():
    # research/slim's networks_map at 0d9ef8d39, name for name; slimcls adds small_cnn.
    tf_slim_names = {
        "alexnet_v2", "cifarnet", "overfeat", "vgg_a", "vgg_16", "vgg_19", "inception_v1",
        "inception_v2", "inception_v3", "inception_v4", "inception_resnet_v2", "i3d", "s3dg",
        "lenet", "mobilenet_v1", "mobilenet_v1_075", "mobilenet_v1_050", "mobilenet_v1_025",
        "mobilenet_v2", "mobilenet_v2_140", "mobilenet_v2_035", "mobilenet_v3_small",
        "mobilenet_v3_large", "mobilenet_v3_small_minimalistic",
        "mobilenet_v3_large_minimalistic", "mobilenet_edgetpu", "mobilenet_edgetpu_075",
        "nasnet_cifar", "nasnet_mobile", "nasnet_large", "pnasnet_mobile", "pnasnet_large",
        *(f"resnet_{v}_{d}" for v in ("v1", "v2") for d in (50, 101, 152, 200)),
    }  # fmt: skip
    assert set(nets_factory.networks_map) == tf_slim_names | {"small_cnn"}
    assert set(nets_factory.arg_scopes_map) == tf_slim_names | {"small_cnn"}
    scope = nets_factory.arg_scopes_map["mobilenet_v1"](weight_decay=1e-3)
    assert isinstance(scope, dict) and scope
    fn = nets_factory.get_network_fn("lenet", 10, weight_decay=1e-3, is_training=True)
    assert fn.default_image_size == 28


def test_broken_net_module_fails_only_that_net(monkeypatch):
    """A net module that cannot be imported breaks neither the registry nor other nets."""
    monkeypatch.delitem(sys.modules, "slimcls.nets.mobilenet_v1", raising=False)
    monkeypatch.setitem(sys.modules, "slimcls.nets.mobilenet_v1", None)  # import fails
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [1, 28, 28, 3])
        logits, _ = nets_factory.get_network_fn("lenet", 10)(images)  # unaffected
        with pytest.raises(SlimclsError) as err:
            nets_factory.get_network_fn("mobilenet_v1", 10)(images)
    assert logits.shape.as_list() == [1, 10]
    message = str(err.value)
    assert "'mobilenet_v1'" in message and "slimcls.nets.mobilenet_v1" in message
    assert "\n" not in message


def _wrapper_logits(name, num_classes, images, prefix):
    """Logits of ``slimcls.model.modeling.create_model`` with the checkpoint's values by name."""
    return restored_logits(modeling.create_model(name, num_classes), images, prefix)


def _checkpoint_params():
    fast = {"lenet": 28, "mobilenet_v1_025": 64, "mobilenet_v2_035": 64, "mobilenet_v3_small": 64}
    slow = {
        "mobilenet_v1": 64,
        "mobilenet_v2_140": 64,
        "mobilenet_v3_large": 64,
        "mobilenet_v3_small_minimalistic": 64,
        "mobilenet_edgetpu": 64,
        "resnet_v1_200": 64,
        "resnet_v2_200": 64,
        "vgg_a": 224,
        "overfeat": 231,
    }
    yield from (pytest.param(n, s, id=n) for n, s in fast.items())
    yield from (pytest.param(n, s, id=n, marks=pytest.mark.slow) for n, s in slow.items())


@pytest.mark.parametrize("name,size", _checkpoint_params())
@pytest.mark.heavy
def test_checkpoint_round_trip_graph_and_tf2_wrapper(tmp_path, name, size):
    """A checkpoint keyed by TF-Slim names restores with no mapping in a TF1 graph
    (``tf.compat.v1.train.Saver``) and into ``SlimModel``; both give the same logits."""
    num_classes = 5
    _, _, shapes = build_net(name, num_classes, size)
    prefix = str(tmp_path / "model.ckpt-0")
    write_checkpoint(prefix, shapes)
    images = np.random.RandomState(1).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    graph_logits = logits_in_graph(name, num_classes, images, prefix)
    wrapper_logits = _wrapper_logits(name, num_classes, images, prefix)
    assert graph_logits.shape == (2, num_classes)
    assert np.std(graph_logits) > 1e-3  # the restored weights matter
    np.testing.assert_allclose(wrapper_logits, graph_logits, rtol=1e-4, atol=1e-4)


def test_mobilenet_batch_norm_statistics_update_in_tf2_training():
    model = modeling.create_model("mobilenet_v3_small", 3, weight_decay=1e-4)
    images = tf.random.stateless_uniform([2, 32, 32, 3], seed=[1, 2], minval=-1, maxval=1)
    model.build_variables((32, 32, 3))
    mean = model.variables_by_name()["MobilenetV3/Conv/BatchNorm/moving_mean"]
    before = mean.numpy().copy()
    model(images, training=True)
    assert not np.allclose(mean.numpy(), before)
    assert len(model.losses) > 0  # training_scope's weight decay is registered


def test_registry_records_zoo_a():
    nets = nets_factory.NETWORKS
    assert nets["lenet"].default_image_size == 28
    assert nets["lenet"].preprocessing == "lenet"
    assert nets["overfeat"].default_image_size == 231
    for name in nets:
        if name.startswith("mobilenet"):
            assert nets[name].default_image_size == 224, name
            assert nets[name].preprocessing == "inception", name
            assert nets[name].background_class, name
    assert preprocessing_factory.resolve("mobilenet_v3_large") == "inception"
    assert preprocessing_factory.resolve("resnet_v1_200") == "vgg"


def test_lenet_preprocessing_matches_tf_slim_arithmetic():
    fn = preprocessing_factory.get_preprocessing("lenet", is_training=True, use_grayscale=True)
    image = np.full((20, 30, 1), 192, np.uint8)
    image[0, :] = 0
    out = fn(tf.constant(image), 28, 28).numpy()
    assert out.shape == (28, 28, 1)
    # Rows are padded (4 above, 4 below) and columns cropped (1 each side), no resizing.
    np.testing.assert_allclose(out[:4], -1.0)
    np.testing.assert_allclose(out[4], -1.0)  # the input's black first row
    np.testing.assert_allclose(out[5:24], 0.5)  # (192 - 128) / 128
    np.testing.assert_allclose(out[24:], -1.0)
    np.testing.assert_array_equal(out, fn(tf.constant(image), 28, 28).numpy())  # not random
    rgb = preprocessing_factory.get_preprocessing("lenet")(tf.constant(image), 28, 28)
    assert rgb.shape == (28, 28, 3)
