"""PNASNet-5 (https://arxiv.org/abs/1712.00559) with TF-Slim's names, configs and defaults.

``build_pnasnet_mobile`` (224x224) and ``build_pnasnet_large`` (331x331) build the
variables, end points and arithmetic of ``research/slim/nets/nasnet/pnasnet.py``: one cell
type, striding where NASNet would insert a reduction cell, the NASNet ImageNet stem and
auxiliary head. ``always_build_aux_head`` as in :mod:`slimcls.nets.nasnet.nasnet`.
"""

from __future__ import annotations

import copy

import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.nets.nasnet import nasnet, nasnet_utils

_v1 = tf.compat.v1
arg_scope = slim.arg_scope


def large_imagenet_config() -> nasnet_utils.HParams:
    """PNASNet-5 Large (ImageNet at 331x331)."""
    return nasnet_utils.HParams(
        stem_multiplier=3.0,
        dense_dropout_keep_prob=0.5,
        num_cells=12,
        filter_scaling_rate=2.0,
        num_conv_filters=216,
        drop_path_keep_prob=0.6,
        use_aux_head=1,
        num_reduction_layers=2,
        data_format="NHWC",
        skip_reduction_layer_input=1,
        total_training_steps=250000,
        use_bounded_activation=False,
    )


def mobile_imagenet_config() -> nasnet_utils.HParams:
    """PNASNet-5 Mobile (ImageNet at 224x224)."""
    return nasnet_utils.HParams(
        stem_multiplier=1.0,
        dense_dropout_keep_prob=0.5,
        num_cells=9,
        filter_scaling_rate=2.0,
        num_conv_filters=54,
        drop_path_keep_prob=1.0,
        use_aux_head=1,
        num_reduction_layers=2,
        data_format="NHWC",
        skip_reduction_layer_input=1,
        total_training_steps=250000,
        use_bounded_activation=False,
    )


def pnasnet_large_arg_scope(
    weight_decay: float = 4e-5,
    batch_norm_decay: float = 0.9997,
    batch_norm_epsilon: float = 0.001,
) -> dict:
    """TF-Slim's PNASNet Large arg scope: NASNet's, with weight decay 4e-5."""
    return nasnet.nasnet_large_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def pnasnet_mobile_arg_scope(
    weight_decay: float = 4e-5,
    batch_norm_decay: float = 0.9997,
    batch_norm_epsilon: float = 0.001,
) -> dict:
    """TF-Slim's PNASNet Mobile arg scope (NASNet Mobile's)."""
    return nasnet.nasnet_mobile_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def _build_pnasnet_base(
    images,
    normal_cell,
    num_classes,
    hparams,
    is_training,
    final_endpoint=None,
    always_build_aux_head=False,
):
    """Stem, ``num_cells`` cells (stride 2 and doubled filters at the reduction indices),
    auxiliary head, final layer."""
    end_points = {}

    def add(name, net):
        end_points[name] = net
        return bool(final_endpoint) and name == final_endpoint

    reduction_indices = nasnet_utils.calc_reduction_layers(
        hparams.num_cells, hparams.num_reduction_layers
    )
    net, cell_outputs = nasnet._imagenet_stem(images, hparams, normal_cell)
    if add("Stem", net):
        return net, end_points

    aux_head_cells = [reduction_indices[1] - 1] if len(reduction_indices) >= 2 else []
    activation_fn = tf.nn.relu6 if hparams.use_bounded_activation else tf.nn.relu
    filter_scaling = 1.0
    true_cell_num = 2  # after the two stem cells
    prev_layer = None
    for cell_num in range(hparams.num_cells):
        is_reduction = cell_num in reduction_indices
        if is_reduction:
            filter_scaling *= hparams.filter_scaling_rate
        if hparams.skip_reduction_layer_input or not is_reduction:
            prev_layer = cell_outputs[-2]
        net = normal_cell(
            net,
            scope=f"cell_{cell_num}",
            filter_scaling=filter_scaling,
            stride=2 if is_reduction else 1,
            prev_layer=prev_layer,
            cell_num=true_cell_num,
        )
        if add(f"Cell_{cell_num}", net):
            return net, end_points
        true_cell_num += 1
        cell_outputs.append(net)
        if (
            hparams.use_aux_head
            and cell_num in aux_head_cells
            and num_classes
            and (is_training or always_build_aux_head)
        ):
            nasnet._build_aux_head(
                activation_fn(net), end_points, num_classes, hparams, scope=f"aux_{cell_num}"
            )

    net, _ = nasnet._final_layer(net, num_classes, hparams, activation_fn, add)
    return net, end_points


def _build(images, num_classes, is_training, final_endpoint, hparams, always_build_aux_head):
    nasnet._update_hparams(hparams, is_training)
    if hparams.data_format == "NCHW":
        images = tf.transpose(images, [0, 3, 1, 2])
    # PNASNet has one cell type: the cells plus the two stem cells.
    normal_cell = PNasNetNormalCell(
        hparams.num_conv_filters,
        hparams.drop_path_keep_prob,
        hparams.num_cells + 2,
        hparams.total_training_steps,
        hparams.use_bounded_activation,
    )
    with nasnet._builder_scopes(is_training, hparams.data_format):
        return _build_pnasnet_base(
            images,
            normal_cell=normal_cell,
            num_classes=num_classes,
            hparams=hparams,
            is_training=is_training,
            final_endpoint=final_endpoint,
            always_build_aux_head=always_build_aux_head,
        )


def build_pnasnet_large(
    images,
    num_classes,
    is_training=True,
    final_endpoint=None,
    config=None,
    *,
    always_build_aux_head=False,
):
    """PNASNet-5 Large for ImageNet (331x331).

    Args:
      images: ``[batch, height, width, 3]`` in [-1, 1].
      num_classes: number of classes; 0 or None returns the pooled features.
      is_training: batch norm, dropout and drop path mode; builds the auxiliary head.
      final_endpoint: stop at this end point (``'Stem'``, ``'Cell_3'``, ...).
      config: an ``HParams`` like :func:`large_imagenet_config` (copied).
      always_build_aux_head: also build ``AuxLogits`` when not training.

    Returns:
      ``(logits, end_points)``.
    """
    hparams = copy.deepcopy(config) if config else large_imagenet_config()
    return _build(images, num_classes, is_training, final_endpoint, hparams, always_build_aux_head)


build_pnasnet_large.default_image_size = 331


def build_pnasnet_mobile(
    images,
    num_classes,
    is_training=True,
    final_endpoint=None,
    config=None,
    *,
    always_build_aux_head=False,
):
    """PNASNet-5 Mobile for ImageNet (224x224); arguments as :func:`build_pnasnet_large`."""
    hparams = copy.deepcopy(config) if config else mobile_imagenet_config()
    return _build(images, num_classes, is_training, final_endpoint, hparams, always_build_aux_head)


build_pnasnet_mobile.default_image_size = 224


class PNasNetNormalCell(nasnet_utils.NasNetABaseCell):
    """The PNASNet-5 cell."""

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
                "max_pool_3x3",
                "separable_7x7_2",
                "max_pool_3x3",
                "separable_5x5_2",
                "separable_3x3_2",
                "separable_3x3_2",
                "max_pool_3x3",
                "separable_3x3_2",
                "none",
            ],
            used_hiddenstates=[1, 1, 0, 0, 0, 0, 0],
            hiddenstate_indices=[1, 1, 0, 0, 0, 0, 4, 0, 1, 0],
            drop_path_keep_prob=drop_path_keep_prob,
            total_num_cells=total_num_cells,
            total_training_steps=total_training_steps,
            use_bounded_activation=use_bounded_activation,
        )
