"""TensorBoard summaries written with ``tf.summary.write`` and TensorBoard's metadata.

``tf.summary.scalar`` and ``tf.summary.image`` live in the ``tensorboard`` package, which
TensorFlow 2.21 no longer installs. slimcls depends on tensorboard (to view the curves),
but writes the same records itself, so a run also works where only TensorFlow is
installed. Call these inside a ``tf.summary.create_file_writer(...).as_default()`` block.
"""

from __future__ import annotations

from slimcls.core.compat import tf

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
