"""What each record must hold, checked while reading, and the one line naming a bad record.

Three faults pass the TFRecord CRCs and stop ``tf.data`` with an error that names neither
the shard nor the record (or, for labels, do not stop it at all):

* a label outside the net's classes (``tf.one_hot`` turns it into an all-zero target, so
  training would run on silently);
* image bytes that do not decode;
* an image so large that decoding it exhausts the memory (a 144-megapixel PNG decodes to
  432 MB, and preprocessing makes float copies of it).

The input pipeline checks the first and the last in the graph, for training, validation
and evaluation alike: :func:`checked_labels` on every label, :func:`check_image_size` on
every image's header before it is decoded (PNG, JPEG, GIF and BMP headers are read; other
formats are decoded unchecked). When reading then fails, :func:`input_error` reads the
split again in file order to find the first bad record and returns the one-line error
naming its shard and index. Cheap checks (labels, headers) are done first; the search for
bytes that do not decode, which decodes every image up to the bad one, only when the
failure was a decoding one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.datasets import record_format

log = logging.getLogger(__name__)

#: Words in the messages of the in-graph checks, to tell them from other errors.
LABEL_CHECK = "slimcls label check"
SIZE_CHECK = "slimcls image size check"
#: Markers of an error raised while ``tf.data`` produced an element.
_INPUT_MARKERS = ("IteratorGetNext", "user-defined function passed to", LABEL_CHECK, SIZE_CHECK)
_HEAD = 32  # header bytes read by :func:`image_hw`

_FEATURES = {
    record_format.KEY_ENCODED: tf.io.FixedLenFeature((), tf.string, default_value=""),
    record_format.KEY_LABEL: tf.io.FixedLenFeature((), tf.int64, default_value=-1),
}


def checked_labels(labels: tf.Tensor, num_classes: int) -> tf.Tensor:
    """``labels`` (after ``labels_offset``), failing the pipeline when one is outside
    ``0..num_classes-1``."""
    labels = tf.convert_to_tensor(labels)
    valid = tf.reduce_all(tf.logical_and(labels >= 0, labels < num_classes))
    check = tf.debugging.Assert(valid, [LABEL_CHECK, labels], summarize=8)
    with tf.control_dependencies([check]):
        return tf.identity(labels)


def images_hw(encoded: tf.Tensor) -> tf.Tensor:
    """``[N, 2]`` heights and widths (int64) from the headers of ``N`` encoded images,
    without decoding them.

    PNG, GIF and BMP headers are read as bytes, for the whole batch at once; JPEG's with
    ``extract_jpeg_shape`` (image by image, only when the batch holds a JPEG). ``-1`` for
    other formats and for bytes too short to hold a header.
    """
    encoded = tf.reshape(encoded, [-1])
    padded = tf.strings.substr(tf.strings.join([encoded, b"\0" * _HEAD]), 0, _HEAD)
    b = tf.cast(tf.io.decode_raw(padded, tf.uint8), tf.int64)  # [N, _HEAD]

    def word(i, weights):  # bytes i.. as one integer, byte weights in memory order
        return tf.reduce_sum(b[:, i : i + len(weights)] * tf.constant(weights, tf.int64), -1)

    def starts(magic: bytes):
        return tf.reduce_all(tf.equal(b[:, : len(magic)], list(magic)), axis=-1, keepdims=True)

    def bmp_side(i):  # little-endian int32; negative heights are top-down bitmaps
        value = word(i, [1, 1 << 8, 1 << 16, 1 << 24])
        return tf.abs(tf.where(value >= 2**31, value - 2**32, value))

    big_endian, le16 = [1 << 24, 1 << 16, 1 << 8, 1], [1, 1 << 8]
    unknown = tf.fill(tf.shape(b[:, :2]), tf.constant(-1, tf.int64))
    hw = tf.where(
        starts(b"\x89PNG\r\n\x1a\n"),
        tf.stack([word(20, big_endian), word(16, big_endian)], -1),
        tf.where(
            starts(b"GIF8"),
            tf.stack([word(8, le16), word(6, le16)], -1),
            tf.where(starts(b"BM"), tf.stack([bmp_side(22), bmp_side(18)], -1), unknown),
        ),
    )
    jpeg = starts(b"\xff\xd8\xff")

    def jpeg_hw():
        def one(args):
            data, is_jpeg = args
            return tf.cond(
                is_jpeg,
                lambda: tf.cast(tf.image.extract_jpeg_shape(data)[:2], tf.int64),
                lambda: tf.constant([-1, -1], tf.int64),
            )

        return tf.map_fn(
            one, (encoded, jpeg[:, 0]), fn_output_signature=tf.TensorSpec([2], tf.int64)
        )

    return tf.where(jpeg, tf.cond(tf.reduce_any(jpeg), jpeg_hw, lambda: unknown), hw)


def image_hw(encoded: tf.Tensor) -> tf.Tensor:
    """``[height, width]`` (int64) of one encoded image from its header (see
    :func:`images_hw`)."""
    return images_hw(tf.reshape(encoded, [1]))[0]


def check_image_size(encoded: tf.Tensor, max_pixels: int | None) -> tf.Tensor:
    """``encoded`` (one image or a batch), failing the pipeline when a header says more
    than ``max_pixels`` pixels (None: no limit)."""
    if not max_pixels:
        return encoded
    hw = images_hw(encoded)
    pixels = hw[:, 0] * hw[:, 1]
    check = tf.debugging.Assert(
        tf.reduce_all(pixels <= max_pixels), [SIZE_CHECK, tf.reduce_max(pixels)]
    )
    with tf.control_dependencies([check]):
        return tf.identity(encoded)


# --------------------------------------------------------------------------- locating


def is_input_error(error: BaseException) -> bool:
    """Whether ``error`` came out of the input pipeline (decoding or one of our checks)."""
    return isinstance(error, tf.errors.InvalidArgumentError) and any(
        marker in str(error) for marker in _INPUT_MARKERS
    )


def _first_bad_cheap(path, num_classes, labels_offset, max_pixels):
    """``(index, label or None, (h, w) or None)`` of the first record of ``path`` whose
    label or header size is out of bounds, else None."""

    def facts(index, serialized):
        features = tf.io.parse_single_example(serialized, _FEATURES)
        if max_pixels:
            hw = image_hw(features[record_format.KEY_ENCODED])
        else:
            hw = tf.constant([-1, -1], tf.int64)
        return index, features[record_format.KEY_LABEL], hw

    dataset = tf.data.TFRecordDataset(path).enumerate().map(
        facts, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    dataset = dataset.ignore_errors()  # unreadable headers: the decoding search finds them
    for indices, labels, sizes in dataset.batch(1024).as_numpy_iterator():
        for index, label, (h, w) in zip(indices, labels, sizes):
            if num_classes is not None and not 0 <= int(label) - labels_offset < num_classes:
                return int(index), int(label), None
            if max_pixels and int(h) * int(w) > max_pixels:
                return int(index), None, (int(h), int(w))
    return None


def _first_undecodable(path: str, channels: int) -> int | None:
    """Index of the first record of ``path`` whose image does not decode, else None."""

    def decodes(index, serialized):
        encoded = tf.io.parse_single_example(serialized, _FEATURES)[record_format.KEY_ENCODED]
        image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
        return index, tf.shape(image)  # an output: a decode nothing uses would be pruned

    dataset = tf.data.TFRecordDataset(path).enumerate()
    dataset = dataset.map(decodes, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    expected = 0
    for index, _ in dataset.ignore_errors().as_numpy_iterator():
        if index != expected:
            return expected
        expected += 1
    count = sum(1 for _ in tf.data.TFRecordDataset(path))
    return expected if expected < count else None


def _record(path: str, index: int) -> bytes:
    serialized = next(iter(tf.data.TFRecordDataset(path).skip(index).take(1))).numpy()
    example = tf.train.Example.FromString(serialized)
    return example.features.feature[record_format.KEY_ENCODED].bytes_list.value[0]


def _tf_text(error: BaseException) -> str:
    """What a TensorFlow error says went wrong, in one line: for a tf.data failure the
    cause after the iterator's path (``Iterator::Root::...: Unknown image file format``),
    without node names and graph-execution boilerplate."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    for line in lines:
        if "transformation with iterator:" in line:
            cause = line.split("transformation with iterator:", 1)[1]
            return re.sub(r"^\s*Iterator::\S*:\s*", "", cause).strip().rstrip(".")
    skip = ("Graph execution error", "Detected at node", "<stack traces", "[[")
    for line in lines:
        if not line.startswith(skip):
            line = re.sub(r"\{\{[^}]*\}\}\s*", "", line)
            line = re.sub(r"\s*\[Op:[^\]]*\].*$", "", line)
            return line.strip().rstrip(".") or type(error).__name__
    return type(error).__name__


def input_error(
    error: BaseException,
    files: Sequence[str],
    *,
    channels: int,
    num_classes: int | None,
    labels_offset: int = 0,
    max_pixels: int | None = None,
    what: str = "the dataset",
) -> SlimclsError | None:
    """The one-line error for a failure of the input pipeline reading ``files``.

    Returns None when ``error`` did not come from the input (the caller re-raises it).
    Otherwise reads the files again, in order, for the first record that breaks a check:
    a label outside ``labels_offset .. labels_offset + num_classes - 1``, an image above
    ``max_pixels``, and (only for a decoding failure) image bytes that do not decode.
    """
    if not is_input_error(error):
        return None
    ours = LABEL_CHECK in str(error) or SIZE_CHECK in str(error)
    log.info("reading %s failed; finding the record (reads it again from the start)", what)
    for path in files:
        found = _first_bad_cheap(path, num_classes, labels_offset, max_pixels)
        if found is not None:
            index, label, hw = found
            if label is not None:
                return label_error(path, index, label, num_classes, labels_offset)
            return size_error(path, index, hw, max_pixels)
    if not ours:
        for path in files:
            index = _first_undecodable(path, channels)
            if index is not None:
                try:
                    tf.io.decode_image(_record(path, index), channels=channels)
                    problem = _tf_text(error)
                except (tf.errors.OpError, ValueError) as e:
                    problem = _tf_text(e)
                return SlimclsError(
                    f"record {index} of shard {path} holds image bytes that do not decode "
                    f"({problem}); expected a PNG or JPEG image (convert the dataset again)"
                )
    return SlimclsError(
        f"reading {what} failed: {_tf_text(error)}; expected records of decodable images "
        "with labels of the dataset's classes (convert the dataset again)"
    )


def label_error(
    path: str, index: int | None, label: int, num_classes: int, labels_offset: int = 0
) -> SlimclsError:
    """A label outside the classes: the value, the valid range and where."""
    low, high = labels_offset, labels_offset + num_classes - 1
    offset = f", --labels_offset={labels_offset}" if labels_offset else ""
    where = f"record {index} of shard {path}" if index is not None else f"shard {path}"
    return SlimclsError(
        f"{where} has label {label}, outside the valid range {low}..{high} ({num_classes} "
        f"classes{offset}); expected the label of a class in labels.txt (convert the "
        "dataset again, or check --labels_offset)"
    )


def size_error(path: str, index: int, hw: tuple[int, int], max_pixels: int) -> SlimclsError:
    """An image above the pixel limit: its size, the limit and how to get under it."""
    h, w = hw
    return SlimclsError(
        f"record {index} of shard {path} holds a {w}x{h} image ({w * h:,} pixels), above "
        f"--max_image_pixels={max_pixels}; expected smaller images (convert the dataset "
        "again with --max_image_size to downscale them, or raise --max_image_pixels)"
    )


__all__ = [
    "LABEL_CHECK",
    "SIZE_CHECK",
    "check_image_size",
    "checked_labels",
    "image_hw",
    "input_error",
    "is_input_error",
]
