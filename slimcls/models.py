"""Builds TF2 models of registered TF-Slim nets by name."""

from __future__ import annotations

from typing import Any

from slimcls.nets import nets_factory
from slimcls.slim_model import SlimModel


def create_model(
    model_name: str, num_classes: int, weight_decay: float = 0.0, **net_kwargs: Any
) -> SlimModel:
    """A :class:`SlimModel` of the registered net ``model_name``.

    The net's ``arg_scope(weight_decay)`` is applied on every call, so weight decay shows
    up in ``model.losses``. ``training`` is chosen per call: ``model(images, training=True)``.

    Raises:
      SlimclsError: unknown ``model_name`` (the message lists the choices).
    """
    spec = nets_factory.get_spec(model_name)
    return SlimModel(
        spec.fn,
        num_classes,
        arg_scope=nets_factory.arg_scope_fn(model_name, weight_decay),
        net_kwargs=net_kwargs,
        name=model_name,
    )
