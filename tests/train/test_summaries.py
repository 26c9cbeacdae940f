"""Summaries written without tensorboard read back as TensorBoard scalars and images."""

import io

import numpy as np
from PIL import Image

from slimcls.core.compat import tf
from slimcls.train import summaries


def _events(logdir):
    files = tf.io.gfile.glob(str(logdir / "events.*"))
    assert len(files) == 1
    return [v for e in tf.compat.v1.train.summary_iterator(files[0]) for v in e.summary.value]


def test_scalar_and_images_round_trip(tmp_path):
    imgs = np.zeros([2, 4, 5, 3], np.float32)
    imgs[1] = 1.0
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        summaries.scalar("loss", 0.25, step=3)
        summaries.images("inputs", imgs, step=3)
    values = {v.tag: v for v in _events(tmp_path)}
    assert values["loss"].metadata.plugin_data.plugin_name == "scalars"
    assert tf.make_ndarray(values["loss"].tensor) == np.float32(0.25)
    image = values["inputs"]
    assert image.metadata.plugin_data.plugin_name == "images"
    blobs = tf.make_ndarray(image.tensor)
    assert blobs[:2].tolist() == [b"5", b"4"]  # width, height
    decoded = [np.asarray(Image.open(io.BytesIO(b))) for b in blobs[2:]]
    assert decoded[0].max() == 0 and decoded[1].min() == 255
