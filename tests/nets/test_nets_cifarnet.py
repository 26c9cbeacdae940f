"""CifarNet and SmallCNN: TF-Slim's names and shapes, end points, feature mode, both runtimes."""

import numpy as np
import pytest

from slimcls.core.compat import tf
from slimcls.model.slim_model import SlimModel
from slimcls.nets import cifarnet, nets_factory, small_cnn
from tests.nets.tfslim_variables import CIFARNET_VARIABLES

CIFARNET_PARAMS = 1_756_426
CIFARNET_END_POINTS = {
    "conv1": [2, 32, 32, 64],
    "pool1": [2, 16, 16, 64],
    "conv2": [2, 16, 16, 64],
    "pool2": [2, 8, 8, 64],
    "Flatten": [2, 4096],
    "fc3": [2, 384],
    "fc4": [2, 192],
    "Logits": [2, 10],
    "Predictions": [2, 10],
}


def _graph_build(fn, shape, **kwargs):
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, shape)
        logits, end_points = fn(images, **kwargs)
        variables = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}
        losses = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)
    return logits, end_points, variables, losses


def test_cifarnet_variables_end_points_and_params_equal_tf_slim():
    fn = nets_factory.get_network_fn("cifarnet", 10, weight_decay=0.004)
    logits, end_points, variables, losses = _graph_build(fn, [2, 32, 32, 3])
    assert variables == CIFARNET_VARIABLES
    assert sum(int(np.prod(s)) for s in variables.values()) == CIFARNET_PARAMS
    assert {k: v.shape.as_list() for k, v in end_points.items()} == CIFARNET_END_POINTS
    assert logits is end_points["Logits"]
    # TF-Slim regularises fc3 and fc4 only (not the convs, not the logits).
    assert sorted(loss.op.name.split("/")[1] for loss in losses) == ["fc3", "fc4"]
    assert fn.default_image_size == 32 == cifarnet.cifarnet.default_image_size


def test_cifarnet_feature_mode_and_grayscale():
    fn = nets_factory.get_network_fn("cifarnet", 0)
    features, end_points, variables, _ = _graph_build(fn, [1, 32, 32, 1])
    assert features.shape.as_list() == [1, 192]
    assert "Logits" not in end_points
    assert "CifarNet/logits/weights" not in variables
    assert variables["CifarNet/conv1/weights"] == [5, 5, 1, 64]


@pytest.mark.parametrize(
    "kwargs, shape, expected",
    [
        ({}, [2, 32, 32, 3], {"SmallCNN/fc3/weights": [8 * 8 * 64, 512]}),
        ({"fc_units": 0}, [2, 64, 64, 1], {"SmallCNN/logits/weights": [16 * 16 * 64, 7]}),
        (
            {"use_batch_norm": True, "fc_units": 32},
            [2, 64, 64, 1],
            {"SmallCNN/conv1/BatchNorm/moving_mean": [32], "SmallCNN/fc3/weights": [16384, 32]},
        ),
    ],
    ids=["rgb32", "gray64_no_fc", "batch_norm"],
)
def test_small_cnn_shapes(kwargs, shape, expected):
    fn = nets_factory.get_network_fn("small_cnn", 7, weight_decay=1e-4)
    logits, end_points, variables, losses = _graph_build(fn, shape, **kwargs)
    assert logits.shape.as_list() == [2, 7]
    assert {"conv1", "pool1", "conv2", "pool2", "Flatten", "Logits", "Predictions"} <= set(
        end_points
    )
    for name, var_shape in expected.items():
        assert variables[name] == var_shape
    assert variables["SmallCNN/conv1/weights"] == [3, 3, shape[-1], 32]
    assert ("SmallCNN/conv1/biases" in variables) != kwargs.get("use_batch_norm", False)
    assert len(losses) == (4 if kwargs.get("fc_units", 512) else 3)


def test_small_cnn_in_slim_model_trains_batch_norm():
    model = SlimModel(
        small_cnn.small_cnn,
        3,
        arg_scope=nets_factory.arg_scope_fn("small_cnn"),
        net_kwargs={"use_batch_norm": True, "fc_units": 16},
    )
    model.build_variables((16, 16, 1))
    mean = model.variables_by_name()["SmallCNN/conv1/BatchNorm/moving_mean"]
    start = mean.numpy().copy()
    images = tf.random.stateless_uniform([2, 16, 16, 1], seed=[1, 2])
    logits, end_points = tf.function(lambda x: model(x, training=True))(images)
    assert logits.shape == (2, 3) and end_points["Predictions"].shape == (2, 3)
    assert not np.allclose(mean.numpy(), start)


def test_cifarnet_same_logits_in_graph_mode_and_slim_model():
    """Same weights -> same logits in a TF1 graph and through the TF2 wrapper."""
    images = np.random.RandomState(0).rand(2, 32, 32, 3).astype("float32")
    model = SlimModel(cifarnet.cifarnet, 10, arg_scope=nets_factory.arg_scope_fn("cifarnet"))
    model.build_variables((32, 32, 3))
    weights = {name: v.numpy() for name, v in model.variables_by_name().items()}
    eager_logits = model(tf.constant(images), training=False)[0].numpy()

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [2, 32, 32, 3])
        logits, _ = nets_factory.get_network_fn("cifarnet", 10)(x)
        assigns = [v.assign(weights[v.op.name]) for v in tf.compat.v1.global_variables()]
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(assigns)
            graph_logits = sess.run(logits, {x: images})
    np.testing.assert_allclose(graph_logits, eager_logits, atol=1e-5)


@pytest.mark.parametrize("depth,radius", [(64, 4), (7, 2), (3, 5)])
def test_lrn_matches_tf_nn_forward_and_gradient(depth, radius):
    """CifarNet's LRN (custom gradient) against ``tf.nn.local_response_normalization``:
    same outputs and same input gradients, for window radii smaller and larger than depth."""
    kwargs = dict(depth_radius=radius, bias=1.0, alpha=0.001 / 9.0, beta=0.75)
    x = tf.random.stateless_normal([2, 5, 4, depth], seed=[1, depth]) * 20.0
    upstream = tf.random.stateless_normal(x.shape, seed=[2, depth])
    results = []
    for fn in (cifarnet.local_response_normalization, tf.nn.local_response_normalization):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = fn(x, **kwargs)
            loss = tf.reduce_sum(out * upstream)
        results.append((out.numpy(), tape.gradient(loss, x).numpy()))
    (ours, ours_grad), (ref, ref_grad) = results
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours_grad, ref_grad, rtol=1e-5, atol=1e-6)
    assert np.abs(ref - x.numpy()).max() > 1e-2  # the normalisation is not a no-op here


def test_lrn_keeps_the_input_dtype_and_computes_in_float32():
    x = tf.random.stateless_normal([1, 3, 3, 16], seed=[3, 4]) * 30.0
    ref = tf.nn.local_response_normalization(x, 4, 1.0, 0.001 / 9.0, 0.75)
    out = cifarnet.local_response_normalization(tf.cast(x, tf.bfloat16))
    assert out.dtype == tf.bfloat16
    # bfloat16 input rounding only (8 bits of mantissa), not bfloat16 arithmetic
    np.testing.assert_allclose(tf.cast(out, tf.float32).numpy(), ref.numpy(), rtol=2e-2)
