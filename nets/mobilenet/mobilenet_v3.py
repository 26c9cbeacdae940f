"""MobileNetV3 (https://arxiv.org/abs/1905.02244) and MobileNet-EdgeTPU on the builder.

Layer lists (:data:`V3_LARGE`, :data:`V3_SMALL`, their ``_MINIMALISTIC`` variants,
:data:`V3_EDGETPU`), names (``MobilenetV3/Conv``, ``expanded_conv[_N]/squeeze_excite/
Conv[_1]``, ``Conv_1``, ``AvgPool2D``, ``Conv_2``, ``MobilenetEdgeTPU/...``), activations
and arguments follow TF-Slim's ``research/slim/nets/mobilenet/mobilenet_v3.py``; its
published checkpoints (1001 classes) load by name.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable

import numpy as np
import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.nets.mobilenet import conv_blocks as ops
from slimcls.nets.mobilenet import mobilenet as lib

op = lib.op
expand_input = ops.expand_input_by_factor

# The gate is relu6(x + 3) * 0.16667 (not exactly 1/6), as in the published checkpoints.
squeeze_excite = functools.partial(
    ops.squeeze_excite,
    squeeze_factor=4,
    inner_activation_fn=tf.nn.relu,
    gating_fn=lambda x: tf.nn.relu6(x + 3) * 0.16667,
)


def _se4(expansion_tensor: tf.Tensor, input_tensor: tf.Tensor) -> tf.Tensor:
    del input_tensor
    return squeeze_excite(expansion_tensor)


def hard_swish(x: tf.Tensor) -> tf.Tensor:
    """``x * relu6(x + 3) / 6``."""
    with tf.name_scope("hard_swish"):
        return x * tf.nn.relu6(x + np.float32(3)) * np.float32(1.0 / 6.0)


def reduce_to_1x1(input_tensor: tf.Tensor, default_size: int = 7, **kwargs) -> tf.Tensor:
    """Average pool over the whole (square) map, or a ``default_size`` window when the
    map's size is unknown or not square."""
    h, w = input_tensor.shape.as_list()[1:3]
    k = [h, h] if h is not None and w == h else [default_size, default_size]
    return slim.avg_pool2d(input_tensor, kernel_size=k, **kwargs)


def mbv3_op(ef: float, n: int, k: int, s: int = 1, act=tf.nn.relu, se=None, **kwargs):
    """One MobileNetV3 block: expansion factor ``ef``, ``n`` outputs, ``k``x``k``
    depthwise with stride ``s``, inner activation ``act``, optional squeeze-excite."""
    return op(
        ops.expanded_conv,
        expansion_size=expand_input(ef),
        kernel_size=(k, k),
        stride=s,
        num_outputs=n,
        inner_activation_fn=act,
        expansion_transform=se,
        **kwargs,
    )


def mbv3_fused(ef: float, n: int, k: int, s: int = 1, **kwargs):
    """A fused block (EdgeTPU): a full ``k``x``k`` expansion convolution, no depthwise."""
    expansion_fn = functools.partial(slim.conv2d, kernel_size=k, stride=s)
    return mbv3_op(ef, n, k=1, s=s, depthwise_location=None, expansion_fn=expansion_fn, **kwargs)


mbv3_op_se = functools.partial(mbv3_op, se=_se4)

_CONV_KEY = (slim.conv2d, slim.fully_connected, slim.separable_conv2d)

DEFAULTS = {
    (ops.expanded_conv,): dict(normalizer_fn=slim.batch_norm, residual=True),
    _CONV_KEY: {"normalizer_fn": slim.batch_norm, "activation_fn": tf.nn.relu},
    (slim.batch_norm,): {"center": True, "scale": True},
}

DEFAULTS_GROUP_NORM = {
    (ops.expanded_conv,): dict(normalizer_fn=slim.group_norm, residual=True),
    _CONV_KEY: {"normalizer_fn": slim.group_norm, "activation_fn": tf.nn.relu},
    (slim.group_norm,): {"groups": 8},
}


def _head(last_conv: int, top_conv: int, act) -> list:
    """1x1 conv, pool to 1x1, 1x1 conv without normalisation (before the logits)."""
    act_args = {} if act is None else {"activation_fn": act}
    return [
        op(slim.conv2d, stride=1, kernel_size=[1, 1], num_outputs=last_conv, **act_args),
        op(reduce_to_1x1, default_size=7, stride=1, padding="VALID"),
        op(
            slim.conv2d,
            stride=1,
            kernel_size=[1, 1],
            num_outputs=top_conv,
            normalizer_fn=None,
            **act_args,
        ),
    ]


def _stem(num_outputs: int, act) -> object:
    act_args = {} if act is None else {"activation_fn": act}
    return op(slim.conv2d, stride=2, num_outputs=num_outputs, kernel_size=(3, 3), **act_args)


V3_LARGE = dict(
    defaults=dict(DEFAULTS),
    spec=[
        _stem(16, hard_swish),
        mbv3_op(ef=1, n=16, k=3),
        mbv3_op(ef=4, n=24, k=3, s=2),
        mbv3_op(ef=3, n=24, k=3, s=1),
        mbv3_op_se(ef=3, n=40, k=5, s=2),
        mbv3_op_se(ef=3, n=40, k=5, s=1),
        mbv3_op_se(ef=3, n=40, k=5, s=1),
        mbv3_op(ef=6, n=80, k=3, s=2, act=hard_swish),
        mbv3_op(ef=2.5, n=80, k=3, s=1, act=hard_swish),
        mbv3_op(ef=184 / 80.0, n=80, k=3, s=1, act=hard_swish),
        mbv3_op(ef=184 / 80.0, n=80, k=3, s=1, act=hard_swish),
        mbv3_op_se(ef=6, n=112, k=3, s=1, act=hard_swish),
        mbv3_op_se(ef=6, n=112, k=3, s=1, act=hard_swish),
        mbv3_op_se(ef=6, n=160, k=5, s=2, act=hard_swish),
        mbv3_op_se(ef=6, n=160, k=5, s=1, act=hard_swish),
        mbv3_op_se(ef=6, n=160, k=5, s=1, act=hard_swish),
        *_head(960, 1280, hard_swish),
    ],
)

# Minimalistic: no squeeze-excite, no hard-swish, 3x3 kernels only.
V3_LARGE_MINIMALISTIC = dict(
    defaults=dict(DEFAULTS),
    spec=[
        _stem(16, None),
        mbv3_op(ef=1, n=16, k=3),
        mbv3_op(ef=4, n=24, k=3, s=2),
        mbv3_op(ef=3, n=24, k=3, s=1),
        mbv3_op(ef=3, n=40, k=3, s=2),
        mbv3_op(ef=3, n=40, k=3, s=1),
        mbv3_op(ef=3, n=40, k=3, s=1),
        mbv3_op(ef=6, n=80, k=3, s=2),
        mbv3_op(ef=2.5, n=80, k=3, s=1),
        mbv3_op(ef=184 / 80.0, n=80, k=3, s=1),
        mbv3_op(ef=184 / 80.0, n=80, k=3, s=1),
        mbv3_op(ef=6, n=112, k=3, s=1),
        mbv3_op(ef=6, n=112, k=3, s=1),
        mbv3_op(ef=6, n=160, k=3, s=2),
        mbv3_op(ef=6, n=160, k=3, s=1),
        mbv3_op(ef=6, n=160, k=3, s=1),
        *_head(960, 1280, None),
    ],
)

V3_SMALL = dict(
    defaults=dict(DEFAULTS),
    spec=[
        _stem(16, hard_swish),
        mbv3_op_se(ef=1, n=16, k=3, s=2),
        mbv3_op(ef=72.0 / 16, n=24, k=3, s=2),
        mbv3_op(ef=(88.0 / 24), n=24, k=3, s=1),
        mbv3_op_se(ef=4, n=40, k=5, s=2, act=hard_swish),
        mbv3_op_se(ef=6, n=40, k=5, s=1, act=hard_swish),
        mbv3_op_se(ef=6, n=40, k=5, s=1, act=hard_swish),
        mbv3_op_se(ef=3, n=48, k=5, s=1, act=hard_swish),
        mbv3_op_se(ef=3, n=48, k=5, s=1, act=hard_swish),
        mbv3_op_se(ef=6, n=96, k=5, s=2, act=hard_swish),
        mbv3_op_se(ef=6, n=96, k=5, s=1, act=hard_swish),
        mbv3_op_se(ef=6, n=96, k=5, s=1, act=hard_swish),
        *_head(576, 1024, hard_swish),
    ],
)

V3_SMALL_MINIMALISTIC = dict(
    defaults=dict(DEFAULTS),
    spec=[
        _stem(16, None),
        mbv3_op(ef=1, n=16, k=3, s=2),
        mbv3_op(ef=72.0 / 16, n=24, k=3, s=2),
        mbv3_op(ef=(88.0 / 24), n=24, k=3, s=1),
        mbv3_op(ef=4, n=40, k=3, s=2),
        mbv3_op(ef=6, n=40, k=3, s=1),
        mbv3_op(ef=6, n=40, k=3, s=1),
        mbv3_op(ef=3, n=48, k=3, s=1),
        mbv3_op(ef=3, n=48, k=3, s=1),
        mbv3_op(ef=6, n=96, k=3, s=2),
        mbv3_op(ef=6, n=96, k=3, s=1),
        mbv3_op(ef=6, n=96, k=3, s=1),
        *_head(576, 1024, None),
    ],
)

V3_EDGETPU = dict(
    defaults=dict(DEFAULTS),
    spec=[
        op(slim.conv2d, stride=2, num_outputs=32, kernel_size=(3, 3)),
        mbv3_fused(k=3, s=1, ef=1, n=16),
        mbv3_fused(k=3, s=2, ef=8, n=32),
        mbv3_fused(k=3, s=1, ef=4, n=32),
        mbv3_fused(k=3, s=1, ef=4, n=32),
        mbv3_fused(k=3, s=1, ef=4, n=32),
        mbv3_fused(k=3, s=2, ef=8, n=48),
        mbv3_fused(k=3, s=1, ef=4, n=48),
        mbv3_fused(k=3, s=1, ef=4, n=48),
        mbv3_fused(k=3, s=1, ef=4, n=48),
        mbv3_op(k=3, s=2, ef=8, n=96),
        mbv3_op(k=3, s=1, ef=4, n=96),
        mbv3_op(k=3, s=1, ef=4, n=96),
        mbv3_op(k=3, s=1, ef=4, n=96),
        mbv3_op(k=3, s=1, ef=8, n=96, residual=False),
        mbv3_op(k=3, s=1, ef=4, n=96),
        mbv3_op(k=3, s=1, ef=4, n=96),
        mbv3_op(k=3, s=1, ef=4, n=96),
        mbv3_op(k=5, s=2, ef=8, n=160),
        mbv3_op(k=5, s=1, ef=4, n=160),
        mbv3_op(k=5, s=1, ef=4, n=160),
        mbv3_op(k=5, s=1, ef=4, n=160),
        mbv3_op(k=3, s=1, ef=8, n=192),
        op(slim.conv2d, stride=1, num_outputs=1280, kernel_size=(1, 1)),
    ],
)


@slim.add_arg_scope
def mobilenet(
    input_tensor: tf.Tensor,
    num_classes: int = 1001,
    depth_multiplier: float = 1.0,
    scope: str = "MobilenetV3",
    conv_defs: dict | None = None,
    finegrain_classification_mode: bool = False,
    use_groupnorm: bool = False,
    **kwargs,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """MobileNetV3. Inference mode is created by default; pass ``is_training=True`` or
    build inside :func:`training_scope` for training (TF-Slim's own tests look for the
    first sentence in this docstring).

    Args:
      input_tensor: ``[batch, height, width, 3]`` images in [-1, 1].
      num_classes: classes (1001 in TF-Slim's checkpoints); 0 or None: pooled features.
      depth_multiplier: scales every layer's channel count.
      scope: variable scope.
      conv_defs: layer list (default :data:`V3_LARGE`).
      finegrain_classification_mode: the last layer ignores ``depth_multiplier``.
      use_groupnorm: group normalisation instead of batch norm (``groups=8``).
      **kwargs: for :func:`mobilenet.mobilenet` (``is_training``, ``prediction_fn``,
        ``reuse``, ``base_only``, ...).

    Returns:
      ``(logits, end_points)``.

    Raises:
      ValueError: ``multiplier`` passed (use ``depth_multiplier``).
    """
    conv_defs = V3_LARGE if conv_defs is None else conv_defs
    if "multiplier" in kwargs:
        raise ValueError(
            "mobilenetv2 doesn't support generic multiplier parameter use "
            '"depth_multiplier" instead.'
        )
    if use_groupnorm:
        conv_defs = copy.deepcopy(conv_defs)
        conv_defs["defaults"] = dict(DEFAULTS_GROUP_NORM)
        conv_defs["defaults"][(slim.group_norm,)] = {"groups": kwargs.pop("groups", 8)}
    if finegrain_classification_mode:
        conv_defs = copy.deepcopy(conv_defs)
        conv_defs["spec"][-1] = conv_defs["spec"][-1]._replace(
            multiplier_func=lambda params, multiplier: params
        )
    return lib.mobilenet(
        input_tensor,
        num_classes=num_classes,
        conv_defs=conv_defs,
        scope=scope,
        multiplier=depth_multiplier,
        **kwargs,
    )


mobilenet.default_image_size = 224
training_scope = lib.training_scope


@slim.add_arg_scope
def mobilenet_base(input_tensor: tf.Tensor, depth_multiplier: float = 1.0, **kwargs):
    """The MobileNetV3 body without pooling and logits."""
    return mobilenet(input_tensor, depth_multiplier=depth_multiplier, base_only=True, **kwargs)


def wrapped_partial(func: Callable, new_defaults: dict | None = None, **kwargs) -> Callable:
    """``func`` with fixed ``kwargs`` and overridable ``new_defaults``, keeping its name,
    docstring and ``default_image_size``."""
    new_defaults = dict(new_defaults or {})

    def func_wrapper(*f_args, **f_kwargs):
        return func(*f_args, **{**new_defaults, **f_kwargs})

    functools.update_wrapper(func_wrapper, func)
    partial_func = functools.partial(func_wrapper, **kwargs)
    functools.update_wrapper(partial_func, func)
    return partial_func


large = wrapped_partial(mobilenet, conv_defs=V3_LARGE)
small = wrapped_partial(mobilenet, conv_defs=V3_SMALL)
edge_tpu = wrapped_partial(
    mobilenet, new_defaults={"scope": "MobilenetEdgeTPU"}, conv_defs=V3_EDGETPU
)
edge_tpu_075 = wrapped_partial(
    mobilenet,
    new_defaults={"scope": "MobilenetEdgeTPU"},
    conv_defs=V3_EDGETPU,
    depth_multiplier=0.75,
    finegrain_classification_mode=True,
)
large_minimalistic = wrapped_partial(mobilenet, conv_defs=V3_LARGE_MINIMALISTIC)
small_minimalistic = wrapped_partial(mobilenet, conv_defs=V3_SMALL_MINIMALISTIC)


def _reduce_consecutive_layers(
    conv_defs: dict, start_id: int, end_id: int, multiplier: float = 0.5
) -> dict:
    """A copy of ``conv_defs`` with layers ``start_id..end_id`` (0-based, inclusive)
    narrowed by ``multiplier`` (the detection variants)."""
    defs = copy.deepcopy(conv_defs)
    for d in defs["spec"][start_id : end_id + 1]:
        d.params.update({"num_outputs": int(np.round(d.params["num_outputs"] * multiplier))})
    return defs


V3_LARGE_DETECTION = _reduce_consecutive_layers(V3_LARGE, 13, 16)
V3_SMALL_DETECTION = _reduce_consecutive_layers(V3_SMALL, 9, 12)

__all__ = [
    "training_scope",
    "mobilenet",
    "V3_LARGE",
    "V3_SMALL",
    "large",
    "small",
    "V3_LARGE_DETECTION",
    "V3_SMALL_DETECTION",
]
