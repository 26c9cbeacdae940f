"""MobileNetV2 (https://arxiv.org/abs/1801.04381) on the MobileNet builder.

Layer list, defaults, names (``MobilenetV2/Conv``, ``expanded_conv[_N]``, ``Conv_1``,
``Logits/Conv2d_1c_1x1``) and arguments follow TF-Slim's ``research/slim/nets/mobilenet/
mobilenet_v2.py``; its published checkpoints (``mobilenet_v2_1.4_224``,
``mobilenet_v2_0.35_224``, ..., 1001 classes) load by name.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable

import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.nets.mobilenet import conv_blocks as ops
from slimcls.nets.mobilenet import mobilenet as lib

op = lib.op
expand_input = ops.expand_input_by_factor

_CONV_KEY = (slim.conv2d, slim.fully_connected, slim.separable_conv2d)


def _v2_defaults(normalizer_fn: Callable) -> dict:
    defaults = {
        _CONV_KEY: {"normalizer_fn": normalizer_fn, "activation_fn": tf.nn.relu6},
        (ops.expanded_conv,): {
            "expansion_size": expand_input(6),
            "split_expansion": 1,
            "normalizer_fn": normalizer_fn,
            "residual": True,
        },
        (slim.conv2d, slim.separable_conv2d): {"padding": "SAME"},
    }
    if normalizer_fn is slim.batch_norm:
        defaults = {(slim.batch_norm,): {"center": True, "scale": True}, **defaults}
    return defaults


# (stride, output channels) of the 16 inverted-residual blocks after the first one.
_V2_BLOCKS = [
    (2, 24),
    (1, 24),
    (2, 32),
    (1, 32),
    (1, 32),
    (2, 64),
    (1, 64),
    (1, 64),
    (1, 64),
    (1, 96),
    (1, 96),
    (1, 96),
    (2, 160),
    (1, 160),
    (1, 160),
    (1, 320),
]

#: MobileNetV2: 3x3 conv 32, 17 inverted-residual blocks, 1x1 conv 1280.
V2_DEF = dict(
    defaults=_v2_defaults(slim.batch_norm),
    spec=[
        op(slim.conv2d, stride=2, num_outputs=32, kernel_size=[3, 3]),
        op(ops.expanded_conv, expansion_size=expand_input(1, divisible_by=1), num_outputs=16),
        *(op(ops.expanded_conv, stride=s, num_outputs=n) for s, n in _V2_BLOCKS),
        op(slim.conv2d, stride=1, kernel_size=[1, 1], num_outputs=1280),
    ],
)

#: :data:`V2_DEF` with group normalisation instead of batch norm.
V2_DEF_GROUP_NORM = copy.deepcopy(V2_DEF)
V2_DEF_GROUP_NORM["defaults"] = _v2_defaults(slim.group_norm)


@slim.add_arg_scope
def mobilenet(
    input_tensor: tf.Tensor,
    num_classes: int = 1001,
    depth_multiplier: float = 1.0,
    scope: str = "MobilenetV2",
    conv_defs: dict | None = None,
    finegrain_classification_mode: bool = False,
    min_depth: int | None = None,
    divisible_by: int | None = None,
    activation_fn: Callable | None = None,
    **kwargs,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """MobileNetV2. Inference mode is created by default; pass ``is_training=True`` or
    build inside :func:`training_scope` for training (TF-Slim's own tests look for the
    first sentence in this docstring).

    Args:
      input_tensor: ``[batch, height, width, 3]`` images in [-1, 1].
      num_classes: classes (1001 in TF-Slim's checkpoints); 0 or None: pooled features.
      depth_multiplier: scales every layer's channel count.
      scope: variable scope.
      conv_defs: layer list (default :data:`V2_DEF`).
      finegrain_classification_mode: keep the last layer at 1280 channels when
        ``depth_multiplier < 1`` (as the 0.35 and 0.5 checkpoints do).
      min_depth, divisible_by: channel rounding of the depth multiplier.
      activation_fn: replaces ReLU6 everywhere.
      **kwargs: for :func:`mobilenet.mobilenet` (``is_training``, ``prediction_fn``,
        ``reuse``, ``base_only``, ``output_stride``, ...).

    Returns:
      ``(logits, end_points)``.

    Raises:
      ValueError: ``multiplier`` passed (use ``depth_multiplier``).
    """
    conv_defs = V2_DEF if conv_defs is None else conv_defs
    if "multiplier" in kwargs:
        raise ValueError(
            "mobilenetv2 doesn't support generic multiplier parameter use "
            '"depth_multiplier" instead.'
        )
    if finegrain_classification_mode:
        conv_defs = copy.deepcopy(conv_defs)
        if depth_multiplier < 1:
            conv_defs["spec"][-1].params["num_outputs"] /= depth_multiplier
    if activation_fn:
        conv_defs = copy.deepcopy(conv_defs)
        conv_defs["defaults"][_CONV_KEY]["activation_fn"] = activation_fn
    depth_args = {}
    if min_depth is not None:
        depth_args["min_depth"] = min_depth
    if divisible_by is not None:
        depth_args["divisible_by"] = divisible_by
    with slim.arg_scope((lib.depth_multiplier,), **depth_args):
        return lib.mobilenet(
            input_tensor,
            num_classes=num_classes,
            conv_defs=conv_defs,
            scope=scope,
            multiplier=depth_multiplier,
            **kwargs,
        )


mobilenet.default_image_size = 224


def wrapped_partial(func: Callable, *args, **kwargs) -> Callable:
    """``functools.partial`` that keeps ``func``'s name, docstring and attributes."""
    partial_func = functools.partial(func, *args, **kwargs)
    functools.update_wrapper(partial_func, func)
    return partial_func


mobilenet_v2_140 = wrapped_partial(mobilenet, depth_multiplier=1.4)
mobilenet_v2_050 = wrapped_partial(
    mobilenet, depth_multiplier=0.50, finegrain_classification_mode=True
)
mobilenet_v2_035 = wrapped_partial(
    mobilenet, depth_multiplier=0.35, finegrain_classification_mode=True
)


@slim.add_arg_scope
def mobilenet_base(input_tensor: tf.Tensor, depth_multiplier: float = 1.0, **kwargs):
    """The MobileNetV2 body without pooling and logits."""
    return mobilenet(input_tensor, depth_multiplier=depth_multiplier, base_only=True, **kwargs)


@slim.add_arg_scope
def mobilenet_base_group_norm(input_tensor: tf.Tensor, depth_multiplier: float = 1.0, **kwargs):
    """The MobileNetV2 body with group normalisation (``groups=8`` by default)."""
    conv_defs = copy.deepcopy(V2_DEF_GROUP_NORM)
    conv_defs["defaults"][(slim.group_norm,)] = {"groups": kwargs.pop("groups", 8)}
    kwargs["conv_defs"] = conv_defs
    return mobilenet(input_tensor, depth_multiplier=depth_multiplier, base_only=True, **kwargs)


def training_scope(**kwargs) -> dict:
    """TF-Slim's MobileNetV2 training scope: :func:`mobilenet.training_scope`
    (``is_training``, ``weight_decay``, ``stddev``, ``dropout_keep_prob``, ``bn_decay``)."""
    return lib.training_scope(**kwargs)


__all__ = ["training_scope", "mobilenet_base", "mobilenet", "V2_DEF"]
