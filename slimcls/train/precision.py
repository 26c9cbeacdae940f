"""Mixed precision: which dtype the layers compute in, and float16 loss scaling.

Variables always stay float32 (:class:`~slimcls.model.slim_model.SlimModel` hands the layers
16-bit copies); only the computation changes. bfloat16 has float32's exponent range and
needs no loss scaling; float16 does (dynamic, as Keras' ``LossScaleOptimizer``).
"""

from __future__ import annotations

import functools

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError

#: float16 dynamic loss scaling: start value and steps without overflow before doubling.
LOSS_SCALE_START, LOSS_SCALE_GROWTH_STEPS = 2.0**15, 2000


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def has_gpu() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def auto_dtype() -> str:
    """bfloat16 where it is fast, else float32.

    Fast means matrix units for bfloat16: a GPU of compute capability 8.0 or newer
    (Ampere, Hopper), or, without a GPU, a CPU with AMX (``amx_bf16``, Sapphire Rapids
    and newer). Elsewhere bfloat16 is emulated and slower than float32.
    """
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        major = (details.get("compute_capability") or (0, 0))[0]
        return "bfloat16" if major >= 8 else "float32"
    return "bfloat16" if "amx_bf16" in cpu_flags() else "float32"


def compute_dtype(requested: str | None) -> str:
    """The dtype the layers compute in for ``--mixed_precision=requested``.

    ``auto`` picks :func:`auto_dtype`; None or ``float32``: float32.

    Raises:
      SlimclsError: float16 without a GPU. CPUs have no fast float16 kernels: a float16
        CifarNet step measured hundreds of times slower than float32 here, so it is
        refused with the fast alternative instead of running silently slow.
    """
    if requested in (None, "", "float32"):
        return "float32"
    if requested == "auto":
        return auto_dtype()
    if requested == "float16" and not has_gpu():
        raise SlimclsError(
            "--mixed_precision=float16 needs a GPU: on a CPU float16 has no fast kernels and "
            "trains hundreds of times slower than float32; use --mixed_precision=bfloat16 "
            "(fast on CPUs with AMX) or leave it unset"
        )
    if requested not in ("bfloat16", "float16"):
        raise SlimclsError(
            f"--mixed_precision={requested!r}; expected bfloat16, float16 or unset (float32)"
        )
    return requested


class LossScale:
    """float16 dynamic loss scaling: halve on overflow, double after 2000 good steps."""

    def __init__(self) -> None:
        self.scale = tf.Variable(LOSS_SCALE_START, trainable=False, name="loss_scale")
        self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="good_steps")

    def unscale(self, grads: list[tf.Tensor | None]) -> tuple[list, tf.Tensor]:
        """Divides the gradients by the scale; zeroes them all if any is not finite."""
        grads = [g / self.scale if g is not None else None for g in grads]
        present = [g for g in grads if g is not None]
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in present])
        safe = [tf.where(finite, g, tf.zeros_like(g)) if g is not None else None for g in grads]
        return safe, finite

    def update(self, finite: tf.Tensor) -> None:
        grow = tf.logical_and(finite, self.good_steps + 1 >= LOSS_SCALE_GROWTH_STEPS)
        new_scale = tf.where(
            finite,
            tf.where(grow, self.scale * 2.0, self.scale),
            tf.maximum(self.scale / 2.0, 1.0),
        )
        self.scale.assign(new_scale)
        self.good_steps.assign(
            tf.where(tf.logical_and(finite, tf.logical_not(grow)), self.good_steps + 1, 0)
        )
