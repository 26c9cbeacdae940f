"""Preprocessing: shapes, channels, ranges, seeds, eager vs Dataset.map, factory errors."""

import numpy as np
import pytest

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.preprocessing import preprocessing_factory

STYLES = sorted(preprocessing_factory.STYLES)
# Styles with no random ops (the same output in training and evaluation).
DETERMINISTIC = {"lenet"}


def _image(height=40, width=36, channels=3, seed=0):
    rng = np.random.RandomState(seed)
    return tf.constant(rng.randint(0, 256, (height, width, channels)).astype("uint8"))


def _expected_channels(name, use_grayscale):
    return 1 if name == "handwriting" or use_grayscale else 3


@pytest.mark.parametrize("is_training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("use_grayscale", [False, True], ids=["rgb_out", "gray_out"])
@pytest.mark.parametrize("in_channels", [3, 1], ids=["rgb_in", "gray_in"])
@pytest.mark.parametrize("name", STYLES)
def test_output_shape_dtype_and_channels(name, in_channels, use_grayscale, is_training):
    fn = preprocessing_factory.get_preprocessing(name, is_training, use_grayscale)
    out = fn(_image(channels=in_channels), 24, 20, seed=tf.constant([1, 2]))
    assert out.dtype == tf.float32
    assert out.shape == (24, 20, _expected_channels(name, use_grayscale))
    assert np.all(np.isfinite(out.numpy()))


@pytest.mark.parametrize("name", STYLES)
def test_unknown_channel_count_inside_dataset_map(name):
    """decode_image(channels=0) gives images whose channel count is known at run time only."""
    png = tf.io.encode_png(_image(channels=1))
    fn = preprocessing_factory.get_preprocessing(name, is_training=True)
    ds = tf.data.Dataset.from_tensors(png).map(
        lambda s: fn(tf.io.decode_image(s, channels=0, expand_animations=False), 16, 16)
    )
    out = next(iter(ds))
    assert out.shape == (16, 16, _expected_channels(name, False))


@pytest.mark.parametrize("is_training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("name", STYLES)
def test_same_result_eagerly_and_in_dataset_map(name, is_training):
    fn = preprocessing_factory.get_preprocessing(name, is_training)
    image = _image()
    seed = tf.constant([7, 11], tf.int64)
    eager = fn(image, 28, 28, seed=seed).numpy()
    ds = tf.data.Dataset.from_tensors((image, seed)).map(lambda x, s: fn(x, 28, 28, seed=s))
    np.testing.assert_allclose(next(iter(ds)).numpy(), eager, atol=1e-5)
    traced = tf.function(lambda x, s: fn(x, 28, 28, seed=s))(image, seed).numpy()
    np.testing.assert_allclose(traced, eager, atol=1e-5)
    if is_training and name not in DETERMINISTIC:  # the seed matters
        other = fn(image, 28, 28, seed=tf.constant([8, 11], tf.int64)).numpy()
        assert not np.allclose(other, eager)


def test_cifarnet_ranges():
    train = preprocessing_factory.get_preprocessing("cifarnet", is_training=True)
    evaluate = preprocessing_factory.get_preprocessing("cifarnet")
    image = _image(32, 32)
    for out in (train(image, 32, 32), evaluate(image, 32, 32)):
        values = out.numpy()
        assert abs(values.mean()) < 1e-3 and abs(values.std() - 1) < 1e-2  # standardised
    # Eval crops the centre (or pads) without resizing.
    small = evaluate(_image(20, 20), 32, 32)
    assert small.shape == (32, 32, 3)


def test_handwriting_range_and_eval_determinism():
    evaluate = preprocessing_factory.get_preprocessing("handwriting")
    white = tf.fill([50, 40, 3], tf.constant(255, tf.uint8))
    np.testing.assert_allclose(evaluate(white, 64, 64).numpy(), 1.0)
    train = preprocessing_factory.get_preprocessing("handwriting", is_training=True)
    out = train(_image(), 64, 64).numpy()
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_array_equal(evaluate(_image(), 64, 64), evaluate(_image(), 64, 64))


def test_unknown_name_lists_choices():
    with pytest.raises(SlimclsError) as err:
        preprocessing_factory.get_preprocessing("lenet5")
    message = str(err.value)
    assert "'lenet5'" in message and "\n" not in message
    assert str(preprocessing_factory.choices()) in message


def test_every_registered_net_name_is_a_preprocessing_name():
    from slimcls.nets import nets_factory

    for name, spec in nets_factory.NETWORKS.items():
        if spec.video:  # i3d, s3dg: TF-Slim has no preprocessing of their name either
            continue
        assert preprocessing_factory.resolve(name) == spec.preprocessing, name
        assert spec.preprocessing in preprocessing_factory.STYLES


@pytest.mark.parametrize("is_training", [False, True], ids=["eval", "train"])
def test_inception_range(is_training):
    fn = preprocessing_factory.get_preprocessing("inception", is_training)
    black = tf.zeros([30, 40, 3], tf.uint8)
    white = tf.fill([30, 40, 3], tf.constant(255, tf.uint8))
    for image in (_image(), black, white):
        out = fn(image, 32, 32).numpy()
        assert out.min() >= -1.0 and out.max() <= 1.0
    if not is_training:
        np.testing.assert_allclose(fn(black, 8, 8).numpy(), -1.0)
        np.testing.assert_allclose(fn(white, 8, 8).numpy(), 1.0)


def test_inception_eval_is_tf_slim_central_crop_and_tf1_bilinear():
    image = _image(64, 64)
    out = preprocessing_factory.get_preprocessing("inception")(image, 56, 56).numpy()
    # central_crop(0.875) of 64 is the middle 56 pixels: resizing 56 -> 56 is the identity.
    expected = (image.numpy()[4:60, 4:60].astype("float32") / 255.0 - 0.5) * 2.0
    np.testing.assert_allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize("is_training", [False, True], ids=["eval", "train"])
def test_vgg_mean_subtraction(is_training):
    fn = preprocessing_factory.get_preprocessing("vgg", is_training)
    gray = tf.fill([300, 260, 3], tf.constant(100, tf.uint8))
    out = fn(gray, 224, 224).numpy()
    assert out.shape == (224, 224, 3)
    np.testing.assert_allclose(out[0, 0], [100 - 123.68, 100 - 116.78, 100 - 103.94], atol=1e-3)
    # Outputs larger than TF-Slim's 256 smallest side still work.
    assert fn(_image(), 288, 300).shape == (288, 300, 3)


def test_tf_slim_keyword_arguments_are_accepted():
    """TF-Slim callers pass fast_mode, add_image_summaries and crop_image."""
    image = tf.constant(np.random.RandomState(0).randint(0, 255, (40, 30, 3)), tf.uint8)
    train = preprocessing_factory.get_preprocessing("inception_v3", is_training=True)
    out = train(image, 16, 16, fast_mode=False, add_image_summaries=False, crop_image=False)
    assert out.shape == (16, 16, 3)
    evaluate = preprocessing_factory.get_preprocessing("inception", is_training=False)
    cropped = evaluate(image, 16, 16, crop_image=True)
    whole = evaluate(image, 16, 16, crop_image=False)
    assert not np.allclose(cropped.numpy(), whole.numpy())  # crop_image=False keeps it all
    cifar = preprocessing_factory.get_preprocessing("cifarnet", is_training=False)
    assert cifar(image, 24, 24, add_image_summaries=False).shape == (24, 24, 3)
