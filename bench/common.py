"""Shared pieces of the benchmarks: machine facts, peak FLOP/s, child runs, JSON, tables.

Nothing here imports TensorFlow: the parent scripts stay small (their peak RSS does not
leak into the children they measure) and every measured thing runs in its own child
process, which prints one ``BENCH_RESULT {json}`` line (see :func:`emit`).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, "results")
MARKER = "BENCH_RESULT "
SCHEMA_VERSION = 1

#: CPU flags worth recording: they decide which kernels (and peak) TensorFlow can use.
ISA_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "amx_fp16",
)


# ------------------------------------------------------------------------------ machine


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def usable_cores() -> int:
    """Cores this process may run on (affinity), which is what TensorFlow's pools use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_mhz() -> tuple[float | None, str]:
    """The clock to derive peak from, and where it came from (most to least reliable).

    lscpu's "CPU max MHz" (turbo ceiling), else cpufreq's cpuinfo_max_freq, else
    /proc/cpuinfo's "cpu MHz" (on VMs often the nominal clock: peak may be understated).
    """
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        m = re.search(r"^CPU max MHz:\s*([\d.]+)", out, re.M)
        if m and float(m.group(1)) > 0:
            return float(m.group(1)), "lscpu CPU max MHz"
    except (OSError, subprocess.SubprocessError):
        pass
    khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").strip()
    if khz.isdigit():
        return int(khz) / 1000, "cpufreq cpuinfo_max_freq"
    m = re.search(r"^cpu MHz\s*:\s*([\d.]+)", _read("/proc/cpuinfo"), re.M)
    if m:
        return float(m.group(1)), "/proc/cpuinfo cpu MHz (no max clock exposed; nominal)"
    return None, "unknown"


def cpu_info() -> dict[str, Any]:
    text = _read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags_line = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
    flags = set(flags_line.group(1).split()) if flags_line else set()
    mhz, source = cpu_mhz()
    return {
        "cpu_model": model.group(1).strip() if model else None,
        "cores": usable_cores(),
        "logical_cpus": os.cpu_count(),
        "cpu_mhz": mhz,
        "cpu_mhz_source": source,
        "isa_flags": [f for f in ISA_FLAGS if f in flags],
    }


def peak_gflops(info: Mapping[str, Any]) -> dict[str, Any]:
    """Theoretical peak float32 and bfloat16 GFLOP/s of the usable cores, with the derivation.

    Assumptions (stated in every result): float32 = FMA units x SIMD lanes x 2 (an FMA is two
    FLOPs) per cycle per core: AVX-512 with 2 FMA units = 2 x 16 x 2 = 64 (server Xeons have
    two 512-bit FMA units; a one-unit part halves this); AVX2 = 2 x 8 x 2 = 32. bfloat16 on
    AMX: 1024 FLOPs per cycle per core (one TMUL, 16x32 bf16 tile op); without AMX but with
    AVX512_BF16 (vdpbf16ps: 32 bf16 products into 16 float32, 2 units) = 128; otherwise the
    float32 peak (bfloat16 is converted and computed as float32).
    """
    flags = set(info.get("isa_flags", ()))
    mhz, cores = info.get("cpu_mhz"), int(info.get("cores") or 1)
    if "avx512f" in flags:
        f32, f32_why = 64, "AVX-512: 2 FMA units x 16 float32 lanes x 2 FLOPs per FMA"
    elif "avx2" in flags and "fma" in flags:
        f32, f32_why = 32, "AVX2: 2 FMA units x 8 float32 lanes x 2 FLOPs per FMA"
    else:
        f32, f32_why = 8, "SSE: 4 float32 lanes x 2 (add + mul) per cycle"
    if "amx_bf16" in flags:
        bf16, bf16_why = 1024, "AMX-BF16: 1024 bfloat16 FLOPs per cycle per core (TMUL)"
    elif "avx512_bf16" in flags:
        bf16, bf16_why = 128, "AVX512_BF16: 2 units x 32 bf16 products x 2 FLOPs"
    else:
        bf16, bf16_why = f32, "no bfloat16 units: computed as float32"
    ghz = (mhz or 0) / 1000
    return {
        "float32_gflops": round(ghz * cores * f32, 1) if mhz else None,
        "bfloat16_gflops": round(ghz * cores * bf16, 1) if mhz else None,
        "float32_flops_per_cycle_per_core": f32,
        "bfloat16_flops_per_cycle_per_core": bf16,
        "derivation": (
            f"{ghz:.2f} GHz ({info.get('cpu_mhz_source')}) x {cores} cores x FLOPs/cycle/core; "
            f"float32 {f32} ({f32_why}); bfloat16 {bf16} ({bf16_why})"
        ),
    }


#: The CPU features a reader needs to know which numbers hold on their machine.
SUMMARY_FLAGS = (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512_BF16"), ("avx512f", "AVX-512"))


def isa_summary(isa_flags: Sequence[str]) -> str:
    """``AMX-BF16 no, AVX512_BF16 yes, AVX-512 yes``: the flags that decide bfloat16's speed."""
    have = set(isa_flags)
    return ", ".join(f"{name} {'yes' if flag in have else 'no'}" for flag, name in SUMMARY_FLAGS)


def machine_line(m: Mapping[str, Any]) -> str:
    """One line naming where a result was measured: CPU, cores, the bfloat16-relevant flags,
    GPUs and what ``--mixed_precision=auto`` picks there."""
    auto = m.get("mixed_precision_auto") or {}
    picks = f"{auto.get('dtype')} ({auto.get('reason')})" if auto else "(not recorded)"
    return (
        f"{m.get('cpu_model') or 'unknown CPU'}, {m.get('cores')} cores; "
        f"{isa_summary(m.get('isa_flags') or ())}; GPUs {', '.join(m.get('gpus') or []) or 'none'}"
        f"; --mixed_precision=auto picks {picks}"
    )


def tf_facts(python: str) -> dict[str, Any]:
    """TensorFlow/Keras versions and GPUs, from a child (the parent never imports TF)."""
    code = (
        "import json, os, sys\n"
        "os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')\n"
        "import tensorflow as tf\n"
        "from importlib import metadata\n"
        "def v(p):\n"
        "    try:\n        return metadata.version(p)\n"
        "    except metadata.PackageNotFoundError:\n        return None\n"
        "gpus = [tf.config.experimental.get_device_details(d).get('device_name', d.name)\n"
        "        for d in tf.config.list_physical_devices('GPU')]\n"
        "try:\n"
        "    from slimcls.train import precision\n"
        "    dtype, reason = precision.auto_choice(precision.cpu_flags(),\n"
        "                                          precision.gpu_capabilities())\n"
        "    auto = {'dtype': dtype, 'reason': reason}\n"
        "except Exception as e:\n"
        "    auto = {'dtype': None, 'reason': f'{type(e).__name__}: {e}'}\n"
        "print(json.dumps({'tensorflow_version': tf.__version__, 'keras_version': v('keras'),\n"
        "  'tf_keras_version': v('tf-keras'), 'tf_slim_version': v('tf-slim'), 'gpus': gpus,\n"
        "  'mixed_precision_auto': auto}))\n"
    )
    env = child_env(TF_USE_LEGACY_KERAS="1")
    try:
        out = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, env=env, timeout=300
        )
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return {"tensorflow_version": None, "gpus": None}


def machine(python: str = sys.executable) -> dict[str, Any]:
    """Where a result was measured: :func:`cpu_info`, ``isa_summary``, GPUs, peak FLOP/s,
    TensorFlow/Keras versions and ``mixed_precision_auto`` (slimcls' choice here)."""
    info = cpu_info()
    info["isa_summary"] = isa_summary(info["isa_flags"])
    facts = tf_facts(python)
    info["gpus"] = facts.pop("gpus", None)
    info["peak"] = peak_gflops(info)
    return {**info, **facts}


# ------------------------------------------------------------------------------ children


def child_env(**overrides: str | None) -> dict[str, str]:
    """The parent's environment plus quiet TF logs; a None value removes the variable."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT}
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def emit(result: Mapping[str, Any]) -> None:
    """Prints a child's result as the one line the parent looks for."""
    print(MARKER + json.dumps(result), flush=True)


def report_child(measure: Callable[[], Mapping[str, Any]]) -> int:
    """Runs a child's measurement and emits its row, or an error row: a failing side is a
    row with its one-line reason, never a crash of the whole benchmark. Returns the exit
    status."""
    try:
        result = measure()
    except Exception as e:  # noqa: BLE001 (reported as a failure row)
        traceback.print_exc()
        emit({"error": f"{type(e).__name__}: {first_line(str(e))}"})
        return 1
    emit(result)
    return 0


def first_line(text: str, limit: int = 240) -> str:
    line = next((s.strip() for s in str(text).splitlines() if s.strip()), "")
    return line[:limit]


def run_child(cmd: Sequence[str], env: Mapping[str, str], timeout: float) -> dict[str, Any]:
    """Runs a child; returns its BENCH_RESULT dict, or ``{"error": one line}`` on failure.

    A failure never raises: the benchmark records it as a row and goes on.
    """
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            list(cmd), capture_output=True, text=True, env=dict(env), timeout=timeout, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    except OSError as e:  # e.g. a --torch_python that does not exist
        return {"error": f"cannot run {cmd[0]}: {e.strerror or e}"}
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            result = json.loads(line[len(MARKER) :])
    if result is None:
        tail = [s for s in proc.stderr.splitlines() if s.strip()]
        reason = tail[-1] if tail else f"exit status {proc.returncode}, no output"
        result = {"error": first_line(reason)}
    elif proc.returncode and "error" not in result:
        result["error"] = f"exit status {proc.returncode}"
    result["child_seconds"] = round(time.perf_counter() - started, 1)
    return result


# ------------------------------------------------------------------------------ numbers


def median(values: Sequence[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def steady_examples_per_s(step_seconds: Sequence[float], batch: int, warmup: int) -> float | None:
    """``batch / median step time`` of the steps after ``warmup`` (tracing, autotuning)."""
    steady = list(step_seconds)[warmup:]
    return batch / statistics.median(steady) if steady else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


# ------------------------------------------------------------------------------ output


def write_result(
    name: str,
    rows: list[dict[str, Any]],
    *,
    quick: bool,
    python: str,
    extra: Mapping[str, Any] | None = None,
    results_dir: str | None = None,
    path: str | None = None,
) -> str:
    """Writes ``<results_dir>/<name>.json`` (or ``path``): machine, versions, exact command,
    rows; prints the one line saying where it was measured (:func:`machine_line`)."""
    results_dir = results_dir or RESULTS_DIR
    path = path or os.path.join(results_dir, f"{name}.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    facts = machine(python)
    doc = {
        "benchmark": name,
        "schema_version": SCHEMA_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": quick,
        "command": shlex.join([sys.executable, *sys.argv]),
        "cwd": os.getcwd(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "tensorflow_version": facts.pop("tensorflow_version", None),
        "machine": facts,
        **(extra or {}),
        "rows": rows,
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
    print(f"measured on: {machine_line(facts)}")
    return path


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != 0 and abs(value) < 0.01:
            return f"{value:.2g}"
        return f"{value:,.{digits if abs(value) >= 10 else 2}f}"
    if isinstance(value, (list, tuple)):
        return " ".join(fmt(v, digits) for v in value)
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A Markdown table of ``rows``: ``columns`` is ``(key, header)`` pairs."""
    lines = [
        "| " + " | ".join(h for _, h in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(fmt(row.get(k)) for k, _ in columns) + " |")
    return "\n".join(lines)


def default_python() -> str:
    return os.environ.get("PYTHON") or sys.executable


def make_dataset(python: str, out: str, image_size: int, num_train: int, num_test: int = 0) -> str:
    """Writes (once) a converted dataset of generated photos with ``bench/data.py``."""
    if not os.path.exists(os.path.join(out, "dataset.json")):
        cmd = [python, os.path.join(HERE, "data.py"), out, str(image_size), str(num_train)]
        subprocess.run([*cmd, str(num_test)], check=True, env=child_env(), cwd=ROOT)
    return out
