"""The registry of nets: one :class:`NetSpec` record per model name.

``get_network_fn`` keeps TF-Slim's entry point; the returned function works in TF1 graph
mode (``tf.compat.v1`` graphs and placeholders) and inside
:class:`slimcls.slim_model.SlimModel` (eager and ``tf.function``).

Every registered net returns 2-D logits ``[batch, num_classes]`` and the end points
``Logits`` and ``Predictions``. The nets that return 4-D logits or lack those
end points (ResNet, VGG, AlexNet, InceptionV1/V2) are adapted here: their classifier
output is squeezed, or averaged over space when the input is larger than the size the
net was designed for (where TF-Slim would fail to squeeze).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
from collections.abc import Callable, Iterator, Mapping

import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.nets import (
    alexnet,
    cifarnet,
    inception_utils,
    inception_v1,
    inception_v2,
    inception_v3,
    resnet_utils,
    resnet_v1,
    resnet_v2,
    small_cnn,
)
from slimcls.nets import vgg as vgg_nets


@dataclasses.dataclass(frozen=True)
class NetSpec:
    """Everything slimcls needs to know about one net.

    Attributes:
      fn: ``fn(images, num_classes, is_training=False, **kw) -> (logits, end_points)``.
      arg_scope: ``arg_scope(weight_decay=...)`` returning a dict for
        ``with slim.arg_scope(...)``.
      default_image_size: the input side the net was designed (and published) for.
      preprocessing: name in ``preprocessing.preprocessing_factory``.
      background_class: published checkpoints have 1001 classes, 0 = background.
      min_image_size: smallest input side the net accepts.
      has_aux_logits: ``end_points['AuxLogits']`` exists (InceptionV3).
      logits_scopes: scopes of the classifier layers (to exclude when fine-tuning to a
        different number of classes).
      video: takes clips ``[batch, time, height, width, 3]`` (i3d, s3dg): TF-Slim's Python
        API only; the image commands refuse it (see :func:`check_takes_images`).
    """

    fn: Callable
    arg_scope: Callable
    default_image_size: int
    preprocessing: str
    background_class: bool
    min_image_size: int
    has_aux_logits: bool = False
    logits_scopes: tuple[str, ...] = ()
    video: bool = False


def _add_classifier_end_points(
    logits: tf.Tensor, end_points: dict, num_classes: int
) -> tuple[tf.Tensor, dict]:
    """Makes 4-D ``[batch, h, w, classes]`` logits 2-D and adds Logits/Predictions."""
    end_points = dict(end_points)
    if logits.shape.rank == 4:
        spatial = logits.shape[1:3]
        if spatial.is_fully_defined() and spatial.as_list() == [1, 1]:
            logits = tf.squeeze(logits, [1, 2], name="SpatialSqueeze")
        else:  # larger input than designed for: average the class scores over space
            logits = tf.reduce_mean(logits, [1, 2], name="SpatialMean")
    end_points["Logits"] = logits
    end_points["Predictions"] = slim.softmax(logits, scope="Predictions")
    return logits, end_points


def _feature_mode_unsupported(name: str) -> None:
    raise SlimclsError(
        f"num_classes=0 (feature mode) is not supported by {name}; expected num_classes >= 1 "
        "(feature mode works with cifarnet, small_cnn, inception_v3, resnet_*)"
    )


def _resnet(net_fn: Callable) -> Callable:
    """ResNet with 2-D logits and Logits/Predictions end points.

    The net's own squeeze is off: ``_add_classifier_end_points`` squeezes, or averages a
    map larger than 1x1 (``global_pool=False``), which the net's squeeze would reject.
    """

    @functools.wraps(net_fn)
    def fn(images, num_classes, is_training=False, global_pool=True, **kwargs):
        kwargs.pop("spatial_squeeze", None)
        net, end_points = net_fn(
            images,
            num_classes=num_classes or None,
            is_training=is_training,
            global_pool=global_pool,
            spatial_squeeze=False,
            **kwargs,
        )
        if not num_classes:
            return net, end_points
        return _add_classifier_end_points(net, end_points, num_classes)

    fn.default_image_size = 224
    return fn


def _squeezable(net_fn: Callable, name: str) -> Callable:
    """Nets with a ``spatial_squeeze`` argument (VGG, AlexNet, OverFeat, InceptionV1/V2)."""

    @functools.wraps(net_fn)
    def fn(images, num_classes, is_training=False, **kwargs):
        if not num_classes:
            _feature_mode_unsupported(name)
        kwargs.pop("spatial_squeeze", None)  # always 2-D logits, see _add_classifier_end_points
        logits, end_points = net_fn(
            images,
            num_classes=num_classes,
            is_training=is_training,
            spatial_squeeze=False,
            **kwargs,
        )
        return _add_classifier_end_points(logits, end_points, num_classes)

    fn.default_image_size = net_fn.default_image_size
    return fn


def _without_variables_collections(scope: dict) -> dict:
    """A copy of an arg-scope dict whose batch norms add no variables to collections.

    tf_slim's batch norm checks ``var not in tf.compat.v1.get_collection(c)`` before
    adding a moving statistic to ``variables_collections`` (the Inception arg scopes use
    ``moving_vars``). With TF2 variables ``in`` compares element-wise and fails, eagerly
    and inside ``tf.function``. Nothing in slimcls reads those collections.
    """
    out = {}
    for op_key, kwargs in scope.items():
        kwargs = dict(kwargs)
        if "batch_norm" in op_key:
            kwargs.pop("variables_collections", None)
        params = kwargs.get("normalizer_params")
        if isinstance(params, dict) and "variables_collections" in params:
            kwargs["normalizer_params"] = {
                k: v for k, v in params.items() if k != "variables_collections"
            }
        out[op_key] = kwargs
    return out


def _tf2_arg_scope(arg_scope_fn: Callable) -> Callable:
    """Wraps a tf_slim arg-scope function: ``weight_decay`` defaults to 0.0 (as in
    ``get_network_fn``) and, outside TF1 graphs, batch norms skip variable collections.
    """

    @functools.wraps(arg_scope_fn)
    def fn(weight_decay: float = 0.0, **kwargs) -> dict:
        scope = arg_scope_fn(weight_decay=weight_decay, **kwargs)
        if tf.compat.v1.executing_eagerly_outside_functions():
            scope = _without_variables_collections(scope)
        return scope

    return fn


def _resnet_specs(version: str, module, preprocessing: str, background_class: bool) -> dict:
    specs = {}
    for depth in (50, 101, 152):
        name = f"resnet_{version}_{depth}"
        specs[name] = NetSpec(
            fn=_resnet(getattr(module, name)),
            arg_scope=_tf2_arg_scope(resnet_utils.resnet_arg_scope),
            default_image_size=224,
            preprocessing=preprocessing,
            background_class=background_class,
            min_image_size=32,
            logits_scopes=(f"{name}/logits",),
        )
    return specs


NETWORKS: dict[str, NetSpec] = {
    "cifarnet": NetSpec(
        fn=cifarnet.cifarnet,
        arg_scope=_tf2_arg_scope(cifarnet.cifarnet_arg_scope),
        default_image_size=32,
        preprocessing="cifarnet",
        background_class=False,
        min_image_size=4,
        logits_scopes=("CifarNet/logits",),
    ),
    "small_cnn": NetSpec(
        fn=small_cnn.small_cnn,
        arg_scope=small_cnn.small_cnn_arg_scope,
        default_image_size=32,
        preprocessing="cifarnet",
        background_class=False,
        min_image_size=4,
        logits_scopes=("SmallCNN/logits",),
    ),
    "inception_v3": NetSpec(
        fn=inception_v3.inception_v3,
        arg_scope=_tf2_arg_scope(inception_v3.inception_v3_arg_scope),
        default_image_size=299,
        preprocessing="inception",
        background_class=True,
        min_image_size=75,
        has_aux_logits=True,
        logits_scopes=("InceptionV3/Logits", "InceptionV3/AuxLogits"),
    ),
    "inception_v1": NetSpec(
        fn=_squeezable(inception_v1.inception_v1, "inception_v1"),
        arg_scope=_tf2_arg_scope(inception_utils.inception_arg_scope),
        default_image_size=224,
        preprocessing="inception",
        background_class=True,
        min_image_size=193,  # its 7x7 average pool needs a 7x7 Mixed_5c
        logits_scopes=("InceptionV1/Logits",),
    ),
    "inception_v2": NetSpec(
        fn=_squeezable(inception_v2.inception_v2, "inception_v2"),
        arg_scope=_tf2_arg_scope(inception_utils.inception_arg_scope),
        default_image_size=224,
        preprocessing="inception",
        background_class=True,
        min_image_size=32,
        logits_scopes=("InceptionV2/Logits",),
    ),
    **_resnet_specs("v1", resnet_v1, "vgg", background_class=False),
    **_resnet_specs("v2", resnet_v2, "inception", background_class=True),
    "vgg_16": NetSpec(
        fn=_squeezable(vgg_nets.vgg_16, "vgg_16"),
        arg_scope=_tf2_arg_scope(vgg_nets.vgg_arg_scope),
        default_image_size=224,
        preprocessing="vgg",
        background_class=False,
        min_image_size=224,  # fc6 is a 7x7 VALID convolution on pool5
        logits_scopes=("vgg_16/fc8",),
    ),
    "vgg_19": NetSpec(
        fn=_squeezable(vgg_nets.vgg_19, "vgg_19"),
        arg_scope=_tf2_arg_scope(vgg_nets.vgg_arg_scope),
        default_image_size=224,
        preprocessing="vgg",
        background_class=False,
        min_image_size=224,
        logits_scopes=("vgg_19/fc8",),
    ),
    "alexnet_v2": NetSpec(
        fn=_squeezable(alexnet.alexnet_v2, "alexnet_v2"),
        arg_scope=_tf2_arg_scope(alexnet.alexnet_v2_arg_scope),
        default_image_size=224,
        preprocessing="vgg",
        background_class=False,
        min_image_size=195,  # fc6 is a 5x5 VALID convolution on pool5
        logits_scopes=("alexnet_v2/fc8",),
    ),
}


# ---------------------------------------------------------------------------------------
# zoo-a: the rest of TF-Slim's zoo (lenet, mobilenets, vgg_a, overfeat, resnet_*_200).
# Modules import on first use, so a broken net module fails only when that net is asked
# for (one-line SlimclsError), never the registry or the other nets.
# ---------------------------------------------------------------------------------------


def _load(name: str, module: str, attr: str) -> Callable:
    """``module.attr``, imported now; import failures become one-line SlimclsErrors."""
    try:
        return getattr(importlib.import_module(module), attr)
    except Exception as err:  # noqa: BLE001  (any import-time failure of that one module)
        detail = str(err).splitlines()[0] if str(err) else ""
        raise SlimclsError(
            f"model_name {name!r} is unavailable: importing {module}.{attr} failed with "
            f"{type(err).__name__}: {detail}; expected an importable net module"
        ) from err


def _lazy_net(name: str, module: str, attr: str, image_size: int, adapt=None) -> Callable:
    """A net function that imports ``module.attr`` on its first call (``adapt`` wraps it,
    e.g. :func:`_squeezable`)."""

    def fn(images, num_classes, is_training=False, **kwargs):
        net_fn = _load(name, module, attr)
        if adapt is not None:
            net_fn = adapt(net_fn)
        return net_fn(images, num_classes=num_classes, is_training=is_training, **kwargs)

    fn.__name__ = fn.__qualname__ = attr
    fn.__doc__ = f"``{module}.{attr}``, imported on first use."
    fn.default_image_size = image_size
    return fn


def _lazy_arg_scope(name: str, module: str, attr: str) -> Callable:
    """``module.attr(weight_decay=..., **kw)`` imported on first call; ``weight_decay``
    defaults to 0.0 as in ``get_network_fn`` (see :func:`_tf2_arg_scope`)."""

    def arg_scope(weight_decay: float = 0.0, **kwargs) -> dict:
        scope_fn = _tf2_arg_scope(_load(name, module, attr))
        return scope_fn(weight_decay=weight_decay, **kwargs)

    arg_scope.__name__ = arg_scope.__qualname__ = attr
    return arg_scope


_N = "slimcls.nets."
_MOBILENET_V1 = ("mobilenet_v1", "mobilenet_v1_075", "mobilenet_v1_050", "mobilenet_v1_025")
# name -> (module, function, variable scope); all use the builder's training_scope.
_MOBILENET_V2_V3 = {
    "mobilenet_v2": ("mobilenet.mobilenet_v2", "mobilenet", "MobilenetV2"),
    "mobilenet_v2_140": ("mobilenet.mobilenet_v2", "mobilenet_v2_140", "MobilenetV2"),
    "mobilenet_v2_035": ("mobilenet.mobilenet_v2", "mobilenet_v2_035", "MobilenetV2"),
    "mobilenet_v3_small": ("mobilenet.mobilenet_v3", "small", "MobilenetV3"),
    "mobilenet_v3_large": ("mobilenet.mobilenet_v3", "large", "MobilenetV3"),
    "mobilenet_v3_small_minimalistic": (
        "mobilenet.mobilenet_v3",
        "small_minimalistic",
        "MobilenetV3",
    ),
    "mobilenet_v3_large_minimalistic": (
        "mobilenet.mobilenet_v3",
        "large_minimalistic",
        "MobilenetV3",
    ),
    "mobilenet_edgetpu": ("mobilenet.mobilenet_v3", "edge_tpu", "MobilenetEdgeTPU"),
    "mobilenet_edgetpu_075": ("mobilenet.mobilenet_v3", "edge_tpu_075", "MobilenetEdgeTPU"),
}

NETWORKS.update(
    {
        "lenet": NetSpec(
            fn=_lazy_net("lenet", _N + "lenet", "lenet", 28),
            arg_scope=_lazy_arg_scope("lenet", _N + "lenet", "lenet_arg_scope"),
            default_image_size=28,
            preprocessing="lenet",
            background_class=False,
            min_image_size=4,
            logits_scopes=("LeNet/fc4",),
        ),
        **{
            name: NetSpec(
                fn=_lazy_net(name, _N + "mobilenet_v1", name, 224),
                arg_scope=_lazy_arg_scope(name, _N + "mobilenet_v1", "mobilenet_v1_arg_scope"),
                default_image_size=224,
                preprocessing="inception",
                background_class=True,
                min_image_size=32,
                logits_scopes=("MobilenetV1/Logits",),
            )
            for name in _MOBILENET_V1
        },
        **{
            name: NetSpec(
                fn=_lazy_net(name, _N + module, attr, 224),
                arg_scope=_lazy_arg_scope(name, _N + module, "training_scope"),
                default_image_size=224,
                preprocessing="inception",
                background_class=True,
                min_image_size=32,
                logits_scopes=(f"{scope}/Logits",),
            )
            for name, (module, attr, scope) in _MOBILENET_V2_V3.items()
        },
        "vgg_a": NetSpec(
            fn=_lazy_net("vgg_a", _N + "vgg", "vgg_a", 224, lambda f: _squeezable(f, "vgg_a")),
            arg_scope=_lazy_arg_scope("vgg_a", _N + "vgg", "vgg_arg_scope"),
            default_image_size=224,
            preprocessing="vgg",
            background_class=False,
            min_image_size=224,  # fc6 is a 7x7 VALID convolution on pool5
            logits_scopes=("vgg_a/fc8",),
        ),
        "overfeat": NetSpec(
            fn=_lazy_net(
                "overfeat",
                _N + "overfeat",
                "overfeat",
                231,
                lambda f: _squeezable(f, "overfeat"),
            ),
            arg_scope=_lazy_arg_scope("overfeat", _N + "overfeat", "overfeat_arg_scope"),
            default_image_size=231,
            preprocessing="vgg",
            background_class=False,
            min_image_size=231,  # fc6 is a 6x6 VALID convolution on pool5
            logits_scopes=("overfeat/fc8",),
        ),
        **{
            f"resnet_{version}_200": NetSpec(
                fn=_lazy_net(
                    f"resnet_{version}_200",
                    _N + f"resnet_{version}",
                    f"resnet_{version}_200",
                    224,
                    _resnet,
                ),
                arg_scope=_lazy_arg_scope(
                    f"resnet_{version}_200", _N + "resnet_utils", "resnet_arg_scope"
                ),
                default_image_size=224,
                preprocessing=preprocessing,
                background_class=background_class,
                min_image_size=32,
                logits_scopes=(f"resnet_{version}_200/logits",),
            )
            for version, preprocessing, background_class in (
                ("v1", "vgg", False),
                ("v2", "inception", True),
            )
        },
    }
)

# ------------------------------------ end of zoo-a ------------------------------------


class _SpecField(Mapping):
    """A read-only live view ``name -> getattr(NETWORKS[name], field)``."""

    def __init__(self, field: str) -> None:
        self._field = field

    def __getitem__(self, name: str) -> Callable:
        return getattr(NETWORKS[name], self._field)

    def __iter__(self):
        return iter(NETWORKS)

    def __len__(self) -> int:
        return len(NETWORKS)


#: TF-Slim's ``networks_map``: name -> ``fn(images, num_classes, is_training, **kw)``.
networks_map: Mapping[str, Callable] = _SpecField("fn")
#: TF-Slim's ``arg_scopes_map``: name -> ``arg_scope(weight_decay=...)``.
arg_scopes_map: Mapping[str, Callable] = _SpecField("arg_scope")


# --- zoo-b: InceptionV4, Inception-ResNet-v2, NASNet-A, PNASNet-5 (slimcls's own code with
# TF-Slim's names), on the same lazy loading as zoo-a's block above.


def _nasnet_family(build_fn: Callable) -> Callable:
    """A NASNet/PNASNet builder that builds its auxiliary head in evaluation too, so a TF2
    model owns the same variables whether called with ``training`` True or False."""

    @functools.wraps(build_fn)
    def fn(images, num_classes, is_training=False, **kwargs):
        kwargs.setdefault("always_build_aux_head", True)
        return build_fn(images, num_classes, is_training=is_training, **kwargs)

    return fn


# name: (module, net fn, arg scope fn, default size, min size, logits scopes, preprocessing,
# background class). Minimum sizes: the auxiliary heads' 5x5 VALID pooling needs a 5x5 map.
_ZOO_B = {
    "inception_v4": (
        "slimcls.nets.inception_v4",
        "inception_v4",
        "inception_v4_arg_scope",
        299,
        107,
        ("InceptionV4/Logits", "InceptionV4/AuxLogits"),
        "inception",
        True,
    ),
    "inception_resnet_v2": (
        "slimcls.nets.inception_resnet_v2",
        "inception_resnet_v2",
        "inception_resnet_v2_arg_scope",
        299,
        107,
        ("InceptionResnetV2/Logits", "InceptionResnetV2/AuxLogits"),
        "inception",
        True,
    ),
    # No published checkpoint; TF-Slim trains it on CIFAR-10 (10 classes, CIFAR
    # augmentation), and its preprocessing factory has no entry for it.
    "nasnet_cifar": (
        "slimcls.nets.nasnet.nasnet",
        "build_nasnet_cifar",
        "nasnet_cifar_arg_scope",
        32,
        9,
        ("final_layer/FC", "aux_11/aux_logits/FC"),
        "cifarnet",
        False,
    ),
    "nasnet_mobile": (
        "slimcls.nets.nasnet.nasnet",
        "build_nasnet_mobile",
        "nasnet_mobile_arg_scope",
        224,
        67,
        ("final_layer/FC", "aux_7/aux_logits/FC"),
        "inception",
        True,
    ),
    "nasnet_large": (
        "slimcls.nets.nasnet.nasnet",
        "build_nasnet_large",
        "nasnet_large_arg_scope",
        331,
        67,
        ("final_layer/FC", "aux_11/aux_logits/FC"),
        "inception",
        True,
    ),
    "pnasnet_mobile": (
        "slimcls.nets.nasnet.pnasnet",
        "build_pnasnet_mobile",
        "pnasnet_mobile_arg_scope",
        224,
        67,
        ("final_layer/FC", "aux_5/aux_logits/FC"),
        "inception",
        True,
    ),
    "pnasnet_large": (
        "slimcls.nets.nasnet.pnasnet",
        "build_pnasnet_large",
        "pnasnet_large_arg_scope",
        331,
        67,
        ("final_layer/FC", "aux_7/aux_logits/FC"),
        "inception",
        True,
    ),
}

NETWORKS.update(
    {
        name: NetSpec(
            fn=_lazy_net(
                name, module, fn_name, size, _nasnet_family if ".nasnet." in module else None
            ),
            arg_scope=_lazy_arg_scope(name, module, scope_name),
            default_image_size=size,
            preprocessing=prep,
            background_class=bg,
            min_image_size=min_size,
            has_aux_logits=True,
            logits_scopes=logits,
        )
        for name, (module, fn_name, scope_name, size, min_size, logits, prep, bg) in _ZOO_B.items()
    }
)
# --- end zoo-b

# --- video: I3D and S3D-G (TF-Slim's video nets; inputs are clips, see NetSpec.video).
NETWORKS.update(
    {
        name: NetSpec(
            fn=_lazy_net(name, _N + name, name, 224),
            arg_scope=_lazy_arg_scope(name, _N + name, f"{name}_arg_scope"),
            default_image_size=224,
            preprocessing="inception",  # frames in [-1, 1]; TF-Slim has no video preprocessing
            background_class=False,  # Kinetics-400
            min_image_size=1,
            logits_scopes=("InceptionV1/Logits",),
            video=True,
        )
        for name in ("i3d", "s3dg")
    }
)
# --- end video


def get_spec(name: str) -> NetSpec:
    """The registry record for ``name``.

    Raises:
      SlimclsError: for an unknown name, listing the registered ones.
    """
    try:
        return NETWORKS[name]
    except KeyError:
        raise SlimclsError(
            f"Unknown model_name {name!r}; expected one of {sorted(NETWORKS)}"
        ) from None


def get_network_fn(
    name: str, num_classes: int, weight_decay: float = 0.0, is_training: bool = False
) -> Callable:
    """TF-Slim's entry point: ``fn(images, **kw) -> (logits, end_points)``.

    The function enters the net's arg scope (with ``weight_decay``) on every call, so
    it can be passed to ``SlimModel`` (whose ``is_training`` comes from the call's
    ``training``, see :func:`arg_scope_fn`) or called in a TF1 graph.

    Args:
      name: a key of :data:`NETWORKS`.
      num_classes: number of classes; 0 asks for pre-logits features where supported.
      weight_decay: L2 weight decay of the arg scope.
      is_training: default training mode; ``fn(images, is_training=...)`` overrides it.

    Returns:
      ``fn`` with ``fn.default_image_size``.

    Raises:
      SlimclsError: for an unknown name, listing the registered ones.
    """
    spec = get_spec(name)

    @functools.wraps(spec.fn)
    def network_fn(images, **kwargs):
        kwargs.setdefault("is_training", is_training)
        kwargs.setdefault("num_classes", num_classes)
        with slim.arg_scope(spec.arg_scope(weight_decay=weight_decay)):
            return spec.fn(images, **kwargs)

    network_fn.default_image_size = spec.default_image_size
    return network_fn


def arg_scope_fn(
    name: str, weight_decay: float = 0.0, batch_norm_decay: float | None = None
) -> Callable[[], Iterator]:
    """A zero-argument callable entering the net's arg scope, for ``SlimModel(arg_scope=)``.

    Example: ``SlimModel(spec.fn, 10, arg_scope=arg_scope_fn("cifarnet", 4e-3))``.

    Args:
      batch_norm_decay: moving-average decay of every batch norm of the net (see
        :func:`with_batch_norm_decay`). None: the net's own (TF-Slim's) value.
    """
    spec = get_spec(name)

    @contextlib.contextmanager
    def scope():
        sc = spec.arg_scope(weight_decay=weight_decay)
        if batch_norm_decay is None:
            with slim.arg_scope(sc):
                yield
            return
        with slim.arg_scope(with_batch_norm_decay(sc, batch_norm_decay)):
            with slim.arg_scope([slim.batch_norm], decay=batch_norm_decay):
                yield

    return scope


def default_batch_norm_decay(name: str) -> float | None:
    """The batch-norm decay net ``name``'s own arg scope sets (TF-Slim's), or None."""
    for op_key, kwargs in get_spec(name).arg_scope().items():
        if "batch_norm" in op_key and kwargs.get("decay") is not None:
            return float(kwargs["decay"])
        params = kwargs.get("normalizer_params")
        if isinstance(params, dict) and params.get("decay") is not None:
            return float(params["decay"])
    return None


def with_batch_norm_decay(scope: dict, decay: float) -> dict:
    """A copy of an arg-scope dict whose batch norms use moving-average ``decay``.

    The nets set their decay in one of two places: ``slim.batch_norm``'s own arg scope
    (MobileNets, NASNet, ResNet) or the ``normalizer_params`` of the layers it follows
    (Inception); both are replaced. Combined with an inner
    ``slim.arg_scope([slim.batch_norm], decay=decay)`` for nets that set neither.
    """
    out = {}
    for op_key, kwargs in scope.items():
        kwargs = dict(kwargs)
        if "batch_norm" in op_key:
            kwargs["decay"] = decay
        params = kwargs.get("normalizer_params")
        if isinstance(params, dict) and "decay" in params:
            kwargs["normalizer_params"] = {**params, "decay": decay}
        out[op_key] = kwargs
    return out


def image_spec(name: str) -> NetSpec:
    """:func:`get_spec` for the image commands: also raises SlimclsError when net ``name``
    takes video clips (slimcls's commands feed images)."""
    spec = get_spec(name)
    if spec.video:
        raise SlimclsError(
            f"model_name {name!r} is a video net: it takes clips [batch, time, height, width, 3], "
            "not images; expected an image classifier (use it through nets_factory in Python)"
        )
    return spec


def check_takes_images(name: str) -> None:
    """Raises SlimclsError when net ``name`` takes video clips (see :func:`image_spec`)."""
    image_spec(name)


def check_image_size(name: str, size: int, flag: str = "--train_image_size") -> None:
    """Raises SlimclsError when ``size`` is too small for net ``name``.

    Args:
      name: model name.
      size: the input side the caller will feed.
      flag: the flag named in the message.
    """
    spec = get_spec(name)
    if size < spec.min_image_size:
        raise SlimclsError(
            f"{flag}={size} is too small for {name}: it needs at least {spec.min_image_size}"
        )
