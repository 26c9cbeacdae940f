"""--mixed_precision=auto's rule (slimcls.train.precision.auto_choice) on fake hardware."""

import pytest

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.train import precision

# Feature flags as /proc/cpuinfo lists them (trimmed to the ones that matter, plus noise).
AMD_EPYC_ZEN4 = "fpu sse2 avx avx2 fma avx512f avx512bw avx512vl avx512_bf16 avx512_vnni"
XEON_SAPPHIRE_RAPIDS = "fpu avx2 fma avx512f avx512_vnni avx512_bf16 amx_tile amx_bf16 amx_int8"
XEON_SAPPHIRE_RAPIDS_NO_AVX512_BF16 = "fpu avx2 fma avx512f amx_tile amx_bf16"
XEON_CASCADE_LAKE = "fpu avx2 fma avx512f avx512bw avx512_vnni"
ZEN3 = "fpu sse2 avx avx2 fma"


@pytest.mark.parametrize(
    "flags, expected",
    [
        (AMD_EPYC_ZEN4, "bfloat16"),
        (XEON_SAPPHIRE_RAPIDS, "bfloat16"),
        (XEON_SAPPHIRE_RAPIDS_NO_AVX512_BF16, "bfloat16"),
        (XEON_CASCADE_LAKE, "float32"),
        (ZEN3, "float32"),
        ("", "float32"),  # no /proc/cpuinfo (macOS, some containers)
    ],
)
def test_cpu_rule_bfloat16_with_amx_or_avx512_bf16(flags, expected):
    dtype, reason = precision.auto_choice(flags.split(), gpus=(), environ={})
    assert dtype == expected
    if "amx_bf16" in flags:
        assert "AMX-BF16" in reason
    elif "avx512_bf16" in flags:
        assert "AVX512_BF16" in reason
    else:
        assert "neither" in reason


@pytest.mark.parametrize("value", ["0", "false", "OFF "])
def test_onednn_turned_off_keeps_float32_even_with_bf16_instructions(value):
    dtype, reason = precision.auto_choice(
        AMD_EPYC_ZEN4.split(), environ={"TF_ENABLE_ONEDNN_OPTS": value}
    )
    assert dtype == "float32" and "TF_ENABLE_ONEDNN_OPTS=0" in reason
    on = precision.auto_choice(AMD_EPYC_ZEN4.split(), environ={"TF_ENABLE_ONEDNN_OPTS": "1"})
    assert on[0] == "bfloat16"


@pytest.mark.parametrize(
    "gpus, expected",
    [
        ([(8, 0)], "bfloat16"),
        ([(9, 0), (8, 6)], "bfloat16"),
        ([(7, 0)], "float32"),  # V100: no bfloat16 tensor cores
        ([(9, 0), (7, 5)], "float32"),  # the oldest GPU decides: all replicas run one dtype
        ([(0, 0)], "float32"),  # capability unknown
    ],
)
def test_gpu_rule_follows_the_oldest_gpu_whatever_the_cpu(gpus, expected):
    for flags in (AMD_EPYC_ZEN4, ZEN3):
        dtype, reason = precision.auto_choice(flags.split(), gpus=gpus, environ={})
        assert dtype == expected and "compute capability" in reason


def test_compute_dtype_auto_reads_this_machines_flags_and_logs_why(monkeypatch, caplog):
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(AMD_EPYC_ZEN4.split()))
    with caplog.at_level("INFO", logger="slimcls.train"):
        assert precision.compute_dtype("auto") == "bfloat16"
    assert "--mixed_precision=auto: bfloat16 (the CPU has AVX512_BF16)" in caplog.text
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(ZEN3.split()))
    assert precision.compute_dtype("auto") == "float32"
    # Explicit choices are not the rule's business.
    assert precision.compute_dtype("bfloat16") == "bfloat16"
    assert precision.compute_dtype(None) == "float32"


def test_float16_on_a_cpu_names_both_bfloat16_instruction_sets(monkeypatch):
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    with pytest.raises(SlimclsError, match="AMX or AVX512_BF16"):
        precision.compute_dtype("float16")


@pytest.mark.parametrize(
    "flags, expected",
    [(AMD_EPYC_ZEN4, "float32"), (XEON_SAPPHIRE_RAPIDS, "bfloat16"), (ZEN3, "float32")],
)
def test_depthwise_nets_keep_float32_where_bfloat16_has_no_amx(flags, expected):
    dtype, reason = precision.auto_choice(flags.split(), gpus=(), environ={}, depthwise=True)
    assert dtype == expected
    if flags == AMD_EPYC_ZEN4:
        assert "depthwise convolutions are slower in bfloat16" in reason


def test_compute_dtype_auto_asks_the_net_table(monkeypatch):
    from slimcls.nets.net_table import NETS

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(AMD_EPYC_ZEN4.split()))
    assert NETS["mobilenet_v3_small_minimalistic"].depthwise
    assert not NETS["mobilenet_edgetpu"].depthwise and not NETS["cifarnet"].depthwise
    assert precision.compute_dtype("auto", "mobilenet_v3_small_minimalistic") == "float32"
    assert precision.compute_dtype("auto", "mobilenet_edgetpu") == "bfloat16"
    assert precision.compute_dtype("auto", "cifarnet") == "bfloat16"
