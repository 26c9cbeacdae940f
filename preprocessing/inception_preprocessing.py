"""Inception preprocessing (TF-Slim's), the input InceptionV1-V3 and ResNet V2 were trained on.

Train: a random crop that covers at least 10% of the object box (aspect ratio 3/4 to
4/3, 5% to 100% of the area), bilinear resize, random left-right flip, colour distortion
(TF-Slim's fast mode: brightness then saturation), scale to [-1, 1].
Eval: central crop of 87.5% of the image, bilinear resize, scale to [-1, 1].

Random ops are stateless: the same ``seed`` (a shape-[2] integer tensor) gives the same
image eagerly and inside ``Dataset.map``. Resizing uses TF1's bilinear kernel
(``half_pixel_centers=False``), as TF-Slim did, so published checkpoints see the inputs
they were trained on.
"""

from __future__ import annotations

from slimcls.core.compat import tf
from slimcls.preprocessing.common import resize_bilinear_tf1, split_seed, to_unit_float


def _resize(image: tf.Tensor, height: int, width: int) -> tf.Tensor:
    image = resize_bilinear_tf1(image, [height, width])
    image.set_shape([height, width, 3])
    return image


def _to_output(image: tf.Tensor, use_grayscale: bool) -> tf.Tensor:
    """[0, 1] RGB -> 1 channel if ``use_grayscale`` -> [-1, 1]."""
    if use_grayscale:
        image = tf.image.rgb_to_grayscale(image)
    return (image - 0.5) * 2.0


def _distort_color(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """TF-Slim's fast-mode colour distortion of a [0, 1] RGB image, clipped to [0, 1]."""
    bright_seed, saturation_seed = split_seed(seed, 2)
    image = tf.image.stateless_random_brightness(image, max_delta=32.0 / 255.0, seed=bright_seed)
    image = tf.image.stateless_random_saturation(image, 0.5, 1.5, seed=saturation_seed)
    return tf.clip_by_value(image, 0.0, 1.0)


def _distorted_bounding_box_crop(
    image: tf.Tensor,
    bbox: tf.Tensor,
    seed: tf.Tensor,
    min_object_covered: float = 0.1,
    aspect_ratio_range: tuple[float, float] = (0.75, 1.33),
    area_range: tuple[float, float] = (0.05, 1.0),
    max_attempts: int = 100,
) -> tf.Tensor:
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=bbox,
        seed=seed,
        min_object_covered=min_object_covered,
        aspect_ratio_range=aspect_ratio_range,
        area_range=area_range,
        max_attempts=max_attempts,
        use_image_if_no_bounding_boxes=True,
    )
    return tf.slice(image, begin, size)


def preprocess_for_train(
    image: tf.Tensor,
    height: int,
    width: int,
    bbox: tf.Tensor | None = None,
    use_grayscale: bool = False,
    seed: tf.Tensor | None = None,
    random_crop: bool = True,
) -> tf.Tensor:
    """Distorts one image for training.

    Args:
      image: ``[H, W, C]`` image, uint8 (or float in [0, 1]), C = 1 or 3.
      height, width: output size.
      bbox: ``[1, N, 4]`` float boxes (ymin, xmin, ymax, xmax in [0, 1]) around the
        object; None means the whole image.
      use_grayscale: output 1 channel (converted after colour distortion).
      seed: shape-[2] integer tensor for the stateless random ops; None draws one.
      random_crop: False skips the bounding-box crop (resize the whole image).

    Returns:
      ``[height, width, 1 or 3]`` float32 in [-1, 1].
    """
    crop_seed, flip_seed, color_seed = split_seed(seed, 3)
    image = to_unit_float(image, grayscale=False)
    if bbox is None:
        bbox = tf.constant([0.0, 0.0, 1.0, 1.0], tf.float32, [1, 1, 4])
    if random_crop:
        image = _distorted_bounding_box_crop(image, bbox, crop_seed)
    image = _resize(image, height, width)
    image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    image = _distort_color(image, color_seed)
    return _to_output(image, use_grayscale)


def preprocess_for_eval(
    image: tf.Tensor,
    height: int,
    width: int,
    central_fraction: float | None = 0.875,
    use_grayscale: bool = False,
) -> tf.Tensor:
    """Central crop of ``central_fraction``, bilinear resize, scale to [-1, 1]."""
    image = to_unit_float(image, grayscale=False)
    if central_fraction:
        image = tf.image.central_crop(image, central_fraction=central_fraction)
    image = _resize(image, height, width)
    return _to_output(image, use_grayscale)


def preprocess_image(
    image: tf.Tensor,
    output_height: int,
    output_width: int,
    is_training: bool = False,
    bbox: tf.Tensor | None = None,
    fast_mode: bool = True,
    add_image_summaries: bool = True,
    crop_image: bool = True,
    use_grayscale: bool = False,
    seed: tf.Tensor | None = None,
) -> tf.Tensor:
    """TF-Slim's entry point, with TF-Slim's keyword arguments.

    ``crop_image=False`` skips the random bounding-box crop in training and the central
    crop in evaluation, as in TF-Slim. ``fast_mode`` and ``add_image_summaries`` are
    accepted for TF-Slim's callers: the colour distortion always uses the fast ordering
    (TF-Slim's default), and input images are summarised by the training loop instead.
    ``seed`` and ``bbox`` are used only in training.
    """
    del fast_mode, add_image_summaries
    if is_training:
        return preprocess_for_train(
            image,
            output_height,
            output_width,
            bbox=bbox,
            use_grayscale=use_grayscale,
            seed=seed,
            random_crop=crop_image,
        )
    return preprocess_for_eval(
        image,
        output_height,
        output_width,
        central_fraction=0.875 if crop_image else None,
        use_grayscale=use_grayscale,
    )
