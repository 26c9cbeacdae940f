"""Convolution blocks of the MobileNetV2/V3 builder, with TF-Slim's scopes and arguments.

The names match TF-Slim's ``research/slim/nets/mobilenet/conv_blocks.py``:
``expanded_conv[_N]/{expand,depthwise,project}`` (``expand_part_<i>`` when split),
``squeeze_excite/Conv`` and ``squeeze_excite/Conv_1``, ``<scope>_depthwise`` /
``<scope>_pointwise`` for :func:`split_separable_conv2d`.

TF-Slim's builder found the blocks' named outputs (``output``, ``expansion_output``,
``depthwise_output``) by scanning the graph's operations, which does not work eagerly.
Here each block reports them through :func:`named_output`, which the builder collects
with :func:`collect_named_outputs`; the end points are the same in both modes.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator, Sequence

import tf_slim as slim

from slimcls.core.compat import tf

_collectors = threading.local()


@contextlib.contextmanager
def collect_named_outputs() -> Iterator[dict[str, tf.Tensor]]:
    """Collects ``{name: tensor}`` of every :func:`named_output` made inside the block."""
    stack = _collectors.__dict__.setdefault("stack", [])
    found: dict[str, tf.Tensor] = {}
    stack.append(found)
    try:
        yield found
    finally:
        stack.pop()


def named_output(tensor: tf.Tensor, name: str) -> tf.Tensor:
    """``tf.identity(tensor, name)``, reported to the innermost :func:`collect_named_outputs`."""
    out = tf.identity(tensor, name=name)
    stack = getattr(_collectors, "stack", None)
    if stack:
        stack[-1][name] = out
    return out


def _fixed_padding(inputs: tf.Tensor, kernel_size: Sequence[int], rate: int = 1) -> tf.Tensor:
    """Zero-pads so that a VALID convolution gives a SAME one's output size.

    As in TF-Slim, the first kernel dimension sets the padding of both (kernels are
    square).
    """
    total = kernel_size[0] + (kernel_size[0] - 1) * (rate - 1) - 1
    beg, end = total // 2, total - total // 2
    return tf.pad(inputs, [[0, 0], [beg, end], [beg, end], [0, 0]])


def _make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """``v`` rounded to a multiple of ``divisor`` (at least ``min_value``), never more
    than 10% below ``v``: the channel rounding all MobileNet checkpoints were built with."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _split_divisible(num: int, num_ways: int, divisible_by: int = 8) -> list[int]:
    """Splits ``num`` into ``num_ways`` near-equal parts, each a multiple of ``divisible_by``."""
    if num % divisible_by or num / num_ways < divisible_by:
        raise ValueError(f"cannot split {num} {num_ways} ways in multiples of {divisible_by}")
    base = num // num_ways // divisible_by * divisible_by
    result, accumulated = [], 0
    for i in range(num_ways):
        r = base
        while accumulated + r < num * (i + 1) / num_ways:
            r += divisible_by
        result.append(r)
        accumulated += r
    return result


@contextlib.contextmanager
def _v1_compatible_scope_naming(scope: str | None) -> Iterator[str]:
    """Scope prefix of a separable block: ``<scope>_`` or a fresh ``separable[_N]/`` scope."""
    if scope is None:
        with tf.compat.v1.variable_scope(None, default_name="separable"):
            yield ""
    else:
        yield scope + "_"


@slim.add_arg_scope
def split_separable_conv2d(
    input_tensor: tf.Tensor,
    num_outputs: int,
    scope: str | None = None,
    normalizer_fn: Callable | None = None,
    stride: int = 1,
    rate: int = 1,
    endpoints: dict | None = None,
    use_explicit_padding: bool = False,
) -> tf.Tensor:
    """A MobileNetV1-style separable convolution: 3x3 depthwise (normalised and
    activated, unlike ``slim.separable_conv2d``), then a 1x1 convolution.

    Scopes ``<scope>_depthwise`` and ``<scope>_pointwise``; ``endpoints`` (optional dict)
    receives both outputs under those names.
    """
    with _v1_compatible_scope_naming(scope) as prefix:
        endpoints = endpoints if endpoints is not None else {}
        kernel_size = [3, 3]
        padding = "SAME"
        if use_explicit_padding:
            padding = "VALID"
            input_tensor = _fixed_padding(input_tensor, kernel_size, rate)
        dw_scope = prefix + "depthwise"
        net = slim.separable_conv2d(
            input_tensor,
            None,
            kernel_size,
            depth_multiplier=1,
            stride=stride,
            rate=rate,
            normalizer_fn=normalizer_fn,
            padding=padding,
            scope=dw_scope,
        )
        endpoints[dw_scope] = net
        pw_scope = prefix + "pointwise"
        net = slim.conv2d(
            net, num_outputs, [1, 1], stride=1, normalizer_fn=normalizer_fn, scope=pw_scope
        )
        endpoints[pw_scope] = net
    return net


def expand_input_by_factor(n: float, divisible_by: int = 8) -> Callable[..., int]:
    """An ``expansion_size`` callable: ``n`` times the input depth, made divisible."""
    return lambda num_inputs, **_: _make_divisible(num_inputs * n, divisible_by)


_EXPAND_BY_6 = expand_input_by_factor(6)


def split_conv(
    input_tensor: tf.Tensor,
    num_outputs: int,
    num_ways: int,
    scope: str,
    divisible_by: int = 8,
    **kwargs,
) -> tf.Tensor:
    """A 1x1 convolution split into ``num_ways`` groups (``<scope>_part_<i>``), each
    connecting one slice of the input to one slice of the output; a plain 1x1
    convolution (``scope``) when ``num_ways == 1`` or the groups would be too thin."""
    depth_in = input_tensor.get_shape().as_list()[3]
    if num_ways == 1 or min(depth_in // num_ways, num_outputs // num_ways) < divisible_by:
        return slim.conv2d(input_tensor, num_outputs, [1, 1], scope=scope, **kwargs)
    input_splits = _split_divisible(depth_in, num_ways, divisible_by=divisible_by)
    output_splits = _split_divisible(num_outputs, num_ways, divisible_by=divisible_by)
    parts = tf.split(input_tensor, input_splits, axis=3, name="split_" + scope)
    outs = []
    part_scope = scope
    for i, (part, out_size) in enumerate(zip(parts, output_splits)):
        part_scope = f"{scope}_part_{i}"
        net = slim.conv2d(part, out_size, [1, 1], scope=part_scope, **kwargs)
        outs.append(named_output(net, part_scope + "_output"))
    return tf.concat(outs, 3, name=part_scope + "_concat")


@slim.add_arg_scope
def expanded_conv(
    input_tensor: tf.Tensor,
    num_outputs: int,
    expansion_size: int | Callable = _EXPAND_BY_6,
    stride: int = 1,
    rate: int = 1,
    kernel_size: Sequence[int] = (3, 3),
    residual: bool | Callable = True,
    normalizer_fn: Callable | None = None,
    split_projection: int = 1,
    split_expansion: int = 1,
    split_divisible_by: int = 8,
    expansion_transform: Callable | None = None,
    depthwise_location: str | None = "expansion",
    depthwise_channel_multiplier: int = 1,
    endpoints: dict | None = None,
    use_explicit_padding: bool = False,
    padding: str = "SAME",
    inner_activation_fn: Callable | None = None,
    depthwise_activation_fn: Callable | None = None,
    project_activation_fn: Callable = tf.identity,
    depthwise_fn: Callable = slim.separable_conv2d,
    expansion_fn: Callable = split_conv,
    projection_fn: Callable = split_conv,
    scope: str | None = None,
) -> tf.Tensor:
    """The inverted-residual block: 1x1 expansion -> depthwise -> 1x1 linear projection.

    Args:
      input_tensor: ``[batch, h, w, c]``.
      num_outputs: channels of the projection.
      expansion_size: inner channels, or ``fn(num_inputs=c) -> channels``; no expansion
        layer when it is not larger than ``c``.
      stride, rate, kernel_size: of the depthwise convolution.
      residual: add the input when shapes allow (stride 1, same depth), or
        ``fn(input_tensor=, output_tensor=)``.
      normalizer_fn: normalisation of every convolution.
      split_projection, split_expansion, split_divisible_by: group the 1x1 convolutions
        (see :func:`split_conv`).
      expansion_transform: ``fn(expansion_tensor=, input_tensor=)`` applied before the
        projection (MobileNetV3's squeeze-excite).
      depthwise_location: ``'expansion'``, ``'input'``, ``'output'`` or None.
      depthwise_channel_multiplier: depthwise channel multiplier.
      endpoints: optional dict receiving ``expansion_output``, ``depthwise_output``,
        ``projection_output`` where built.
      use_explicit_padding: VALID convolutions on explicitly padded inputs.
      padding: padding when not ``use_explicit_padding``.
      inner_activation_fn, depthwise_activation_fn: activations of the expansion and
        depthwise layers (None: the arg scope's).
      project_activation_fn: activation of the projection (linear by default).
      depthwise_fn, expansion_fn, projection_fn: the layers themselves.
      scope: variable scope (default ``expanded_conv[_N]``).

    Returns:
      ``[batch, h / stride, w / stride, num_outputs]``.

    Raises:
      TypeError: unknown ``depthwise_location``, or ``use_explicit_padding`` with a
        padding other than SAME.
    """
    conv_defaults, dw_defaults = {}, {}
    if inner_activation_fn is not None:
        conv_defaults["activation_fn"] = inner_activation_fn
        dw_defaults["activation_fn"] = inner_activation_fn
    if depthwise_activation_fn is not None:
        dw_defaults["activation_fn"] = depthwise_activation_fn
    if depthwise_location not in (None, "input", "output", "expansion"):
        raise TypeError(f"{depthwise_location!r} is unknown value for depthwise_location")
    if use_explicit_padding:
        if padding != "SAME":
            raise TypeError('`use_explicit_padding` should only be used with "SAME" padding.')
        padding = "VALID"
    with (
        tf.compat.v1.variable_scope(scope, default_name="expanded_conv"),
        slim.arg_scope((slim.conv2d,), **conv_defaults),
        slim.arg_scope((slim.separable_conv2d,), **dw_defaults),
    ):
        prev_depth = input_tensor.get_shape().as_list()[3]
        depthwise_func = functools.partial(
            depthwise_fn,
            num_outputs=None,
            kernel_size=kernel_size,
            depth_multiplier=depthwise_channel_multiplier,
            stride=stride,
            rate=rate,
            normalizer_fn=normalizer_fn,
            padding=padding,
            scope="depthwise",
        )

        def depthwise(net, **kwargs):
            if use_explicit_padding:
                net = _fixed_padding(net, kernel_size, rate)
            net = named_output(depthwise_func(net, **kwargs), "depthwise_output")
            if endpoints is not None:
                endpoints["depthwise_output"] = net
            return net

        input_tensor = tf.identity(input_tensor, "input")
        net = input_tensor
        if depthwise_location == "input":
            net = depthwise(net, activation_fn=None)

        inner_size = (
            expansion_size(num_inputs=prev_depth) if callable(expansion_size) else (expansion_size)
        )
        if inner_size > net.shape[3]:
            if expansion_fn == split_conv:
                expansion_fn = functools.partial(
                    split_conv, num_ways=split_expansion, divisible_by=split_divisible_by, stride=1
                )
            net = expansion_fn(net, inner_size, scope="expand", normalizer_fn=normalizer_fn)
            net = named_output(net, "expansion_output")
            if endpoints is not None:
                endpoints["expansion_output"] = net

        if depthwise_location == "expansion":
            net = depthwise(net)
        if expansion_transform:
            net = expansion_transform(expansion_tensor=net, input_tensor=input_tensor)
        if projection_fn == split_conv:
            projection_fn = functools.partial(
                split_conv, num_ways=split_projection, divisible_by=split_divisible_by, stride=1
            )
        net = projection_fn(
            net,
            num_outputs,
            scope="project",
            normalizer_fn=normalizer_fn,
            activation_fn=project_activation_fn,
        )
        if endpoints is not None:
            endpoints["projection_output"] = net
        if depthwise_location == "output":
            net = depthwise(net, activation_fn=None)

        if callable(residual):
            net = residual(input_tensor=input_tensor, output_tensor=net)
        elif (
            residual
            and stride == 1
            and net.get_shape().as_list()[3] == input_tensor.get_shape().as_list()[3]
        ):
            net += input_tensor
        return named_output(net, "output")


@slim.add_arg_scope
def squeeze_excite(
    input_tensor: tf.Tensor,
    divisible_by: int = 8,
    squeeze_factor: float = 3,
    inner_activation_fn: Callable = tf.nn.relu,
    gating_fn: Callable = tf.sigmoid,
    squeeze_input_tensor: tf.Tensor | None = None,
    pool: int | None = None,
) -> tf.Tensor:
    """Squeeze-and-excite (MobileNetV3): ``input * gate(fc(fc(mean(input))))``.

    Variables in ``squeeze_excite/Conv`` (squeeze) and ``squeeze_excite/Conv_1``
    (excite), both with biases and no normalisation.

    Args:
      input_tensor: the tensor to gate.
      divisible_by: the squeeze width is a multiple of this.
      squeeze_factor: squeeze width = input channels / this.
      inner_activation_fn: activation after the squeeze.
      gating_fn: the gate's non-linearity.
      squeeze_input_tensor: compute the gate from this tensor instead of the input.
      pool: average-pool with this window (then upsample the gate) instead of a
        global mean.

    Returns:
      The gated ``input_tensor``.
    """
    with tf.compat.v1.variable_scope("squeeze_excite"):
        if squeeze_input_tensor is None:
            squeeze_input_tensor = input_tensor
        input_size = input_tensor.shape.as_list()[1:3]
        pool_height, pool_width = squeeze_input_tensor.shape.as_list()[1:3]
        stride = 1
        if pool is not None and pool_height >= pool:
            pool_height, pool_width, stride = pool, pool, pool
        input_channels = squeeze_input_tensor.shape.as_list()[3]
        output_channels = input_tensor.shape.as_list()[3]
        squeeze_channels = _make_divisible(input_channels / squeeze_factor, divisor=divisible_by)
        if pool is None:
            pooled = tf.reduce_mean(squeeze_input_tensor, axis=[1, 2], keepdims=True)
        else:
            pooled = tf.nn.avg_pool2d(
                squeeze_input_tensor,
                (1, pool_height, pool_width, 1),
                strides=(1, stride, stride, 1),
                padding="VALID",
            )
        squeeze = slim.conv2d(
            pooled,
            kernel_size=(1, 1),
            num_outputs=squeeze_channels,
            normalizer_fn=None,
            activation_fn=inner_activation_fn,
        )
        excite = slim.conv2d(
            squeeze,
            num_outputs=output_channels,
            kernel_size=[1, 1],
            normalizer_fn=None,
            activation_fn=gating_fn,
        )
        if pool is not None:
            excite = tf.compat.v1.image.resize_images(excite, input_size, align_corners=True)
        return input_tensor * excite
