"""Log helpers shared by the library and the commands."""

from __future__ import annotations

import contextlib
import logging

from slimcls.core.compat import tf


@contextlib.contextmanager
def quiet_tensorflow_info():
    """Hides TensorFlow's INFO log lines (tf-slim's "Scale of 0 disables regularizer",
    SavedModel writer chatter) that say nothing to users of the command-line tools."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)
