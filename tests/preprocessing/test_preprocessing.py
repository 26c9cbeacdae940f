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


def _standardize(images):
    return tf.image.per_image_standardization(tf.constant(images, tf.float32)).numpy()


def _shift_and_flip_candidates(image, padding):
    """Every output the pad-crop + flip can make of ``image`` (before brightness etc.)."""
    h, w = image.shape[:2]
    padded = np.pad(image, [(padding, padding), (padding, padding), (0, 0)])
    out = []
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[dy : dy + h, dx : dx + w]
            out += [((dy, dx, False), crop), ((dy, dx, True), crop[:, ::-1])]
    return out


def test_cifarnet_batched_train_stage_draws_per_image_shift_flip():
    """The batched stage shifts and flips each image on its own; brightness and contrast
    are removed again by standardisation for grey (equal-channel) images, so every output
    must be the standardised version of one pad-crop-flip of its input."""
    from slimcls.preprocessing import cifarnet_preprocessing as cp

    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (16, 12, 12, 1)).astype(np.uint8)
    images = np.repeat(grey, 3, axis=-1)
    stages = cp.batched_preprocess_for_train(12, 12, padding=2)
    per_image = [stages.per_image(tf.constant(im)) for im in images]
    assert not any(bool(cropped) for _, cropped in per_image)
    batch = (tf.stack([im for im, _ in per_image]), tf.stack([c for _, c in per_image]))
    out = stages.per_batch(batch, tf.constant([7, 9], tf.int64)).numpy()
    assert out.shape == (16, 12, 12, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), 0, atol=1e-4)
    chosen = []
    for image, got in zip(images.astype(np.float32), out, strict=True):
        candidates = _shift_and_flip_candidates(image, 2)
        errors = [np.abs(_standardize(c) - got).max() for _, c in candidates]
        best = int(np.argmin(errors))
        assert errors[best] < 1e-3
        chosen.append(candidates[best][0])
    assert len({c[:2] for c in chosen}) > 4  # shifts differ between images
    assert 0 < sum(c[2] for c in chosen) < 16  # some flipped, some not
    again = stages.per_batch(batch, tf.constant([7, 9], tf.int64)).numpy()
    other = stages.per_batch(batch, tf.constant([8, 9], tf.int64)).numpy()
    np.testing.assert_array_equal(out, again)
    assert np.abs(out - other).max() > 0.1


def test_cifarnet_batched_train_stage_crops_other_sizes_per_image():
    """An image that is not the output size gets TF-Slim's pad-and-random-crop in the
    per-image stage and no second shift in the batch stage."""
    from slimcls.preprocessing import cifarnet_preprocessing as cp

    rng = np.random.default_rng(1)
    image = np.repeat(rng.integers(0, 256, (14, 14, 1)).astype(np.uint8), 3, axis=-1)
    stages = cp.batched_preprocess_for_train(8, 8, padding=1)
    cropped_image, cropped = stages.per_image(tf.constant(image))
    assert bool(cropped) and cropped_image.shape == (8, 8, 3)
    padded = np.pad(image.astype(np.float32), [(1, 1), (1, 1), (0, 0)])
    windows = [padded[y : y + 8, x : x + 8] for y in range(9) for x in range(9)]
    assert any(np.array_equal(w, cropped_image.numpy()) for w in windows)
    out = stages.per_batch(
        (cropped_image[tf.newaxis], cropped[tf.newaxis]), tf.constant([1, 2], tf.int64)
    ).numpy()[0]
    flips = [cropped_image.numpy(), cropped_image.numpy()[:, ::-1]]
    assert min(np.abs(_standardize(f) - out).max() for f in flips) < 1e-3


def test_cifarnet_batched_grayscale_matches_per_image_order():
    """use_grayscale: the batch stage converts after the uint8 per-image stage; shift and
    flip commute with the per-pixel conversion, so each output is one standardised
    shift/flip of the image's grey version (1 channel)."""
    from slimcls.preprocessing import cifarnet_preprocessing as cp

    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (6, 10, 10, 3)).astype(np.uint8)
    stages = cp.batched_preprocess_for_train(10, 10, padding=1, use_grayscale=True)
    per_image = [stages.per_image(tf.constant(im)) for im in images]
    assert per_image[0][0].dtype == tf.uint8 and per_image[0][0].shape == (10, 10, 3)
    batch = (tf.stack([im for im, _ in per_image]), tf.stack([c for _, c in per_image]))
    out = stages.per_batch(batch, tf.constant([4, 5], tf.int64)).numpy()
    assert out.shape == (6, 10, 10, 1)
    grey = tf.image.rgb_to_grayscale(tf.constant(images, tf.float32)).numpy()
    for image, got in zip(grey, out, strict=True):
        errors = [
            np.abs(_standardize(c) - got).max() for _, c in _shift_and_flip_candidates(image, 1)
        ]
        assert min(errors) < 1e-3


def test_brightness_before_standardisation_changes_nothing():
    """Why the batched CifarNet stage skips TF-Slim's brightness jitter: adding one value
    to every pixel, before contrast and per-image standardisation, cancels out."""
    rng = np.random.default_rng(4)
    images = tf.constant(rng.uniform(0, 255, (5, 8, 8, 3)), tf.float32)
    for delta in (-63.0, -7.5, 40.0, 62.9):
        for factor in (0.2, 1.0, 1.8):
            with_brightness = tf.image.per_image_standardization(
                tf.image.adjust_contrast(tf.image.adjust_brightness(images, delta), factor)
            )
            without = tf.image.per_image_standardization(tf.image.adjust_contrast(images, factor))
            np.testing.assert_allclose(with_brightness.numpy(), without.numpy(), atol=2e-4)


@pytest.mark.parametrize("channels", [1, 3])
def test_fused_contrast_and_standardisation_equals_tensorflows(channels):
    from slimcls.preprocessing import cifarnet_preprocessing as cp

    rng = np.random.default_rng(channels)
    images = rng.uniform(0, 255, (6, 9, 7, channels)).astype(np.float32)
    images[0] = 17.0  # constant image: the clamped standard deviation
    images[1, ..., 0] = 3.0  # one flat channel
    factors = np.array([0.2, 0.7, 1.0, 1.3, 1.8, 0.45], np.float32)
    ours = cp.contrast_and_standardize(
        tf.constant(images), tf.constant(factors)[:, None, None, None]
    )
    ref = [
        tf.image.per_image_standardization(tf.image.adjust_contrast(image, float(f))).numpy()
        for image, f in zip(images, factors, strict=True)
    ]
    np.testing.assert_allclose(ours.numpy(), np.stack(ref), rtol=1e-4, atol=1e-4)
