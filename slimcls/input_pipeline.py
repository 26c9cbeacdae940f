"""The ``tf.data`` reader: a pure function from a dataset descriptor to batches.

No flags and no globals: callers pass the descriptor (``datasets.dataset_factory``), a
preprocessing function of one argument (the decoded uint8 image; bind sizes with
``functools.partial``) and the batch size for this pipeline (per replica when used with
``strategy.distribute_datasets_from_function``).
"""

from __future__ import annotations

from collections.abc import Callable

from slimcls.core.compat import tf
from slimcls.datasets import record_format

_FEATURES = record_format.parse_features()


def parse_example(serialized: tf.Tensor, channels: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Parses one serialized TF-Slim Example into ``(uint8 image [H, W, channels], label)``.

    ``tf.io.decode_image`` handles both stored formats (PNG and JPEG) and converts grey/RGB
    to ``channels``; ``expand_animations=False`` keeps the result 3-D so shapes are static
    in rank.
    """
    features = tf.io.parse_single_example(serialized, _FEATURES)
    image = tf.io.decode_image(
        features[record_format.KEY_ENCODED],
        channels=channels,
        dtype=tf.uint8,
        expand_animations=False,
    )
    image.set_shape([None, None, channels])
    return image, features[record_format.KEY_LABEL]


def make_dataset(
    descriptor,
    preprocess_fn: Callable[[tf.Tensor], tf.Tensor],
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
) -> tf.data.Dataset:
    """Builds the input pipeline of one split.

    Args:
      descriptor: a ``datasets.dataset_factory.DatasetDescriptor``.
      preprocess_fn: maps one decoded uint8 image ``[H, W, C]`` to a float32 image of the
        network's size (the same size for every image, so batches can be formed).
      batch_size: batch size of this pipeline (per replica under a distribution strategy).
      is_training: shuffle, repeat, drop the last partial batch and allow non-deterministic
        order for speed. In eval mode every record is read exactly once, in file order.
      labels_offset: subtracted from every label (TF-Slim's flag, e.g. 1 for a background
        class that the net does not have).
      shuffle_buffer_size: records in the shuffle buffer (training only).
      num_readers: shards read in parallel in training; None = min(#shards, 8).
      num_parallel_calls: parallelism of parse + decode + preprocess; None = AUTOTUNE.
      seed: shuffle seed. With a seed, training order is also made deterministic
        (``deterministic=True``) so a run can be reproduced; None = fastest order.
      input_context: from ``distribute_datasets_from_function``; each input pipeline reads
        its own subset of shards (of records when there are fewer shards than pipelines).
      repeat: repeat forever; None = ``is_training``.
      drop_remainder: drop the last partial batch; None = ``is_training``.

    Returns:
      A dataset of ``(images float32 [B, H, W, C], labels int64 [B])``.
    """
    autotune = tf.data.AUTOTUNE
    repeat = is_training if repeat is None else repeat
    drop_remainder = is_training if drop_remainder is None else drop_remainder
    parallel = autotune if num_parallel_calls is None else num_parallel_calls
    deterministic = (not is_training) or seed is not None
    channels = int(descriptor.channels)
    files = list(descriptor.files)

    # Why this order:
    # 1. Shard per worker first, on file names: each worker then opens only its own files and
    #    no record is read twice across workers (records when files are too few).
    # 2. Interleave several shards in parallel so reading is not one file at a time and a
    #    shuffle buffer sees records of several shards (training). Eval reads files in order.
    # 3. Shuffle serialized records (small strings, not decoded images) so a large buffer is
    #    cheap; shuffling before repeat keeps epoch boundaries: every record once per epoch.
    # 4. Repeat before the expensive map so decoding runs as one continuous stream across
    #    epochs, without a pipeline drain at each epoch end.
    # 5. Parse + decode + preprocess in parallel (AUTOTUNE), then batch (vectorised, after
    #    per-image work that produces equal shapes), then prefetch to overlap with the step.
    dataset = tf.data.Dataset.from_tensor_slices(files)
    shard_records = False
    if input_context is not None and input_context.num_input_pipelines > 1:
        n, i = input_context.num_input_pipelines, input_context.input_pipeline_id
        if len(files) >= n:
            dataset = dataset.shard(n, i)
        else:
            shard_records = True

    if is_training:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        cycle = num_readers or min(len(files), 8)
        dataset = dataset.interleave(
            tf.data.TFRecordDataset,
            cycle_length=max(1, cycle),
            block_length=1,
            num_parallel_calls=autotune,
            deterministic=deterministic,
        )
    else:
        # cycle_length=1: file after file, records in the order they were written.
        dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=1)

    if shard_records:
        dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)

    if is_training and shuffle_buffer_size > 1:
        dataset = dataset.shuffle(shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()

    def parse_and_preprocess(serialized):
        image, label = parse_example(serialized, channels)
        image = preprocess_fn(image)
        return tf.cast(image, tf.float32), label - labels_offset

    dataset = dataset.map(
        parse_and_preprocess, num_parallel_calls=parallel, deterministic=deterministic
    )
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(autotune)
