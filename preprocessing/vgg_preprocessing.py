"""VGG preprocessing (TF-Slim's), the input VGG and ResNet V1 were trained on.

Train: resize so the smaller side is a random length in [256, 512] (aspect preserved),
random crop to the output size, random left-right flip, subtract the ImageNet RGB means.
Eval: resize the smaller side to 256, central crop, subtract the means.
Values stay in the [0, 255] scale (minus the means). Resizing uses TF1's bilinear kernel
(``half_pixel_centers=False``), as TF-Slim did.

Random ops are stateless: the same ``seed`` (a shape-[2] integer tensor) gives the same
image eagerly and inside ``Dataset.map``. With ``use_grayscale`` the output is the
luminance minus the luminance of the means.
"""

from __future__ import annotations

from slimcls.core.compat import tf
from slimcls.preprocessing.common import resize_bilinear_tf1, split_seed, to_float

R_MEAN, G_MEAN, B_MEAN = 123.68, 116.78, 103.94
RESIZE_SIDE_MIN = 256
RESIZE_SIDE_MAX = 512


def _aspect_preserving_resize(image: tf.Tensor, smallest_side: tf.Tensor) -> tf.Tensor:
    """Bilinear resize (TF1 kernel) so that the smaller side becomes ``smallest_side``."""
    smallest_side = tf.cast(smallest_side, tf.float32)
    shape = tf.shape(image)
    height = tf.cast(shape[0], tf.float32)
    width = tf.cast(shape[1], tf.float32)
    scale = smallest_side / tf.minimum(height, width)
    new_height = tf.cast(tf.math.rint(height * scale), tf.int32)
    new_width = tf.cast(tf.math.rint(width * scale), tf.int32)
    return resize_bilinear_tf1(image, [new_height, new_width])


def _subtract_means(image: tf.Tensor) -> tf.Tensor:
    means = tf.constant([R_MEAN, G_MEAN, B_MEAN], tf.float32)
    if image.shape[-1] == 1:
        means = tf.image.rgb_to_grayscale(means[tf.newaxis, tf.newaxis])[0, 0]
    return image - means


def preprocess_for_train(
    image: tf.Tensor,
    output_height: int,
    output_width: int,
    resize_side_min: int = RESIZE_SIDE_MIN,
    resize_side_max: int = RESIZE_SIDE_MAX,
    use_grayscale: bool = False,
    seed: tf.Tensor | None = None,
) -> tf.Tensor:
    """Random scale, random crop, random flip, mean subtraction.

    Args:
      image: ``[H, W, C]`` image, uint8 or float in [0, 255], C = 1 or 3.
      output_height, output_width: output size.
      resize_side_min, resize_side_max: range of the random smaller side.
      use_grayscale: output 1 channel.
      seed: shape-[2] integer tensor for the stateless random ops; None draws one.

    Returns:
      ``[output_height, output_width, 1 or 3]`` float32, mean-subtracted.
    """
    # Outputs larger than the smallest side (where TF-Slim fails) raise the side range.
    resize_side_min = max(resize_side_min, output_height, output_width)
    resize_side_max = max(resize_side_max, resize_side_min)
    side_seed, crop_seed, flip_seed = split_seed(seed, 3)
    image = to_float(image, use_grayscale)
    channels = image.shape[-1]
    side = tf.random.stateless_uniform(
        [], seed=side_seed, minval=resize_side_min, maxval=resize_side_max + 1, dtype=tf.int32
    )
    image = _aspect_preserving_resize(image, side)
    image = tf.image.stateless_random_crop(
        image, [output_height, output_width, channels], seed=crop_seed
    )
    image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    return _subtract_means(image)


def preprocess_for_eval(
    image: tf.Tensor,
    output_height: int,
    output_width: int,
    resize_side: int = RESIZE_SIDE_MIN,
    use_grayscale: bool = False,
) -> tf.Tensor:
    """Smaller side to ``resize_side`` (at least the output size), central crop, means."""
    resize_side = max(resize_side, output_height, output_width)
    image = to_float(image, use_grayscale)
    image = _aspect_preserving_resize(image, resize_side)
    shape = tf.shape(image)
    top = (shape[0] - output_height) // 2
    left = (shape[1] - output_width) // 2
    image = tf.image.crop_to_bounding_box(image, top, left, output_height, output_width)
    return _subtract_means(image)


def preprocess_image(
    image: tf.Tensor,
    output_height: int,
    output_width: int,
    is_training: bool = False,
    use_grayscale: bool = False,
    seed: tf.Tensor | None = None,
    resize_side_min: int = RESIZE_SIDE_MIN,
    resize_side_max: int = RESIZE_SIDE_MAX,
) -> tf.Tensor:
    """TF-Slim's entry point; ``seed`` is used only in training."""
    if is_training:
        return preprocess_for_train(
            image,
            output_height,
            output_width,
            resize_side_min,
            resize_side_max,
            use_grayscale=use_grayscale,
            seed=seed,
        )
    return preprocess_for_eval(
        image, output_height, output_width, resize_side_min, use_grayscale=use_grayscale
    )
