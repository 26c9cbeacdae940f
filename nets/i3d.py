"""I3D, the inflated 3-D Inception V1 (Carreira and Zisserman, "Quo Vadis, Action
Recognition?", https://arxiv.org/abs/1705.07750).

A video net: the input is a clip ``[batch, time, height, width, 3]`` (224x224 frames), not
an image, so slimcls's image commands refuse it; it is here for TF-Slim's Python API
(``nets_factory.get_network_fn('i3d', ...)``). The trunk is S3D-G's
(:func:`slimcls.nets.s3dg.s3dg_base`) with a ``7 x 7 x 7`` first convolution, full
``3 x 3 x 3`` convolutions from ``Conv2d_2c_3x3`` on and no gating. Same scopes, end
points, arithmetic and defaults as ``research/slim/nets/i3d.py``, written for slimcls.
"""

from __future__ import annotations

from collections.abc import Callable

import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.nets import i3d_utils, s3dg

_v1 = tf.compat.v1

trunc_normal = s3dg.trunc_normal
conv3d_spatiotemporal = i3d_utils.conv3d_spatiotemporal


def i3d_arg_scope(
    weight_decay: float = 1e-7,
    batch_norm_decay: float = 0.999,
    batch_norm_epsilon: float = 0.001,
    use_renorm: bool = False,
    separable_conv3d: bool = False,
) -> dict:
    """TF-Slim's arg scope for I3D: 3-D convs with batch norm and ReLU.

    Args:
      weight_decay: L2 coefficient on the convolution weights.
      batch_norm_decay: moving-average decay of the batch-norm statistics.
      batch_norm_epsilon: added to the variance before dividing.
      use_renorm: batch renormalisation.
      separable_conv3d: factorise the 3x3x3 convolutions as S3D does.

    Returns:
      An arg-scope dict for ``with slim.arg_scope(...)``.
    """
    params = s3dg.video_batch_norm_params(batch_norm_decay, batch_norm_epsilon, renorm=use_renorm)
    return s3dg.video_arg_scope(weight_decay, params, separable_conv3d=separable_conv3d)


def i3d_base(
    inputs: tf.Tensor, final_endpoint: str = "Mixed_5c", scope="InceptionV1"
) -> tuple[tf.Tensor, dict]:
    """The I3D trunk, from the clip up to ``final_endpoint`` (InceptionV1's layer names).

    Args:
      inputs: ``[batch, time, height, width, channels]``.
      final_endpoint: the last layer built, one of :data:`slimcls.nets.s3dg.END_POINTS`.
      scope: variable scope (a name or a VariableScope to re-enter).

    Returns:
      ``(net, end_points)``.

    Raises:
      ValueError: an unknown ``final_endpoint``.
    """
    return s3dg.s3dg_base(
        inputs,
        first_temporal_kernel_size=7,
        temporal_conv_startat="Conv2d_2c_3x3",
        gating_startat=None,
        final_endpoint=final_endpoint,
        min_depth=16,
        depth_multiplier=1.0,
        data_format="NDHWC",
        scope=scope,
    )


def i3d(
    inputs: tf.Tensor,
    num_classes: int = 1000,
    dropout_keep_prob: float = 0.8,
    is_training: bool = True,
    prediction_fn: Callable = slim.softmax,
    spatial_squeeze: bool = True,
    reuse=None,
    scope="InceptionV1",
) -> tuple[tf.Tensor, dict]:
    """I3D: :func:`i3d_base` then InceptionV1's classifier, averaged over time.

    Designed for 224x224 frames.

    Args:
      inputs: a clip ``[batch, time, height, width, channels]``.
      num_classes: classifier outputs (400 for Kinetics-400).
      dropout_keep_prob: kept share of activations before the classifier (training).
      is_training: batch norm and dropout in training mode.
      prediction_fn: ``Predictions`` end point from the logits.
      spatial_squeeze: logits ``[batch, classes]``; False: ``[batch, 1, 1, classes]``.
      reuse: reuse the variables of ``scope``.
      scope: variable scope.

    Returns:
      ``(logits, end_points)`` with the trunk's end points plus ``Logits`` and
      ``Predictions``.
    """
    with _v1.variable_scope(scope, "InceptionV1", [inputs, num_classes], reuse=reuse) as scope:
        with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
            net, end_points = i3d_base(inputs, scope=scope)
            logits = s3dg.video_classifier(
                net, num_classes, dropout_keep_prob, spatial_squeeze, prediction_fn, end_points
            )
    return logits, end_points


i3d.default_image_size = 224
