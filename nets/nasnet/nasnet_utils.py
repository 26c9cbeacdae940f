"""Building blocks shared by NASNet-A and PNASNet-5 (TF-Slim's ``nasnet_utils``).

A cell combines two hidden states (the previous two cells' outputs) through five
``comb_iter_<i>`` pairs of operations (separable convolutions, pools, identity) and
concatenates the states nobody consumed. Scopes and variable names are TF-Slim's, so the
published NASNet/PNASNet checkpoints restore by name.

``HParams`` stands in for ``tf.contrib.training.HParams`` (gone from TensorFlow 2): the
configs are plain attribute bags with ``set_hparam`` and ``values``.
"""

from __future__ import annotations

import re

import tf_slim as slim

from slimcls.core.compat import tf

_v1 = tf.compat.v1

arg_scope = slim.arg_scope
DATA_FORMAT_NCHW = "NCHW"
DATA_FORMAT_NHWC = "NHWC"
#: Default of the ``data_format`` arguments: the nets set the real one with an arg scope.
INVALID = "null"
#: Bound of ``tf.clip_by_value`` with bounded (relu6) activations.
CLIP_BY_VALUE_CAP = 6


class HParams:
    """A minimal ``tf.contrib.training.HParams``: keyword attributes, ``set_hparam``,
    ``values``. Enough for TF-Slim's NASNet configs and for callers that override them."""

    def __init__(self, **hparams):
        self.__dict__.update(hparams)

    def set_hparam(self, name: str, value) -> None:
        """Sets an existing hyper-parameter (an unknown name is a KeyError, as in TF)."""
        if name not in self.__dict__:
            raise KeyError(f"Unknown hyperparameter {name!r}; known: {sorted(self.__dict__)}")
        setattr(self, name, value)

    def values(self) -> dict:
        """The hyper-parameters as a dict."""
        return dict(self.__dict__)

    def __repr__(self) -> str:
        return f"HParams({self.__dict__!r})"


def calc_reduction_layers(num_cells: int, num_reduction_layers: int) -> list[int]:
    """Cell indices that get a reduction cell in front: evenly spaced over ``num_cells``."""
    return [
        int(float(i) / (num_reduction_layers + 1) * num_cells)
        for i in range(1, num_reduction_layers + 1)
    ]


def _check_format(data_format: str) -> None:
    if data_format not in (DATA_FORMAT_NHWC, DATA_FORMAT_NCHW):
        raise ValueError(f"data_format must be 'NHWC' or 'NCHW', got {data_format!r}")


@slim.add_arg_scope
def get_channel_index(data_format: str = INVALID) -> int:
    """The channel axis of a 4-D tensor in ``data_format``."""
    _check_format(data_format)
    return 3 if data_format == DATA_FORMAT_NHWC else 1


@slim.add_arg_scope
def get_channel_dim(shape, data_format: str = INVALID) -> int:
    """The channel count of a 4-D ``shape`` in ``data_format``."""
    _check_format(data_format)
    if len(shape) != 4:
        raise ValueError(f"expected a 4-D shape, got {shape}")
    return int(shape[3] if data_format == DATA_FORMAT_NHWC else shape[1])


@slim.add_arg_scope
def global_avg_pool(x: tf.Tensor, data_format: str = INVALID) -> tf.Tensor:
    """Averages away the spatial dimensions: ``[batch, channels]``."""
    _check_format(data_format)
    if x.shape.ndims != 4:
        raise ValueError(f"expected a 4-D tensor, got shape {x.shape}")
    return tf.reduce_mean(x, axis=[1, 2] if data_format == DATA_FORMAT_NHWC else [2, 3])


def _subsample(net: tf.Tensor, stride: int, data_format: str) -> tf.Tensor:
    """Every ``stride``-th pixel (a 1x1 average pool with stride, VALID)."""
    strides = [1, stride, stride, 1] if data_format == DATA_FORMAT_NHWC else [1, 1, stride, stride]
    return tf.nn.avg_pool2d(
        net, ksize=[1, 1, 1, 1], strides=strides, padding="VALID", data_format=data_format
    )


@slim.add_arg_scope
def factorized_reduction(
    net: tf.Tensor, output_filters: int, stride: int, data_format: str = INVALID
) -> tf.Tensor:
    """Changes depth (and halves the grid when ``stride`` is 2) without dropping pixels.

    With stride 2, two 1x1 convs see the even and the odd pixel lattices (the second
    shifted by one after zero padding right and bottom); their outputs are concatenated
    and batch-normalised.
    """
    _check_format(data_format)
    if stride == 1:
        net = slim.conv2d(net, output_filters, 1, scope="path_conv")
        return slim.batch_norm(net, scope="path_bn")
    half = int(output_filters / 2)
    path1 = slim.conv2d(_subsample(net, stride, data_format), half, 1, scope="path1_conv")
    if data_format == DATA_FORMAT_NHWC:
        shifted = tf.pad(net, [[0, 0], [0, 1], [0, 1], [0, 0]])[:, 1:, 1:, :]
    else:
        shifted = tf.pad(net, [[0, 0], [0, 0], [0, 1], [0, 1]])[:, :, 1:, 1:]
    path2 = slim.conv2d(
        _subsample(shifted, stride, data_format),
        half + int(output_filters % 2),
        1,
        scope="path2_conv",
    )
    axis = 3 if data_format == DATA_FORMAT_NHWC else 1
    return slim.batch_norm(tf.concat([path1, path2], axis=axis), scope="final_path_bn")


@slim.add_arg_scope
def drop_path(net: tf.Tensor, keep_prob, is_training: bool = True) -> tf.Tensor:
    """Zeroes whole examples with probability ``1 - keep_prob`` (and rescales the rest)
    when training; the identity otherwise."""
    if not is_training:
        return net
    noise = keep_prob + tf.random.uniform([tf.shape(net)[0], 1, 1, 1], dtype=tf.float32)
    mask = tf.cast(tf.floor(noise), net.dtype)
    return net * tf.cast(1.0 / keep_prob, net.dtype) * mask


_SEPARABLE = re.compile(r"^separable_(\d)x(\d)_(\d+)$")
_POOL = re.compile(r"^(avg|max)_pool_(\d)x(\d)$")


def _parse_separable(operation: str) -> tuple[int, int]:
    """``'separable_5x5_2'`` -> (kernel 5, 2 layers)."""
    match = _SEPARABLE.match(operation)
    if not match or match.group(1) != match.group(2):
        raise ValueError(f"Unsupported separable operation {operation!r}")
    return int(match.group(1)), int(match.group(3))


def _stacked_separable_conv(
    net: tf.Tensor, stride: int, operation: str, filter_size: int, bounded: bool
) -> tf.Tensor:
    """``n`` x (activation, separable conv, batch norm); only the first one strides."""
    kernel, num_layers = _parse_separable(operation)
    activation_fn = tf.nn.relu6 if bounded else tf.nn.relu
    for layer in range(1, num_layers + 1):
        net = activation_fn(net)
        net = slim.separable_conv2d(
            net,
            filter_size,
            kernel,
            depth_multiplier=1,
            stride=stride if layer == 1 else 1,
            scope=f"separable_{kernel}x{kernel}_{layer}",
        )
        net = slim.batch_norm(net, scope=f"bn_sep_{kernel}x{kernel}_{layer}")
    return net


def _pooling(net: tf.Tensor, stride: int, operation: str, bounded: bool) -> tf.Tensor:
    """``'avg_pool_3x3'`` / ``'max_pool_3x3'`` with SAME padding."""
    match = _POOL.match(operation)
    if not match or match.group(2) != match.group(3):
        raise NotImplementedError(f"Unimplemented pooling operation {operation!r}")
    if bounded:
        net = tf.nn.relu6(net)
    pool = slim.avg_pool2d if match.group(1) == "avg" else slim.max_pool2d
    size = int(match.group(2))
    return pool(net, size, stride=stride, padding="SAME")


class NasNetABaseCell:
    """A NASNet-style cell: ``cell(net, scope, filter_scaling, stride, prev_layer, ...)``.

    Args:
      num_conv_filters: filters of every op at ``filter_scaling=1``.
      operations: 10 op names, a (left, right) pair per ``comb_iter``.
      used_hiddenstates: 7 flags; 1 marks a hidden state consumed inside the cell (not
        part of the output concatenation).
      hiddenstate_indices: 10 indices of the hidden state each op reads (0 and 1 are
        the cell inputs: the current net and the previous layer).
      drop_path_keep_prob: keep probability of drop path at the last cell, end of training.
      total_num_cells: cells in the net (drop path scales with depth).
      total_training_steps: steps over which drop path ramps up.
      use_bounded_activation: relu6 and clipping (friendlier to quantisation).
    """

    def __init__(
        self,
        num_conv_filters,
        operations,
        used_hiddenstates,
        hiddenstate_indices,
        drop_path_keep_prob,
        total_num_cells,
        total_training_steps,
        use_bounded_activation=False,
    ):
        self._num_conv_filters = num_conv_filters
        self._operations = operations
        self._used_hiddenstates = used_hiddenstates
        self._hiddenstate_indices = hiddenstate_indices
        self._drop_path_keep_prob = drop_path_keep_prob
        self._total_num_cells = total_num_cells
        self._total_training_steps = total_training_steps
        self._use_bounded_activation = use_bounded_activation

    def _activation(self, net: tf.Tensor) -> tf.Tensor:
        return tf.nn.relu6(net) if self._use_bounded_activation else tf.nn.relu(net)

    def _clip(self, net: tf.Tensor) -> tf.Tensor:
        if self._use_bounded_activation:
            return tf.clip_by_value(net, -CLIP_BY_VALUE_CAP, CLIP_BY_VALUE_CAP)
        return net

    def _reduce_prev_layer(self, prev_layer, curr_layer):
        """Brings the previous layer to the current one's grid (factorised reduction) or
        depth (``prev_1x1``); no previous layer means the current one is used twice."""
        if prev_layer is None:
            return curr_layer
        if int(curr_layer.shape[2]) != int(prev_layer.shape[2]):
            return factorized_reduction(self._activation(prev_layer), self._filter_size, stride=2)
        if self._filter_size != get_channel_dim(prev_layer.shape):
            prev_layer = slim.conv2d(
                self._activation(prev_layer), self._filter_size, 1, scope="prev_1x1"
            )
            return slim.batch_norm(prev_layer, scope="prev_bn")
        return prev_layer

    def _cell_base(self, net, prev_layer):
        """The two cell inputs: ``1x1`` conv + ``beginning_bn`` of ``net``, and the
        previous layer matched to it."""
        prev_layer = self._reduce_prev_layer(prev_layer, net)
        net = slim.conv2d(self._activation(net), self._filter_size, 1, scope="1x1")
        net = slim.batch_norm(net, scope="beginning_bn")
        return [net, prev_layer]

    def __call__(
        self,
        net,
        scope=None,
        filter_scaling=1,
        stride=1,
        prev_layer=None,
        cell_num=-1,
        current_step=None,
    ):
        """Builds the cell under ``scope``; returns the concatenated unused states."""
        self._cell_num = cell_num
        self._filter_scaling = filter_scaling
        self._filter_size = int(self._num_conv_filters * filter_scaling)
        with _v1.variable_scope(scope):
            states = self._cell_base(net, prev_layer)
            for i in range(5):
                left_idx, right_idx = self._hiddenstate_indices[2 * i : 2 * i + 2]
                left_op, right_op = self._operations[2 * i : 2 * i + 2]
                with _v1.variable_scope(f"comb_iter_{i}"):
                    with _v1.variable_scope("left"):
                        h1 = self._apply_conv_operation(
                            states[left_idx], left_op, stride, left_idx < 2, current_step
                        )
                    with _v1.variable_scope("right"):
                        h2 = self._apply_conv_operation(
                            states[right_idx], right_op, stride, right_idx < 2, current_step
                        )
                    with _v1.variable_scope("combine"):
                        h = h1 + h2
                        if self._use_bounded_activation:
                            h = tf.nn.relu6(h)
                    states.append(h)
            with _v1.variable_scope("cell_output"):
                return self._combine_unused_states(states)

    def _apply_conv_operation(self, net, operation, stride, is_from_original_input, current_step):
        """One op of a ``comb_iter``; only ops on the cell inputs stride."""
        if stride > 1 and not is_from_original_input:
            stride = 1
        input_filters = get_channel_dim(net.shape)
        filter_size = self._filter_size
        bounded = self._use_bounded_activation
        if "separable" in operation:
            net = self._clip(_stacked_separable_conv(net, stride, operation, filter_size, bounded))
        elif operation == "none":
            if bounded:
                net = tf.nn.relu6(net)
            if stride > 1 or input_filters != filter_size:
                if not bounded:
                    net = tf.nn.relu(net)
                net = slim.conv2d(net, filter_size, 1, stride=stride, scope="1x1")
                net = self._clip(slim.batch_norm(net, scope="bn_1"))
        elif "pool" in operation:
            net = _pooling(net, stride, operation, bounded)
            if input_filters != filter_size:
                net = slim.conv2d(net, filter_size, 1, stride=1, scope="1x1")
                net = slim.batch_norm(net, scope="bn_1")
            net = self._clip(net)
        else:
            raise ValueError(f"Unimplemented operation {operation!r}")
        if operation != "none":
            net = self._apply_drop_path(net, current_step=current_step)
        return net

    def _combine_unused_states(self, states):
        """Concatenates the unused states, each reduced to the last state's grid and depth
        (``reduction_<i>``) where it differs."""
        if len(self._used_hiddenstates) != len(states):
            raise ValueError("used_hiddenstates must have one flag per hidden state")
        final_height = int(states[-1].shape[2])
        final_filters = get_channel_dim(states[-1].shape)
        for idx, used in enumerate(self._used_hiddenstates):
            height = int(states[idx].shape[2])
            if used or (
                height == final_height and get_channel_dim(states[idx].shape) == final_filters
            ):
                continue
            with _v1.variable_scope(f"reduction_{idx}"):
                states[idx] = factorized_reduction(
                    states[idx], final_filters, 2 if height != final_height else 1
                )
        unused = [h for h, used in zip(states, self._used_hiddenstates) if not used]
        return tf.concat(unused, axis=get_channel_index())

    def _apply_drop_path(self, net, current_step=None):
        """Drop path whose drop rate grows with depth and with training progress.

        ``current_step`` (a step count) sets the progress; TF-Slim's default is the
        graph's global step. In TF2 there is no graph global step (and creating one would
        add a ``global_step`` variable to the model), so there the ramp counts as done:
        the final keep probability for this depth applies from the first step.
        """
        keep_prob = self._drop_path_keep_prob
        if keep_prob >= 1.0:
            return net
        if self._cell_num == -1:
            raise ValueError("drop path needs the cell's cell_num")
        layer_ratio = (self._cell_num + 1) / float(self._total_num_cells)
        keep_prob = 1 - layer_ratio * (1 - keep_prob)
        if current_step is None and not _v1.executing_eagerly_outside_functions():
            current_step = _v1.train.get_or_create_global_step()
        if current_step is not None:
            ratio = tf.minimum(1.0, tf.cast(current_step, tf.float32) / self._total_training_steps)
            keep_prob = 1 - ratio * (1 - keep_prob)
        return drop_path(net, keep_prob)


class NasNetANormalCell(NasNetABaseCell):
    """NASNet-A normal cell (keeps the grid)."""

    def __init__(
        self,
        num_conv_filters,
        drop_path_keep_prob,
        total_num_cells,
        total_training_steps,
        use_bounded_activation=False,
    ):
        super().__init__(
            num_conv_filters,
            operations=[
                "separable_5x5_2",
                "separable_3x3_2",
                "separable_5x5_2",
                "separable_3x3_2",
                "avg_pool_3x3",
                "none",
                "avg_pool_3x3",
                "avg_pool_3x3",
                "separable_3x3_2",
                "none",
            ],
            used_hiddenstates=[1, 0, 0, 0, 0, 0, 0],
            hiddenstate_indices=[0, 1, 1, 1, 0, 1, 1, 1, 0, 0],
            drop_path_keep_prob=drop_path_keep_prob,
            total_num_cells=total_num_cells,
            total_training_steps=total_training_steps,
            use_bounded_activation=use_bounded_activation,
        )


class NasNetAReductionCell(NasNetABaseCell):
    """NASNet-A reduction cell (halves the grid when called with stride 2)."""

    def __init__(
        self,
        num_conv_filters,
        drop_path_keep_prob,
        total_num_cells,
        total_training_steps,
        use_bounded_activation=False,
    ):
        super().__init__(
            num_conv_filters,
            operations=[
                "separable_5x5_2",
                "separable_7x7_2",
                "max_pool_3x3",
                "separable_7x7_2",
                "avg_pool_3x3",
                "separable_5x5_2",
                "none",
                "avg_pool_3x3",
                "separable_3x3_2",
                "max_pool_3x3",
            ],
            used_hiddenstates=[1, 1, 1, 0, 0, 0, 0],
            hiddenstate_indices=[0, 1, 0, 1, 0, 1, 3, 2, 2, 0],
            drop_path_keep_prob=drop_path_keep_prob,
            total_num_cells=total_num_cells,
            total_training_steps=total_training_steps,
            use_bounded_activation=use_bounded_activation,
        )
