"""Mixed precision: which dtype the layers compute in, and float16 loss scaling.

Variables always stay float32 (:class:`~slimcls.model.slim_model.SlimModel` hands the layers
16-bit copies); only the computation changes. bfloat16 has float32's exponent range and
needs no loss scaling; float16 does (dynamic, as Keras' ``LossScaleOptimizer``).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable, Mapping, Sequence

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError

#: float16 dynamic loss scaling: start value and steps without overflow before doubling.
LOSS_SCALE_START, LOSS_SCALE_GROWTH_STEPS = 2.0**15, 2000

#: CPU flags (as /proc/cpuinfo names them) that make bfloat16 faster than float32, best first.
_BF16_CPU_FLAGS = (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512_BF16"))

log = logging.getLogger("slimcls.train")


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


def gpu_capabilities() -> list[tuple[int, int]]:
    """Compute capability ``(major, minor)`` of each visible GPU (``(0, 0)`` if unknown)."""
    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        found.append(tuple(details.get("compute_capability") or (0, 0)))
    return found


def _onednn_disabled(environ: Mapping[str, str]) -> bool:
    return environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip().lower() in ("0", "false", "off")


def auto_choice(
    flags: Iterable[str],
    gpus: Sequence[tuple[int, int]] = (),
    environ: Mapping[str, str] | None = None,
    depthwise: bool = False,
) -> tuple[str, str]:
    """What ``--mixed_precision=auto`` computes in on this hardware, and why.

    The rule (measured with ``bench/bench_precision.py`` and ``bench/bench_peers.py``,
    float32 and bfloat16 interleaved; see bench/README.md):

    * GPUs: bfloat16 when every visible GPU has compute capability 8.0 or newer (Ampere,
      Hopper: bfloat16 tensor cores), else float32.
    * No GPU: bfloat16 when the CPU has bfloat16 instructions, either AMX tiles
      (``amx_bf16``: Intel Sapphire Rapids and newer; CifarNet batch 128 trained 1.66x as
      fast as in float32 on such a Xeon) or AVX512_BF16 (``avx512_bf16``: AMD Zen 4/5,
      Intel Cooper Lake; 1.74x on an AMD EPYC Zen 4, which has no AMX) -- unless
      ``TF_ENABLE_ONEDNN_OPTS=0`` turned oneDNN off, which leaves bfloat16 to Eigen's
      kernels that convert to float32 and back.
    * Except for nets made mostly of depthwise convolutions (the net table's ``depthwise``:
      the MobileNets but EdgeTPU's) on a CPU with AVX512_BF16 but no AMX: float32. There
      mobilenet_v3_small_minimalistic's forward pass ran at 0.71x float32's speed in bfloat16
      (AMD EPYC Zen 4; every MobileNet but EdgeTPU was slower).
    * Anything else: float32. Without those instructions bfloat16 math is float32 math
      plus conversions (oneDNN emulates it; without oneDNN, Eigen converts per element).

    Args:
      flags: the CPU's feature flags, as in /proc/cpuinfo.
      gpus: compute capability ``(major, minor)`` of each visible GPU.
      environ: environment to read ``TF_ENABLE_ONEDNN_OPTS`` from (default: os.environ).
      depthwise: the net is mostly depthwise convolutions (see the net table).

    Returns:
      ``(dtype, reason)``: ``bfloat16`` or ``float32`` and a short phrase saying why.
    """
    flags = frozenset(flags)
    if gpus:
        oldest = min(gpus)
        if oldest[0] >= 8:
            return "bfloat16", f"GPU compute capability {oldest[0]}.{oldest[1]} (>= 8.0)"
        return "float32", (
            f"GPU compute capability {oldest[0]}.{oldest[1]} has no fast bfloat16 (needs 8.0+)"
        )
    found = [name for flag, name in _BF16_CPU_FLAGS if flag in flags]
    if not found:
        return "float32", "the CPU has neither AMX-BF16 nor AVX512_BF16"
    if _onednn_disabled(os.environ if environ is None else environ):
        return "float32", f"the CPU has {found[0]} but TF_ENABLE_ONEDNN_OPTS=0 turns oneDNN off"
    if depthwise and "amx_bf16" not in flags:
        return "float32", (
            f"the CPU has {found[0]} but no AMX, where depthwise convolutions are slower in "
            "bfloat16"
        )
    return "bfloat16", f"the CPU has {found[0]}"


def auto_dtype(model_name: str | None = None) -> str:
    """``--mixed_precision=auto``'s dtype for net ``model_name`` on this machine
    (:func:`auto_choice`)."""
    row = _net_row(model_name)
    depthwise = bool(row is not None and row.depthwise)
    dtype, reason = auto_choice(cpu_flags(), gpu_capabilities(), depthwise=depthwise)
    log.info("--mixed_precision=auto: %s (%s)", dtype, reason)
    return dtype


def _net_row(model_name: str | None):
    from slimcls.nets.net_table import NETS

    return NETS.get(model_name) if model_name else None


def compute_dtype(requested: str | None, model_name: str | None = None) -> str:
    """The dtype the layers compute in for ``--mixed_precision=requested``.

    ``auto`` picks :func:`auto_dtype` (for net ``model_name``); None or ``float32``: float32.

    Raises:
      SlimclsError: float16 without a GPU. CPUs have no fast float16 kernels: a float16
        CifarNet step measured hundreds of times slower than float32 here, so it is
        refused with the fast alternative instead of running silently slow.
    """
    if requested in (None, "", "float32"):
        return "float32"
    if requested == "auto":
        return auto_dtype(model_name)
    if requested == "float16" and not has_gpu():
        raise SlimclsError(
            "--mixed_precision=float16 needs a GPU: on a CPU float16 has no fast kernels and "
            "trains hundreds of times slower than float32; use --mixed_precision=bfloat16 "
            "(fast on CPUs with AMX or AVX512_BF16) or leave it unset"
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
