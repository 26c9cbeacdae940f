"""TF-Slim's ``nets.resnet_utils`` (``Block``, ``subsample``, ``conv2d_same``,
``stack_blocks_dense``, ``resnet_arg_scope``), re-exported from ``tf_slim.nets``."""

from tf_slim.nets.resnet_utils import (
    Block,
    conv2d_same,
    resnet_arg_scope,
    stack_blocks_dense,
    subsample,
)

__all__ = ["Block", "subsample", "conv2d_same", "stack_blocks_dense", "resnet_arg_scope"]
