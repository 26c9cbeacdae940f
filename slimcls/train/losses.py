"""TF-Slim's loss: cross-entropy with label smoothing, AuxLogits, weight decay."""

from __future__ import annotations

from collections.abc import Mapping

from slimcls.core.compat import tf

AUX_LOSS_WEIGHT = 0.4
#: With --label_smoothing, the step also reports the cross-entropy against the true labels
#: under this key (what validation measures; without smoothing ``cross_entropy`` is that).
TRUE_LABEL_LOSS = "cross_entropy_true_labels"


def compute_losses(
    logits: tf.Tensor,
    end_points: Mapping[str, tf.Tensor],
    labels: tf.Tensor,
    num_classes: int,
    label_smoothing: float = 0.0,
    regularization: tf.Tensor | None = None,
    global_batch_size: int | None = None,
) -> dict[str, tf.Tensor]:
    """TF-Slim's loss terms, each a float32 scalar.

    ``cross_entropy`` uses TF1's label smoothing (``onehot * (1 - s) + s / num_classes``);
    ``aux_loss`` is ``0.4 x`` the same loss on ``end_points['AuxLogits']`` when present;
    ``total_loss`` adds ``regularization`` (weight decay). With label smoothing,
    ``TRUE_LABEL_LOSS`` is the cross-entropy against the true labels (reported, not
    optimised: the loss curve that validation's overlays).

    Args:
      global_batch_size: when replicas each see part of the batch, the per-example
        losses are summed and divided by the global batch size
        (``tf.nn.compute_average_loss``), so adding the replicas' terms gives the mean
        over the global batch. None: the mean over this batch.
    """
    onehot = tf.one_hot(labels, num_classes, dtype=tf.float32)
    if label_smoothing > 0:
        onehot = onehot * (1.0 - label_smoothing) + label_smoothing / num_classes

    def xent(x, targets=onehot):
        per_example = tf.nn.softmax_cross_entropy_with_logits(
            labels=targets, logits=tf.cast(x, tf.float32)
        )
        if global_batch_size is None:
            return tf.reduce_mean(per_example)
        return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)

    terms = {"cross_entropy": xent(logits)}
    if "AuxLogits" in end_points:
        terms["aux_loss"] = AUX_LOSS_WEIGHT * xent(end_points["AuxLogits"])
    terms["regularization"] = (
        tf.cast(regularization, tf.float32) if regularization is not None else tf.constant(0.0)
    )
    terms["total_loss"] = tf.add_n(list(terms.values()))
    if label_smoothing > 0:
        terms[TRUE_LABEL_LOSS] = xent(logits, tf.one_hot(labels, num_classes, dtype=tf.float32))
    return terms
