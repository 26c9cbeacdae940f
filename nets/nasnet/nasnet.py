"""NASNet-A (https://arxiv.org/abs/1707.07012) with TF-Slim's names, configs and defaults.

``build_nasnet_cifar`` (32x32), ``build_nasnet_mobile`` (224) and ``build_nasnet_large``
(331) build the same variables, end points and arithmetic as
``research/slim/nets/nasnet/nasnet.py``; variables sit at the top level (``cell_0/...``,
``final_layer/FC/weights``, ``aux_<n>/aux_logits/...``), with no net scope.

As in TF-Slim, the auxiliary head exists only when ``is_training``. A TF2 model must own
the same variables in both modes, so ``always_build_aux_head=True`` (set by slimcls's
registry) builds it in evaluation too; its variables are in TF-Slim's published
(training) checkpoints.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator

import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.nets.nasnet import nasnet_utils

_v1 = tf.compat.v1
arg_scope = slim.arg_scope


# Training notes from TF-Slim (CIFAR): batch 32, learning rate 0.025 with a single cosine
# period, auxiliary loss weight 0.4, gradients clipped to global norm 5.
def cifar_config() -> nasnet_utils.HParams:
    """NASNet-A 6@768 for CIFAR-10 (3.3M parameters)."""
    return nasnet_utils.HParams(
        stem_multiplier=3.0,
        drop_path_keep_prob=0.6,
        num_cells=18,
        use_aux_head=1,
        num_conv_filters=32,
        dense_dropout_keep_prob=1.0,
        filter_scaling_rate=2.0,
        num_reduction_layers=2,
        data_format="NHWC",
        skip_reduction_layer_input=0,
        total_training_steps=937500,  # 600 epochs at batch 32: the drop-path ramp
        use_bounded_activation=False,
    )


# ImageNet (large): 100 replicas x batch 16, learning rate 0.015 x 100 decayed by 0.97
# every 2.4 epochs, auxiliary weight 0.4, label smoothing 0.1, gradient norm clip 10.
def large_imagenet_config() -> nasnet_utils.HParams:
    """NASNet-A 6@4032 for ImageNet at 331x331."""
    return nasnet_utils.HParams(
        stem_multiplier=3.0,
        dense_dropout_keep_prob=0.5,
        num_cells=18,
        filter_scaling_rate=2.0,
        num_conv_filters=168,
        drop_path_keep_prob=0.7,
        use_aux_head=1,
        num_reduction_layers=2,
        data_format="NHWC",
        skip_reduction_layer_input=1,
        total_training_steps=250000,
        use_bounded_activation=False,
    )


# ImageNet (mobile): 50 replicas x batch 32, learning rate 0.04 x 50 decayed by 0.97
# every 2.4 epochs, auxiliary weight 0.4, label smoothing 0.1, gradient norm clip 10.
def mobile_imagenet_config() -> nasnet_utils.HParams:
    """NASNet-A 4@1056 for ImageNet at 224x224."""
    return nasnet_utils.HParams(
        stem_multiplier=1.0,
        dense_dropout_keep_prob=0.5,
        num_cells=12,
        filter_scaling_rate=2.0,
        drop_path_keep_prob=1.0,
        num_conv_filters=44,
        use_aux_head=1,
        num_reduction_layers=2,
        data_format="NHWC",
        skip_reduction_layer_input=0,
        total_training_steps=250000,
        use_bounded_activation=False,
    )


def _update_hparams(hparams: nasnet_utils.HParams, is_training: bool) -> None:
    """No drop path outside training."""
    if not is_training:
        hparams.set_hparam("drop_path_keep_prob", 1.0)


def _nasnet_arg_scope(weight_decay: float, batch_norm_decay: float, batch_norm_epsilon: float):
    """L2 + fan-out variance scaling on every weight, FC layers named ``FC`` without
    activation, convolutions without biases or activation (each is followed by a batch
    norm, which learns a scale)."""
    with arg_scope(
        [slim.fully_connected, slim.conv2d, slim.separable_conv2d],
        weights_regularizer=slim.l2_regularizer(weight_decay),
        weights_initializer=slim.variance_scaling_initializer(mode="FAN_OUT"),
    ):
        with arg_scope([slim.fully_connected], activation_fn=None, scope="FC"):
            with arg_scope(
                [slim.conv2d, slim.separable_conv2d], activation_fn=None, biases_initializer=None
            ):
                with arg_scope(
                    [slim.batch_norm],
                    decay=batch_norm_decay,
                    epsilon=batch_norm_epsilon,
                    scale=True,
                    fused=True,
                ) as scope:
                    return scope


def nasnet_cifar_arg_scope(
    weight_decay: float = 5e-4, batch_norm_decay: float = 0.9, batch_norm_epsilon: float = 1e-5
) -> dict:
    """TF-Slim's arg scope for NASNet-A CIFAR."""
    return _nasnet_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def nasnet_mobile_arg_scope(
    weight_decay: float = 4e-5,
    batch_norm_decay: float = 0.9997,
    batch_norm_epsilon: float = 1e-3,
) -> dict:
    """TF-Slim's arg scope for NASNet-A Mobile."""
    return _nasnet_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def nasnet_large_arg_scope(
    weight_decay: float = 5e-5,
    batch_norm_decay: float = 0.9997,
    batch_norm_epsilon: float = 1e-3,
) -> dict:
    """TF-Slim's arg scope for NASNet-A Large."""
    return _nasnet_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def _build_aux_head(net, end_points, num_classes, hparams, scope):
    """Auxiliary classifier: 5x5/3 average pool, 1x1 conv (``proj``) to 128, a conv over
    the whole remaining map to 768, then the ``FC`` logits -> ``end_points['AuxLogits']``."""
    activation_fn = tf.nn.relu6 if hparams.use_bounded_activation else tf.nn.relu
    with _v1.variable_scope(scope):
        aux = tf.identity(net)
        with _v1.variable_scope("aux_logits"):
            aux = slim.avg_pool2d(aux, [5, 5], stride=3, padding="VALID")
            aux = slim.conv2d(aux, 128, [1, 1], scope="proj")
            aux = activation_fn(slim.batch_norm(aux, scope="aux_bn0"))
            spatial = aux.shape[1:3] if hparams.data_format == "NHWC" else aux.shape[2:4]
            aux = slim.conv2d(aux, 768, spatial, padding="VALID")
            aux = activation_fn(slim.batch_norm(aux, scope="aux_bn1"))
            aux = slim.flatten(aux)
            end_points["AuxLogits"] = slim.fully_connected(aux, num_classes)


def _imagenet_stem(inputs, hparams, stem_cell, current_step=None):
    """3x3/2 VALID conv (``conv0``) then two stride-2 cells ``cell_stem_0/1``."""
    num_stem_cells = 2
    net = slim.conv2d(
        inputs,
        int(32 * hparams.stem_multiplier),
        [3, 3],
        stride=2,
        scope="conv0",
        padding="VALID",
    )
    net = slim.batch_norm(net, scope="conv0_bn")
    cell_outputs = [None, net]
    filter_scaling = 1.0 / (hparams.filter_scaling_rate**num_stem_cells)
    for cell_num in range(num_stem_cells):
        net = stem_cell(
            net,
            scope=f"cell_stem_{cell_num}",
            filter_scaling=filter_scaling,
            stride=2,
            prev_layer=cell_outputs[-2],
            cell_num=cell_num,
            current_step=current_step,
        )
        cell_outputs.append(net)
        filter_scaling *= hparams.filter_scaling_rate
    return net, cell_outputs


def _cifar_stem(inputs, hparams):
    """One 3x3 conv (``l1_stem_3x3``) + batch norm."""
    net = slim.conv2d(
        inputs, int(hparams.num_conv_filters * hparams.stem_multiplier), 3, scope="l1_stem_3x3"
    )
    net = slim.batch_norm(net, scope="l1_stem_bn")
    return net, [None, net]


def _build(
    images,
    num_classes,
    is_training,
    hparams,
    stem_type,
    final_endpoint=None,
    current_step=None,
    always_build_aux_head=False,
):
    """Shared body of the three builders: cells from ``hparams``, data-format arg scopes."""
    _update_hparams(hparams, is_training)
    if hparams.data_format == "NCHW":
        images = tf.transpose(images, [0, 3, 1, 2])
    # +2 reduction cells, +2 stem cells on ImageNet (drop path scales with depth).
    total_num_cells = hparams.num_cells + 2 + (2 if stem_type == "imagenet" else 0)
    cell_args = (
        hparams.num_conv_filters,
        hparams.drop_path_keep_prob,
        total_num_cells,
        hparams.total_training_steps,
        hparams.use_bounded_activation,
    )
    normal_cell = nasnet_utils.NasNetANormalCell(*cell_args)
    reduction_cell = nasnet_utils.NasNetAReductionCell(*cell_args)
    with _builder_scopes(is_training, hparams.data_format):
        return _build_nasnet_base(
            images,
            normal_cell=normal_cell,
            reduction_cell=reduction_cell,
            num_classes=num_classes,
            hparams=hparams,
            is_training=is_training,
            stem_type=stem_type,
            final_endpoint=final_endpoint,
            current_step=current_step,
            always_build_aux_head=always_build_aux_head,
        )


@contextlib.contextmanager
def _builder_scopes(is_training: bool, data_format: str) -> Iterator[None]:
    """``is_training`` for dropout/drop path/batch norm and ``data_format`` for every
    layer and helper, as TF-Slim's builders set them."""
    with (
        arg_scope([slim.dropout, nasnet_utils.drop_path, slim.batch_norm], is_training=is_training),
        arg_scope(
            [
                slim.avg_pool2d,
                slim.max_pool2d,
                slim.conv2d,
                slim.batch_norm,
                slim.separable_conv2d,
                nasnet_utils.factorized_reduction,
                nasnet_utils.global_avg_pool,
                nasnet_utils.get_channel_index,
                nasnet_utils.get_channel_dim,
            ],
            data_format=data_format,
        ),
    ):
        yield


def build_nasnet_cifar(
    images,
    num_classes,
    is_training=True,
    config=None,
    current_step=None,
    *,
    always_build_aux_head=False,
):
    """NASNet-A for CIFAR (32x32 inputs).

    Args:
      images: ``[batch, 32, 32, 3]`` (other sizes work; the aux head needs >= 9).
      num_classes: number of classes; 0 or None returns the pooled features.
      is_training: batch norm, dropout and drop path mode; builds the auxiliary head.
      config: an ``HParams`` like :func:`cifar_config` (copied, not modified).
      current_step: step count for the drop-path ramp (default: the global step).
      always_build_aux_head: also build ``AuxLogits`` when not training.

    Returns:
      ``(logits, end_points)``.
    """
    hparams = cifar_config() if config is None else copy.deepcopy(config)
    return _build(
        images,
        num_classes,
        is_training,
        hparams,
        "cifar",
        current_step=current_step,
        always_build_aux_head=always_build_aux_head,
    )


build_nasnet_cifar.default_image_size = 32


def build_nasnet_mobile(
    images,
    num_classes,
    is_training=True,
    final_endpoint=None,
    config=None,
    current_step=None,
    *,
    always_build_aux_head=False,
):
    """NASNet-A Mobile for ImageNet (224x224); arguments as :func:`build_nasnet_cifar`,
    plus ``final_endpoint`` (``'Stem'``, ``'Cell_3'``, ``'global_pool'`` ...) to stop early."""
    hparams = mobile_imagenet_config() if config is None else copy.deepcopy(config)
    return _build(
        images,
        num_classes,
        is_training,
        hparams,
        "imagenet",
        final_endpoint,
        current_step,
        always_build_aux_head,
    )


build_nasnet_mobile.default_image_size = 224


def build_nasnet_large(
    images,
    num_classes,
    is_training=True,
    final_endpoint=None,
    config=None,
    current_step=None,
    *,
    always_build_aux_head=False,
):
    """NASNet-A Large for ImageNet (331x331); arguments as :func:`build_nasnet_mobile`."""
    hparams = large_imagenet_config() if config is None else copy.deepcopy(config)
    return _build(
        images,
        num_classes,
        is_training,
        hparams,
        "imagenet",
        final_endpoint,
        current_step,
        always_build_aux_head,
    )


build_nasnet_large.default_image_size = 331


def _final_layer(net, num_classes, hparams, activation_fn: Callable, add):
    """``final_layer``: activation, global average pool, dropout, ``FC`` logits."""
    with _v1.variable_scope("final_layer"):
        net = nasnet_utils.global_avg_pool(activation_fn(net))
        if add("global_pool", net) or not num_classes:
            return net, True
        net = slim.dropout(net, hparams.dense_dropout_keep_prob, scope="dropout")
        logits = slim.fully_connected(net, num_classes)
        # TF-Slim returns the dropout output (not the logits) when stopping here.
        if add("Logits", logits) or add("Predictions", tf.nn.softmax(logits, name="predictions")):
            return net, True
    return logits, False


def _build_nasnet_base(
    images,
    normal_cell,
    reduction_cell,
    num_classes,
    hparams,
    is_training,
    stem_type,
    final_endpoint=None,
    current_step=None,
    always_build_aux_head=False,
):
    """Stem, ``num_cells`` normal cells with reduction cells in front of the
    :func:`~nasnet_utils.calc_reduction_layers` ones, auxiliary head, final layer."""
    end_points = {}

    def add(name, net):
        end_points[name] = net
        return bool(final_endpoint) and name == final_endpoint

    reduction_indices = nasnet_utils.calc_reduction_layers(
        hparams.num_cells, hparams.num_reduction_layers
    )
    if stem_type == "imagenet":
        net, cell_outputs = _imagenet_stem(images, hparams, reduction_cell, current_step)
    elif stem_type == "cifar":
        net, cell_outputs = _cifar_stem(images, hparams)
    else:
        raise ValueError(f"Unknown stem_type: {stem_type!r}")
    if add("Stem", net):
        return net, end_points

    aux_head_cells = [reduction_indices[1] - 1] if len(reduction_indices) >= 2 else []
    activation_fn = tf.nn.relu6 if hparams.use_bounded_activation else tf.nn.relu
    filter_scaling = 1.0
    true_cell_num = 2 if stem_type == "imagenet" else 0  # counts the stem cells
    prev_layer = None
    for cell_num in range(hparams.num_cells):
        if hparams.skip_reduction_layer_input:
            prev_layer = cell_outputs[-2]
        if cell_num in reduction_indices:
            filter_scaling *= hparams.filter_scaling_rate
            index = reduction_indices.index(cell_num)
            net = reduction_cell(
                net,
                scope=f"reduction_cell_{index}",
                filter_scaling=filter_scaling,
                stride=2,
                prev_layer=cell_outputs[-2],
                cell_num=true_cell_num,
                current_step=current_step,
            )
            if add(f"Reduction_Cell_{index}", net):
                return net, end_points
            true_cell_num += 1
            cell_outputs.append(net)
        if not hparams.skip_reduction_layer_input:
            prev_layer = cell_outputs[-2]
        net = normal_cell(
            net,
            scope=f"cell_{cell_num}",
            filter_scaling=filter_scaling,
            stride=1,
            prev_layer=prev_layer,
            cell_num=true_cell_num,
            current_step=current_step,
        )
        if add(f"Cell_{cell_num}", net):
            return net, end_points
        true_cell_num += 1
        if (
            hparams.use_aux_head
            and cell_num in aux_head_cells
            and num_classes
            and (is_training or always_build_aux_head)
        ):
            _build_aux_head(
                activation_fn(net), end_points, num_classes, hparams, scope=f"aux_{cell_num}"
            )
        cell_outputs.append(net)

    net, _ = _final_layer(net, num_classes, hparams, activation_fn, add)
    return net, end_points
