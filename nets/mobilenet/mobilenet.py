"""The MobileNet builder TF-Slim's MobileNetV2/V3 use: a net is a ``conv_defs`` dict.

``conv_defs = {'defaults': {(ops...): {arg: value}}, 'spec': [op(fn, **params), ...]}``:
each ``op`` becomes one layer (end point ``layer_<i>``, 1-based) built by ``fn`` with
its ``params`` after the depth multiplier has scaled ``num_outputs``. Names, arguments,
channel rounding and end points follow TF-Slim's ``research/slim/nets/mobilenet/
mobilenet.py``, so published checkpoints load by name; the graph scan TF-Slim used for
the ``layer_<i>/<name>output`` end points is replaced by
:func:`conv_blocks.collect_named_outputs`, which also works eagerly.
"""

from __future__ import annotations

import collections
import contextlib
import copy
from collections.abc import Callable, Iterator, Mapping

import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.nets.mobilenet import conv_blocks
from slimcls.nets.mobilenet.conv_blocks import _fixed_padding, _make_divisible  # noqa: F401


@slim.add_arg_scope
def apply_activation(x: tf.Tensor, name: str | None = None, activation_fn=None) -> tf.Tensor:
    """``activation_fn(x)``, or ``x`` when there is none (an arg-scope-able op)."""
    return activation_fn(x, name=name) if activation_fn else x


@contextlib.contextmanager
def _set_arg_scope_defaults(defaults) -> Iterator[None]:
    """Enters ``slim.arg_scope(funcs, **args)`` for each ``(funcs, args)`` pair."""
    items = list(defaults.items()) if hasattr(defaults, "items") else list(defaults)
    with contextlib.ExitStack() as stack:
        for funcs, args in items:
            stack.enter_context(slim.arg_scope(funcs, **args))
        yield


@slim.add_arg_scope
def depth_multiplier(
    output_params: dict, multiplier: float, divisible_by: int = 8, min_depth: int = 8, **_
) -> None:
    """Scales ``output_params['num_outputs']`` in place, rounded by ``_make_divisible``."""
    if "num_outputs" not in output_params:
        return
    d = output_params["num_outputs"]
    output_params["num_outputs"] = int(_make_divisible(d * multiplier, divisible_by, min_depth))


_Op = collections.namedtuple("Op", ["op", "params", "multiplier_func"])


def op(opfunc: Callable, multiplier_func: Callable = depth_multiplier, **params) -> _Op:
    """One layer of a ``conv_defs['spec']``: ``opfunc(net, **params)``.

    ``multiplier_transform=`` in ``params`` replaces ``multiplier_func``.
    """
    multiplier = params.pop("multiplier_transform", multiplier_func)
    return _Op(opfunc, params=params, multiplier_func=multiplier)


class NoOpScope:
    """A context manager that does nothing."""

    def __enter__(self):
        return None

    def __exit__(self, exc_type, exc_value, traceback):
        return False


def safe_arg_scope(funcs, **kwargs):
    """``slim.arg_scope(funcs, **kwargs)`` without the None values (None = leave as is)."""
    filtered = {k: v for k, v in kwargs.items() if v is not None}
    return slim.arg_scope(funcs, **filtered) if filtered else NoOpScope()


@contextlib.contextmanager
def _scope_all(scope, default_scope: str | None = None):
    with tf.compat.v1.variable_scope(scope, default_name=default_scope) as s:
        yield s


@slim.add_arg_scope
def mobilenet_base(
    inputs: tf.Tensor,
    conv_defs: Mapping,
    multiplier: float = 1.0,
    final_endpoint: str | None = None,
    output_stride: int | None = None,
    use_explicit_padding: bool = False,
    scope=None,
    is_training: bool | None = False,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Builds the layers of ``conv_defs`` (no pooling, no logits).

    Args:
      inputs: ``[batch, height, width, channels]``.
      conv_defs: ``{'defaults': ..., 'overrides': ..., 'spec': [op(...), ...]}``.
      multiplier: depth multiplier (> 0) applied through each op's ``multiplier_func``.
      final_endpoint: stop after this ``layer_<i>``.
      output_stride: None, 1 or an even number: stop striding there and dilate instead.
      use_explicit_padding: VALID convolutions on explicitly padded inputs.
      scope: variable scope (default ``Mobilenet``).
      is_training: batch-norm mode (None: leave the arg scope's).

    Returns:
      ``(net, end_points)``: ``layer_<i>`` and ``layer_<i>/<named output>``.

    Raises:
      ValueError: ``multiplier <= 0`` or a bad ``output_stride``.
    """
    if multiplier <= 0:
        raise ValueError("multiplier is not greater than zero.")
    defaults = conv_defs.get("defaults", {})
    overrides = conv_defs.get("overrides", {})
    if use_explicit_padding:
        overrides = copy.deepcopy(overrides)
        overrides[(slim.conv2d, slim.separable_conv2d)] = {"padding": "VALID"}
    if output_stride is not None and (
        output_stride == 0 or (output_stride > 1 and output_stride % 2)
    ):
        raise ValueError("Output stride must be None, 1 or a multiple of 2.")

    with (
        _scope_all(scope, default_scope="Mobilenet"),
        safe_arg_scope([slim.batch_norm], is_training=is_training),
        _set_arg_scope_defaults(defaults),
        _set_arg_scope_defaults(overrides),
    ):
        current_stride, rate = 1, 1
        net = inputs
        end_points: dict[str, tf.Tensor] = {}
        for i, opdef in enumerate(conv_defs["spec"]):
            params = dict(opdef.params)
            opdef.multiplier_func(params, multiplier)
            stride = params.get("stride", 1)
            # Past output_stride, layers keep stride 1 and dilate instead.
            if output_stride is not None and current_stride == output_stride:
                layer_stride, layer_rate = 1, rate
                rate *= stride
            else:
                layer_stride, layer_rate = stride, 1
                current_stride *= stride
            params["stride"] = layer_stride
            if layer_rate > 1 and tuple(params.get("kernel_size", [])) != (1, 1):
                params["rate"] = layer_rate
            if use_explicit_padding:
                if "kernel_size" in params:
                    net = _fixed_padding(net, params["kernel_size"], layer_rate)
                else:
                    params["use_explicit_padding"] = True

            end_point = f"layer_{i + 1}"
            with conv_blocks.collect_named_outputs() as named:
                net = opdef.op(net, **params)
            end_points[end_point] = net
            for name, tensor in named.items():
                end_points[f"{end_point}/{name}"] = tensor
            if final_endpoint is not None and end_point == final_endpoint:
                break
        return net, end_points


def global_pool(
    input_tensor: tf.Tensor,
    use_reduce_mean_for_pooling: bool = False,
    pool_op: Callable = tf.nn.avg_pool2d,
) -> tf.Tensor:
    """Averages over space to ``[batch, 1, 1, depth]`` (an average pool over the whole
    map, which more hardware supports than ``reduce_mean``; ``reduce_mean`` when asked
    or when the spatial size is unknown until run time)."""
    shape = input_tensor.get_shape().as_list()
    if use_reduce_mean_for_pooling or shape[1] is None or shape[2] is None:
        return tf.reduce_mean(input_tensor, [1, 2], keepdims=True, name="ReduceMean")
    output = pool_op(
        input_tensor, ksize=[1, shape[1], shape[2], 1], strides=[1, 1, 1, 1], padding="VALID"
    )
    output.set_shape([None, 1, 1, None])
    return output


@slim.add_arg_scope
def mobilenet(
    inputs: tf.Tensor,
    num_classes: int = 1001,
    prediction_fn: Callable | None = slim.softmax,
    reuse: bool | None = None,
    scope: str = "Mobilenet",
    base_only: bool = False,
    use_reduce_mean_for_pooling: bool = False,
    **mobilenet_args,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """A MobileNet classifier: :func:`mobilenet_base`, global pool, dropout, 1x1 logits.

    Inference mode unless ``is_training=True`` or inside ``training_scope()``.

    Args:
      inputs: ``[batch, height, width, channels]`` images in [-1, 1].
      num_classes: classes (1001 in TF-Slim's checkpoints); 0 or None returns the pooled
        ``[batch, 1, 1, depth]`` features (before dropout).
      prediction_fn: turns logits into ``end_points['Predictions']`` (None: skipped).
      reuse: reuse the variables of an earlier call in ``scope``.
      scope: variable scope.
      base_only: return the last layer (no pooling, no logits).
      use_reduce_mean_for_pooling: pool with ``reduce_mean``.
      **mobilenet_args: for :func:`mobilenet_base` (``conv_defs``, ``multiplier``,
        ``is_training``, ``output_stride``, ...).

    Returns:
      ``(logits [batch, num_classes], end_points)``.

    Raises:
      ValueError: ``inputs`` is not 4-D.
    """
    is_training = mobilenet_args.get("is_training", False)
    rank = len(inputs.get_shape().as_list())
    if rank != 4:
        raise ValueError(f"Expected rank 4 input, was: {rank}")
    with tf.compat.v1.variable_scope(scope, "Mobilenet", reuse=reuse) as var_scope:
        inputs = tf.identity(inputs, "input")
        net, end_points = mobilenet_base(inputs, scope=var_scope, **mobilenet_args)
        if base_only:
            return net, end_points
        net = tf.identity(net, name="embedding")
        with tf.compat.v1.variable_scope("Logits"):
            net = global_pool(net, use_reduce_mean_for_pooling)
            end_points["global_pool"] = net
            if not num_classes:
                return net, end_points
            net = slim.dropout(net, scope="Dropout", is_training=is_training)
            logits = slim.conv2d(
                net,
                num_classes,
                [1, 1],
                activation_fn=None,
                normalizer_fn=None,
                biases_initializer=tf.compat.v1.zeros_initializer(),
                scope="Conv2d_1c_1x1",
            )
            logits = tf.squeeze(logits, [1, 2])
            logits = tf.identity(logits, name="output")
        end_points["Logits"] = logits
        if prediction_fn:
            end_points["Predictions"] = prediction_fn(logits, "Predictions")
    return logits, end_points


def training_scope(
    is_training: bool | None = True,
    weight_decay: float = 0.00004,
    stddev: float = 0.09,
    dropout_keep_prob: float | None = 0.8,
    bn_decay: float | None = 0.997,
) -> dict:
    """TF-Slim's MobileNet training defaults.

    Args:
      is_training: batch-norm and dropout mode, also for :func:`mobilenet` /
        :func:`mobilenet_base` (None: not set).
      weight_decay: L2 on full convolutions (not on depthwise ones).
      stddev: truncated-normal initializer's standard deviation; negative: Xavier.
      dropout_keep_prob: dropout keep probability (None: not set).
      bn_decay: batch-norm moving-average decay (None: not set).

    Returns:
      An arg-scope dict for ``with slim.arg_scope(training_scope()):``.
    """
    if stddev < 0:
        initializer = slim.initializers.xavier_initializer()
    else:
        initializer = tf.compat.v1.truncated_normal_initializer(stddev=stddev)
    with (
        slim.arg_scope(
            [slim.conv2d, slim.fully_connected, slim.separable_conv2d],
            weights_initializer=initializer,
            normalizer_fn=slim.batch_norm,
        ),
        slim.arg_scope([mobilenet_base, mobilenet], is_training=is_training),
        safe_arg_scope([slim.batch_norm], decay=bn_decay, is_training=is_training),
        safe_arg_scope([slim.dropout], is_training=is_training, keep_prob=dropout_keep_prob),
        slim.arg_scope([slim.conv2d], weights_regularizer=slim.l2_regularizer(weight_decay)),
        slim.arg_scope([slim.separable_conv2d], weights_regularizer=None) as s,
    ):
        return s
