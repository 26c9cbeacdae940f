"""Handwriting (HWDB-style) preprocessing: 1 channel, resize, light jitter, range [0, 1].

The options are the HWDB tutorial's: random brightness and contrast in training,
optional random flips (off by default: a flipped character is often another one).
The output is always one channel in [0, 1] (white paper is 1.0), whatever the input's
channel count. Random ops are stateless: the same ``seed`` gives the same image eagerly
and inside ``Dataset.map``.
"""

from __future__ import annotations

from slimcls.core.compat import tf
from slimcls.preprocessing.common import split_seed, to_unit_float


def _to_unit_gray(image: tf.Tensor, output_height: int, output_width: int) -> tf.Tensor:
    image = to_unit_float(image, grayscale=True)
    image = tf.image.resize(image, [output_height, output_width], method="bilinear")
    return tf.clip_by_value(image, 0.0, 1.0)


def preprocess_image(
    image: tf.Tensor,
    output_height: int,
    output_width: int,
    is_training: bool = False,
    use_grayscale: bool = True,
    seed: tf.Tensor | None = None,
    random_flip_left_right: bool = False,
    random_flip_up_down: bool = False,
    max_brightness_delta: float = 0.3,
    contrast_range: tuple[float, float] = (0.8, 1.2),
) -> tf.Tensor:
    """Resizes to the output size; in training adds the tutorial's random jitter.

    Args:
      image: ``[H, W, C]`` image, uint8 (or float in [0, 1]), C = 1 or 3.
      output_height, output_width: output size (64x64 in the HWDB tutorial).
      is_training: apply the random options below.
      use_grayscale: ignored: the output always has one channel.
      seed: shape-[2] integer tensor for the stateless random ops; None draws one.
      random_flip_left_right, random_flip_up_down: random flips in training.
      max_brightness_delta: random brightness shift (0 disables).
      contrast_range: random contrast factor range (None disables).

    Returns:
      ``[output_height, output_width, 1]`` float32 in [0, 1].
    """
    del use_grayscale
    image = _to_unit_gray(image, output_height, output_width)
    if not is_training:
        return image
    seeds = split_seed(seed, 4)
    if random_flip_left_right:
        image = tf.image.stateless_random_flip_left_right(image, seed=seeds[0])
    if random_flip_up_down:
        image = tf.image.stateless_random_flip_up_down(image, seed=seeds[1])
    if max_brightness_delta:
        image = tf.image.stateless_random_brightness(
            image, max_delta=max_brightness_delta, seed=seeds[2]
        )
    if contrast_range:
        image = tf.image.stateless_random_contrast(image, *contrast_range, seed=seeds[3])
    return tf.clip_by_value(image, 0.0, 1.0)
