"""Host memory facts read from /proc (no TensorFlow)."""

from __future__ import annotations


def meminfo_available() -> int | None:
    """``MemAvailable`` of /proc/meminfo in bytes (Linux); None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
