"""Writes the small converted datasets the training benchmarks read (no downloads).

Usage: python bench/data.py OUT_DIR IMAGE_SIZE NUM_TRAIN [NUM_TEST]
       python bench/data.py --uint8 DATASET_DIR OUT.npz   (the PyTorch peer's input)
       python bench/data.py --shapes OUT_DIR [NUM_TRAIN NUM_VALIDATION]   (learnable set)

Photo-like images (low-frequency colour fields plus noise, from ``bench_convert``), so PNG
decoding costs what it costs on real photos rather than on white noise; 10 classes;
4 shards per split, written by slimcls' own dataset writer (the converters' format).
Run as a child so the measuring parent never imports TensorFlow.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

NUM_CLASSES = 10


def write(out: str, image_size: int, num_train: int, num_test: int = 0) -> str:
    if os.path.exists(os.path.join(out, "dataset.json")):
        return out
    import numpy as np
    from bench_convert import _smooth_images

    from slimcls.datasets import dataset_utils

    rng = np.random.default_rng(0)
    splits = {}
    for split, n in (("train", num_train), ("test", num_test)):
        if n:
            images = _smooth_images(rng, n, image_size, image_size, 3)
            splits[split] = (images, rng.integers(0, NUM_CLASSES, n))
    dataset_utils.write_dataset_from_arrays(
        out, "bench", splits, [f"class_{i}" for i in range(NUM_CLASSES)], num_shards=4
    )
    return out


SHAPES = ("disc", "ring", "square", "frame", "triangle", "hbars", "vbars", "plus", "cross",
          "diamond")  # fmt: skip


def _draw_shape(draw, shape: str, box: tuple[int, int, int, int], colour, width: int) -> None:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if shape == "disc":
        draw.ellipse(box, fill=colour)
    elif shape == "ring":
        draw.ellipse(box, outline=colour, width=width)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    elif shape == "frame":
        draw.rectangle(box, outline=colour, width=width)
    elif shape == "triangle":
        draw.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=colour)
    elif shape == "hbars":
        for y in (y0, y1 - width):
            draw.rectangle((x0, y, x1, y + width - 1), fill=colour)
    elif shape == "vbars":
        for x in (x0, x1 - width):
            draw.rectangle((x, y0, x + width - 1, y1), fill=colour)
    elif shape == "plus":
        draw.line([(cx, y0), (cx, y1)], fill=colour, width=width)
        draw.line([(x0, cy), (x1, cy)], fill=colour, width=width)
    elif shape == "cross":
        draw.line([(x0, y0), (x1, y1)], fill=colour, width=width)
        draw.line([(x0, y1), (x1, y0)], fill=colour, width=width)
    else:  # diamond
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=colour)


def shapes_arrays(rng, n: int, size: int = 32):
    """``n`` images of one of 10 shapes (the label) at a random place, size, stroke and
    colour, over a photo-like background with noise: learnable, not trivially (colour and
    position carry no information about the class)."""
    import numpy as np
    from bench_convert import _smooth_images
    from PIL import Image, ImageDraw

    labels = rng.integers(0, len(SHAPES), n)
    backgrounds = (_smooth_images(rng, n, size, size, 3).astype(np.float32) * 0.6).astype(np.uint8)
    images = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        image = Image.fromarray(backgrounds[i])
        side = int(rng.integers(size * 3 // 8, size * 3 // 4))
        x0, y0 = (int(v) for v in rng.integers(0, size - side, 2))
        colour = tuple(int(v) for v in rng.integers(70, 256, 3))
        width = int(rng.integers(2, max(3, side // 5)))
        _draw_shape(ImageDraw.Draw(image), SHAPES[labels[i]], (x0, y0, x0 + side, y0 + side),
                    colour, width)  # fmt: skip
        noisy = np.asarray(image, np.float32) + rng.normal(0, 20, (size, size, 3))
        images[i] = np.clip(noisy, 0, 255).astype(np.uint8)
    return images, labels


def write_shapes(out: str, num_train: int = 2000, num_validation: int = 500, size: int = 32):
    """A generated, learnable 10-class dataset (``shapes``: train and validation splits),
    written by slimcls' dataset writer. Same seed, same images."""
    if os.path.exists(os.path.join(out, "dataset.json")):
        return out
    import numpy as np

    from slimcls.datasets import dataset_utils

    rng = np.random.default_rng(0)
    splits = {"train": shapes_arrays(rng, num_train, size),
              "validation": shapes_arrays(rng, num_validation, size)}  # fmt: skip
    dataset_utils.write_dataset_from_arrays(out, "shapes", splits, list(SHAPES), num_shards=2)
    return out


def export_uint8(dataset_dir: str, out: str, split: str = "train") -> str:
    """Decodes a split's TFRecord shards into ``out`` (.npz: ``images`` uint8 [N, H, W, C],
    ``labels`` int64 [N]), in shard order; written under a temporary name, then renamed.

    The PyTorch peer trains from this array in memory, as a PyTorch user holds a small
    split (torchvision's CIFAR-10 keeps its uint8 array); it reads what the other sides
    read, with TF-Slim's record keys and no slimcls code.
    """
    if os.path.exists(out):
        return out
    import glob
    import json

    import numpy as np
    import tensorflow as tf

    with open(os.path.join(dataset_dir, "dataset.json"), encoding="utf-8") as f:
        pattern = json.load(f)["file_pattern"] % split
    files = sorted(glob.glob(os.path.join(dataset_dir, pattern)))
    if not files:
        raise SystemExit(f"bench/data.py: no {split} shards matching {pattern} in {dataset_dir}")
    keys = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/class/label": tf.io.FixedLenFeature([], tf.int64),
    }
    images, labels = [], []
    for record in tf.data.TFRecordDataset(files):
        example = tf.io.parse_single_example(record, keys)
        images.append(tf.io.decode_image(example["image/encoded"], channels=3).numpy())
        labels.append(int(example["image/class/label"]))
    partial = f"{out}.partial-{os.getpid()}.npz"
    np.savez(partial, images=np.stack(images), labels=np.asarray(labels, np.int64))
    os.replace(partial, out)
    return out


if __name__ == "__main__":
    if sys.argv[1] == "--uint8":
        export_uint8(sys.argv[2], sys.argv[3])
        sys.exit(0)
    if sys.argv[1] == "--shapes":
        write_shapes(sys.argv[2], *(int(v) for v in sys.argv[3:5]))
        sys.exit(0)
    out, size, n_train = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    n_test = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    write(out, size, n_train, n_test)
