"""Pieces every preprocessing module needs: seeds, channel count, dtype, TF1 resize.

Each preprocessing module keeps its own order of these steps (cast before or after the
channel change, [0, 255] or [0, 1] scale), because published checkpoints saw the inputs
that order gives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from slimcls.core.compat import tf


@dataclasses.dataclass(frozen=True)
class BatchedPreprocess:
    """Training preprocessing in two stages: a little per image, the rest on whole batches.

    Small images (CIFAR's 32x32) cost more in per-image op dispatch than in arithmetic:
    the input pipeline then takes a large share of a 2-core machine from the training step.
    The batched stage runs each augmentation as one op over the batch.

    Attributes:
      per_image: ``fn(uint8 image [H, W, C]) -> tuple of tensors`` with static shapes that
        are the same for every image (so they can be batched).
      per_batch: ``fn(batched tuple, seed) -> float32 images [B, h, w, c]``; ``seed`` is a
        shape-[2] int64 tensor for the stateless random ops, one per batch.
    """

    per_image: Callable[[tf.Tensor], tuple]
    per_batch: Callable[[Any, tf.Tensor], tf.Tensor]


def new_seed() -> tf.Tensor:
    """A random shape-[2] int64 seed for the stateless ops (used when none is given)."""
    return tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)


def split_seed(seed: tf.Tensor | None, num: int) -> list[tf.Tensor]:
    """Splits ``seed`` (None draws one) into ``num`` independent shape-[2] seeds."""
    seed = new_seed() if seed is None else seed
    return tf.unstack(tf.random.experimental.stateless_split(seed, num=num))


def to_channels(image: tf.Tensor, grayscale: bool) -> tf.Tensor:
    """Returns ``image`` with 1 channel (``grayscale``) or 3, whatever its own count.

    Works when the channel count is only known at run time (``decode_image`` with
    ``channels=0``).
    """
    channels = image.shape[-1]
    if channels is None:
        image = tf.cond(
            tf.equal(tf.shape(image)[-1], 1),
            lambda: tf.tile(image, [1, 1, 3]),
            lambda: image[..., :3],
        )
        image.set_shape([None, None, 3])
        channels = 3
    if grayscale and channels != 1:
        return tf.image.rgb_to_grayscale(image[..., :3])
    if not grayscale and channels == 1:
        return tf.tile(image, [1, 1, 3])
    return image


def to_float(image: tf.Tensor, grayscale: bool) -> tf.Tensor:
    """float32 in the input's own scale ([0, 255] for uint8), then 1 or 3 channels."""
    return to_channels(tf.cast(image, tf.float32), grayscale)


def to_unit_float(image: tf.Tensor, grayscale: bool) -> tf.Tensor:
    """1 or 3 channels, then float32 in [0, 1] (uint8 is divided by 255)."""
    return tf.image.convert_image_dtype(to_channels(image, grayscale), tf.float32)


def resize_bilinear_tf1(image: tf.Tensor, size) -> tf.Tensor:
    """Bilinear resize of one ``[H, W, C]`` image with TF1's kernel, as TF-Slim did.

    ``half_pixel_centers=False`` (unlike ``tf.image.resize``), so published checkpoints
    see the inputs they were trained on.
    """
    # The raw op is what tf.compat.v1.image.resize_bilinear runs, minus its deprecation log.
    resized = tf.raw_ops.ResizeBilinear(
        images=image[tf.newaxis],
        size=tf.cast(size, tf.int32),
        align_corners=False,
        half_pixel_centers=False,
    )
    return resized[0]
