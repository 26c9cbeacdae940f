"""TF-Slim's video nets I3D and S3D-G: variables, shapes, checkpoints, and the image
commands' refusal of them.

Golden numbers were verified against TF-Slim's own code: a scratch script (outside this
repository) loaded ``research/slim/nets/{i3d_utils,s3dg,i3d}.py`` of tensorflow/models at
0d9ef8d39 under another package name on TensorFlow 2.21 (``slimcls.core.compat`` first,
eager execution disabled), built both implementations in TF1 graphs (default options, and
S3D-G with other gating/temporal start points, ``depth_multiplier=0.5`` and a 5-frame
first kernel; NCDHW as a graph) and found the same variable names and shapes, the same end
points and op names, and every end point equal to the last bit (max |diff| 0) with the same
random weights loaded into both. The counts below are TF-Slim's (Kinetics-400: 400 classes).
"""

import hashlib

import numpy as np
import pytest

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.model import modeling
from slimcls.nets import i3d, i3d_utils, nets_factory, s3dg
from tests.helpers import run_module, stderr_lines
from tests.nets.net_checks import logits_in_graph, write_checkpoint

# The video nets are TF-Slim's Python API only (the commands take image nets), and their
# graphs are large: --full (CI) runs these.
pytestmark = pytest.mark.heavy

# name -> (all variables' elements, trainable ones, number of variables, sha256[:16] of the
# sorted "name:shape" lines), 400 classes.
GOLDEN = {
    "i3d": (12704544, 12689984, 230, "8bd96cdd9c9407cc"),
    "s3dg": (9533408, 9518848, 305, "c29e06db7b132d6d"),
}
VIDEO_NETS = sorted(GOLDEN)


def _build(name, clip_shape, num_classes=400, **kwargs):
    """``name`` from the registry in a fresh graph: ``(graph, input, logits, end_points,
    {var name: shape})``."""
    graph = tf.Graph()
    with graph.as_default():
        clip = tf.compat.v1.placeholder(tf.float32, clip_shape)
        logits, end_points = nets_factory.get_network_fn(name, num_classes)(clip, **kwargs)
        shapes = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}
    return graph, clip, logits, end_points, shapes


def _digest(shapes):
    text = "\n".join(f"{n}:{','.join(map(str, s))}" for n, s in sorted(shapes.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.fixture(scope="module", params=VIDEO_NETS)
def small_clip_net(request):
    """``(name, logits, end_points, shapes)`` of a net built once for a 2 x 8-frame 64x64
    clip and 5 classes (its variables but the classifier's are those at any clip size)."""
    _, _, logits, end_points, shapes = _build(request.param, [2, 8, 64, 64, 3], num_classes=5)
    return request.param, logits, end_points, shapes


def test_golden_parameter_counts_and_variables(small_clip_net):
    name, _, _, shapes = small_clip_net
    shapes = dict(shapes)  # the golden numbers are with Kinetics-400's 400 classes
    shapes["InceptionV1/Logits/Conv2d_0c_1x1/weights"] = [1, 1, 1, 1024, 400]
    shapes["InceptionV1/Logits/Conv2d_0c_1x1/biases"] = [400]
    total = sum(int(np.prod(s)) for s in shapes.values())
    trainable = sum(int(np.prod(s)) for n, s in shapes.items() if "moving_" not in n)
    assert (total, trainable, len(shapes), _digest(shapes)) == GOLDEN[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", VIDEO_NETS)
def test_golden_numbers_at_224_with_400_classes(name):
    *_, shapes = _build(name, [1, 2, 224, 224, 3])
    total = sum(int(np.prod(s)) for s in shapes.values())
    assert (total, len(shapes), _digest(shapes)) == (GOLDEN[name][0], *GOLDEN[name][2:])


def test_registry_records():
    for name in VIDEO_NETS:
        spec = nets_factory.get_spec(name)
        assert spec.video and not spec.has_aux_logits and not spec.background_class
        assert spec.default_image_size == spec.fn.default_image_size == 224
        assert nets_factory.networks_map[name] is spec.fn
        assert nets_factory.get_network_fn(name, 400).default_image_size == 224
    assert i3d.i3d.default_image_size == s3dg.s3dg.default_image_size == 224
    assert [n for n, spec in nets_factory.NETWORKS.items() if spec.video] == ["i3d", "s3dg"]


#: End points for a 2 x 8-frame 64x64 clip: time /2 at Conv2d_1a, MaxPool_4a and
#: MaxPool_5a; space /2 at Conv2d_1a and every max pool.
CLIP_END_POINTS = {
    "Conv2d_1a_7x7": [2, 4, 32, 32, 64],
    "MaxPool_2a_3x3": [2, 4, 16, 16, 64],
    "Conv2d_2b_1x1": [2, 4, 16, 16, 64],
    "Conv2d_2c_3x3": [2, 4, 16, 16, 192],
    "MaxPool_3a_3x3": [2, 4, 8, 8, 192],
    "Mixed_3b": [2, 4, 8, 8, 256],
    "Mixed_3c": [2, 4, 8, 8, 480],
    "MaxPool_4a_3x3": [2, 2, 4, 4, 480],
    "Mixed_4b": [2, 2, 4, 4, 512],
    "Mixed_4c": [2, 2, 4, 4, 512],
    "Mixed_4d": [2, 2, 4, 4, 512],
    "Mixed_4e": [2, 2, 4, 4, 528],
    "Mixed_4f": [2, 2, 4, 4, 832],
    "MaxPool_5a_2x2": [2, 1, 2, 2, 832],
    "Mixed_5b": [2, 1, 2, 2, 832],
    "Mixed_5c": [2, 1, 2, 2, 1024],
    "Logits": [2, 5],
    "Predictions": [2, 5],
}


def test_end_points_on_a_small_clip(small_clip_net):
    name, logits, end_points, shapes = small_clip_net
    assert {k: v.shape.as_list() for k, v in end_points.items()} == CLIP_END_POINTS
    assert list(end_points) == [*s3dg.END_POINTS, "Logits", "Predictions"]
    assert end_points["Logits"] is logits
    assert logits.op.name == "InceptionV1/Logits/SpatialSqueeze"
    assert end_points["Predictions"].op.name.startswith("InceptionV1/Logits/Predictions")
    assert shapes["InceptionV1/Logits/Conv2d_0c_1x1/weights"] == [1, 1, 1, 1024, 5]
    if name == "i3d":  # full 3-D kernels, 7 frames deep at first, no gates
        assert shapes["InceptionV1/Conv2d_1a_7x7/weights"] == [7, 7, 7, 3, 64]
        assert shapes["InceptionV1/Mixed_5c/Branch_1/Conv2d_0b_3x3/weights"] == [3, 3, 3, 192, 384]
        assert not any("temporal" in n or "self_gating" in n for n in shapes)
    else:  # 3-frame first kernel; separable 3x3x3 (spatial + temporal) convs; gates
        assert shapes["InceptionV1/Conv2d_1a_7x7/weights"] == [3, 7, 7, 3, 64]
        branch = "InceptionV1/Mixed_5c/Branch_1/Conv2d_0b_3x3"
        assert shapes[f"{branch}/weights"] == [1, 3, 3, 192, 384]
        assert shapes[f"{branch}/temporal/weights"] == [3, 1, 1, 384, 384]
        assert shapes[f"{branch}/temporal/biases"] == [384]
        gate = f"{branch}/self_gating/transformer_W/weights"
        assert shapes[gate] == [1, 1, 1, 384, 384]
        assert f"{branch}/self_gating/transformer_W/biases" not in shapes
        assert shapes["InceptionV1/Conv2d_2c_3x3/self_gating/transformer_W/weights"] == [
            1,
            1,
            1,
            192,
            192,
        ]


def test_spatial_squeeze_off_keeps_the_1x1_space():
    _, _, logits, _, _ = _build("i3d", [1, 4, 32, 32, 3], num_classes=3, spatial_squeeze=False)
    assert logits.shape.as_list() == [1, 1, 1, 3]


def test_s3dg_base_options():
    graph = tf.Graph()
    with graph.as_default():
        clip = tf.compat.v1.placeholder(tf.float32, [1, 4, 32, 32, 3])
        with pytest.raises(ValueError, match="Unknown final endpoint Mixed_6a"):
            s3dg.s3dg_base(clip, final_endpoint="Mixed_6a")
        with pytest.raises(ValueError, match="1, 3, 5 or 7"):
            s3dg.s3dg_base(clip, first_temporal_kernel_size=2)
        with pytest.raises(ValueError, match="depth_multiplier"):
            s3dg.s3dg_base(clip, depth_multiplier=0)
        net, end_points = s3dg.s3dg_base(
            clip, final_endpoint="Mixed_3b", depth_multiplier=0.5, gating_startat=None
        )
        names = {v.op.name for v in tf.compat.v1.global_variables()}
    assert list(end_points) == list(s3dg.END_POINTS[:6])
    assert net.op.name.startswith("InceptionV1/Mixed_3b")
    assert net.shape.as_list() == [1, 2, 4, 4, 128]  # (64 + 128 + 32 + 32) / 2 channels
    assert not any("self_gating" in n for n in names)
    # Without the arg scope, conv3d_spatiotemporal is not separable (TF-Slim's default).
    assert not any("temporal" in n for n in names)


def test_center_initializer_is_the_identity_in_time():
    kernel = i3d_utils.center_initializer()([3, 1, 1, 4, 4]).numpy()
    expected = np.zeros([3, 1, 1, 4, 4], np.float32)
    expected[1, 0, 0] = np.eye(4)
    np.testing.assert_array_equal(kernel, expected)
    for shape, message in (
        ([2, 1, 1, 4, 4], "odd"),
        ([3, 3, 1, 4, 4], "pointwise"),
        ([3, 1, 1, 4, 5], "channel"),
        ([3, 1, 4, 4], "5-D"),
    ):
        with pytest.raises(ValueError, match=message):
            i3d_utils.center_initializer()(shape)
    with pytest.raises(ValueError, match="float32"):
        i3d_utils.center_initializer()([3, 1, 1, 4, 4], dtype=tf.float16)


def test_reduced_kernel_size_3d():
    graph = tf.Graph()
    with graph.as_default():
        small = tf.compat.v1.placeholder(tf.float32, [1, 1, 4, 9, 8])
        unknown = tf.compat.v1.placeholder(tf.float32, [1, None, 4, 4, 8])
    assert i3d_utils.reduced_kernel_size_3d(small, [2, 7, 7]) == [1, 4, 7]
    assert i3d_utils.reduced_kernel_size_3d(unknown, [2, 7, 7]) == [2, 7, 7]


def test_self_gating_handles_non_square_frames():
    """TF-Slim swaps height and width in the gate (fails unless square); ours does not."""
    graph = tf.Graph()
    with graph.as_default():
        clip = tf.compat.v1.placeholder(tf.float32, [2, 8, 48, 64, 3])
        logits, end_points = nets_factory.get_network_fn("s3dg", 4)(clip)
    assert end_points["Mixed_5c"].shape.as_list() == [2, 1, 2, 2, 1024]
    assert logits.shape.as_list() == [2, 4]


@pytest.mark.parametrize("name", ["i3d", pytest.param("s3dg", marks=pytest.mark.slow)])
def test_checkpoint_round_trip_by_name_in_graph_mode(tmp_path, name):
    """A TF-Slim-named checkpoint restores with a plain Saver; the logits are those of the
    same values loaded directly."""
    graph, clip, logits, _, shapes = _build(name, [2, 2, 16, 16, 3], num_classes=6)
    prefix = str(tmp_path / "model.ckpt-0")
    values = write_checkpoint(prefix, shapes)
    assert set(tf.train.load_checkpoint(prefix).get_variable_to_shape_map()) == set(shapes)
    clips = np.random.RandomState(1).uniform(-1, 1, (2, 2, 16, 16, 3)).astype("float32")
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        variables = tf.compat.v1.global_variables()
        # One run feeding every initializer its value (Variable.load is one run each).
        feeds = {v.initializer.inputs[1]: values[v.op.name] for v in variables}
        sess.run([v.initializer for v in variables], feeds)
        direct = sess.run(logits, {clip: clips})
    restored = logits_in_graph(name, 6, clips, prefix)
    assert restored.shape == (2, 6)
    assert np.std(restored) > 1e-3  # the restored weights matter
    np.testing.assert_array_equal(restored, direct)


@pytest.mark.parametrize("name", VIDEO_NETS)
def test_modeling_refuses_video_nets_in_one_line(tmp_path, name):
    for call in (
        lambda: modeling.plan(name, 10),
        lambda: modeling.create_model(name, 10),
        lambda: modeling.num_classes_in_checkpoint(name, str(tmp_path / "none")),
        lambda: nets_factory.check_takes_images(name),
    ):
        with pytest.raises(SlimclsError) as err:
            call()
        message = str(err.value)
        assert message.startswith(f"model_name {name!r} is a video net"), message
        assert "clips" in message and "not images" in message and "\n" not in message
    nets_factory.check_takes_images("inception_v1")  # image nets pass


def test_train_command_refuses_i3d_with_one_line(tmp_path, dataset_dir):
    train_dir = tmp_path / "run"
    res = run_module(
        "slimcls.train_image_classifier",
        "--model_name=i3d",
        f"--dataset_dir={dataset_dir}",
        f"--train_dir={train_dir}",
        "--max_number_of_steps=1",
    )
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    # The video nets are not --model_name choices: refused when the flags are parsed.
    assert stderr_lines(res)[-1].startswith(
        "train_image_classifier: error: flag --model_name=i3d: "
    )
    assert not train_dir.exists()  # refused before anything was written
