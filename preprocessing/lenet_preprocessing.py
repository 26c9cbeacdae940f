"""LeNet preprocessing (TF-Slim's): central crop or zero pad, then (x - 128) / 128.

No random ops: TF-Slim uses the same preprocessing in training and evaluation. The one
difference from TF-Slim is slimcls's channel contract: 1-channel inputs are tiled to RGB
unless ``use_grayscale`` (TF-Slim kept the input's channel count, so its MNIST
checkpoints expect ``use_grayscale=True``). TF-Slim passed width and height swapped to
the crop; that only matters for non-square outputs, where this module keeps them apart.
"""

from __future__ import annotations

from slimcls.core.compat import tf
from slimcls.preprocessing.common import to_float


def preprocess_image(
    image: tf.Tensor,
    output_height: int,
    output_width: int,
    is_training: bool = False,
    use_grayscale: bool = False,
    **kwargs,
) -> tf.Tensor:
    """TF-Slim's entry point.

    Args:
      image: ``[H, W, C]`` image, uint8 or float in [0, 255], C = 1 or 3.
      output_height, output_width: output size (28x28 for LeNet).
      is_training: unused (the same preprocessing in training and evaluation).
      use_grayscale: output 1 channel instead of 3.
      **kwargs: ignored (e.g. ``seed``: there is nothing random).

    Returns:
      ``[output_height, output_width, 1 or 3]`` float32 in about [-1, 1].
    """
    del is_training, kwargs
    image = to_float(image, use_grayscale)
    image = tf.image.resize_with_crop_or_pad(image, output_height, output_width)
    return (image - 128.0) / 128.0
