"""Writes the small converted datasets the training benchmarks read (no downloads).

Usage: python bench/data.py OUT_DIR IMAGE_SIZE NUM_TRAIN [NUM_TEST]

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


if __name__ == "__main__":
    out, size, n_train = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    n_test = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    write(out, size, n_train, n_test)
