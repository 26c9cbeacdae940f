"""An image size (and batch) that cannot fit in memory fails at once, with one line.

Without this, ``--train_image_size=100000`` built the net, started the input pipeline and
died of an out-of-memory traceback 16 s later. The bound is a lower bound, so it never
refuses a run that would fit: training keeps every layer's activations for the backward
pass, at least :data:`TRAIN_FACTOR` times the float32 input batch for every registered
net (measured by building each net at its default size and summing the outputs of its
convolutions, normalisations, activations and poolings, per example: alexnet_v2 9.9x the
input, mobilenet_v1_025 25x, CifarNet 98x, InceptionV3 120x, NASNet-A large 848x);
evaluation holds the input and at least one activation as large (:data:`EVAL_FACTOR`).
It is compared with the memory available to this process (``MemAvailable``, and the
cgroup's limit in a container). On GPUs the activations live in device memory, which
TensorFlow does not report; there only the input batch is checked against host memory.
"""

from __future__ import annotations

from slimcls.core.diskspace import human
from slimcls.core.errors import SlimclsError
from slimcls.core.memory import meminfo_available

#: Training needs at least this many float32 input batches (smallest net: 9.9).
TRAIN_FACTOR = 8
#: Evaluation needs at least the input and one activation as large (smallest: 1.24x).
EVAL_FACTOR = 2
#: Host copies of the input batch when the net runs on a GPU (the batch and a prefetched one).
HOST_FACTOR = 2


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
        return None if text in ("", "max") else int(text)
    except (OSError, ValueError):
        return None


def available_bytes() -> int | None:
    """Memory this process can still use: ``MemAvailable``, capped by the cgroup's limit
    (v2 ``memory.max`` - ``memory.current``, or v1's files); None where unknown."""
    found = [meminfo_available()]
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < (1 << 60):
            found.append(max(limit - usage, 0))
    known = [n for n in found if n is not None]
    return min(known) if known else None


def check(
    *,
    size_flag: str,
    image_size: int,
    channels: int,
    batch_size: int,
    model_name: str,
    default_size: int,
    training: bool,
    on_gpu: bool = False,
    available: int | None = None,
) -> None:
    """Raises the one-line error when the batch of images cannot fit in memory.

    Args:
      size_flag: the flag named in the message (``--train_image_size``).
      batch_size: images held at once in this process (the global batch on CPU clones).
      default_size: the size the net was designed for, for the message.
      training: training (activations kept for the backward pass) or evaluation.
      on_gpu: the net runs on GPUs: only the host's input batches are checked.
      available: bytes available (None: measured now; unknown: no check).
    """
    input_bytes = batch_size * image_size * image_size * channels * 4
    factor = HOST_FACTOR if on_gpu else TRAIN_FACTOR if training else EVAL_FACTOR
    needed = input_bytes * factor
    if available is None:
        available = available_bytes()
    if available is None or needed <= available:
        return
    what = "hold the input batches" if on_gpu else "train" if training else "evaluate"
    raise SlimclsError(
        f"{size_flag}={image_size} with --batch_size={batch_size} needs at least "
        f"{human(needed)} of memory to {what} {model_name}, the float32 input batch alone "
        f"{human(input_bytes)}, and {human(available)} is available; {model_name} is "
        f"designed for {default_size}x{default_size} images: lower {size_flag} or "
        "--batch_size"
    )


__all__ = ["EVAL_FACTOR", "TRAIN_FACTOR", "available_bytes", "check"]
