"""CifarNet preprocessing (TF-Slim's): pad-and-crop, flip, brightness, contrast, standardise.

Random ops are stateless: the same ``seed`` (a shape-[2] integer tensor) gives the same
image eagerly and inside ``Dataset.map``. Without a seed, a fresh one is drawn.

Unlike TF-Slim's version, ``use_grayscale`` works, 1-channel inputs are accepted (tiled to
RGB unless ``use_grayscale``), and non-square outputs keep height and width apart.
"""

from __future__ import annotations

from slimcls.core.compat import tf
from slimcls.preprocessing.common import split_seed, to_float

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
    channels = image.shape[-1]
    if padding > 0:
        image = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
    # Inputs smaller than the output (after padding) are padded up to it.
    shape = tf.shape(image)
    image = tf.image.pad_to_bounding_box(
        image, 0, 0, tf.maximum(shape[0], output_height), tf.maximum(shape[1], output_width)
    )
    image = tf.image.stateless_random_crop(
        image, [output_height, output_width, channels], seed=crop_seed
    )
    image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    image = tf.image.stateless_random_brightness(image, max_delta=63, seed=bright_seed)
    image = tf.image.stateless_random_contrast(image, lower=0.2, upper=1.8, seed=contrast_seed)
    return tf.image.per_image_standardization(image)


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
