"""The ``tf.data`` reader: a pure function from a dataset descriptor to batches.

No flags and no globals: callers pass the descriptor (``datasets.dataset_factory``), a
preprocessing function of one argument (the decoded uint8 image; bind sizes with
``functools.partial``) and the batch size for this pipeline (per replica when used with
``strategy.distribute_datasets_from_function``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import struct
from collections.abc import Callable

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.core.memory import meminfo_available
from slimcls.datasets import record_format
from slimcls.preprocessing.common import BatchedPreprocess
from slimcls.reader import record_checks

_FEATURES = record_format.parse_features()


def parse_example(
    serialized: tf.Tensor, channels: int, max_pixels: int | None = None
) -> tuple[tf.Tensor, tf.Tensor]:
    """Parses one serialized TF-Slim Example into ``(uint8 image [H, W, channels], label)``.

    ``tf.io.decode_image`` handles both stored formats (PNG and JPEG) and converts grey/RGB
    to ``channels``; ``expand_animations=False`` keeps the result 3-D so shapes are static
    in rank.
    """
    features = tf.io.parse_single_example(serialized, _FEATURES)
    image = decode(features[record_format.KEY_ENCODED], channels, max_pixels)
    return image, features[record_format.KEY_LABEL]


def decode(encoded: tf.Tensor, channels: int, max_pixels: int | None = None) -> tf.Tensor:
    """One stored image (PNG or JPEG bytes) as uint8 ``[H, W, channels]``.

    ``max_pixels``: an image whose header says more pixels fails before it is decoded
    (see :mod:`slimcls.record_checks`); None: no limit.
    """
    encoded = record_checks.check_image_size(encoded, max_pixels)
    image = tf.io.decode_image(encoded, channels=channels, dtype=tf.uint8, expand_animations=False)
    image.set_shape([None, None, channels])
    return image


def parse_batch(
    serialized: tf.Tensor,
    channels: int,
    per_image: Callable[[tf.Tensor], tuple],
    max_pixels: int | None = None,
) -> tuple[tuple, tf.Tensor]:
    """Parses a batch of serialized Examples at once and decodes each image into
    ``per_image``'s fixed-shape outputs: ``(batched per_image outputs, labels [B])``.

    One ``parse_example`` and one in-graph loop per batch instead of a ``tf.data`` map
    call per record: for small images the per-record dispatch cost more than the
    decoding (4x the input throughput on CIFAR-sized images).
    """
    features = tf.io.parse_example(serialized, _FEATURES)
    signature = _output_signature(per_image, channels)
    # Image sizes are checked for the whole batch at once, before any is decoded.
    encoded = record_checks.check_image_size(features[record_format.KEY_ENCODED], max_pixels)
    outputs = tf.map_fn(
        lambda data: per_image(decode(data, channels)),
        encoded,
        fn_output_signature=signature,
    )
    return outputs, features[record_format.KEY_LABEL]


@dataclasses.dataclass(frozen=True)
class PipelineOptions:
    """What the stages of one pipeline share, resolved from :func:`make_dataset`'s arguments.

    Attributes:
      channels: the images' channels (the descriptor's).
      batch_size: examples per batch.
      drop_remainder: drop the last partial batch.
      labels_offset: subtracted from every label.
      num_classes: labels outside ``0..num_classes-1`` fail the pipeline; None: unchecked.
      max_pixels: images whose header says more pixels fail before decoding; None: no limit.
      parallel: ``num_parallel_calls`` of the parse + preprocess map.
      deterministic: keep the order (eval, or training with a seed).
      seed: the shuffle and augmentation seed; None: unseeded.
      input_context: this pipeline's place among the workers' pipelines, or None.
    """

    channels: int
    batch_size: int
    drop_remainder: bool
    labels_offset: int = 0
    num_classes: int | None = None
    max_pixels: int | None = None
    parallel: int = tf.data.AUTOTUNE
    deterministic: bool = True
    seed: int | None = None
    input_context: tf.distribute.InputContext | None = None


def make_dataset(
    descriptor,
    preprocess_fn: Callable[[tf.Tensor], tf.Tensor] | BatchedPreprocess,
    batch_size: int,
    is_training: bool,
    *,
    labels_offset: int = 0,
    shuffle_buffer_size: int = 10000,
    num_readers: int | None = None,
    num_parallel_calls: int | None = None,
    seed: int | None = None,
    input_context: tf.distribute.InputContext | None = None,
    repeat: bool | None = None,
    drop_remainder: bool | None = None,
    cache: bool = False,
    num_classes: int | None = None,
    max_image_pixels: int | None = None,
) -> tf.data.Dataset:
    """Builds the input pipeline of one split.

    Args:
      descriptor: a ``datasets.dataset_factory.DatasetDescriptor``.
      preprocess_fn: maps one decoded uint8 image ``[H, W, C]`` to a float32 image of the
        network's size (the same for every image, so batches can be formed); or a
        ``BatchedPreprocess``, whose per-batch stage runs after batching with one seed per
        batch (drawn from ``seed`` when given).
      batch_size: per pipeline (per replica under a distribution strategy).
      is_training: shuffle, repeat, drop the last partial batch and allow non-deterministic
        order for speed. In eval mode every record is read exactly once, in file order.
      labels_offset: subtracted from every label (TF-Slim's flag).
      shuffle_buffer_size: records in the shuffle buffer (training only).
      num_readers: shards read in parallel in training; None = min(#shards, 8).
      num_parallel_calls: parallelism of parse + decode + preprocess; None = AUTOTUNE.
      seed: shuffle seed; with one, training order is deterministic too (reproducible).
      input_context: from ``distribute_datasets_from_function``; each pipeline reads its
        own shards (records when there are fewer shards than pipelines).
      repeat, drop_remainder: None = ``is_training``.
      cache: with a ``BatchedPreprocess``: keep its per-image outputs (decoded, uint8) in
        memory after the first pass (see :func:`cache_bytes`).
      num_classes: a label (after ``labels_offset``) outside ``0..num_classes-1`` fails the
        pipeline (``record_checks.input_error`` names it); None: unchecked.
      max_image_pixels: an image whose header says more pixels fails before it is decoded.

    Returns:
      A dataset of ``(images float32 [B, H, W, C], labels int64 [B])``.
    """
    batched = preprocess_fn if isinstance(preprocess_fn, BatchedPreprocess) else None
    if cache and batched is None:
        raise ValueError("cache=True needs a BatchedPreprocess (fixed-size per-image outputs)")
    options = PipelineOptions(
        channels=int(descriptor.channels),
        batch_size=batch_size,
        drop_remainder=is_training if drop_remainder is None else drop_remainder,
        labels_offset=labels_offset,
        num_classes=num_classes,
        max_pixels=max_image_pixels,
        parallel=tf.data.AUTOTUNE if num_parallel_calls is None else num_parallel_calls,
        deterministic=(not is_training) or seed is not None,
        seed=seed,
        input_context=input_context,
    )
    dataset = _records(list(descriptor.files), is_training, num_readers, options)
    if cache:  # decode once: records -> per-image stage -> cache; then shuffle decoded images
        dataset = _map(dataset, lambda s: _parse_one(s, batched.per_image, options), options)
        dataset = dataset.cache()
    if is_training and shuffle_buffer_size > 1:
        dataset = dataset.shuffle(shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True)
    if repeat or (repeat is None and is_training):
        dataset = dataset.repeat()
    if batched is not None:
        dataset = _batched_tail(dataset, batched, options, parsed=cache)
    else:
        dataset = _per_image_tail(dataset, preprocess_fn, options)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _records(
    files: list[str], is_training: bool, num_readers: int | None, options: PipelineOptions
) -> tf.data.Dataset:
    """File names -> this pipeline's serialized records.

    Why the pipeline's order is what it is:
    1. Shard per worker first, on file names: each worker then opens only its own files and
       no record is read twice across workers (records when files are too few).
    2. Interleave several shards in parallel so reading is not one file at a time and a
       shuffle buffer sees records of several shards (training). Eval reads files in order.
    3. Shuffle serialized records (small strings, not decoded images) so a large buffer is
       cheap; shuffling before repeat keeps epoch boundaries: every record once per epoch.
    4. Repeat before the expensive map so decoding runs as one continuous stream across
       epochs, without a pipeline drain at each epoch end.
    5. Parse + decode + preprocess in parallel (AUTOTUNE), then batch (vectorised, after
       per-image work that produces equal shapes), then prefetch to overlap with the step.
    """
    dataset = tf.data.Dataset.from_tensor_slices(files)
    context = options.input_context
    pipelines = context.num_input_pipelines if context is not None else 1
    shard_records = pipelines > 1 and len(files) < pipelines
    if pipelines > 1 and not shard_records:
        dataset = dataset.shard(pipelines, context.input_pipeline_id)
    if is_training:
        dataset = dataset.shuffle(len(files), seed=options.seed, reshuffle_each_iteration=True)
        dataset = dataset.interleave(
            tf.data.TFRecordDataset,
            cycle_length=max(1, num_readers or min(len(files), 8)),
            block_length=1,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=options.deterministic,
        )
    else:
        # cycle_length=1: file after file, records in the order they were written.
        dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=1)
    if shard_records:
        dataset = dataset.shard(pipelines, context.input_pipeline_id)
    return dataset


def _map(dataset: tf.data.Dataset, fn, options: PipelineOptions) -> tf.data.Dataset:
    return dataset.map(fn, num_parallel_calls=options.parallel, deterministic=options.deterministic)


def _parse_one(serialized, fn, options: PipelineOptions):
    """One record -> ``(fn(decoded image), label)``."""
    image, label = parse_example(serialized, options.channels, options.max_pixels)
    return fn(image), label


def _labels(labels: tf.Tensor, options: PipelineOptions) -> tf.Tensor:
    """Labels with the offset taken off, checked against the net's classes when known."""
    labels = labels - options.labels_offset
    if options.num_classes is None:
        return labels
    return record_checks.checked_labels(labels, options.num_classes)


def _per_image_tail(dataset, preprocess_fn, options: PipelineOptions) -> tf.data.Dataset:
    """Serialized records -> batches: parse, decode and preprocess each image, then batch."""

    def parse_and_preprocess(serialized):
        image, label = _parse_one(serialized, preprocess_fn, options)
        return tf.cast(image, tf.float32), _labels(label, options)

    dataset = _map(dataset, parse_and_preprocess, options)
    return dataset.batch(options.batch_size, drop_remainder=options.drop_remainder)


def _batched_tail(
    dataset, batched: BatchedPreprocess, options: PipelineOptions, parsed: bool
) -> tf.data.Dataset:
    """Serialized records -> batches of preprocessed images, a whole batch per map call:
    :func:`parse_batch` (with ``batched.per_image``), then ``batched.per_batch``.
    ``parsed``: the elements are already ``(per_image outputs, label)``.

    One seed per batch comes from a seeded stream (each worker its own), so the random
    augmentation is reproducible however many batches are prepared in parallel.
    """
    seed = options.seed
    if seed is not None and options.input_context is not None:
        seed = seed * 1009 + options.input_context.input_pipeline_id
    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    dataset = dataset.batch(options.batch_size, drop_remainder=options.drop_remainder)

    def parse_and_preprocess(elements, pair):
        if parsed:
            images, labels = elements
        else:
            images, labels = parse_batch(
                elements, options.channels, batched.per_image, options.max_pixels
            )
        images = tf.cast(batched.per_batch(images, pair), tf.float32)
        return images, _labels(labels, options)

    return _map(tf.data.Dataset.zip((dataset, seeds)), parse_and_preprocess, options)


def _output_signature(per_image, channels: int):
    """``per_image``'s output specs, from a trace on a symbolic image (no ops run)."""
    traced = tf.function(per_image).get_concrete_function(
        tf.TensorSpec([None, None, channels], tf.uint8)
    )
    return tf.nest.map_structure(
        lambda t: tf.TensorSpec(t.shape, t.dtype), traced.structured_outputs
    )


def cache_bytes(batched: BatchedPreprocess, channels: int, num_examples: int) -> int:
    """Memory a ``cache=True`` pipeline holds: ``num_examples`` per-image outputs."""
    specs = tf.nest.flatten(_output_signature(batched.per_image, channels))
    per_example = sum(spec.shape.num_elements() * spec.dtype.size for spec in specs)
    return int(per_example) * int(num_examples)


#: ``cache_choice("auto", ...)`` caches up to this much (and a quarter of the free memory).
CACHE_LIMIT_BYTES = 2 << 30


def cache_choice(
    mode: str, preprocess, channels: int, num_examples: int
) -> tuple[bool, int, int] | None:
    """``--cache_images`` for one pipeline: ``(cache, bytes it would hold, auto's limit)``,
    or None when there is no choice to make (``none``, or per-image preprocessing, whose
    outputs are not a fixed-size cacheable stage).

    ``mode``: ``auto`` (cache when it fits the limit), ``memory`` (always), ``none``.
    """
    if mode == "none" or not isinstance(preprocess, BatchedPreprocess):
        return None
    nbytes = cache_bytes(preprocess, channels, num_examples)
    available = available_memory_bytes()
    limit = min(CACHE_LIMIT_BYTES, available // 4) if available else CACHE_LIMIT_BYTES
    return mode == "memory" or nbytes <= limit, nbytes, limit


def available_memory_bytes() -> int | None:
    """``MemAvailable`` of /proc/meminfo (Linux); None where unknown."""
    return meminfo_available()


# --------------------------------------------------------------------------- bad shards
#
# tf.data reports a damaged TFRecord as ``DataLossError: corrupted record at 129`` without
# the file's name. The helpers below find the file (and the record) so the tools can stop
# with one line naming it.

_HEADER = 12  # uint64 length + uint32 masked crc32c of the length
_FOOTER = 4  # uint32 masked crc32c of the data
_OFFSET_RE = re.compile(r"\s+at \d+.*$")


def _tf_message(error: BaseException) -> str:
    """The useful part of a tf.data error (without ``{{function_node ...}}`` and op names)."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", text)
    text = re.sub(r"\s*\[Op:[^\]]*\].*$", "", text)
    return text.replace("'", "").strip() or type(error).__name__


def scan_shard(path: str) -> tuple[int, str | None]:
    """Walks a TFRecord file's record headers (not the data): ``(records, problem)``.

    Cheap (one 12-byte read per record), so training can check every shard before it
    starts. It finds a file cut mid-record or a damaged length field; flipped bits in the
    data are left to the CRC checks of :func:`find_corrupt_shard`.
    """
    size = int(tf.io.gfile.stat(path).length)
    offset = records = 0
    if "://" in path:  # remote: a streaming read; local: positioned reads
        with tf.io.gfile.GFile(path, "rb") as f:
            data = f.read()
        read = lambda at, n: data[at : at + n]  # noqa: E731
        close = lambda: None  # noqa: E731
    else:
        fd = os.open(path, os.O_RDONLY)
        read = lambda at, n: os.pread(fd, n, at)  # noqa: E731
        close = lambda: os.close(fd)  # noqa: E731
    try:
        while offset < size:
            header = read(offset, _HEADER)
            if len(header) < _HEADER:
                return records, f"truncated record at byte offset {offset} (record {records})"
            (length,) = struct.unpack("<Q", header[:8])
            end = offset + _HEADER + length + _FOOTER
            if end > size:
                return records, (
                    f"truncated or corrupt record at byte offset {offset} (record {records}: "
                    f"its length field says {length} bytes, the file ends {size - offset} "
                    "bytes later)"
                )
            offset, records = end, records + 1
    finally:
        close()
    return records, None


def find_corrupt_shard(files) -> tuple[str, str] | None:
    """The first shard that fails TensorFlow's CRC-checked reader: ``(path, problem)``."""
    for path in files:
        count = 0
        try:
            for _ in tf.data.TFRecordDataset(path):
                count += 1
        except (tf.errors.DataLossError, tf.errors.OpError) as e:
            start = _record_offset(path, count)
            where = f" at byte offset {start}" if start is not None else ""
            kind = _OFFSET_RE.split(_tf_message(e))[0].strip() or "unreadable"
            return path, f"{kind} (record {count}{where})"
    return None


def _record_offset(path: str, index: int) -> int | None:
    """Where record ``index`` starts (walking the length fields), or None if unknown."""
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            offset = 0
            for _ in range(index):
                header = f.read(_HEADER)
                if len(header) < _HEADER:
                    return None
                (length,) = struct.unpack("<Q", header[:8])
                offset += _HEADER + length + _FOOTER
                f.seek(offset)
            return offset
    except (tf.errors.OpError, OSError, struct.error):
        return None


def data_loss_error(error: BaseException, files, what: str = "") -> SlimclsError:
    """The one-line error for a ``DataLossError`` raised while reading ``files``.

    Reads the shards again with a CRC-checking reader to name the bad one and the byte
    offset of the bad record (tf.data's own message has neither the file nor, always,
    the offset).
    """
    found = find_corrupt_shard(files)
    if found is not None:
        path, problem = found
        return SlimclsError(
            f"shard {path} is corrupt: {problem}; expected a complete TFRecord file "
            "(convert the dataset again)"
        )
    return SlimclsError(
        f"reading {what or 'the dataset'} failed: {_tf_message(error)}; expected complete "
        "TFRecord shards (convert the dataset again)"
    )


def _expected_per_shard(total: int, num_shards: int) -> list[int]:
    """How many records each shard gets from the converters' ``ShardedWriter``."""
    counts = [0] * num_shards
    for j in range(num_shards):  # records i with min(n - 1, i * n // total) == j
        lo = -(-j * total // num_shards)
        hi = total if j == num_shards - 1 else -(-(j + 1) * total // num_shards)
        counts[j] = max(0, hi - lo)
    return counts


def short_split_error(descriptor, counted: int, counts: dict[str, int] | None = None):
    """The one-line error for a split holding fewer records than ``dataset.json`` says.

    Names the short shard when the others hold what the converters write.
    """
    files = list(descriptor.files)
    if counts is None:
        counts = {}
        for path in files:
            records, problem = scan_shard(path)
            if problem:
                return SlimclsError(f"shard {path} is corrupt: {problem}")
            counts[path] = records
    expected = _expected_per_shard(int(descriptor.num_samples), len(files))
    short = [
        f"{path} holds {counts[path]} (expected {want})"
        for path, want in zip(files, expected, strict=True)
        if counts[path] < want
    ]
    longer = [p for p, want in zip(files, expected, strict=True) if counts[p] > want]
    deficit = sum(
        want - counts[p] for p, want in zip(files, expected, strict=True) if counts[p] < want
    )
    explained = short and not longer and deficit == int(descriptor.num_samples) - counted
    where = f": shard {'; shard '.join(short)}" if explained else ""
    return SlimclsError(
        f"split {descriptor.split_name!r} of {descriptor.name!r} holds {counted} records, "
        f"dataset.json says {descriptor.num_samples}{where}; a shard was truncated or "
        "replaced (convert the dataset again)"
    )


def check_shards(descriptor) -> None:
    """Walks every shard's record headers; raises on a cut file or a short split.

    Training calls it before the first step: a shard cut exactly at a record boundary
    reads without any error, and would silently train on less data.

    Raises:
      SlimclsError: one line naming the shard (and the byte offset for a cut record).
    """
    counts: dict[str, int] = {}
    for path in descriptor.files:
        records, problem = scan_shard(path)
        if problem:
            raise SlimclsError(
                f"shard {path} is corrupt: {problem}; expected a complete TFRecord file "
                "(convert the dataset again)"
            )
        counts[path] = records
    total = sum(counts.values())
    if total < int(descriptor.num_samples):
        raise short_split_error(descriptor, total, counts)
