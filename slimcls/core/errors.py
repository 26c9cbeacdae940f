"""Errors that the command-line tools report as one line, without a traceback."""

from __future__ import annotations


class SlimclsError(ValueError):
    """A user-facing error: bad flags, files, images or checkpoints.

    Its message is one line that names the bad value and what was expected. Entry
    points print it as ``<command>: error: <message>`` and exit with status 1;
    library callers can catch it like any ValueError.
    """
