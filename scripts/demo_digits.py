"""Writes scikit-learn's bundled handwritten digits as a class-folder image dataset.

The quickstart's real data: 1,797 scanned 8x8 digits (UCI, 10 classes, values 0..16)
ship inside scikit-learn, so nothing is downloaded. Each image is scaled to 0..255,
upscaled (bicubic) to ``--size`` pixels and saved as a grayscale PNG under
``<output_dir>/<digit>/<index>.png``, the layout ``download_and_convert_data
--dataset_name=folder`` converts.

Usage: python scripts/demo_digits.py --output_dir=/tmp/digits_images [--size=32]
(needs scikit-learn: ``pip install -e '.[demo]'`` in this checkout)
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np


def write_digits_folder(
    output_dir: str, size: int = 32, limit: int | None = None
) -> dict[str, int]:
    """Writes the PNG folders; returns ``{class folder: image count}``.

    Args:
      output_dir: created if missing.
      size: output side in pixels.
      limit: write only the first ``limit`` images (tests).

    Raises:
      ImportError: scikit-learn is missing (install the ``demo`` extra).
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    counts: dict[str, int] = {}
    pairs = list(zip(digits.images, digits.target))[:limit]
    for index, (image, label) in enumerate(pairs):
        pixels = np.clip(np.asarray(image) * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
        folder = os.path.join(output_dir, str(int(label)))
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(pixels, "L").resize((size, size), Image.BICUBIC).save(
            os.path.join(folder, f"{index:04d}.png")
        )
        counts[str(int(label))] = counts.get(str(int(label)), 0) + 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", required=True, help="where the class folders go")
    parser.add_argument("--size", type=int, default=32, help="output side in pixels")
    args = parser.parse_args(argv)
    if args.size < 8:
        parser.error(f"--size={args.size} must be at least 8")
    try:
        counts = write_digits_folder(args.output_dir, args.size)
    except ImportError:
        sys.stderr.write(
            "demo_digits: error: needs scikit-learn: pip install scikit-learn "
            "(in this checkout: pip install -e '.[demo]')\n"
        )
        return 1
    total = sum(counts.values())
    print(
        f"wrote {total} digit images ({len(counts)} classes, {args.size}x{args.size} PNG) "
        f"to {args.output_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
