"""InceptionV4, Inception-ResNet-v2, NASNet-A and PNASNet-5: TF-Slim's parameter counts and
variable names, end points, arg-scope keywords, registry records, checkpoint round trips.

Golden numbers were verified by building TF-Slim's own code (research/slim/nets at
rossGardiner/models 0d9ef8d39, through its nets_factory.get_network_fn) in a TF1 graph on
TensorFlow 2.21, in a scratch script outside this repository (import shim:
slimcls.core.compat, a stand-in for tf.contrib.training.HParams, eager disabled), and
counting ``tf.compat.v1.global_variables()``. The name digests are the first 16 hex digits
of sha256("\\n".join(sorted variable names)).
"""

import hashlib

import numpy as np
import pytest

import slimcls.nets.inception as inception
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.model.modeling import create_model
from slimcls.nets import inception_resnet_v2, inception_v4, nets_factory
from slimcls.nets.nasnet import nasnet, nasnet_utils, pnasnet
from tests.nets.net_checks import write_checkpoint

# name -> (builder, arg scope, input side, classes): the published layout.
PUBLISHED = {
    "inception_v4": (inception_v4.inception_v4, inception_v4.inception_v4_arg_scope, 299, 1001),
    "inception_resnet_v2": (
        inception_resnet_v2.inception_resnet_v2,
        inception_resnet_v2.inception_resnet_v2_arg_scope,
        299,
        1001,
    ),
    "nasnet_cifar": (nasnet.build_nasnet_cifar, nasnet.nasnet_cifar_arg_scope, 32, 10),
    "nasnet_mobile": (nasnet.build_nasnet_mobile, nasnet.nasnet_mobile_arg_scope, 224, 1001),
    "nasnet_large": (nasnet.build_nasnet_large, nasnet.nasnet_large_arg_scope, 331, 1001),
    "pnasnet_mobile": (pnasnet.build_pnasnet_mobile, pnasnet.pnasnet_mobile_arg_scope, 224, 1001),
    "pnasnet_large": (pnasnet.build_pnasnet_large, pnasnet.pnasnet_large_arg_scope, 331, 1001),
}

# TF-Slim's parameter counts of the evaluation graph (is_training=False) in the published
# layout above, logits included (verified as described in the module docstring).
TF_SLIM_PARAMS = {
    "inception_v4": 46_074_066,
    "inception_resnet_v2": 59_244_594,
    "nasnet_cifar": 3_383_786,
    "nasnet_mobile": 5_327_773,
    "nasnet_large": 88_953_851,
    "pnasnet_mobile": 5_099_232,
    "pnasnet_large": 86_238_977,
}
# TF-Slim's training graph of NASNet-CIFAR at 32 (10 classes): the auxiliary head and the
# drop-path global step (one more "parameter") added, same verification.
TF_SLIM_NASNET_CIFAR_TRAINING_PARAMS = 5_017_077

# (name, is_training) -> (variable count, name digest) of TF-Slim's graph (verified as in
# the module docstring). Training graphs hold the auxiliary head; NASNet-CIFAR's also the
# graph's ``global_step`` (created by drop path).
TF_SLIM_NAMES = {
    ("inception_v4", True): (608, "cefa923a1a41ef8a"),
    ("nasnet_cifar", True): (1437, "87d558c566cc0bf7"),
    ("nasnet_cifar", False): (1424, "2c015887276b2924"),
}


def _graph_variables(name, is_training, size=None, batch=1, **kwargs):
    """Builds a PUBLISHED net in a fresh graph; (output, end points, {name: shape})."""
    import tf_slim as slim

    fn, arg_scope, default_size, classes = PUBLISHED[name]
    size = size or default_size
    with tf.Graph().as_default():
        images = tf.compat.v1.placeholder(tf.float32, [batch, size, size, 3])
        with slim.arg_scope(arg_scope()):
            out, end_points = fn(
                images,
                num_classes=kwargs.pop("num_classes", classes),
                is_training=is_training,
                **kwargs,
            )
        shapes = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}
    return out, end_points, shapes


def _digest(names):
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_count_is_tf_slims(name):
    expected = TF_SLIM_PARAMS[name]
    if expected is None:
        pytest.skip("TF-Slim's count not verified yet")
    logits, _, shapes = _graph_variables(name, is_training=False)
    assert sum(int(np.prod(s)) for s in shapes.values()) == expected
    assert logits.shape.as_list() == [1, PUBLISHED[name][3]]


@pytest.mark.slow
@pytest.mark.parametrize("name,is_training", sorted(TF_SLIM_NAMES))
def test_variable_names_are_tf_slims(name, is_training):
    _, _, shapes = _graph_variables(name, is_training)
    assert (len(shapes), _digest(shapes)) == TF_SLIM_NAMES[(name, is_training)]


@pytest.fixture(scope="module")
def inception_v4_at_107():
    """One training graph at the minimum size, shared (graph construction is slow)."""
    return _graph_variables("inception_v4", True, size=107, batch=2)


@pytest.mark.heavy
def test_inception_v4_at_minimum_size_has_tf_slims_names_and_end_points(inception_v4_at_107):
    logits, end_points, shapes = inception_v4_at_107
    # TF-Slim names its aux conv "Conv2d_2a" whatever its kernel: same names as at 299.
    assert (len(shapes), _digest(shapes)) == TF_SLIM_NAMES[("inception_v4", True)]
    # ... and the kernel covers the pooled map: 1x1 here, 5x5 at 299.
    assert shapes["InceptionV4/AuxLogits/Conv2d_2a/weights"] == [1, 1, 128, 768]
    params = sum(int(np.prod(s)) for s in shapes.values())
    assert params == TF_SLIM_PARAMS["inception_v4"] - (25 - 1) * 128 * 768
    ep = {k: v.shape.as_list() for k, v in end_points.items()}
    assert logits.shape.as_list() == [2, 1001]
    assert ep["Mixed_6h"] == [2, 5, 5, 1024]
    assert ep["Mixed_7d"] == [2, 2, 2, 1536]
    assert ep["global_pool"] == [2, 1, 1, 1536]
    assert ep["PreLogitsFlatten"] == [2, 1536]
    assert ep["AuxLogits"] == [2, 1001] == ep["Predictions"]
    assert set(ep) >= set(inception_v4.END_POINTS)


@pytest.mark.slow
def test_inception_v4_rejects_inputs_below_107():
    with pytest.raises(ValueError):
        _graph_variables("inception_v4", True, size=106)


@pytest.mark.heavy
def test_inception_v4_feature_mode_and_final_endpoint():
    features, end_points, shapes = _graph_variables("inception_v4", False, size=75, num_classes=0)
    assert features.shape.as_list() == [1, 1, 1, 1536]
    assert not {"AuxLogits", "Logits"} & set(end_points)
    assert not any("Logits" in n for n in shapes)
    with tf.Graph().as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 299, 299, 3])
        net, end_points = inception_v4.inception_v4_base(x, final_endpoint="Mixed_5a")
        assert net.shape.as_list() == [1, 35, 35, 384] and list(end_points)[-1] == "Mixed_5a"
        with pytest.raises(ValueError, match="Mixed_9z"):
            inception_v4.inception_v4_base(x, final_endpoint="Mixed_9z")


@pytest.mark.slow
def test_inception_resnet_v2_end_points_at_minimum_size():
    logits, end_points, _ = _graph_variables("inception_resnet_v2", True, size=107, batch=2)
    ep = {k: v.shape.as_list() for k, v in end_points.items()}
    assert logits.shape.as_list() == [2, 1001]
    assert ep["PreAuxLogits"] == [2, 5, 5, 1088]
    assert ep["Conv2d_7b_1x1"] == [2, 2, 2, 1536]
    assert ep["AuxLogits"] == [2, 1001]
    assert set(ep) >= set(inception_resnet_v2.END_POINTS)


def test_inception_resnet_v2_base_options():
    with tf.Graph().as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 107, 107, 3])
        net, _ = inception_resnet_v2.inception_resnet_v2_base(
            x, final_endpoint="Mixed_5b", align_feature_maps=True
        )
        assert net.shape.as_list() == [1, 14, 14, 320]  # SAME everywhere: 107 / 8
        for bad in ({"output_stride": 4}, {"final_endpoint": "Conv2d_7b_1x1", "output_stride": 8}):
            with pytest.raises(ValueError, match="output_stride"):
                inception_resnet_v2.inception_resnet_v2_base(x, **bad)


@pytest.fixture(scope="module")
def nasnet_cifar_training():
    """One training graph at 32x32, shared (graph construction is slow)."""
    return _graph_variables("nasnet_cifar", True, batch=2)


@pytest.mark.heavy
def test_nasnet_cifar_training_graph_is_tf_slims(nasnet_cifar_training):
    logits, end_points, shapes = nasnet_cifar_training
    assert (len(shapes), _digest(shapes)) == TF_SLIM_NAMES[("nasnet_cifar", True)]
    assert sum(int(np.prod(s)) for s in shapes.values()) == TF_SLIM_NASNET_CIFAR_TRAINING_PARAMS
    ep = {k: v.shape.as_list() for k, v in end_points.items()}
    assert logits.shape.as_list() == [2, 10]
    assert ep["Stem"] == [2, 32, 32, 96]
    assert ep["Cell_5"] == [2, 32, 32, 192]
    assert ep["Reduction_Cell_0"] == [2, 16, 16, 256]
    assert ep["Cell_11"] == [2, 16, 16, 384]
    assert ep["Reduction_Cell_1"] == [2, 8, 8, 512]
    assert ep["Cell_17"] == [2, 8, 8, 768]
    assert ep["global_pool"] == [2, 768]
    assert ep["AuxLogits"] == [2, 10] == ep["Logits"] == ep["Predictions"]
    assert shapes["final_layer/FC/weights"] == [768, 10]
    assert shapes["aux_11/aux_logits/FC/weights"] == [768, 10]


@pytest.mark.slow
@pytest.mark.heavy
def test_nasnet_cifar_evaluation_has_no_aux_head_unless_asked(nasnet_cifar_training):
    _, end_points, shapes = _graph_variables("nasnet_cifar", False)
    assert "AuxLogits" not in end_points and not any(n.startswith("aux_") for n in shapes)
    _, end_points, shapes = _graph_variables("nasnet_cifar", False, always_build_aux_head=True)
    assert "AuxLogits" in end_points
    # training adds only TF-Slim's drop-path global step (created inside the first cell)
    training_names = set(nasnet_cifar_training[2])
    assert training_names - set(shapes) == {"cell_0/comb_iter_0/left/global_step"}
    assert set(shapes) <= training_names


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nasnet_mobile", "pnasnet_mobile"])
def test_mobile_nasnets_end_points_at_minimum_size(name):
    logits, end_points, _ = _graph_variables(name, False, size=67, always_build_aux_head=True)
    assert logits.shape.as_list() == [1, 1001]
    assert end_points["AuxLogits"].shape.as_list() == [1, 1001]
    assert end_points["Stem"].shape.as_list()[1:3] == [9, 9]
    with pytest.raises(ValueError):
        _graph_variables(name, False, size=66, always_build_aux_head=True)


@pytest.mark.heavy
def test_nasnet_final_endpoint_and_config():
    config = nasnet.cifar_config()
    config.set_hparam("num_cells", 6)
    config.set_hparam("num_conv_filters", 8)
    with pytest.raises(KeyError, match="nope"):
        config.set_hparam("nope", 1)
    with tf.Graph().as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 32, 32, 3])
        net, end_points = nasnet.build_nasnet_cifar(x, 10, is_training=False, config=config)
        assert config.drop_path_keep_prob == 0.6  # the caller's config is copied, not changed
        assert end_points["Cell_5"].shape.as_list() == [1, 8, 8, 8 * 4 * 6]
        net, end_points = nasnet.build_nasnet_mobile(
            tf.compat.v1.placeholder(tf.float32, [1, 96, 96, 3]), 5, final_endpoint="Stem"
        )
        assert list(end_points) == ["Stem"] and net.shape.as_list()[1:3] == [12, 12]
    assert nasnet_utils.calc_reduction_layers(18, 2) == [6, 12]
    assert nasnet_utils.calc_reduction_layers(9, 2) == [3, 6]


@pytest.mark.parametrize(
    "arg_scope",
    [
        inception.inception_v1_arg_scope,
        inception.inception_v2_arg_scope,
        inception.inception_v3_arg_scope,
        inception.inception_v4_arg_scope,
        inception.inception_resnet_v2_arg_scope,
        nets_factory.get_spec("inception_v3").arg_scope,
        nets_factory.get_spec("inception_v1").arg_scope,
        nets_factory.get_spec("inception_v4").arg_scope,
        nets_factory.get_spec("inception_resnet_v2").arg_scope,
    ],
)
def test_inception_arg_scopes_take_tf_slims_keywords(arg_scope):
    import tf_slim as slim

    with tf.Graph().as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 8, 8, 3])
        scope = arg_scope(
            weight_decay=1e-3,
            batch_norm_decay=0.99,
            batch_norm_epsilon=1e-4,
            activation_fn=tf.nn.relu6,
            batch_norm_updates_collections=None,
            batch_norm_scale=True,
        )
        with slim.arg_scope(scope):
            y = slim.conv2d(x, 4, [3, 3], scope="conv")
        names = {v.op.name for v in tf.compat.v1.global_variables()}
        assert "conv/BatchNorm/gamma" in names
        assert "Relu6" in y.op.name
        assert tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)


def test_inception_module_has_tf_slims_names():
    for version in ("v1", "v2", "v3", "v4", "resnet_v2"):
        for suffix in ("", "_arg_scope", "_base"):
            assert callable(getattr(inception, f"inception_{version}{suffix}"))
    assert inception.inception_v4 is inception_v4.inception_v4


def test_registry_records():
    expected = {
        "inception_v4": (299, "inception", True),
        "inception_resnet_v2": (299, "inception", True),
        "nasnet_cifar": (32, "cifarnet", False),
        "nasnet_mobile": (224, "inception", True),
        "nasnet_large": (331, "inception", True),
        "pnasnet_mobile": (224, "inception", True),
        "pnasnet_large": (331, "inception", True),
    }
    for name, record in expected.items():
        spec = nets_factory.get_spec(name)
        assert (spec.default_image_size, spec.preprocessing, spec.background_class) == record
        assert (
            spec.fn.default_image_size
            == spec.default_image_size
            == PUBLISHED[name][0].default_image_size
        )
        assert spec.has_aux_logits


def test_a_broken_module_leaves_the_other_nets_registered(monkeypatch):
    real_import = nets_factory.importlib.import_module

    def import_module(name):
        if name == "slimcls.nets.nasnet.pnasnet":
            raise ImportError("simulated breakage")
        return real_import(name)

    monkeypatch.setattr(nets_factory.importlib, "import_module", import_module)
    assert set(PUBLISHED) <= set(nets_factory.NETWORKS)
    for name in set(PUBLISHED) - {"pnasnet_mobile", "pnasnet_large"}:
        assert nets_factory.get_spec(name).arg_scope() is not None  # their modules load
    spec = nets_factory.get_spec("pnasnet_mobile")
    images = tf.zeros([1, 224, 224, 3])
    for use in (spec.arg_scope, lambda: spec.fn(images, 10)):
        with pytest.raises(
            SlimclsError, match="^model_name 'pnasnet_mobile' is unavailable: .*simulated"
        ):
            use()


def _checkpoint_round_trip(tmp_path, name, num_classes, size, rtol=1e-4):
    """Random TF-Slim-named checkpoint -> graph (Saver, by name) and create_model logits."""
    images = np.random.RandomState(1).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    prefix = str(tmp_path / "model.ckpt-0")
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, images.shape)
        logits, _ = nets_factory.get_network_fn(name, num_classes)(x)
        shapes = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}
    write_checkpoint(prefix, shapes)  # eagerly, outside the graph
    with graph.as_default():
        with tf.compat.v1.Session(graph=graph) as sess:
            tf.compat.v1.train.Saver().restore(sess, prefix)
            graph_logits = sess.run(logits, {x: images})

    model = create_model(name, num_classes)
    model.build_variables(images.shape[1:])
    variables = model.variables_by_name()
    assert set(variables) == set(shapes)
    reader = tf.train.load_checkpoint(prefix)
    for var_name, variable in variables.items():
        variable.assign(reader.get_tensor(var_name))
    eager = model(tf.constant(images), training=False)[0].numpy()
    assert graph_logits.shape == (2, num_classes)
    assert np.std(graph_logits) > 1e-3  # the restored weights matter
    np.testing.assert_allclose(eager, graph_logits, rtol=rtol, atol=rtol)


@pytest.mark.slow
def test_nasnet_cifar_checkpoint_round_trip(tmp_path):
    _checkpoint_round_trip(tmp_path, "nasnet_cifar", 10, 32)


@pytest.mark.slow
def test_inception_v4_checkpoint_round_trip(tmp_path):
    _checkpoint_round_trip(tmp_path, "inception_v4", 7, 107)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["inception_resnet_v2", "pnasnet_mobile", "nasnet_mobile"])
def test_other_checkpoint_round_trips(tmp_path, name):
    _checkpoint_round_trip(tmp_path, name, 5, nets_factory.get_spec(name).min_image_size)


@pytest.mark.slow
def test_nasnet_cifar_trains_in_tf2_with_the_variables_built_for_evaluation():
    """Aux head and drop path create no variable on a training call (TF2 needs that)."""
    model = create_model("nasnet_cifar", 3, weight_decay=1e-4)
    model.build_variables((32, 32, 3))
    names = set(model.variables_by_name())
    assert "aux_11/aux_logits/FC/weights" in names and "global_step" not in names
    step = tf.function(lambda x: model(x, training=True))
    logits, end_points = step(tf.random.uniform([2, 32, 32, 3], -1, 1))
    assert logits.shape == (2, 3) and end_points["AuxLogits"].shape == (2, 3)
    assert set(model.variables_by_name()) == names
    assert model.losses
