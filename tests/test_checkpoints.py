"""Name-based checkpoints: atomic writes, retention, resolution, TF1 interoperability."""

import os

import numpy as np
import pytest

from slimcls import checkpoints
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError


def _tensors(step):
    return {
        "Net/conv1/weights": np.full([3, 3, 1, 2], step, np.float32),
        "Net/conv1/weights/Momentum": np.ones([3, 3, 1, 2], np.float32),
        "global_step": np.int64(step),
    }


def test_save_writes_tf1_bundle_and_state(tmp_path):
    prefix = checkpoints.save_checkpoint(_tensors(7), str(tmp_path), step=7)
    assert prefix == str(tmp_path / "model.ckpt-7")
    assert sorted(os.listdir(tmp_path)) == [
        "checkpoint",
        "model.ckpt-7.data-00000-of-00001",
        "model.ckpt-7.index",
    ]
    assert tf.train.latest_checkpoint(str(tmp_path)) == prefix
    reader = tf.train.load_checkpoint(prefix)
    np.testing.assert_array_equal(
        reader.get_tensor("Net/conv1/weights"), _tensors(7)["Net/conv1/weights"]
    )
    assert checkpoints.global_step_of(prefix) == 7


def test_tf1_graph_mode_saver_restores_our_checkpoint(tmp_path):
    prefix = checkpoints.save_checkpoint(_tensors(3), str(tmp_path), step=3)
    with tf.Graph().as_default():
        w = tf.compat.v1.get_variable("Net/conv1/weights", [3, 3, 1, 2])
        gs = tf.compat.v1.train.get_or_create_global_step()
        saver = tf.compat.v1.train.Saver([w, gs])
        with tf.compat.v1.Session() as sess:
            saver.restore(sess, tf.train.latest_checkpoint(str(tmp_path)))
            assert sess.run(gs) == 3
            np.testing.assert_array_equal(sess.run(w), np.full([3, 3, 1, 2], 3, np.float32))
    assert prefix.endswith("-3")


def test_we_read_a_tf1_saver_checkpoint(tmp_path):
    with tf.Graph().as_default():
        w = tf.compat.v1.get_variable("A/b", initializer=tf.constant([1.0, 2.0]))
        saver = tf.compat.v1.train.Saver([w])
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, str(tmp_path / "model.ckpt"), global_step=12)
    prefix = checkpoints.resolve_checkpoint(str(tmp_path))
    assert prefix.endswith("model.ckpt-12")
    v = tf.Variable([0.0, 0.0])
    assert checkpoints.restore_variables({"A/b": v}, prefix) == ["A/b"]
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])


def test_max_to_keep_and_latest(tmp_path):
    for step in (1, 2, 3, 4):
        checkpoints.save_checkpoint(_tensors(step), str(tmp_path), step=step, max_to_keep=2)
    kept = checkpoints.all_checkpoints(str(tmp_path))
    assert [checkpoints.step_of(p) for p in kept] == [3, 4]
    assert not any(n.startswith("model.ckpt-1.") for n in os.listdir(tmp_path))
    assert checkpoints.latest_checkpoint(str(tmp_path)).endswith("-4")


def test_leftover_temporary_bundle_is_ignored_and_cleaned(tmp_path):
    checkpoints.save_checkpoint(_tensors(1), str(tmp_path), step=1)
    # a killed writer left a temporary bundle and no state-file entry
    (tmp_path / "model.ckpt-2_temp_dead.index").write_bytes(b"partial")
    (tmp_path / "checkpoint").unlink()
    assert checkpoints.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-1")
    checkpoints.save_checkpoint(_tensors(2), str(tmp_path), step=2)
    assert not [n for n in os.listdir(tmp_path) if "_temp_" in n]


def test_resolve_accepts_prefix_index_data_and_dir(tmp_path):
    prefix = checkpoints.save_checkpoint(_tensors(5), str(tmp_path), step=5)
    for path in (prefix, prefix + ".index", prefix + ".data-00000-of-00001", str(tmp_path)):
        assert checkpoints.resolve_checkpoint(path) == prefix


@pytest.mark.parametrize("kind", ["missing", "empty_dir"])
def test_resolve_errors_name_the_path(tmp_path, kind):
    path = str(tmp_path / "nope") if kind == "missing" else str(tmp_path)
    with pytest.raises(SlimclsError, match="--checkpoint_path=") as e:
        checkpoints.resolve_checkpoint(path)
    assert path in str(e.value) and "\n" not in str(e.value)


def test_strict_restore_reports_missing_and_shape_mismatch(tmp_path):
    prefix = checkpoints.save_checkpoint(_tensors(1), str(tmp_path), step=1)
    wrong = tf.Variable(np.zeros([5], np.float32))
    with pytest.raises(SlimclsError, match=r"other shapes .*Net/conv1/weights \[3, 3, 1, 2\]"):
        checkpoints.restore_variables({"Net/conv1/weights": wrong}, prefix)
    with pytest.raises(SlimclsError, match="lacks 1 variable.*Net/logits/weights"):
        checkpoints.restore_variables({"Net/logits/weights": wrong}, prefix)
    np.testing.assert_array_equal(wrong.numpy(), np.zeros([5]))  # nothing assigned


def test_name_map_restores_ema_shadows(tmp_path):
    tensors = {"V": np.float32(1.0), checkpoints.ema_name("V"): np.float32(0.5)}
    prefix = checkpoints.save_checkpoint(tensors, str(tmp_path), step=1)
    v = tf.Variable(0.0)
    checkpoints.restore_variables({"V": v}, prefix, name_map={"V": "V/ExponentialMovingAverage"})
    assert v.numpy() == 0.5
