"""Name-based checkpoints: atomic writes, retention, resolution, TF1 interoperability."""

import os
import uuid

import numpy as np
import pytest

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.model import checkpoints


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
    # a killed writer left a temporary bundle (named as save_checkpoint names it, with
    # TensorFlow's own .tempstate file) and a temporary state file, and no state-file entry
    temp = f"model.ckpt-2{checkpoints._TEMP_MARKER}{uuid.uuid4().hex}"
    (tmp_path / f"{temp}.index").write_bytes(b"partial")
    (tmp_path / f"{temp}.data-00000-of-00001.tempstate123").write_bytes(b"partial")
    (tmp_path / f"checkpoint{checkpoints._TEMP_MARKER}{uuid.uuid4().hex}").write_bytes(b"x")
    (tmp_path / "checkpoint").unlink()
    assert checkpoints.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-1")
    checkpoints.save_checkpoint(_tensors(2), str(tmp_path), step=2)
    assert not [n for n in os.listdir(tmp_path) if checkpoints._TEMP_MARKER in n]


def test_cleanup_and_rotation_keep_user_files_that_look_like_ours(tmp_path):
    mine = [
        "meeting_temp_notes.txt",  # matched the old *_temp_* cleanup
        "model.ckpt-1.notes.txt",  # starts like a rotated checkpoint's files
        "model.ckpt-1.slimcls-tmp-notes",
        "model_temp_0123456789abcdef0123456789abcdef.txt",
    ]
    for n in mine:
        (tmp_path / n).write_text("mine")
    for step in (1, 2, 3):
        checkpoints.save_checkpoint(_tensors(step), str(tmp_path), step=step, max_to_keep=1)
    for n in mine:
        assert (tmp_path / n).read_text() == "mine", n
    assert not [n for n in os.listdir(tmp_path) if n.startswith("model.ckpt-1.") and n not in mine]
    assert checkpoints.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-3")


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


# --------------------------------------------------------------------------- damaged bundles


def _flip(prefix, name, step):
    """Flips one bit inside the stored bytes of tensor ``name`` of ``_tensors(step)``."""
    value = np.asarray(_tensors(step)[name])
    path = prefix + ".data-00000-of-00001"
    data = bytearray(open(path, "rb").read())
    at = bytes(data).find(value.tobytes())
    assert at >= 0
    data[at + value.nbytes // 2] ^= 0x04
    open(path, "wb").write(bytes(data))


def _three(tmp_path):
    return [
        checkpoints.save_checkpoint(_tensors(s), str(tmp_path), step=s, max_to_keep=5)
        for s in (1, 2, 3)
    ]


@pytest.mark.parametrize("fault", ["slot_bit_flip", "truncated_data", "no_index", "no_data"])
def test_bad_newest_checkpoint_is_named_and_the_newest_good_one_used(tmp_path, fault, caplog):
    first, second, third = _three(tmp_path)
    data = third + ".data-00000-of-00001"
    if fault == "slot_bit_flip":  # one bit of one optimizer slot: must not pass silently
        _flip(third, "Net/conv1/weights/Momentum", 3)
    elif fault == "truncated_data":
        os.truncate(data, os.path.getsize(data) // 2)
    elif fault == "no_index":
        os.remove(third + ".index")
    else:
        os.remove(data)
    problem = checkpoints.verify(third)
    assert problem and ("index" in problem if fault == "no_index" else "checksum" in problem)
    assert checkpoints.verify(second) is None
    with caplog.at_level("WARNING", logger="slimcls.model.checkpoints"):
        assert checkpoints.resolve_checkpoint(str(tmp_path)) == second
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert third in warning and f"using {second} instead" in warning and "\n" not in warning
    with pytest.raises(SlimclsError) as err:  # named explicitly: an error, in one line
        checkpoints.resolve_checkpoint(third)
    assert third in str(err.value) and "\n" not in str(err.value)


def test_no_readable_checkpoint_is_an_error_not_a_fresh_start(tmp_path):
    for prefix in _three(tmp_path):
        os.truncate(prefix + ".data-00000-of-00001", 10)
    with pytest.raises(SlimclsError, match="no readable checkpoint in") as err:
        checkpoints.latest_good_checkpoint(str(tmp_path))
    assert all(f"model.ckpt-{s} fails its checksum" in str(err.value) for s in (1, 2, 3))


def test_restore_of_a_corrupt_tensor_assigns_nothing(tmp_path):
    prefix = checkpoints.save_checkpoint(_tensors(2), str(tmp_path), step=2)
    _flip(prefix, "Net/conv1/weights/Momentum", 2)
    weights = tf.Variable(np.zeros([3, 3, 1, 2], np.float32))
    slot = tf.Variable(np.zeros([3, 3, 1, 2], np.float32))
    variables = {"Net/conv1/weights": weights, "Net/conv1/weights/Momentum": slot}
    with pytest.raises(SlimclsError, match="fails its checksum .* 'Net/conv1/weights/Momentum'"):
        checkpoints.restore_variables(variables, prefix)
    assert not weights.numpy().any()


def test_a_complete_checkpoint_of_the_same_step_is_not_rewritten(tmp_path):
    """Resaving a step (a resumed run stopped at once) must not overwrite a good bundle in
    place; a corrupt one of that step is replaced."""
    prefix = checkpoints.save_checkpoint(_tensors(4), str(tmp_path), step=4)
    before = os.stat(prefix + ".data-00000-of-00001").st_ino
    checkpoints.save_checkpoint(_tensors(4), str(tmp_path), step=4)
    assert os.stat(prefix + ".data-00000-of-00001").st_ino == before
    _flip(prefix, "Net/conv1/weights", 4)
    checkpoints.save_checkpoint(_tensors(4), str(tmp_path), step=4)
    assert checkpoints.verify(prefix) is None


# --------------------------------------------------------------------------- disk full


def _free(monkeypatch, tmp_path, free):
    import shutil

    from slimcls.core import diskspace

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(diskspace.shutil, "disk_usage", lambda p: usage._replace(free=free))


def test_shortfall_is_reported_before_anything_is_written(tmp_path, monkeypatch):
    checkpoints.save_checkpoint(_tensors(1), str(tmp_path), step=1, max_to_keep=1)
    listing = sorted(os.listdir(tmp_path))
    _free(monkeypatch, tmp_path, 100)
    with pytest.raises(SlimclsError) as err:
        checkpoints.save_checkpoint(_tensors(2), str(tmp_path), step=2, max_to_keep=1)
    needed = checkpoints.expected_bytes(
        [tf.convert_to_tensor(v) for _, v in sorted(_tensors(2).items())], sorted(_tensors(2))
    )
    message = str(err.value)
    assert str(tmp_path) in message and f"({needed} bytes)" in message
    assert "100 bytes free" in message and "\n" not in message
    assert sorted(os.listdir(tmp_path)) == listing  # nothing written, nothing deleted


def test_expected_size_covers_the_written_bundle(tmp_path):
    tensors = {"big": np.zeros([1000, 10], np.float32), "step": np.int64(3)}
    prefix = checkpoints.save_checkpoint(tensors, str(tmp_path), step=3)
    written = sum(os.path.getsize(p) for p in tf.io.gfile.glob(prefix + ".*"))
    names = sorted(tensors)
    expected = checkpoints.expected_bytes([tf.convert_to_tensor(tensors[n]) for n in names], names)
    assert written <= expected < written + 16384


@pytest.mark.parametrize("kind", ["OSError", "tf"])
def test_disk_filling_up_during_the_write_is_one_line_and_leaves_no_temp(
    tmp_path, monkeypatch, kind
):
    first = checkpoints.save_checkpoint(_tensors(1), str(tmp_path), step=1)
    real = tf.raw_ops.SaveV2

    def full(prefix, **kw):  # writes part of the bundle, then the disk is full
        real(prefix=prefix, **kw)
        os.truncate(prefix + ".data-00000-of-00001", 5)
        if kind == "OSError":
            raise OSError(28, "No space left on device")
        raise tf.errors.ResourceExhaustedError(None, None, f"{prefix}; No space left on device")

    monkeypatch.setattr(tf.raw_ops, "SaveV2", full)
    with pytest.raises(SlimclsError) as err:
        checkpoints.save_checkpoint(_tensors(2), str(tmp_path), step=2)
    assert str(tmp_path / "model.ckpt-2") in str(err.value) and "needs" in str(err.value)
    assert sorted(os.listdir(tmp_path)) == [
        "checkpoint",
        "model.ckpt-1.data-00000-of-00001",
        "model.ckpt-1.index",
    ]
    assert checkpoints.latest_good_checkpoint(str(tmp_path)) == first


def test_old_checkpoints_go_first_only_when_the_disk_needs_it(tmp_path, monkeypatch, caplog):
    """Keeping N needs room for N + 1 bundles when there is room; otherwise the ones this save
    would delete anyway go first, never the newest one."""
    for step in (1, 2, 3):
        checkpoints.save_checkpoint(_tensors(step), str(tmp_path), step=step, max_to_keep=3)
    size = sum(os.path.getsize(p) for p in tf.io.gfile.glob(str(tmp_path / "model.ckpt-1.*")))
    needed = checkpoints.expected_bytes(
        [tf.convert_to_tensor(v) for _, v in sorted(_tensors(4).items())], sorted(_tensors(4))
    )
    _free(monkeypatch, tmp_path, needed - size // 2)  # fits once one old bundle is gone
    with caplog.at_level("WARNING", logger="slimcls.model.checkpoints"):
        checkpoints.save_checkpoint(_tensors(4), str(tmp_path), step=4, max_to_keep=3)
    assert "deleting old checkpoint" in caplog.text and "model.ckpt-1" in caplog.text
    assert [checkpoints.step_of(p) for p in checkpoints.all_checkpoints(str(tmp_path))] == [2, 3, 4]
    # max_to_keep=1: the only checkpoint is never deleted first, however short the disk
    only = str(tmp_path / "one")
    monkeypatch.undo()
    checkpoints.save_checkpoint(_tensors(1), only, step=1, max_to_keep=1)
    _free(monkeypatch, tmp_path, needed - size // 2)
    with pytest.raises(SlimclsError, match="no space left"):
        checkpoints.save_checkpoint(_tensors(2), only, step=2, max_to_keep=1)
    assert checkpoints.latest_good_checkpoint(only).endswith("model.ckpt-1")
