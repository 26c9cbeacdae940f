"""TF-Slim's ``nets.resnet_v2``: ``resnet_v2_{50,101,152,200}``, the generic ``resnet_v2``,
``resnet_v2_block``, ``bottleneck`` and ``resnet_arg_scope``.

Re-exported from ``tf_slim.nets.resnet_v2``, whose variable names and shapes match TF-Slim's
``research/slim/nets/resnet_v2.py`` (checked by ``tests/test_nets_zoo_a.py`` for
``resnet_v2_200``).
"""

from tf_slim.nets.resnet_v2 import (
    bottleneck,
    resnet_arg_scope,
    resnet_v2,
    resnet_v2_50,
    resnet_v2_101,
    resnet_v2_152,
    resnet_v2_200,
    resnet_v2_block,
)

__all__ = [
    "bottleneck",
    "resnet_arg_scope",
    "resnet_v2",
    "resnet_v2_50",
    "resnet_v2_101",
    "resnet_v2_152",
    "resnet_v2_200",
    "resnet_v2_block",
]
