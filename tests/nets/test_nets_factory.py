"""The net registry: every registered net's end points and shapes, errors, size checks."""

import pytest

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.nets import nets_factory

# Graph construction of the deepest nets takes 10-30 s on 2 shared cores.
SLOW_TO_BUILD = {"resnet_v1_101", "resnet_v1_152", "resnet_v2_101", "resnet_v2_152"}
SLOW_TO_BUILD |= {"resnet_v1_200", "resnet_v2_200"}  # zoo-a
# zoo-b: every one of these builds for 20 s to minutes (NASNets: over a thousand variables).
SLOW_TO_BUILD |= {
    "inception_v4",
    "inception_resnet_v2",
    "nasnet_cifar",
    "nasnet_mobile",
    "nasnet_large",
    "pnasnet_mobile",
    "pnasnet_large",
}


#: Built in the default tier (one of each family's smallest); the others run with --full.
QUICK_TO_BUILD = {"cifarnet", "small_cnn", "lenet", "inception_v1", "mobilenet_v1_025"}


def _registry_params():
    def marks(name):
        if name in SLOW_TO_BUILD:
            return pytest.mark.slow
        return () if name in QUICK_TO_BUILD else pytest.mark.heavy

    # The video nets (i3d, s3dg) take clips, not images: tests/nets/test_nets_video.py.
    names = sorted(n for n, spec in nets_factory.NETWORKS.items() if not spec.video)
    return [pytest.param(name, marks=marks(name)) for name in names]


def _test_size(spec):
    return max(spec.min_image_size, 32)


@pytest.mark.parametrize("name", _registry_params())
def test_registered_net_end_points_and_shapes(name):
    spec = nets_factory.NETWORKS[name]
    size = _test_size(spec)
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [2, size, size, 3])
        fn = nets_factory.get_network_fn(name, 5, weight_decay=1e-4, is_training=True)
        logits, end_points = fn(images)
        names = [v.op.name for v in tf.compat.v1.global_variables()]
        losses = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)
    assert fn.default_image_size == spec.default_image_size
    assert logits.shape.as_list() == [2, 5]
    assert end_points["Logits"] is logits
    assert end_points["Predictions"].shape.as_list() == [2, 5]
    assert ("AuxLogits" in end_points) == spec.has_aux_logits
    if spec.has_aux_logits:
        assert end_points["AuxLogits"].shape.as_list() == [2, 5]
    assert spec.logits_scopes
    for scope in spec.logits_scopes:
        assert any(n.startswith(scope + "/") for n in names), f"no variables under {scope}"
    assert losses, "weight_decay added no regularisation losses"
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("name", _registry_params())
def test_registered_net_rejects_inputs_below_min_image_size(name):
    spec = nets_factory.NETWORKS[name]
    if spec.min_image_size <= 32:
        pytest.skip("accepts tiny inputs")
    graph = tf.Graph()
    with graph.as_default(), pytest.raises(ValueError):
        images = tf.compat.v1.placeholder(tf.float32, [1, spec.min_image_size - 1] * 2 + [3])
        nets_factory.get_network_fn(name, 5)(images)


def test_registry_records():
    assert set(nets_factory.NETWORKS) == {
        "cifarnet",
        "small_cnn",
        "inception_v1",
        "inception_v2",
        "inception_v3",
        "resnet_v1_50",
        "resnet_v1_101",
        "resnet_v1_152",
        "resnet_v2_50",
        "resnet_v2_101",
        "resnet_v2_152",
        "vgg_16",
        "vgg_19",
        "alexnet_v2",
        # zoo-a
        "lenet",
        *(f"mobilenet_v1{m}" for m in ("", "_075", "_050", "_025")),
        *(f"mobilenet_v2{m}" for m in ("", "_140", "_035")),
        *(f"mobilenet_v3_{s}{m}" for s in ("small", "large") for m in ("", "_minimalistic")),
        "mobilenet_edgetpu",
        "mobilenet_edgetpu_075",
        "vgg_a",
        "overfeat",
        "resnet_v1_200",
        "resnet_v2_200",
    } | {  # zoo-b
        "inception_v4",
        "inception_resnet_v2",
        "nasnet_cifar",
        "nasnet_mobile",
        "nasnet_large",
        "pnasnet_mobile",
        "pnasnet_large",
    } | {"i3d", "s3dg"}  # video
    for name, spec in nets_factory.NETWORKS.items():
        assert spec.min_image_size <= spec.default_image_size, name
        assert spec.fn.default_image_size == spec.default_image_size, name
    assert nets_factory.NETWORKS["inception_v3"].background_class
    assert not nets_factory.NETWORKS["resnet_v1_50"].background_class
    assert nets_factory.NETWORKS["resnet_v2_50"].background_class


def test_unknown_model_name_lists_choices():
    with pytest.raises(SlimclsError) as err:
        nets_factory.get_network_fn("resnet_v3", 10)
    message = str(err.value)
    assert "'resnet_v3'" in message and "\n" not in message
    assert str(sorted(nets_factory.NETWORKS)) in message


def test_check_image_size():
    nets_factory.check_image_size("inception_v3", 75)
    with pytest.raises(SlimclsError, match=r"^--train_image_size=64 is too small for inception_v3"):
        nets_factory.check_image_size("inception_v3", 64)
    with pytest.raises(SlimclsError, match="--eval_image_size=8 .* at least"):
        nets_factory.check_image_size("vgg_16", 8, flag="--eval_image_size")
    with pytest.raises(SlimclsError, match="Unknown model_name"):
        nets_factory.check_image_size("nope", 32)


def test_feature_mode_unsupported_is_a_clear_error():
    graph = tf.Graph()
    with graph.as_default(), pytest.raises(SlimclsError, match="num_classes=0"):
        images = tf.compat.v1.placeholder(tf.float32, [1, 224, 224, 3])
        nets_factory.get_network_fn("vgg_16", 0)(images)


@pytest.mark.heavy  # builds every net twice: --full (CI) runs it
def test_tfslim_api_builds_tfslim_variables_and_slimcls_adds_its_keywords():
    """get_network_fn is TF-Slim's API: NASNet's evaluation graph has no auxiliary head there
    (as in research/slim); slimcls's own wrapper passes always_build_aux_head from the table."""
    from slimcls.model import modeling

    with tf.Graph().as_default():
        images = tf.compat.v1.placeholder(tf.float32, [1, 32, 32, 3])
        nets_factory.get_network_fn("nasnet_cifar", 10, is_training=False)(images)
        names = [v.op.name for v in tf.compat.v1.global_variables()]
    assert names and not any("aux_" in n for n in names)
    model = modeling.create_model("nasnet_cifar", 10)
    model(tf.zeros([1, 32, 32, 3]), training=False)
    assert any("aux_" in v.name for v in model.variables)


def test_net_table_is_the_one_list():
    """Model-name choices and preprocessing aliases come from the table."""
    from slimcls import config
    from slimcls.nets import net_table
    from slimcls.preprocessing import preprocessing_factory

    assert set(nets_factory.NETWORKS) == set(net_table.NETS)
    assert config.MODEL_NAMES == net_table.MODEL_NAMES
    for name, row in net_table.NETS.items():
        if not row.video:
            assert preprocessing_factory.resolve(name) == preprocessing_factory.resolve(
                row.preprocessing
            ), name
