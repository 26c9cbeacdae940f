"""docs/deployment.md tells a TF Lite client what to reproduce for each preprocessing style:
the recipes written there, in NumPy, give what the styles' eval preprocessing gives."""

import numpy as np
import pytest

from slimcls.core.compat import tf
from slimcls.preprocessing import preprocessing_factory


def _bilinear_tf1(image, h, w):
    """TF1's resize_bilinear (align_corners=False, half_pixel_centers=False) in NumPy."""
    in_h, in_w = image.shape[:2]
    ys, xs = np.arange(h) * (in_h / h), np.arange(w) * (in_w / w)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, in_h - 1), np.minimum(x0 + 1, in_w - 1)
    dy, dx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = image[y0][:, x0] * (1 - dx) + image[y0][:, x1] * dx
    bottom = image[y1][:, x0] * (1 - dx) + image[y1][:, x1] * dx
    return top * (1 - dy) + bottom * dy


def _inception(image, size):
    x = image / 255.0
    h, w = x.shape[:2]
    top, left = int(h * 0.0625), int(w * 0.0625)
    x = x[top : h - top, left : w - left]
    return (_bilinear_tf1(x, size, size) - 0.5) * 2


def _vgg(image, size):
    x = image.astype(np.float64)
    h, w = x.shape[:2]
    side = max(256, size)
    scale = side / min(h, w)
    x = _bilinear_tf1(x, int(np.rint(h * scale)), int(np.rint(w * scale)))
    top, left = (x.shape[0] - size) // 2, (x.shape[1] - size) // 2
    return x[top : top + size, left : left + size] - [123.68, 116.78, 103.94]


def _crop_or_pad(x, size):
    h, w = x.shape[:2]
    out = np.zeros((size, size, x.shape[2]))
    sh, sw = max(0, (h - size) // 2), max(0, (w - size) // 2)  # crop offsets
    dh, dw = max(0, (size - h) // 2), max(0, (size - w) // 2)  # pad offsets
    ch, cw = min(h, size), min(w, size)
    out[dh : dh + ch, dw : dw + cw] = x[sh : sh + ch, sw : sw + cw]
    return out


def _cifarnet(image, size):
    x = _crop_or_pad(image.astype(np.float64), size)
    return (x - x.mean()) / max(x.std(), 1 / np.sqrt(x.size))


def _lenet(image, size):
    return (_crop_or_pad(image.astype(np.float64), size) - 128) / 128


@pytest.mark.parametrize(
    "style, recipe, shape, size",
    [
        ("inception", _inception, (50, 37), 29),
        ("vgg", _vgg, (40, 60), 224),
        ("cifarnet", _cifarnet, (36, 28), 32),
        ("lenet", _lenet, (30, 25), 28),
    ],
)
def test_the_documented_recipe_is_the_eval_preprocessing(style, recipe, shape, size):
    image = np.random.RandomState(0).randint(0, 256, (*shape, 3)).astype(np.uint8)
    fn = preprocessing_factory.get_preprocessing(style, is_training=False)
    expected = fn(tf.constant(image), size, size).numpy()
    np.testing.assert_allclose(recipe(image, size), expected, atol=2e-4)
