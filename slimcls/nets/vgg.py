"""TF-Slim's ``nets.vgg``: ``vgg_a`` (VGG-11), ``vgg_16``, ``vgg_19``, ``vgg_arg_scope``.

Re-exported from ``tf_slim.nets.vgg``, whose variable names (``vgg_a/conv1/conv1_1``
... ``vgg_a/fc8``), shapes and arithmetic match TF-Slim's ``research/slim/nets/vgg.py``
(checked by ``tests/test_nets_zoo_a.py``). tf_slim's copy predates the research
version's ``reuse``, ``fc_conv_padding`` and ``global_pool`` arguments and its
``num_classes=0`` feature mode.
"""

from tf_slim.nets.vgg import vgg_16, vgg_19, vgg_a, vgg_arg_scope, vgg_d, vgg_e

__all__ = ["vgg_a", "vgg_16", "vgg_19", "vgg_d", "vgg_e", "vgg_arg_scope"]
