"""TensorBoard summaries written with ``tf.summary.write`` and TensorBoard's metadata.

``tf.summary.scalar`` and ``tf.summary.image`` live in the ``tensorboard`` package, which
TensorFlow 2.21 no longer installs. slimcls depends on tensorboard (to view the curves),
but writes the same records itself, so a run also works where only TensorFlow is
installed. Call these inside a ``tf.summary.create_file_writer(...).as_default()`` block.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from slimcls.core import diskspace
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError

# TensorBoard's data classes (tensorflow/core/framework/summary.proto's DataClass).
_DATA_CLASS = tf.compat.v1.SummaryMetadata.DESCRIPTOR.fields_by_name["data_class"].enum_type
DATA_CLASS_SCALAR = _DATA_CLASS.values_by_name["DATA_CLASS_SCALAR"].number
DATA_CLASS_BLOB_SEQUENCE = _DATA_CLASS.values_by_name["DATA_CLASS_BLOB_SEQUENCE"].number


def _summary_metadata(plugin: str, data_class: int):
    return tf.compat.v1.SummaryMetadata(
        plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name=plugin),
        data_class=data_class,
    )


def scalar(name: str, value: float, step: int) -> None:
    """What ``tf.summary.scalar`` writes, without needing the tensorboard package.

    TensorBoard lists a tag under Scalars only when its metadata says
    ``DATA_CLASS_SCALAR`` (with ``DATA_CLASS_TENSOR`` the dashboard stays empty), and the
    value must be a rank-0 float32 tensor.
    """
    tf.summary.write(
        name,
        tf.constant(value, tf.float32),
        step=step,
        metadata=_summary_metadata("scalars", DATA_CLASS_SCALAR),
    )


def images(name: str, images: tf.Tensor, step: int) -> None:
    """``tf.summary.image`` for float images in [0, 1] without the tensorboard package."""
    batch = tf.convert_to_tensor(images)
    if batch.shape[-1] not in (1, 3, 4):
        return
    encoded = tf.map_fn(
        lambda x: tf.io.encode_png(tf.image.convert_image_dtype(x, tf.uint8, saturate=True)),
        batch,
        fn_output_signature=tf.string,
    )
    height, width = tf.shape(batch)[1], tf.shape(batch)[2]
    tensor = tf.concat([tf.strings.as_string([width, height]), encoded], axis=0)
    tf.summary.write(
        name,
        tensor,
        step=step,
        metadata=_summary_metadata("images", DATA_CLASS_BLOB_SEQUENCE),
    )


class SummaryWriter:
    """A ``tf.summary`` file writer whose writes go through the disk-full handling of
    checkpoints and shards, all or nothing.

    A write (a block of :meth:`writing`, flushed at its end) that fails on a full disk is
    the one-line error of :mod:`slimcls.core.diskspace`, and the event files are cut back
    to their size after the last good write (a file this process created in that write is
    removed), so no half-written record is left. Local paths only; URLs are written as
    they are.
    """

    def __init__(self, logdir: str) -> None:
        self.logdir = logdir
        self._sizes = self._event_files()
        with self._guard():
            tf.io.gfile.makedirs(logdir)
            self._writer = tf.summary.create_file_writer(logdir)

    def _event_files(self) -> dict[str, int]:
        if "://" in self.logdir or not os.path.isdir(self.logdir):
            return {}
        sizes = {}
        for name in os.listdir(self.logdir):
            if name.startswith("events.out.tfevents."):
                try:
                    sizes[name] = os.path.getsize(os.path.join(self.logdir, name))
                except OSError:
                    pass
        return sizes

    def _rollback(self) -> None:
        ours = f".{os.getpid()}."  # TensorFlow names its event files ...<host>.<pid>.<n>.v2
        for name, size in self._event_files().items():
            path = os.path.join(self.logdir, name)
            try:
                if name in self._sizes and size > self._sizes[name]:
                    os.truncate(path, self._sizes[name])
                elif name not in self._sizes and ours in name:
                    os.remove(path)
            except OSError:
                pass

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            with diskspace.disk_full_errors(self.logdir):
                yield
        except SlimclsError:
            self._rollback()
            raise
        self._sizes = self._event_files()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """The default summary writer inside the block; flushed at its end."""
        with self._guard():
            with self._writer.as_default():
                yield
            self._writer.flush()

    def flush(self) -> None:
        with self._guard():
            self._writer.flush()
