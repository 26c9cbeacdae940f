"""Head-only training: the net's classifier layer trained on its frozen body's features.

When only the classifier trains and the body runs in evaluation mode on images without
augmentation, the body computes the same features for an image in every epoch. TF Hub's
``retrain.py`` computed each image's "bottleneck" once; so does this module:
:func:`extract_features` runs the body over a split once, and :class:`HeadTrainer` trains
the classifier layer on those features, epoch after epoch, at the cost of one small
matrix product per batch. Without the cache (augmentation, or features too large for
memory) the same trainer takes each batch's features from the body as it goes
(:func:`body_batches`); both feed it the same way, so the two give the same head.

The head is the net's own classifier layer (``MobilenetV1/Logits/Conv2d_1c_1x1``, ...):
its variables are the model's, so after training the whole model is saved as one
TF-Slim checkpoint that eval, classify and export read as they read any other. The body
is never written to (evaluation mode: batch-norm statistics do not move either), so it
stays bit-identical to the checkpoint it was restored from.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from slimcls.config import OptimizerConfig
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.model.slim_model import SlimModel
from slimcls.train import optim
from slimcls.train.losses import compute_losses

Batch = tuple[tf.Tensor, tf.Tensor]  # (features float32 [B, D], labels int [B])


@dataclasses.dataclass
class Head:
    """The net's classifier: ``logits = features @ weights + biases``.

    Attributes:
      scope: its variable scope (e.g. ``MobilenetV1/Logits``).
      weights: ``[1, 1, D, C]`` (a 1x1 convolution) or ``[D, C]`` (fully connected).
      biases: ``[C]``, or None.
    """

    scope: str
    weights: tf.Variable
    biases: tf.Variable | None

    @property
    def feature_dim(self) -> int:
        return int(self.weights.shape[-2])

    @property
    def num_classes(self) -> int:
        return int(self.weights.shape[-1])

    @property
    def variables(self) -> list[tf.Variable]:
        return [v for v in (self.weights, self.biases) if v is not None]

    def logits(self, features: tf.Tensor) -> tf.Tensor:
        """``features [B, D]`` (float32) -> logits ``[B, C]``."""
        kernel = tf.reshape(self.weights, [self.feature_dim, self.num_classes])
        logits = tf.matmul(features, kernel)
        return logits + self.biases if self.biases is not None else logits


def find_head(model: SlimModel, scope: str, image_shape: tuple[int, int, int]) -> Head:
    """The classifier layer under ``scope`` of a built model, checked to be one linear
    layer on the net's pre-logits features (what ``model(..., features=True)`` returns).

    Raises:
      SlimclsError: the scope holds anything else (a classifier of several layers, or
        features of another width), naming the scope and what it holds.
    """
    variables = {
        n: v for n, v in model.variables_by_name().items() if n.startswith(scope.rstrip("/") + "/")
    }
    weights = [v for n, v in variables.items() if n.endswith("/weights")]
    biases = [v for n, v in variables.items() if n.endswith("/biases")]
    problem = None
    if len(weights) != 1 or len(biases) > 1 or len(variables) != len(weights) + len(biases):
        problem = f"it holds {sorted(variables) or 'no variables'}"
    elif weights[0].shape.rank not in (2, 4) or (
        weights[0].shape.rank == 4 and weights[0].shape[:2] != (1, 1)
    ):
        problem = f"its weights have shape {weights[0].shape.as_list()}"
    if problem is None:
        head = Head(scope, weights[0], biases[0] if biases else None)
        try:
            # In a tf.function, as every later call: in 16-bit compute the net's eager call
            # fails (tf_slim reads the name of a cast weight).
            features = feature_fn(model)(tf.zeros((1, *image_shape)))
        except Exception as e:  # noqa: BLE001  (a net without num_classes=0 features)
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            problem = f"the net gives no pre-logits features with num_classes=0: {first[:200]}"
        else:
            width = int(np.prod(features.shape[1:]))
            if width == head.feature_dim:
                return head
            problem = f"its weights take {head.feature_dim} features, the body gives {width}"
    raise SlimclsError(
        f"the classifier {scope} of {model.name} is not one linear layer on the net's "
        f"pooled features ({problem}); head-only training needs one: expected a net "
        "such as mobilenet_v1/v2/v3, inception_v3 or resnet_*"
    )


def feature_fn(model: SlimModel) -> Callable[[tf.Tensor], tf.Tensor]:
    """``images [B, H, W, C] -> features float32 [B, D]``: the body in evaluation mode."""

    @tf.function(reduce_retracing=True)
    def features(images):
        out = model(images, training=False, features=True)[0]
        return tf.reshape(tf.cast(out, tf.float32), [tf.shape(out)[0], -1])

    return features


def extract_features(
    features: Callable[[tf.Tensor], tf.Tensor],
    dataset: tf.data.Dataset,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Runs the body once over ``dataset`` (``(images, labels)`` batches, read once).

    Returns:
      ``(features float32 [N, D], labels int64 [N])`` in the dataset's order.
    """
    chunks, labels = [], []
    for images, batch_labels in dataset:
        chunks.append(features(images).numpy())
        labels.append(batch_labels.numpy())
        if on_batch is not None:
            on_batch(int(batch_labels.shape[0]))
    if not chunks:
        raise SlimclsError("the split to compute features of holds no examples")
    return np.concatenate(chunks), np.concatenate(labels).astype(np.int64)


def cache_fits(num_examples: int, feature_dim: int) -> tuple[bool, int]:
    """Whether ``num_examples`` float32 features fit in memory: at most 2 GiB and a
    quarter of the available memory (as ``--cache_images=auto``). Returns
    ``(fits, bytes)``."""
    from slimcls.reader import input_pipeline

    nbytes = int(num_examples) * int(feature_dim) * 4
    available = input_pipeline.available_memory_bytes()
    limit = input_pipeline.CACHE_LIMIT_BYTES
    if available:
        limit = min(limit, available // 4)
    return nbytes <= limit, nbytes


def epoch_order(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    """The example order of one epoch: a permutation fixed by ``(seed, epoch)``."""
    return np.random.RandomState([seed & 0xFFFFFFFF, epoch]).permutation(num_examples)


def cached_batches(
    features: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, epoch: int
) -> Iterator[Batch]:
    """One epoch of cached features in :func:`epoch_order`, whole batches only (as
    training drops the last partial batch)."""
    order = epoch_order(len(labels), seed, epoch)
    for start in range(0, len(order) - batch_size + 1, batch_size):
        index = order[start : start + batch_size]
        yield tf.constant(features[index]), tf.constant(labels[index])


def body_batches(
    features: Callable[[tf.Tensor], tf.Tensor], batches: Iterable[Batch]
) -> Iterator[Batch]:
    """Batches of images turned into batches of features by the body, one at a time."""
    for images, labels in batches:
        yield features(images), labels


class HeadTrainer:
    """Trains a :class:`Head` on batches of features.

    The loss is TF-Slim's (softmax cross-entropy with label smoothing) plus
    ``weight_decay`` x L2 of the head's weights (``slim.l2_regularizer``'s
    ``sum(w**2) / 2``); dropout on the features (TF Hub's head) draws its mask from
    ``(seed, step)``, so a run is reproducible whatever feeds it.

    Args:
      head: the classifier layer to train.
      optimizer: TF-Slim's optimizer settings (``tf.compat.v1.train`` update rules).
      learning_rate: the (fixed) learning rate.
      weight_decay, label_smoothing, dropout_rate: as described above.
      seed: the dropout seed.
    """

    def __init__(
        self,
        head: Head,
        optimizer: OptimizerConfig,
        learning_rate: float,
        weight_decay: float = 0.0,
        label_smoothing: float = 0.0,
        dropout_rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= dropout_rate < 1.0:
            raise SlimclsError(f"--dropout_rate={dropout_rate}; expected a value in [0, 1)")
        self.head = head
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="head_step")
        self.learning_rate = tf.Variable(learning_rate, dtype=tf.float32, trainable=False)
        self.optimizer = optim.create_optimizer(optimizer, self.learning_rate)
        self.slots = optim.create_slots(self.optimizer, head.variables)
        num_classes, variables = head.num_classes, head.variables

        @tf.function(reduce_retracing=True)
        def train_step(features, labels):
            with tf.GradientTape() as tape:
                inputs = features
                if dropout_rate > 0:
                    seed_pair = tf.stack([tf.constant(seed, tf.int64), self.step])
                    inputs = tf.nn.experimental.stateless_dropout(
                        features, rate=dropout_rate, seed=seed_pair
                    )
                logits = head.logits(inputs)
                terms = compute_losses(
                    logits,
                    {},
                    labels,
                    num_classes,
                    label_smoothing,
                    weight_decay * tf.nn.l2_loss(head.weights),
                )
            grads = tape.gradient(terms["total_loss"], variables)
            self.optimizer.apply_gradients(zip(grads, variables))
            self.step.assign_add(1)
            hits = tf.equal(tf.argmax(logits, -1, output_type=labels.dtype), labels)
            terms["accuracy"] = tf.reduce_mean(tf.cast(hits, tf.float32))
            return terms

        @tf.function(reduce_retracing=True)
        def count(features, labels):
            logits = head.logits(features)
            hits = tf.equal(tf.argmax(logits, -1, output_type=labels.dtype), labels)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            return tf.reduce_sum(tf.cast(hits, tf.int64)), tf.reduce_sum(losses)

        self._train_step, self._count = train_step, count

    def train_epoch(
        self, batches: Iterable[Batch], on_step: Callable[[dict[str, float]], None] | None = None
    ) -> dict[str, float]:
        """One pass over ``batches``; returns the epoch's mean loss and accuracy, its
        steps and seconds."""
        started = time.perf_counter()
        loss = accuracy = 0.0
        steps = 0
        for features, labels in batches:
            terms = self._train_step(features, labels)
            steps += 1
            loss += float(terms["total_loss"])
            accuracy += float(terms["accuracy"])
            if on_step is not None:
                on_step({k: float(v) for k, v in terms.items()})
        if not steps:
            raise SlimclsError("an epoch of head training had no full batch")
        return {
            "loss": loss / steps,
            "accuracy": accuracy / steps,
            "steps": steps,
            "seconds": time.perf_counter() - started,
        }

    def evaluate(self, features: np.ndarray, labels: np.ndarray, batch_size: int = 1024):
        """``(accuracy, mean loss)`` of the head on cached features (no dropout)."""
        correct, loss = 0, 0.0
        for start in range(0, len(labels), batch_size):
            c, s = self._count(
                tf.constant(features[start : start + batch_size]),
                tf.constant(labels[start : start + batch_size]),
            )
            correct, loss = correct + int(c), loss + float(s)
        return correct / max(len(labels), 1), loss / max(len(labels), 1)
