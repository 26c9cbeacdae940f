"""Building blocks shared by the video nets I3D and S3D-G (:mod:`slimcls.nets.i3d`,
:mod:`slimcls.nets.s3dg`), with TF-Slim's names and arithmetic.

The nets are Inception V1 inflated to 3-D: a clip ``[batch, time, height, width,
channels]`` goes through 3-D convolutions and pools that keep InceptionV1's scopes (so an
image InceptionV1 checkpoint can be inflated into them). S3D-G factorises each ``k x k x k``
convolution into a spatial ``1 x k x k`` one followed by a temporal ``k x 1 x 1`` one
(:func:`conv3d_spatiotemporal` with ``separable=True``); the temporal half starts as the
identity (:func:`center_initializer`), so the net initially behaves like its 2-D parent.
Same public functions, arguments and variable names as
``research/slim/nets/i3d_utils.py``, written for slimcls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tf_slim as slim

from slimcls.core.compat import tf

_v1 = tf.compat.v1


def center_initializer() -> Callable:
    """Initialiser of a temporal ``[k, 1, 1, c, c]`` kernel that copies the centre frame.

    Each output channel starts as its own input channel at the middle time step, so a
    freshly added temporal convolution is the identity and training starts from the
    spatial net's behaviour (what makes separable 3-D nets converge well).

    The returned initialiser raises ValueError unless the dtype is float32/bfloat16, the
    shape is 5-D, the kernel is ``1 x 1`` in space with as many outputs as inputs, and the
    temporal size is odd (an even kernel has no centre).
    """

    def initializer(shape, dtype=tf.float32, partition_info=None):  # noqa: ARG001  (API)
        if dtype not in (tf.float32, tf.bfloat16):
            raise ValueError("Input tensor data type has to be tf.float32 or tf.bfloat16.")
        if len(shape) != 5:
            raise ValueError("Input tensor has to be 5-D.")
        time, height, width, channels_in, channels_out = (int(d) for d in shape)
        if channels_in != channels_out:
            raise ValueError("Input and output channel dimensions must be the same.")
        if (height, width) != (1, 1):
            raise ValueError("Spatial kernel sizes must be 1 (pointwise conv).")
        if time % 2 == 0:
            raise ValueError("Temporal kernel size has to be odd.")
        kernel = np.zeros([time, 1, 1, channels_in, channels_out], np.float32)
        kernel[time // 2, 0, 0] = np.eye(channels_in, dtype=np.float32)
        return tf.constant(kernel, dtype=dtype)

    return initializer


def _split_stride(stride) -> tuple[list[int], list[int]]:
    """``(spatial, temporal)`` strides of a separable conv: ``[1, sh, sw]`` and ``[st, 1, 1]``."""
    if isinstance(stride, list) and len(stride) == 3:
        return [1, stride[1], stride[2]], [stride[0], 1, 1]
    return [1, stride, stride], [stride, 1, 1]


@slim.add_arg_scope
def conv3d_spatiotemporal(
    inputs: tf.Tensor,
    num_outputs: int,
    kernel_size: Sequence[int],
    stride=1,
    padding: str = "SAME",
    activation_fn: Callable | None = None,
    normalizer_fn: Callable | None = None,
    normalizer_params: dict | None = None,
    weights_regularizer: Callable | None = None,
    separable: bool = False,
    data_format: str = "NDHWC",
    scope: str = "",
) -> tf.Tensor:
    """A ``[kt, kh, kw]`` 3-D convolution, or with ``separable`` its factorised form.

    Separable (and ``kt != 1``): a ``[1, kh, kw]`` convolution under ``scope`` (with the
    normaliser), then a ``[kt, 1, 1]`` one under ``scope/temporal`` (no normaliser, so it
    has biases; identity-initialised by :func:`center_initializer`; its weights get the
    enclosing ``slim.conv3d`` arg scope's regulariser). Both use ``activation_fn``.
    Otherwise one plain ``slim.conv3d`` under ``scope``.

    Args:
      inputs: ``[batch, time, height, width, channels]`` (or NCDHW, see ``data_format``).
      num_outputs: output channels (of both halves when separable).
      kernel_size: ``[time, height, width]`` of the full kernel (3 integers).
      stride: an integer, or ``[time, height, width]`` strides as a list.
      padding: ``"SAME"`` or ``"VALID"``.
      activation_fn: applied after each convolution; None: linear.
      normalizer_fn: normaliser of the (spatial) convolution instead of biases.
      normalizer_params: its keyword arguments.
      weights_regularizer: regulariser of the (spatial) convolution's weights.
      separable: factorise into spatial and temporal convolutions.
      data_format: ``"NDHWC"`` or ``"NCDHW"``.
      scope: variable scope of the (spatial) convolution.

    Returns:
      The output tensor.
    """
    if len(kernel_size) != 3:
        raise ValueError(f"kernel_size {kernel_size!r}; expected [time, height, width]")
    if not separable or kernel_size[0] == 1:
        return slim.conv3d(
            inputs,
            num_outputs,
            kernel_size,
            stride=stride,
            padding=padding,
            activation_fn=activation_fn,
            normalizer_fn=normalizer_fn,
            normalizer_params=normalizer_params,
            weights_regularizer=weights_regularizer,
            data_format=data_format,
            scope=scope,
        )
    spatial_stride, temporal_stride = _split_stride(stride)
    net = slim.conv3d(
        inputs,
        num_outputs,
        [1, kernel_size[1], kernel_size[2]],
        stride=spatial_stride,
        padding=padding,
        activation_fn=activation_fn,
        normalizer_fn=normalizer_fn,
        normalizer_params=normalizer_params,
        weights_regularizer=weights_regularizer,
        data_format=data_format,
        scope=scope,
    )
    return slim.conv3d(
        net,
        num_outputs,
        [kernel_size[0], 1, 1],
        stride=temporal_stride,
        padding=padding,
        activation_fn=activation_fn,
        normalizer_fn=None,
        data_format=data_format,
        weights_initializer=center_initializer(),
        scope=f"{scope}/temporal",
    )


@slim.add_arg_scope
def inception_block_v1_3d(
    inputs: tf.Tensor,
    num_outputs_0_0a: int,
    num_outputs_1_0a: int,
    num_outputs_1_0b: int,
    num_outputs_2_0a: int,
    num_outputs_2_0b: int,
    num_outputs_3_0b: int,
    temporal_kernel_size: int = 3,
    self_gating_fn: Callable | None = None,
    data_format: str = "NDHWC",
    scope: str = "",
) -> tf.Tensor:
    """InceptionV1's four-branch block in 3-D, optionally self-gated (S3D-G).

    Branch_0: 1x1x1 conv. Branch_1 and Branch_2: 1x1x1 conv then a
    ``[temporal_kernel_size, 3, 3]`` :func:`conv3d_spatiotemporal` (separable when the arg
    scope says so). Branch_3: 3x3x3 max pool then a 1x1x1 conv. Every branch's output goes
    through ``self_gating_fn(x, scope=<its last layer's name>)`` when given. The scopes are
    InceptionV1's (``Conv2d_0b_3x3`` even though the kernels are 3-D).

    Args:
      inputs: ``[batch, time, height, width, channels]`` (or NCDHW).
      num_outputs_0_0a: channels of Branch_0/Conv2d_0a_1x1.
      num_outputs_1_0a: channels of Branch_1/Conv2d_0a_1x1.
      num_outputs_1_0b: channels of Branch_1/Conv2d_0b_3x3.
      num_outputs_2_0a: channels of Branch_2/Conv2d_0a_1x1.
      num_outputs_2_0b: channels of Branch_2/Conv2d_0b_3x3.
      num_outputs_3_0b: channels of Branch_3/Conv2d_0b_1x1.
      temporal_kernel_size: time extent of the two 3x3 convolutions (1: 2-D in effect).
      self_gating_fn: ``fn(inputs, scope) -> same shape``; None: no gating.
      data_format: ``"NDHWC"`` or ``"NCDHW"`` (the branches are joined on ``C``).
      scope: variable scope of the block.

    Returns:
      The four branches concatenated on the channel axis.
    """

    def gate(net: tf.Tensor, layer: str) -> tf.Tensor:
        return net if self_gating_fn is None else self_gating_fn(net, scope=layer)

    def reduce_then_conv(net: tf.Tensor, reduce_depth: int, depth: int) -> tf.Tensor:
        net = slim.conv3d(net, reduce_depth, [1, 1, 1], scope="Conv2d_0a_1x1")
        net = conv3d_spatiotemporal(net, depth, [temporal_kernel_size, 3, 3], scope="Conv2d_0b_3x3")
        return gate(net, "Conv2d_0b_3x3")

    with _v1.variable_scope(scope):
        with _v1.variable_scope("Branch_0"):
            branch_0 = slim.conv3d(inputs, num_outputs_0_0a, [1, 1, 1], scope="Conv2d_0a_1x1")
            branch_0 = gate(branch_0, "Conv2d_0a_1x1")
        with _v1.variable_scope("Branch_1"):
            branch_1 = reduce_then_conv(inputs, num_outputs_1_0a, num_outputs_1_0b)
        with _v1.variable_scope("Branch_2"):
            branch_2 = reduce_then_conv(inputs, num_outputs_2_0a, num_outputs_2_0b)
        with _v1.variable_scope("Branch_3"):
            branch_3 = slim.max_pool3d(inputs, [3, 3, 3], scope="MaxPool_0a_3x3")
            branch_3 = slim.conv3d(branch_3, num_outputs_3_0b, [1, 1, 1], scope="Conv2d_0b_1x1")
            branch_3 = gate(branch_3, "Conv2d_0b_1x1")
        channel_axis = data_format.index("C")
        if not 1 <= channel_axis <= 4:
            raise ValueError(f"data_format {data_format!r}; expected NDHWC or NCDHW")
        return tf.concat([branch_0, branch_1, branch_2, branch_3], channel_axis)


def reduced_kernel_size_3d(input_tensor: tf.Tensor, kernel_size: Sequence[int]) -> list[int]:
    """``kernel_size`` ([time, height, width]) capped at the input's static extent.

    Lets the final average pool of I3D/S3D-G cover the whole map of a clip that is shorter
    or smaller than the net was designed for. When time, height or width is unknown at
    graph construction, the kernel is returned as given (the input is assumed large enough).
    """
    if len(kernel_size) != 3:
        raise ValueError(f"kernel_size {kernel_size!r}; expected [time, height, width]")
    shape = input_tensor.get_shape().as_list()
    if len(shape) != 5:
        raise ValueError(f"input of shape {shape}; expected [batch, time, height, width, c]")
    if None in shape[1:4]:
        return kernel_size
    return [min(extent, k) for extent, k in zip(shape[1:4], kernel_size)]
