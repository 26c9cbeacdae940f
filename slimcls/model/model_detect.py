"""Which registered net a checkpoint holds, read from its variable names and shapes.

Used when a checkpoint comes without its run's ``flags.txt`` (copied out of its training
directory, or a published one) and ``--model_name`` is not given, and to check that a run
is resumed with the net it was trained with.

First by name: each registered image net has a top-level variable scope (``CifarNet``,
``InceptionV3``), read from the registry's ``logits_scopes``; a checkpoint's variables name
the scopes it holds. That alone tells most nets apart. Nets sharing a scope (the widths of
MobileNet v1, v2 and v3) are told apart by shapes: each candidate's variables are made in
a throwaway TF1 graph (names and shapes only, no memory for weights) and compared with the
checkpoint's. Groups too large or too slow to build that way (NASNet/PNASNet share
``final_layer``) are reported as candidates.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from slimcls.model import checkpoints
from slimcls.core.compat import tf

log = logging.getLogger(__name__)

#: Above this many nets sharing one scope, candidates are not built to compare shapes.
MAX_BUILDS = 4


def net_scopes() -> dict[str, str]:
    """Image net name -> its top-level variable scope (``cifarnet`` -> ``CifarNet``)."""
    from slimcls.nets import nets_factory  # lazily: nets import tf_slim

    return {
        name: spec.logits_scopes[0].split("/")[0]
        for name, spec in nets_factory.NETWORKS.items()
        if spec.logits_scopes and not spec.video
    }


def _candidates(names) -> list[str]:
    held = {name.split("/")[0] for name in names}
    return sorted(net for net, scope in net_scopes().items() if scope in held)


def _variable_shapes(model_name: str, num_classes: int, channels: int) -> dict[str, list[int]]:
    """The net's variables (name -> shape), made in a TF1 graph without any values."""
    import tf_slim as slim

    from slimcls.core.logs import quiet_tensorflow_info
    from slimcls.nets import nets_factory

    spec = nets_factory.get_spec(model_name)
    size = spec.default_image_size
    graph = tf.Graph()
    with graph.as_default(), quiet_tensorflow_info():
        images = tf.compat.v1.placeholder(tf.float32, [1, size, size, channels])
        with slim.arg_scope(spec.arg_scope(weight_decay=0.0)):
            spec.fn(images, num_classes, is_training=False)
        return {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}


def fits(model_name: str, shapes: Mapping[str, Sequence[int]], num_classes: int) -> bool:
    """Whether every variable of ``model_name`` is in ``shapes`` with its shape (the
    first layer's input channels may be 1 or 3)."""
    try:
        wanted = _variable_shapes(model_name, num_classes, channels=3)
    except Exception:  # noqa: BLE001  (a net that cannot be built cannot be it)
        return False
    if not wanted or any(n not in shapes for n in wanted):
        return False
    differ = [(list(shapes[n]), s) for n, s in wanted.items() if list(shapes[n]) != s]
    if not differ:
        return True
    # A 1-channel net differs only in its first convolution's input channels.
    (held, made), *others = differ
    return not others and len(made) == 4 and made[2] == 3 and held == [*made[:2], 1, made[3]]


def nets_holding(prefix: str) -> tuple[list[str], str | None]:
    """The registered image nets the checkpoint ``prefix`` can hold, and their scope.

    Returns:
      ``(names, scope)``: one name when the checkpoint tells; several when nets of one
      scope could not be told apart; none (and scope None) when no registered net's
      scope is in it.
    """
    shapes = checkpoints.read_shapes(prefix)
    candidates = _candidates(shapes)
    scope = net_scopes()[candidates[0]] if candidates else None
    if len(candidates) <= 1 or len(candidates) > MAX_BUILDS:
        return candidates, scope
    from slimcls.model import modeling

    log.info(
        "telling which of %s checkpoint %s holds (comparing variable shapes)",
        ", ".join(candidates),
        prefix,
    )
    for name in candidates:  # nets of one scope differ in shapes: at most one fits
        try:
            num_classes = modeling.num_classes_in_checkpoint(name, prefix)
        except ValueError:
            continue
        if fits(name, shapes, num_classes):
            return [name], scope
    return candidates, scope


def describe(names: Sequence[str], scope: str | None) -> str:
    """``a cifarnet model (scope CifarNet)`` / ``a model of scope MobilenetV1 (one of
    mobilenet_v1_050, mobilenet_v1_025)``."""
    if len(names) == 1:
        return f"a {names[0]} model (scope {scope})"
    return f"a model of scope {scope} (one of {', '.join(names)})"


def scopes_in(prefix: str, limit: int = 4) -> str:
    """The first top-level scopes of a checkpoint's variables, for messages."""
    tops = sorted({n.split("/")[0] for n in checkpoints.read_shapes(prefix)} - {"global_step"})
    more = f" and {len(tops) - limit} more" if len(tops) > limit else ""
    return ", ".join(tops[:limit]) + more
