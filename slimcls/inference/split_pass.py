"""One pass of a model over a split: the evaluator of eval and of training's validation.

Every example is read once, in file order (or the first ``max_batches`` batches): a
confusion matrix, top-k hits and the summed cross-entropy are counted in NumPy from
per-example predictions. What can go wrong with the input is named here, in one line, for
every caller: a record that fails its checks (label outside the classes, image that does
not decode or is too big), a damaged shard, and a split that holds fewer records than
``dataset.json`` says (a shard cut at a record boundary reads without any error, so the
pass counts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.reader import input_pipeline, record_checks


@dataclasses.dataclass(frozen=True)
class SplitCounts:
    """What one pass counted.

    Attributes:
      confusion: ``[true class, predicted class]`` counts.
      top_k_hits: examples whose label is among the top k, one per k of the pass.
      loss_sum: summed cross-entropy of the examples (float64).
      num_batches: batches read.
    """

    confusion: np.ndarray
    top_k_hits: np.ndarray
    loss_sum: float
    num_batches: int

    @property
    def num_examples(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(self.num_examples, 1))

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(self.num_examples, 1)


class SplitPass:
    """The evaluation pipeline of one split, and :meth:`run` to pass a model over it.

    Building it builds the input pipeline, so a bad preprocessing or image size fails
    before any model is run.

    Args:
      descriptor: the split (``datasets.dataset_factory.DatasetDescriptor``).
      preprocess_fn: evaluation preprocessing (``ModelPlan.preprocess_fn(False)``).
      batch_size: examples per batch (the last batch may be smaller).
      num_classes: the net's classes (the dataset's minus ``labels_offset``).
      labels_offset: subtracted from every label.
      top_k: the ks of :attr:`SplitCounts.top_k_hits` (a k above ``num_classes``
        counts every example).
      max_batches: read only this many batches (None: the whole split).
      num_readers, num_parallel_calls, max_image_pixels: as in
        :func:`slimcls.reader.input_pipeline.make_dataset`.
    """

    def __init__(
        self,
        descriptor,
        preprocess_fn,
        batch_size: int,
        *,
        num_classes: int,
        labels_offset: int = 0,
        top_k: Sequence[int] = (),
        max_batches: int | None = None,
        num_readers: int | None = None,
        num_parallel_calls: int | None = None,
        max_image_pixels: int | None = None,
    ) -> None:
        self.descriptor = descriptor
        self.batch_size = batch_size
        self.num_classes = num_classes
        self.labels_offset = labels_offset
        self.top_k = tuple(top_k)
        self.max_batches = max_batches
        self.max_image_pixels = max_image_pixels
        self.what = f"split {descriptor.split_name!r} of {descriptor.dataset_dir}"
        dataset = input_pipeline.make_dataset(
            descriptor,
            preprocess_fn,
            batch_size,
            is_training=False,
            labels_offset=labels_offset,
            num_readers=num_readers,
            num_parallel_calls=num_parallel_calls,
            num_classes=num_classes,
            max_image_pixels=max_image_pixels,
        )
        self.dataset = dataset.take(max_batches) if max_batches else dataset
        self._model = None
        self._step = None

    @property
    def expected_examples(self) -> int:
        """What one pass reads: the split, or ``max_batches`` full batches of it."""
        split_size = int(self.descriptor.num_samples)
        if self.max_batches:
            return min(split_size, self.max_batches * self.batch_size)
        return split_size

    def run(self, model, on_batch: Callable[[int], None] | None = None) -> SplitCounts:
        """Passes ``model`` (in evaluation mode) over the split once.

        ``on_batch(n)`` is called after each batch of ``n`` examples (progress).

        Raises:
          SlimclsError: one line naming a bad record or a damaged shard, a split with no
            examples, or fewer examples than the split (or ``max_batches``) should hold.
        """
        step = self._step_for(model)
        confusion = np.zeros((self.num_classes, self.num_classes), np.int64)
        top_k_hits = np.zeros(len(self.top_k), np.int64)
        loss_sum, num_batches = 0.0, 0
        try:
            for images, labels in self.dataset:
                labels, preds, in_top_k, losses = (t.numpy() for t in step(images, labels))
                np.add.at(confusion, (labels, preds), 1)
                top_k_hits += in_top_k.sum(axis=0).astype(np.int64)
                loss_sum += float(losses.astype(np.float64).sum())
                num_batches += 1
                if on_batch is not None:
                    on_batch(int(labels.shape[0]))
        except tf.errors.OpError as e:
            raise self.input_error(e) from None
        counts = SplitCounts(confusion, top_k_hits, loss_sum, num_batches)
        if counts.num_examples == 0:
            raise SlimclsError(f"{self.what} has no examples")
        if counts.num_examples < self.expected_examples:
            # A shard cut at a record boundary reads without any error: count instead.
            raise input_pipeline.short_split_error(self.descriptor, counts.num_examples)
        return counts

    def input_error(self, error: tf.errors.OpError) -> Exception:
        """``error`` of the input as one line naming the shard (and record); ``error``
        itself when it did not come from the input."""
        return input_error(
            error,
            self.descriptor,
            num_classes=self.num_classes,
            labels_offset=self.labels_offset,
            max_image_pixels=self.max_image_pixels,
        )

    def _step_for(self, model):
        if self._model is not model:
            self._model, self._step = model, _count_fn(model, self.top_k, self.num_classes)
        return self._step


def input_error(
    error: tf.errors.OpError,
    descriptor,
    *,
    num_classes: int,
    labels_offset: int = 0,
    max_image_pixels: int | None = None,
) -> Exception:
    """An input pipeline's failure on ``descriptor``'s split as one line naming the file.

    A ``DataLossError`` names the damaged shard and the byte offset (tf.data does not name
    the file); an ``InvalidArgumentError`` from the record checks names the record. Any
    other error is returned as it is.
    """
    what = f"split {descriptor.split_name!r} of {descriptor.dataset_dir}"
    if isinstance(error, tf.errors.DataLossError):
        return input_pipeline.data_loss_error(error, descriptor.files, what)
    if isinstance(error, tf.errors.InvalidArgumentError):
        bad = record_checks.input_error(
            error,
            descriptor.files,
            channels=int(descriptor.channels or 3),
            num_classes=num_classes,
            labels_offset=labels_offset,
            max_pixels=max_image_pixels,
            what=what,
        )
        return bad or error
    return error


def _count_fn(model, top_k: Sequence[int], num_classes: int):
    """The compiled per-batch step: labels, predictions, top-k hits and losses."""
    # A k above the number of classes counts every example (in_top_k needs k <= classes).
    ks = [min(k, num_classes) for k in top_k]

    @tf.function(reduce_retracing=True)
    def step(images, labels):
        logits, _ = model(images, training=False)
        logits = tf.cast(tf.reshape(logits, [tf.shape(logits)[0], -1]), tf.float32)
        labels = tf.cast(labels, tf.int32)  # in range: the input pipeline checks them
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        if ks:
            in_top_k = tf.stack([tf.math.in_top_k(labels, logits, k) for k in ks], axis=-1)
        else:
            in_top_k = tf.zeros([tf.shape(labels)[0], 0], tf.bool)
        return labels, tf.argmax(logits, -1, output_type=tf.int32), in_top_k, losses

    return step
