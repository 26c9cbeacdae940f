"""TF-Slim's ``nets.overfeat``: ``overfeat`` and ``overfeat_arg_scope``.

The layers are ``tf_slim.nets.overfeat``'s, whose variable names (``overfeat/conv1`` ...
``overfeat/fc8``), shapes and arithmetic match TF-Slim's
``research/slim/nets/overfeat.py`` (checked by ``tests/test_nets_zoo_a.py``). This
module adds what tf_slim's copy lacks: ``overfeat.default_image_size = 231``. (The
research version's ``global_pool`` and ``num_classes=0`` are not supported.)
"""

from __future__ import annotations

import functools

from tf_slim.nets import overfeat as _tf_slim_overfeat

overfeat_arg_scope = _tf_slim_overfeat.overfeat_arg_scope


@functools.wraps(_tf_slim_overfeat.overfeat)
def overfeat(inputs, *args, **kwargs):
    return _tf_slim_overfeat.overfeat(inputs, *args, **kwargs)


overfeat.default_image_size = 231

__all__ = ["overfeat", "overfeat_arg_scope"]
