"""TF-Slim's ``nets.resnet_v1``: ``resnet_v1_{50,101,152,200}``, the generic ``resnet_v1``,
``resnet_v1_block``, ``bottleneck`` and ``resnet_arg_scope``.

Re-exported from ``tf_slim.nets.resnet_v1``, whose variable names and shapes match TF-Slim's
``research/slim/nets/resnet_v1.py`` (checked by ``tests/test_nets_zoo_a.py`` for
``resnet_v1_200``).
"""

from tf_slim.nets.resnet_v1 import (
    bottleneck,
    resnet_arg_scope,
    resnet_v1,
    resnet_v1_50,
    resnet_v1_101,
    resnet_v1_152,
    resnet_v1_200,
    resnet_v1_block,
)

__all__ = [
    "bottleneck",
    "resnet_arg_scope",
    "resnet_v1",
    "resnet_v1_50",
    "resnet_v1_101",
    "resnet_v1_152",
    "resnet_v1_200",
    "resnet_v1_block",
]
