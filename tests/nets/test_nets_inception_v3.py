"""InceptionV3: TF-Slim's variable names and shapes, parameter count, head options."""

import numpy as np
import pytest

from slimcls.core.compat import tf
from slimcls.nets import inception_v3, nets_factory
from tests.nets.tfslim_variables import BASE_CONVS, bn_conv_variables, inception_v3_variables

TF_SLIM_BASE_PARAMS = 21_802_784  # research/slim inception_v3_test: base, without logits


def _build(fn, shape, **kwargs):
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, shape)
        with tf_slim_arg_scope():
            out, end_points = fn(images, **kwargs)
        variables = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}
    return out, end_points, variables


def tf_slim_arg_scope():
    import tf_slim as slim  # after slimcls.core.compat

    return slim.arg_scope(inception_v3.inception_v3_arg_scope())


def _count(variables):
    return sum(int(np.prod(shape)) for shape in variables.values())


def test_table_is_tf_slim_base_parameter_count():
    assert _count(bn_conv_variables(BASE_CONVS)) == TF_SLIM_BASE_PARAMS


def test_variable_names_shapes_and_end_points_at_299():
    logits, end_points, variables = _build(
        inception_v3.inception_v3, [1, 299, 299, 3], num_classes=1001, is_training=False
    )
    assert variables == inception_v3_variables(1001)
    base = {k: v for k, v in variables.items() if "Logits/" not in k}
    assert _count(base) == TF_SLIM_BASE_PARAMS
    assert logits.shape.as_list() == [1, 1001]
    shapes = {k: v.shape.as_list() for k, v in end_points.items()}
    assert shapes["Mixed_7c"] == [1, 8, 8, 2048]
    assert shapes["AvgPool_1a"] == [1, 1, 1, 2048]
    assert shapes["PreLogits"] == [1, 1, 1, 2048]
    assert shapes["AuxLogits"] == [1, 1001]
    assert shapes["Predictions"] == [1, 1001]


@pytest.mark.heavy
def test_feature_mode_with_global_pool_on_a_larger_input():
    features, end_points, variables = _build(
        inception_v3.inception_v3, [2, 331, 347, 3], num_classes=0, global_pool=True
    )
    assert end_points["Mixed_7c"].shape.as_list() == [2, 9, 9, 2048]
    assert features.shape.as_list() == [2, 1, 1, 2048]
    assert end_points["global_pool"] is features
    assert not {"Logits", "AuxLogits", "Predictions"} & set(end_points)
    assert variables == bn_conv_variables(BASE_CONVS)


@pytest.mark.slow
def test_depth_multiplier_and_no_aux_logits():
    logits, end_points, variables = _build(
        inception_v3.inception_v3,
        [1, 331, 331, 3],
        num_classes=3,
        global_pool=True,
        depth_multiplier=0.25,
        create_aux_logits=False,
    )
    assert logits.shape.as_list() == [1, 3]
    assert end_points["Mixed_7c"].shape.as_list()[1:3] == [9, 9]
    assert variables["InceptionV3/Logits/Conv2d_1c_1x1/weights"] == [1, 1, 512, 3]
    assert "AuxLogits" not in end_points


def test_bad_depth_multiplier():
    with pytest.raises(ValueError, match="depth_multiplier"):
        _build(inception_v3.inception_v3, [1, 75, 75, 3], depth_multiplier=0)


def test_factory_defaults():
    spec = nets_factory.NETWORKS["inception_v3"]
    assert spec.default_image_size == 299 == inception_v3.inception_v3.default_image_size
    assert spec.preprocessing == "inception" and spec.background_class
