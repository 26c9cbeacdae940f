"""The one table of nets: every fact slimcls knows about a net, one row per ``--model_name``.

Reading it needs no TensorFlow (``--help`` lists the choices from it before TensorFlow
loads). ``nets_factory`` turns each row into a :class:`~slimcls.nets.nets_factory.NetSpec`
with the functions imported on first use; ``slimcls.config`` takes ``--model_name``'s choices
from it and ``preprocessing_factory`` its per-net preprocessing names. Adding a net is its
module plus one row here.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class NetRow:
    """One net.

    Attributes:
      module: its module under ``slimcls.nets`` (``"mobilenet.mobilenet_v2"``).
      fn: the net function in ``module``: ``fn(images, num_classes, is_training, ...)``.
      arg_scope: the arg-scope function, in ``module`` or as ``"other_module.name"``.
      image_size: the input side the net was designed (and published) for.
      min_image_size: the smallest side it accepts.
      preprocessing: the style in ``preprocessing.preprocessing_factory``.
      background_class: its published checkpoints have 1001 classes, 0 = background.
      head_scopes: the classifier's scopes (logits first), excluded when fine-tuning a new head.
      output: how its logits become 2-D: ``""`` (already), ``"squeeze"`` (a
        ``spatial_squeeze`` argument) or ``"resnet"`` (ResNet's ``global_pool`` map).
      aux_logits: ``end_points['AuxLogits']`` exists.
      build_kwargs: keywords slimcls's own model wrapper passes (never TF-Slim's API).
      depthwise: mostly depthwise convolutions (the MobileNets but EdgeTPU's). They ran slower
        in bfloat16 than in float32 on a CPU with AVX512_BF16 but no AMX, so
        ``--mixed_precision=auto`` keeps float32 for them there.
      batch_norm_decay_arg: the net function takes ``batch_norm_decay`` itself (its batch
        norms are not in its arg scope), so ``--batch_norm_decay`` is passed to it too.
      video: takes clips ``[batch, time, height, width, 3]``: TF-Slim's Python API only.
    """

    module: str
    fn: str
    arg_scope: str
    image_size: int
    min_image_size: int
    preprocessing: str
    background_class: bool
    head_scopes: tuple[str, ...]
    output: str = ""
    aux_logits: bool = False
    build_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    depthwise: bool = False
    batch_norm_decay_arg: bool = False
    video: bool = False


def _resnets(version: str, preprocessing: str, background: bool) -> dict[str, NetRow]:
    return {
        f"resnet_{version}_{depth}": NetRow(
            f"resnet_{version}", f"resnet_{version}_{depth}", "resnet_utils.resnet_arg_scope",
            224, 32, preprocessing, background, (f"resnet_{version}_{depth}/logits",),
            output="resnet",
        )
        for depth in (50, 101, 152, 200)
    }


def _mobilenets() -> dict[str, NetRow]:
    v1 = {
        name: NetRow("mobilenet_v1", name, "mobilenet_v1_arg_scope", 224, 32, "inception", True,
                     ("MobilenetV1/Logits",), depthwise=True)
        for name in ("mobilenet_v1", "mobilenet_v1_075", "mobilenet_v1_050", "mobilenet_v1_025")
    }
    builder = {  # name: (module, function, variable scope); the builder's training_scope
        "mobilenet_v2": ("mobilenet_v2", "mobilenet", "MobilenetV2"),
        "mobilenet_v2_140": ("mobilenet_v2", "mobilenet_v2_140", "MobilenetV2"),
        "mobilenet_v2_035": ("mobilenet_v2", "mobilenet_v2_035", "MobilenetV2"),
        "mobilenet_v3_small": ("mobilenet_v3", "small", "MobilenetV3"),
        "mobilenet_v3_large": ("mobilenet_v3", "large", "MobilenetV3"),
        "mobilenet_v3_small_minimalistic": ("mobilenet_v3", "small_minimalistic", "MobilenetV3"),
        "mobilenet_v3_large_minimalistic": ("mobilenet_v3", "large_minimalistic", "MobilenetV3"),
        "mobilenet_edgetpu": ("mobilenet_v3", "edge_tpu", "MobilenetEdgeTPU"),
        "mobilenet_edgetpu_075": ("mobilenet_v3", "edge_tpu_075", "MobilenetEdgeTPU"),
    }
    return v1 | {
        name: NetRow(f"mobilenet.{module}", fn, "training_scope", 224, 32, "inception", True,
                     (f"{scope}/Logits",), depthwise="edgetpu" not in name)
        for name, (module, fn, scope) in builder.items()
    }


def _aux(net: str, aux: str) -> tuple[str, str]:
    return (f"{net}/Logits", f"{net}/{aux}")


# NASNet/PNASNet build their auxiliary head in evaluation too inside slimcls, so one TF2 model
# owns the same variables whether called with training True or False. Minimum sizes: the
# auxiliary heads' 5x5 VALID pooling needs a 5x5 map.
_NASNET = {"always_build_aux_head": True}

NETS: dict[str, NetRow] = {
    "cifarnet": NetRow("cifarnet", "cifarnet", "cifarnet_arg_scope", 32, 4, "cifarnet", False,
                       ("CifarNet/logits",)),
    "small_cnn": NetRow("small_cnn", "small_cnn", "small_cnn_arg_scope", 32, 4, "cifarnet", False,
                        ("SmallCNN/logits",), batch_norm_decay_arg=True),
    "lenet": NetRow("lenet", "lenet", "lenet_arg_scope", 28, 4, "lenet", False, ("LeNet/fc4",)),
    "inception_v1": NetRow("inception_v1", "inception_v1", "inception_utils.inception_arg_scope",
                           224, 193, "inception", True, ("InceptionV1/Logits",),
                           output="squeeze"),  # min: its 7x7 average pool needs a 7x7 Mixed_5c
    "inception_v2": NetRow("inception_v2", "inception_v2", "inception_utils.inception_arg_scope",
                           224, 32, "inception", True, ("InceptionV2/Logits",), output="squeeze"),
    "inception_v3": NetRow("inception_v3", "inception_v3", "inception_v3_arg_scope", 299, 75,
                           "inception", True, _aux("InceptionV3", "AuxLogits"), aux_logits=True),
    "inception_v4": NetRow("inception_v4", "inception_v4", "inception_v4_arg_scope", 299, 107,
                           "inception", True, _aux("InceptionV4", "AuxLogits"), aux_logits=True),
    "inception_resnet_v2": NetRow(
        "inception_resnet_v2", "inception_resnet_v2", "inception_resnet_v2_arg_scope", 299, 107,
        "inception", True, _aux("InceptionResnetV2", "AuxLogits"), aux_logits=True),
    **_resnets("v1", "vgg", False),
    **_resnets("v2", "inception", True),
    # fc6 is a VALID convolution on pool5 (7x7 VGG, 5x5 AlexNet, 6x6 OverFeat): its minimum size
    "vgg_a": NetRow("vgg", "vgg_a", "vgg_arg_scope", 224, 224, "vgg", False, ("vgg_a/fc8",),
                    output="squeeze"),
    "vgg_16": NetRow("vgg", "vgg_16", "vgg_arg_scope", 224, 224, "vgg", False, ("vgg_16/fc8",),
                     output="squeeze"),
    "vgg_19": NetRow("vgg", "vgg_19", "vgg_arg_scope", 224, 224, "vgg", False, ("vgg_19/fc8",),
                     output="squeeze"),
    "alexnet_v2": NetRow("alexnet", "alexnet_v2", "alexnet_v2_arg_scope", 224, 195, "vgg", False,
                         ("alexnet_v2/fc8",), output="squeeze"),
    "overfeat": NetRow("overfeat", "overfeat", "overfeat_arg_scope", 231, 231, "vgg", False,
                       ("overfeat/fc8",), output="squeeze"),
    **_mobilenets(),
    # No published checkpoint; TF-Slim trains it on CIFAR-10 with CIFAR augmentation.
    "nasnet_cifar": NetRow("nasnet.nasnet", "build_nasnet_cifar", "nasnet_cifar_arg_scope", 32, 9,
                           "cifarnet", False, ("final_layer/FC", "aux_11/aux_logits/FC"),
                           aux_logits=True, build_kwargs=_NASNET),
    "nasnet_mobile": NetRow("nasnet.nasnet", "build_nasnet_mobile", "nasnet_mobile_arg_scope",
                            224, 67, "inception", True, ("final_layer/FC", "aux_7/aux_logits/FC"),
                            aux_logits=True, build_kwargs=_NASNET),
    "nasnet_large": NetRow("nasnet.nasnet", "build_nasnet_large", "nasnet_large_arg_scope", 331,
                           67, "inception", True, ("final_layer/FC", "aux_11/aux_logits/FC"),
                           aux_logits=True, build_kwargs=_NASNET),
    "pnasnet_mobile": NetRow("nasnet.pnasnet", "build_pnasnet_mobile", "pnasnet_mobile_arg_scope",
                             224, 67, "inception", True, ("final_layer/FC", "aux_5/aux_logits/FC"),
                             aux_logits=True, build_kwargs=_NASNET),
    "pnasnet_large": NetRow("nasnet.pnasnet", "build_pnasnet_large", "pnasnet_large_arg_scope",
                            331, 67, "inception", True, ("final_layer/FC", "aux_7/aux_logits/FC"),
                            aux_logits=True, build_kwargs=_NASNET),
    # TF-Slim's video nets (Kinetics-400, frames in [-1, 1]): not --model_name choices.
    **{
        name: NetRow(name, name, f"{name}_arg_scope", 224, 1, "inception", False,
                     ("InceptionV1/Logits",), video=True)
        for name in ("i3d", "s3dg")
    },
}

#: ``--model_name``'s choices: the image classifiers (the video nets are Python-only).
MODEL_NAMES: tuple[str, ...] = tuple(sorted(n for n, row in NETS.items() if not row.video))
