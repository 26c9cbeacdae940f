"""Records with valid CRCs but bad content: a label outside the classes, image bytes that do
not decode, an image above --max_image_pixels. Training and evaluation stop with one line
naming the shard and the record (one check in the input pipeline serves both)."""

import io
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from slimcls import config, train
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.datasets import dataset_factory, record_format
from slimcls.inference import evaluate
from slimcls.reader import record_checks
from tests.helpers import save_model_checkpoint, toy_train_config, write_toy_dataset

SIZE = 12


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """40 train / 16 validation toy images (4 classes), 2 shards per split."""
    return write_toy_dataset(tmp_path_factory.mktemp("toy"), num_train=40, num_validation=16)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small_cnn checkpoint for the toy's 4 classes (made without training)."""
    from slimcls.model.modeling import create_model

    model = create_model("small_cnn", 4)
    model.build_variables((SIZE, SIZE, 3))
    train_dir = tmp_path_factory.mktemp("trained") / "run"
    return str(os.path.dirname(save_model_checkpoint(model, train_dir, step=1)))


@pytest.fixture
def dataset(clean, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(clean, copy)
    return str(copy)


def _train_config(dataset_dir, train_dir, **kw):
    return toy_train_config(
        dataset_dir, train_dir, **{"max_number_of_steps": 6, "handle_signals": False, **kw}
    )


def _eval_config(dataset_dir, checkpoint, split="validation", **kw):
    return config.EvalConfig(
        checkpoint_path=checkpoint,
        dataset_dir=dataset_dir,
        dataset_name="toy",
        dataset_split_name=split,
        model_name="small_cnn",
        eval_image_size=SIZE,
        batch_size=4,
        **kw,
    )


def _shard(dataset_dir, split, i=1):
    return dataset_factory.get_dataset("toy", split, dataset_dir).files[i]


def _rewrite(path, index, encoded=None, label=None):
    """Replaces record ``index``'s image bytes or label; the file stays a valid TFRecord."""
    records = [r.numpy() for r in tf.data.TFRecordDataset(path)]
    example = tf.train.Example.FromString(records[index])
    feature = example.features.feature
    if encoded is not None:
        feature[record_format.KEY_ENCODED].bytes_list.value[0] = encoded
    if label is not None:
        feature[record_format.KEY_LABEL].int64_list.value[0] = label
    records[index] = example.SerializeToString()
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)


def _one_line(err):
    message = str(err.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------- labels (#13)


@pytest.mark.train_loop
@pytest.mark.parametrize("label", [7, -1])
def test_out_of_range_label_stops_training_naming_label_range_and_record(dataset, tmp_path, label):
    shard = _shard(dataset, "train")
    _rewrite(shard, 3, label=label)
    with pytest.raises(SlimclsError) as err:
        train.train(_train_config(dataset, tmp_path / "run", max_number_of_steps=20))
    message = _one_line(err)
    assert f"record 3 of shard {shard} has label {label}" in message
    assert "outside the valid range 0..3 (4 classes)" in message


def test_out_of_range_label_in_eval_is_the_same_check(dataset, trained):
    shard = _shard(dataset, "validation", 0)
    _rewrite(shard, 5, label=7)
    with pytest.raises(SlimclsError) as err:
        evaluate.evaluate(_eval_config(dataset, trained))
    assert f"record 5 of shard {shard} has label 7, outside the valid range 0..3" in _one_line(err)


@pytest.mark.train_loop
def test_labels_offset_shifts_the_valid_range(dataset, tmp_path):
    # Label 0 with --labels_offset=1 has no class: valid labels are 1..3 (3 classes).
    with pytest.raises(SlimclsError) as err:
        train.train(_train_config(dataset, tmp_path / "run", labels_offset=1))
    message = _one_line(err)
    assert "has label 0, outside the valid range 1..3 (3 classes, --labels_offset=1)" in message


@pytest.mark.train_loop
def test_bad_validation_label_during_training_names_the_validation_shard(dataset, tmp_path):
    shard = _shard(dataset, "validation", 1)
    _rewrite(shard, 0, label=9)
    cfg = _train_config(
        dataset, tmp_path / "run", validation_split_name="validation", eval_every_n_steps=2
    )
    with pytest.raises(SlimclsError) as err:
        train.train(cfg)
    assert f"record 0 of shard {shard} has label 9" in _one_line(err)


# --------------------------------------------------------------- undecodable images (#12)


@pytest.mark.train_loop
@pytest.mark.parametrize("garbage", [b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_undecodable_image_stops_training_naming_shard_and_record(dataset, tmp_path, garbage):
    shard = _shard(dataset, "train", 0)
    _rewrite(shard, 2, encoded=garbage)
    with pytest.raises(SlimclsError) as err:
        train.train(_train_config(dataset, tmp_path / "run", max_number_of_steps=20))
    message = _one_line(err)
    assert f"record 2 of shard {shard} holds image bytes that do not decode" in message


def test_undecodable_image_in_eval_names_shard_and_record(dataset, trained):
    shard = _shard(dataset, "validation", 1)
    png = io.BytesIO()
    Image.new("RGB", (SIZE, SIZE)).save(png, format="PNG")
    _rewrite(shard, 6, encoded=png.getvalue()[:-30])  # cut short: the header still reads
    with pytest.raises(SlimclsError) as err:
        evaluate.evaluate(_eval_config(dataset, trained))
    assert f"record 6 of shard {shard} holds image bytes that do not decode" in _one_line(err)


# ------------------------------------------------------------- image size (Questionable)


@pytest.mark.train_loop
def test_image_above_max_image_pixels_stops_before_decoding(dataset, tmp_path, trained):
    shard = _shard(dataset, "train", 1)
    big = io.BytesIO()
    Image.new("L", (40, 30)).save(big, format="PNG")
    _rewrite(shard, 4, encoded=big.getvalue())
    with pytest.raises(SlimclsError) as err:
        train.train(
            _train_config(dataset, tmp_path / "run", max_number_of_steps=20, max_image_pixels=1000)
        )
    message = _one_line(err)
    assert f"record 4 of shard {shard} holds a 40x30 image (1,200 pixels)" in message
    assert "above --max_image_pixels=1000" in message and "--max_image_size" in message
    # Eval reads with the same limit.
    with pytest.raises(SlimclsError, match="above --max_image_pixels=100;"):
        evaluate.evaluate(_eval_config(dataset, trained, split="train", max_image_pixels=100))
    # The default limit admits it.
    assert train.train(_train_config(dataset, tmp_path / "ok", max_number_of_steps=2))


def _encode(fmt, width, height, mode="RGB"):
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP"])
def test_image_size_is_read_from_the_header_eagerly_and_in_a_dataset(fmt):
    data = _encode(fmt, 37, 21)
    assert record_checks.image_hw(tf.constant(data)).numpy().tolist() == [21, 37]
    mapped = tf.data.Dataset.from_tensors(data).map(record_checks.image_hw)
    assert next(iter(mapped)).numpy().tolist() == [21, 37]


def test_a_batch_of_mixed_formats_is_measured_at_once():
    batch = [_encode("PNG", 5, 3), _encode("JPEG", 7, 2), b"garbage", _encode("GIF", 4, 9)]
    hw = record_checks.images_hw(tf.constant(batch)).numpy().tolist()
    assert hw == [[3, 5], [2, 7], [-1, -1], [9, 4]]


def test_a_huge_png_header_is_refused_without_decoding():
    # The header of a 12000x12000 PNG (144 megapixels), followed by no image data at all:
    # refused from its header, so it is never decoded.
    png = _encode("PNG", 1, 1)
    header = bytearray(png[:33])
    header[16:24] = np.array([12000, 12000], ">u4").tobytes()
    dataset = tf.data.Dataset.from_tensors(bytes(header)).map(
        lambda e: record_checks.check_image_size(e, 50_000_000)
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match=record_checks.SIZE_CHECK):
        next(iter(dataset))
    ok = tf.data.Dataset.from_tensors(bytes(header)).map(
        lambda e: record_checks.check_image_size(e, 144_000_000)
    )
    assert next(iter(ok)).numpy() == bytes(header)
    assert record_checks.image_hw(tf.constant(b"short")).numpy().tolist() == [-1, -1]
