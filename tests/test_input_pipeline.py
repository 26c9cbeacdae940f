"""Tests for slimcls.input_pipeline on tiny generated datasets."""

import numpy as np
import pytest

from slimcls import input_pipeline
from slimcls.core.compat import tf
from slimcls.datasets import (
    dataset_factory,
    dataset_utils,
    image_codec,
    record_format,
    sharded_output,
)


def _to_float(image):
    return tf.cast(image, tf.float32)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tiny"))
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (11, 4, 4, 3), dtype=np.uint8)
    labels = np.arange(11) % 3 + 1
    dataset_utils.write_dataset_from_arrays(
        d, "tiny", {"train": (images, labels)}, ["bg", "a", "b", "c"], num_shards=3
    )
    return dataset_factory.get_dataset("tiny", "train", d), images, labels


def test_parse_example_eager_and_in_map():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    rec = record_format.encode_record(image_codec.encode_png(image), "png", 2, 3, 5)
    img, label = input_pipeline.parse_example(tf.constant(rec), 3)
    np.testing.assert_array_equal(img.numpy(), image)
    assert label.dtype == tf.int64 and int(label) == 5
    ds = tf.data.Dataset.from_tensors(rec).map(lambda s: input_pipeline.parse_example(s, 1))
    ((gray, _),) = list(ds)
    assert gray.shape == (2, 3, 1) and gray.dtype == tf.uint8


def test_eval_sees_every_record_once_in_order(tiny):
    desc, images, labels = tiny
    ds = input_pipeline.make_dataset(desc, _to_float, 4, is_training=False, labels_offset=1)
    batches = list(ds)
    assert [int(b[0].shape[0]) for b in batches] == [4, 4, 3]  # remainder kept
    got_images = np.concatenate([b[0].numpy() for b in batches])
    got_labels = np.concatenate([b[1].numpy() for b in batches])
    assert got_images.dtype == np.float32
    np.testing.assert_array_equal(got_images, images.astype(np.float32))
    np.testing.assert_array_equal(got_labels, labels - 1)


def test_training_repeats_shuffles_and_drops_remainder(tiny):
    desc, images, labels = tiny
    ds = input_pipeline.make_dataset(desc, _to_float, 4, is_training=True, seed=3)
    assert ds.element_spec[0].shape.as_list() == [4, None, None, 3]
    got = np.concatenate([b[1].numpy() for b in ds.take(11)])  # 44 = 4 epochs of 11
    assert sorted(got.tolist()) == sorted(labels.tolist() * 4)
    assert got[:11].tolist() != labels.tolist()  # shuffled


def test_per_worker_sharding_covers_split_once(tiny):
    desc, _, labels = tiny
    seen = []
    for i in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i)
        ds = input_pipeline.make_dataset(desc, _to_float, 8, False, input_context=ctx)
        seen += np.concatenate([b[1].numpy() for b in ds]).tolist()
    assert sorted(seen) == sorted(labels.tolist())
    # more pipelines than shards: records are split instead of files
    seen = []
    for i in range(4):
        ctx = tf.distribute.InputContext(num_input_pipelines=4, input_pipeline_id=i)
        ds = input_pipeline.make_dataset(desc, _to_float, 8, False, input_context=ctx)
        seen += np.concatenate([b[1].numpy() for b in ds]).tolist()
    assert sorted(seen) == sorted(labels.tolist())


def test_non_local_filesystem_ram():
    """Every path goes through tf.io.gfile: TensorFlow's ram:// filesystem stands in for gs://."""
    d = "ram://slimcls-test/tiny"
    images = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2, 1)
    dataset_utils.write_dataset_from_arrays(d, "ramds", {"test": (images, [0, 1, 0])}, ["x", "y"])
    assert not sharded_output.OutputPlan(d, "ramds", log=lambda m: None).prepare()  # complete
    desc = dataset_factory.get_dataset("ramds", "test", d)
    assert desc.files == ("ram://slimcls-test/tiny/ramds_test_00000-of-00001.tfrecord",)
    ((got, labels),) = list(input_pipeline.make_dataset(desc, _to_float, 3, is_training=False))
    np.testing.assert_array_equal(got.numpy(), images.astype(np.float32))
    assert labels.numpy().tolist() == [0, 1, 0]
