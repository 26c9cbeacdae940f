"""CifarNet preprocessing (TF-Slim's): pad-and-crop, flip, brightness, contrast, standardise.

Random ops are stateless: the same ``seed`` (a shape-[2] integer tensor) gives the same
image eagerly and inside ``Dataset.map``. Without a seed, a fresh one is drawn.

Unlike TF-Slim's version, ``use_grayscale`` works, 1-channel inputs are accepted (tiled to
RGB unless ``use_grayscale``), and non-square outputs keep height and width apart.
"""

from __future__ import annotations

from slimcls.core.compat import tf
from slimcls.preprocessing.common import BatchedPreprocess, new_seed, split_seed, to_float

_PADDING = 4


def preprocess_for_train(
    image: tf.Tensor,
    output_height: int,
    output_width: int,
    padding: int = _PADDING,
    use_grayscale: bool = False,
    seed: tf.Tensor | None = None,
) -> tf.Tensor:
    """Pads by ``padding``, crops to the output size at random, flips, jitters, standardises.

    Args:
      image: ``[H, W, C]`` image, uint8 or float in [0, 255], C = 1 or 3.
      output_height, output_width: output size.
      padding: zero padding added on each side before the random crop.
      use_grayscale: output 1 channel instead of 3.
      seed: shape-[2] integer tensor for the stateless random ops; None draws one.

    Returns:
      ``[output_height, output_width, 1 or 3]`` float32, per-image standardised.
    """
    crop_seed, flip_seed, bright_seed, contrast_seed = split_seed(seed, 4)
    image = to_float(image, use_grayscale)
    image = _pad_and_crop(image, output_height, output_width, padding, crop_seed)
    image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    image = tf.image.stateless_random_brightness(image, max_delta=63, seed=bright_seed)
    image = tf.image.stateless_random_contrast(image, lower=0.2, upper=1.8, seed=contrast_seed)
    return tf.image.per_image_standardization(image)


def _pad_and_crop(image, output_height, output_width, padding, seed):
    """Zero-pads by ``padding`` (and up to the output size), then crops at random."""
    channels = image.shape[-1]
    if padding > 0:
        image = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
    # Inputs smaller than the output (after padding) are padded up to it.
    shape = tf.shape(image)
    image = tf.image.pad_to_bounding_box(
        image, 0, 0, tf.maximum(shape[0], output_height), tf.maximum(shape[1], output_width)
    )
    return tf.image.stateless_random_crop(image, [output_height, output_width, channels], seed=seed)


def batched_preprocess_for_train(
    output_height: int,
    output_width: int,
    padding: int = _PADDING,
    use_grayscale: bool = False,
) -> BatchedPreprocess:
    """:func:`preprocess_for_train` as two stages, the random ops drawn per image as there.

    Per image (uint8 kept, so a cache of its outputs stays small): an image that is not
    already the output size gets the random pad-and-crop right away (its size decides the
    crop range); 1-channel images become 3 unless ``use_grayscale``. Per batch: the
    pad-and-crop of the output-sized images (a random shift of up to ``padding`` pixels:
    padding by ``padding`` and cropping back to the same size) and flip on uint8, then
    float, greyscale, contrast and standardisation, each one op over the batch with
    per-image random values from the same distributions as the per-image ops. Shifting and
    flipping commute with the per-pixel float and greyscale conversions, so the order
    changes nothing. The brightness jitter is left out: the standardisation removes it
    exactly (see ``per_batch``; ``tests/preprocessing/test_preprocessing.py`` checks it).
    """

    def per_image(image):
        if image.shape[-1] == 1 and not use_grayscale:
            image = tf.tile(image, [1, 1, 3])
        channels = image.shape[-1]
        shape = tf.shape(image)
        fits = tf.logical_and(tf.equal(shape[0], output_height), tf.equal(shape[1], output_width))
        image = tf.cond(
            fits,
            lambda: image,
            lambda: _pad_and_crop(image, output_height, output_width, padding, new_seed()),
        )
        image.set_shape([output_height, output_width, channels])
        return image, tf.logical_not(fits)

    def per_batch(batch, seed):
        images, cropped = batch
        crop_seed, flip_seed, _, contrast_seed = split_seed(seed, 4)
        count = tf.shape(images)[0]
        # Shift and flip move uint8 pixels (a quarter of float32's bytes), then float.
        if padding > 0:
            images = _random_shift(images, padding, cropped, crop_seed)
        flip = tf.random.stateless_uniform([count, 1, 1, 1], seed=flip_seed) < 0.5
        images = tf.where(flip, tf.reverse(images, axis=[2]), images)
        images = tf.cast(images, tf.float32)
        if use_grayscale and images.shape[-1] != 1:
            images = tf.image.rgb_to_grayscale(images[..., :3])
        # TF-Slim's brightness jitter (adding one U[-63, 63) value to every pixel) comes
        # next; the standardisation at the end subtracts the image's mean, which takes it
        # out again exactly (the spread is unchanged), so it is skipped here. Random
        # contrast scales each channel about its mean by U[0.2, 1.8).
        factor = tf.random.stateless_uniform([count, 1, 1, 1], contrast_seed, 0.2, 1.8)
        return contrast_and_standardize(images, factor)

    return BatchedPreprocess(per_image, per_batch)


def contrast_and_standardize(images: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """``per_image_standardization(adjust_contrast(images, factor))`` for a batch, with
    one contrast ``factor`` per image (``[B, 1, 1, 1]``), in fewer passes over the pixels.

    Contrast keeps each channel's mean ``m_c`` and scales the deviations ``d = x - m_c`` by
    ``f``; the result's mean is the mean ``M`` of the ``m_c`` and its variance
    ``f^2 mean(d^2) + mean_c((m_c - M)^2)``. So the output is ``d * f / s + (m_c - M) / s``
    with ``s`` TensorFlow's clamped standard deviation ``max(std, 1/sqrt(N))``: one
    reduction for the channel means, one for ``mean(d^2)``, and a multiply-add.
    """
    shape = tf.shape(images)
    pixels = tf.cast(shape[1] * shape[2] * shape[3], tf.float32)
    channel_mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
    deviation = images - channel_mean
    within = tf.reduce_mean(tf.square(deviation), axis=[1, 2, 3], keepdims=True)
    mean = tf.reduce_mean(channel_mean, axis=3, keepdims=True)
    between = tf.reduce_mean(tf.square(channel_mean - mean), axis=3, keepdims=True)
    stddev = tf.sqrt(tf.square(factor) * within + between)
    scale = 1.0 / tf.maximum(stddev, tf.math.rsqrt(pixels))
    return deviation * (factor * scale) + (channel_mean - mean) * scale


def _random_shift(images, padding, keep, seed):
    """Pads a batch by ``padding`` and crops each image back at a random offset in
    ``[0, 2 * padding]`` (rows and columns apart); ``keep`` images get the centre crop
    (themselves). Two batched gathers instead of one crop op per image."""
    height, width = images.shape[1], images.shape[2]
    count = tf.shape(images)[0]
    images = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    offsets = tf.random.stateless_uniform(
        [2, count], seed, minval=0, maxval=2 * padding + 1, dtype=tf.int32
    )
    offsets = tf.where(keep[tf.newaxis], padding, offsets)
    rows = offsets[0][:, tf.newaxis] + tf.range(height)
    cols = offsets[1][:, tf.newaxis] + tf.range(width)
    images = tf.gather(images, rows, axis=1, batch_dims=1)
    return tf.gather(images, cols, axis=2, batch_dims=1)


def preprocess_for_eval(
    image: tf.Tensor, output_height: int, output_width: int, use_grayscale: bool = False
) -> tf.Tensor:
    """Central crop (or zero pad) to the output size, then per-image standardisation."""
    image = to_float(image, use_grayscale)
    image = tf.image.resize_with_crop_or_pad(image, output_height, output_width)
    return tf.image.per_image_standardization(image)


def preprocess_image(
    image: tf.Tensor,
    output_height: int,
    output_width: int,
    is_training: bool = False,
    add_image_summaries: bool = True,
    use_grayscale: bool = False,
    seed: tf.Tensor | None = None,
    **kwargs,
) -> tf.Tensor:
    """TF-Slim's entry point; ``seed`` is used only in training. ``add_image_summaries`` is
    accepted for TF-Slim's callers (the training loop summarises input images)."""
    del add_image_summaries
    if is_training:
        return preprocess_for_train(
            image, output_height, output_width, use_grayscale=use_grayscale, seed=seed, **kwargs
        )
    return preprocess_for_eval(image, output_height, output_width, use_grayscale=use_grayscale)
