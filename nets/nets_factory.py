"""The registry of nets: one :class:`NetSpec` record per model name.

``get_network_fn`` keeps TF-Slim's entry point; the returned function works in TF1 graph
mode (``tf.compat.v1`` graphs and placeholders) and inside
:class:`slimcls.model.slim_model.SlimModel` (eager and ``tf.function``).

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
from typing import Any

import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.nets.net_table import NETS, NetRow


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
      build_kwargs: keywords slimcls's own model wrapper passes to ``fn`` (TF-Slim's
        ``get_network_fn`` does not, so it builds exactly TF-Slim's variables).
      batch_norm_decay_arg: ``fn`` takes ``batch_norm_decay`` (see the net table).
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
    build_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    batch_norm_decay_arg: bool = False


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


@tf.autograph.experimental.do_not_convert
def _load(name: str, module: str, attr: str) -> Callable:
    """``slimcls.nets.<module>.<attr>``, imported now; failures become one-line SlimclsErrors.

    Nets import on first use, so a broken net module fails only when that net is asked for,
    never the registry or the other nets. The first call can come while a ``tf.function``
    traces the net: AutoGraph must not try to convert the import machinery (it warns in three
    lines that it cannot).
    """
    if "." in attr:  # "other_module.name"
        module, attr = attr.rsplit(".", 1)
    module = f"slimcls.nets.{module}"
    try:
        return getattr(importlib.import_module(module), attr)
    except Exception as err:  # noqa: BLE001  (any import-time failure of that one module)
        detail = str(err).splitlines()[0] if str(err) else ""
        raise SlimclsError(
            f"model_name {name!r} is unavailable: importing {module}.{attr} failed with "
            f"{type(err).__name__}: {detail}; expected an importable net module"
        ) from err


_OUTPUTS = {"": None, "squeeze": _squeezable, "resnet": lambda fn, name: _resnet(fn)}


def _lazy_net(name: str, row: NetRow) -> Callable:
    """The row's net function, imported on its first call and adapted to 2-D logits."""

    def fn(images, num_classes, is_training=False, **kwargs):
        net_fn = _load(name, row.module, row.fn)
        adapt = _OUTPUTS[row.output]
        if adapt is not None:
            net_fn = adapt(net_fn, name)
        return net_fn(images, num_classes=num_classes, is_training=is_training, **kwargs)

    fn.__name__ = fn.__qualname__ = row.fn
    fn.__doc__ = f"``slimcls.nets.{row.module}.{row.fn}``, imported on first use."
    fn.default_image_size = row.image_size
    return fn


def _lazy_arg_scope(name: str, row: NetRow) -> Callable:
    """``arg_scope(weight_decay=..., **kw)`` imported on first call; ``weight_decay``
    defaults to 0.0 as in ``get_network_fn`` (see :func:`_tf2_arg_scope`)."""

    def arg_scope(weight_decay: float = 0.0, **kwargs) -> dict:
        scope_fn = _tf2_arg_scope(_load(name, row.module, row.arg_scope))
        return scope_fn(weight_decay=weight_decay, **kwargs)

    arg_scope.__name__ = arg_scope.__qualname__ = row.arg_scope.rsplit(".", 1)[-1]
    return arg_scope


def _spec(name: str, row: NetRow) -> NetSpec:
    return NetSpec(
        fn=_lazy_net(name, row),
        arg_scope=_lazy_arg_scope(name, row),
        default_image_size=row.image_size,
        preprocessing=row.preprocessing,
        background_class=row.background_class,
        min_image_size=row.min_image_size,
        has_aux_logits=row.aux_logits,
        logits_scopes=row.head_scopes,
        video=row.video,
        build_kwargs=row.build_kwargs,
        batch_norm_decay_arg=row.batch_norm_decay_arg,
    )


#: name -> :class:`NetSpec`, one per row of :data:`slimcls.nets.net_table.NETS`.
NETWORKS: dict[str, NetSpec] = {name: _spec(name, row) for name, row in NETS.items()}


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
