"""InceptionV3: TF-Slim's variable names and shapes, parameter count, head options."""

import numpy as np
import pytest

from slimcls.core.compat import tf
from slimcls.nets import inception_v3, nets_factory

# InceptionV3's convolutions as TF-Slim's research/slim/nets/inception_v3.py defines them
# (depth_multiplier=1): (scope, kernel height, kernel width, input depth, output depth).
# Every one is a conv2d + batch norm without scale: weights, BatchNorm/{beta, moving_mean,
# moving_variance}. Note TF-Slim's own spellings: Mixed_5c/Branch_1/Conv_1_0c_5x5,
# Mixed_6a/Branch_0/Conv2d_1a_1x1 (a 3x3 kernel), Mixed_7b/Branch_1/Conv2d_0b_3x1.
_STEM = [
    ("Conv2d_1a_3x3", 3, 3, 3, 32),
    ("Conv2d_2a_3x3", 3, 3, 32, 32),
    ("Conv2d_2b_3x3", 3, 3, 32, 64),
    ("Conv2d_3b_1x1", 1, 1, 64, 80),
    ("Conv2d_4a_3x3", 3, 3, 80, 192),
]


def _mixed_5(name, cin, pool_depth, b1=("Conv2d_0a_1x1", "Conv2d_0b_5x5")):
    return [
        (f"{name}/Branch_0/Conv2d_0a_1x1", 1, 1, cin, 64),
        (f"{name}/Branch_1/{b1[0]}", 1, 1, cin, 48),
        (f"{name}/Branch_1/{b1[1]}", 5, 5, 48, 64),
        (f"{name}/Branch_2/Conv2d_0a_1x1", 1, 1, cin, 64),
        (f"{name}/Branch_2/Conv2d_0b_3x3", 3, 3, 64, 96),
        (f"{name}/Branch_2/Conv2d_0c_3x3", 3, 3, 96, 96),
        (f"{name}/Branch_3/Conv2d_0b_1x1", 1, 1, cin, pool_depth),
    ]


def _mixed_6(name, d):
    return [
        (f"{name}/Branch_0/Conv2d_0a_1x1", 1, 1, 768, 192),
        (f"{name}/Branch_1/Conv2d_0a_1x1", 1, 1, 768, d),
        (f"{name}/Branch_1/Conv2d_0b_1x7", 1, 7, d, d),
        (f"{name}/Branch_1/Conv2d_0c_7x1", 7, 1, d, 192),
        (f"{name}/Branch_2/Conv2d_0a_1x1", 1, 1, 768, d),
        (f"{name}/Branch_2/Conv2d_0b_7x1", 7, 1, d, d),
        (f"{name}/Branch_2/Conv2d_0c_1x7", 1, 7, d, d),
        (f"{name}/Branch_2/Conv2d_0d_7x1", 7, 1, d, d),
        (f"{name}/Branch_2/Conv2d_0e_1x7", 1, 7, d, 192),
        (f"{name}/Branch_3/Conv2d_0b_1x1", 1, 1, 768, 192),
    ]


def _mixed_7(name, cin, b1_3x1):
    return [
        (f"{name}/Branch_0/Conv2d_0a_1x1", 1, 1, cin, 320),
        (f"{name}/Branch_1/Conv2d_0a_1x1", 1, 1, cin, 384),
        (f"{name}/Branch_1/Conv2d_0b_1x3", 1, 3, 384, 384),
        (f"{name}/Branch_1/{b1_3x1}", 3, 1, 384, 384),
        (f"{name}/Branch_2/Conv2d_0a_1x1", 1, 1, cin, 448),
        (f"{name}/Branch_2/Conv2d_0b_3x3", 3, 3, 448, 384),
        (f"{name}/Branch_2/Conv2d_0c_1x3", 1, 3, 384, 384),
        (f"{name}/Branch_2/Conv2d_0d_3x1", 3, 1, 384, 384),
        (f"{name}/Branch_3/Conv2d_0b_1x1", 1, 1, cin, 192),
    ]


BASE_CONVS = (
    _STEM
    + _mixed_5("Mixed_5b", 192, 32)
    + _mixed_5("Mixed_5c", 256, 64, b1=("Conv2d_0b_1x1", "Conv_1_0c_5x5"))
    + _mixed_5("Mixed_5d", 288, 64)
    + [
        ("Mixed_6a/Branch_0/Conv2d_1a_1x1", 3, 3, 288, 384),
        ("Mixed_6a/Branch_1/Conv2d_0a_1x1", 1, 1, 288, 64),
        ("Mixed_6a/Branch_1/Conv2d_0b_3x3", 3, 3, 64, 96),
        ("Mixed_6a/Branch_1/Conv2d_1a_1x1", 3, 3, 96, 96),
    ]
    + _mixed_6("Mixed_6b", 128)
    + _mixed_6("Mixed_6c", 160)
    + _mixed_6("Mixed_6d", 160)
    + _mixed_6("Mixed_6e", 192)
    + [
        ("Mixed_7a/Branch_0/Conv2d_0a_1x1", 1, 1, 768, 192),
        ("Mixed_7a/Branch_0/Conv2d_1a_3x3", 3, 3, 192, 320),
        ("Mixed_7a/Branch_1/Conv2d_0a_1x1", 1, 1, 768, 192),
        ("Mixed_7a/Branch_1/Conv2d_0b_1x7", 1, 7, 192, 192),
        ("Mixed_7a/Branch_1/Conv2d_0c_7x1", 7, 1, 192, 192),
        ("Mixed_7a/Branch_1/Conv2d_1a_3x3", 3, 3, 192, 192),
    ]
    + _mixed_7("Mixed_7b", 1280, "Conv2d_0b_3x1")
    + _mixed_7("Mixed_7c", 2048, "Conv2d_0c_3x1")
)
AUX_CONVS = [
    ("AuxLogits/Conv2d_1b_1x1", 1, 1, 768, 128),
    ("AuxLogits/Conv2d_2a_5x5", 5, 5, 128, 768),
]


def _bn_conv_variables(convs):
    variables = {}
    for scope, kh, kw, cin, cout in convs:
        variables[f"InceptionV3/{scope}/weights"] = [kh, kw, cin, cout]
        for name in ("beta", "moving_mean", "moving_variance"):
            variables[f"InceptionV3/{scope}/BatchNorm/{name}"] = [cout]
    return variables


def expected_variables(num_classes=1001):
    """TF-Slim's InceptionV3 variables at 299x299 (names -> shapes)."""
    variables = _bn_conv_variables(BASE_CONVS + AUX_CONVS)
    for scope, cin in (("AuxLogits/Conv2d_2b_1x1", 768), ("Logits/Conv2d_1c_1x1", 2048)):
        variables[f"InceptionV3/{scope}/weights"] = [1, 1, cin, num_classes]
        variables[f"InceptionV3/{scope}/biases"] = [num_classes]
    return variables


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
    assert _count(_bn_conv_variables(BASE_CONVS)) == TF_SLIM_BASE_PARAMS


def test_variable_names_shapes_and_end_points_at_299():
    logits, end_points, variables = _build(
        inception_v3.inception_v3, [1, 299, 299, 3], num_classes=1001, is_training=False
    )
    assert variables == expected_variables(1001)
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
    assert variables == _bn_conv_variables(BASE_CONVS)


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
