"""Whether output goes to a person's terminal (live bars) or to a file or pipe (plain lines).

No TensorFlow here: the converters' and make_image_classifier's progress use it before
TensorFlow loads.
"""

from __future__ import annotations

from typing import Any


def is_terminal(stream: Any, given: bool | None = None) -> bool:
    """``given`` when set, else whether ``stream`` is a terminal (a closed stream, or one
    without ``isatty``, is not)."""
    if given is not None:
        return given
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):
        return False
