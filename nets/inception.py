"""All inception nets under one namespace, as TF-Slim's ``nets.inception``.

InceptionV1, V2, V3, V4 and Inception-ResNet-v2 come from slimcls's modules of the same
names (V1/V2 with research/slim's ``include_root_block``, ``use_separable_conv``,
``data_format``, ``global_pool`` and ``num_classes=0``, which ``tf_slim.nets``' copies
lack). As in TF-Slim's research code, the V1-V4 arg scopes are the shared
:func:`slimcls.nets.inception_utils.inception_arg_scope` (the ``tf_slim`` package's own
V1-V3 arg scopes take fewer keywords, e.g. no ``batch_norm_scale``).
"""

from slimcls.nets.inception_resnet_v2 import (
    inception_resnet_v2,
    inception_resnet_v2_arg_scope,
    inception_resnet_v2_base,
)
from slimcls.nets.inception_utils import inception_arg_scope
from slimcls.nets.inception_v1 import inception_v1, inception_v1_arg_scope, inception_v1_base
from slimcls.nets.inception_v2 import inception_v2, inception_v2_arg_scope, inception_v2_base
from slimcls.nets.inception_v3 import inception_v3, inception_v3_base
from slimcls.nets.inception_v4 import inception_v4, inception_v4_arg_scope, inception_v4_base

inception_v3_arg_scope = inception_arg_scope

__all__ = [
    "inception_arg_scope",
    "inception_resnet_v2",
    "inception_resnet_v2_arg_scope",
    "inception_resnet_v2_base",
    "inception_v1",
    "inception_v1_arg_scope",
    "inception_v1_base",
    "inception_v2",
    "inception_v2_arg_scope",
    "inception_v2_base",
    "inception_v3",
    "inception_v3_arg_scope",
    "inception_v3_base",
    "inception_v4",
    "inception_v4_arg_scope",
    "inception_v4_base",
]
