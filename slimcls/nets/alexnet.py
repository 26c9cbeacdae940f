"""TF-Slim's ``nets.alexnet``: ``alexnet_v2`` and ``alexnet_v2_arg_scope``.

Re-exported from ``tf_slim.nets.alexnet`` (same variable names as TF-Slim's
``research/slim/nets/alexnet.py``).
"""

from tf_slim.nets.alexnet import alexnet_v2, alexnet_v2_arg_scope

__all__ = ["alexnet_v2", "alexnet_v2_arg_scope"]
