"""Tests for slimcls.reader.input_pipeline on tiny generated datasets."""

import numpy as np
import pytest

from slimcls.core.compat import tf
from slimcls.datasets import (
    dataset_factory,
    dataset_utils,
    image_codec,
    record_format,
    sharded_output,
)
from slimcls.reader import input_pipeline


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


@pytest.fixture(scope="module")
def striped(tmp_path_factory):
    """Label 0: vertical stripes, label 1: horizontal ones (32x32); shifts and flips keep
    the orientation, so the label of every augmented image can be read back from it."""
    d = str(tmp_path_factory.mktemp("striped"))
    labels = np.arange(24) % 2
    stripes = (np.arange(32) // 2 % 2 * 200 + 20).astype(np.uint8)
    images = np.empty((24, 32, 32, 3), np.uint8)
    for i, label in enumerate(labels):
        grid = np.tile(stripes, (32, 1)) if label == 0 else np.tile(stripes[:, None], (1, 32))
        images[i] = grid[..., None]
    dataset_utils.write_dataset_from_arrays(
        d, "striped", {"train": (images, labels)}, ["v", "h"], num_shards=2
    )
    return dataset_factory.get_dataset("striped", "train", d)


def _orientation(images):
    """0 where rows vary less than columns (vertical stripes), else 1."""
    along_rows = np.abs(np.diff(images, axis=2)).mean(axis=(1, 2, 3))
    along_cols = np.abs(np.diff(images, axis=1)).mean(axis=(1, 2, 3))
    return (along_cols > along_rows).astype(int)


def test_batched_preprocessing_keeps_labels_with_images_and_is_seeded(striped):
    from slimcls.preprocessing import cifarnet_preprocessing as cp

    stages = cp.batched_preprocess_for_train(32, 32)

    def first_batches(seed):
        ds = input_pipeline.make_dataset(striped, stages, 8, is_training=True, seed=seed)
        assert ds.element_spec[0].shape.as_list() == [8, 32, 32, 3]
        return [(x.numpy(), y.numpy()) for x, y in ds.take(6)]

    batches = first_batches(5)
    for images, labels in batches:
        assert images.dtype == np.float32
        np.testing.assert_array_equal(_orientation(images), labels)
    for (a, la), (b, lb) in zip(batches, first_batches(5), strict=True):
        np.testing.assert_array_equal(la, lb)
        np.testing.assert_array_equal(a, b)
    assert any(
        np.abs(a - b).max() > 0.1 for (a, _), (b, _) in zip(batches, first_batches(6), strict=True)
    )


def test_training_uses_the_batched_stage_where_the_style_has_one():
    from slimcls.model import modeling
    from slimcls.preprocessing.common import BatchedPreprocess

    assert isinstance(modeling.plan("cifarnet", 10).train_input_fn(), BatchedPreprocess)
    assert not isinstance(
        modeling.plan("inception_v3", 10, image_size=75).train_input_fn(), BatchedPreprocess
    )


def test_cached_pipeline_decodes_once_and_keeps_labels_with_images(striped):
    """cache=True: every record once per epoch, the same augmentation guarantees, and
    the labels still belong to their images (read back from the stripes' orientation)."""
    from slimcls.preprocessing import cifarnet_preprocessing as cp

    stages = cp.batched_preprocess_for_train(32, 32)
    ds = input_pipeline.make_dataset(striped, stages, 8, is_training=True, seed=2, cache=True)
    assert ds.element_spec[0].shape.as_list() == [8, 32, 32, 3]
    labels = []
    for images, batch_labels in ds.take(9):  # 72 = 3 epochs of 24
        np.testing.assert_array_equal(_orientation(images.numpy()), batch_labels.numpy())
        labels.append(batch_labels.numpy())
    counts = np.bincount(np.concatenate(labels))
    np.testing.assert_array_equal(counts, [36, 36])  # 12 of each label per epoch


def test_cache_needs_the_batched_stage_and_reports_its_size(tiny):
    from slimcls.preprocessing import cifarnet_preprocessing as cp

    desc, _, _ = tiny
    with pytest.raises(ValueError, match="BatchedPreprocess"):
        input_pipeline.make_dataset(desc, _to_float, 4, is_training=True, cache=True)
    stages = cp.batched_preprocess_for_train(32, 32)
    # uint8 32x32x3 image + its bool "already cropped" flag, per example
    assert input_pipeline.cache_bytes(stages, 3, 1000) == 1000 * (32 * 32 * 3 + 1)
    grey = cp.batched_preprocess_for_train(28, 28, use_grayscale=True)
    assert input_pipeline.cache_bytes(grey, 1, 10) == 10 * (28 * 28 + 1)
