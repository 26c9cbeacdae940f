"""The benchmark machinery (bench/) runs and writes its JSON schema. No timing asserts."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
sys.path.insert(0, BENCH)

import common  # noqa: E402


def test_peak_derivation_follows_the_isa_flags_and_clock():
    info = {"cpu_mhz": 2000.0, "cpu_mhz_source": "test", "cores": 2}
    amx = common.peak_gflops({**info, "isa_flags": ["avx2", "fma", "avx512f", "amx_bf16"]})
    assert amx["float32_gflops"] == pytest.approx(2.0 * 2 * 64)
    assert amx["bfloat16_gflops"] == pytest.approx(2.0 * 2 * 1024)
    avx2 = common.peak_gflops({**info, "isa_flags": ["avx2", "fma"]})
    assert avx2["float32_gflops"] == pytest.approx(2.0 * 2 * 32)
    assert avx2["bfloat16_gflops"] == avx2["float32_gflops"]  # no bf16 units
    assert "2.00 GHz" in amx["derivation"] and "AMX" in amx["derivation"]
    assert common.peak_gflops({**info, "cpu_mhz": None, "isa_flags": []})["float32_gflops"] is None


def test_cpu_info_reports_only_flags_the_cpu_has():
    with open("/proc/cpuinfo") as f:
        flags = set(next(line for line in f if line.startswith("flags")).split(":")[1].split())
    info = common.cpu_info()
    assert set(info["isa_flags"]) == flags & set(common.ISA_FLAGS)
    assert info["cores"] >= 1


def test_run_child_returns_the_result_line_or_a_one_line_error(tmp_path):
    env = common.child_env()
    ok = common.run_child(
        [sys.executable, "-c", "print('noise'); print('BENCH_RESULT {\"x\": 3}')"], env, 60
    )
    assert ok["x"] == 3 and "error" not in ok
    failed = common.run_child(
        [sys.executable, "-c", "import sys; sys.stderr.write('a\\nValueError: bad LRN\\n'); "
         "sys.exit(2)"], env, 60,
    )  # fmt: skip
    assert failed["error"] == "ValueError: bad LRN"
    hung = common.run_child([sys.executable, "-c", "import time; time.sleep(5)"], env, 0.5)
    assert "timed out" in hung["error"]


@pytest.mark.heavy
def test_write_result_records_machine_versions_command_and_rows(tmp_path):
    rows = [{"case": "toy", "value": 1.5}]
    path = common.write_result("toy", rows, quick=True, python=sys.executable,
                               results_dir=str(tmp_path))  # fmt: skip
    with open(path) as f:
        doc = json.load(f)
    assert os.path.basename(path) == "toy.json"
    assert doc["rows"] == rows and doc["quick"] is True and doc["benchmark"] == "toy"
    assert doc["command"] and doc["tensorflow_version"].startswith("2.")
    machine = doc["machine"]
    for key in ("cpu_model", "cores", "isa_flags", "gpus", "peak"):
        assert key in machine
    assert "derivation" in machine["peak"]


@pytest.mark.slow
def test_peers_on_a_toy_config_write_the_schema_and_the_report_reads_it(tmp_path):
    results = tmp_path / "results"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHON": sys.executable}
    cmd = [sys.executable, os.path.join(BENCH, "bench_peers.py"), "--quick", "--cases", "0,1",
           "--warmup", "1", "--steps", "2", "--workdir", str(tmp_path / "work"),
           "--results_dir", str(results)]  # fmt: skip
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, capture_output=True, timeout=900)
    with open(results / "peers.json") as f:
        doc = json.load(f)
    assert doc["sides"] == ["slimcls", "keras"]
    assert [r["case"] for r in doc["rows"]] == [
        "cifarnet 32x32 b32 float32",
        "cifarnet 32x32 b32 bfloat16",
    ]
    for row in doc["rows"]:
        for side in ("slimcls", "keras"):
            # Each side either measured its trial or recorded why it failed, in one line.
            trials, error = row["trials"].get(side), row["errors"].get(side)
            assert (trials and len(trials) == 1 and trials[0] > 0) or (error and "\n" not in error)
            if trials:
                assert len(row["step_seconds"][side][0]) == 3  # warm-up + timed steps
        if row["slimcls_median"] and row["keras_median"]:
            assert row["ratio_slimcls_over_keras"] == pytest.approx(
                row["slimcls_median"] / row["keras_median"]
            )
    report = subprocess.run(
        [sys.executable, os.path.join(BENCH, "report.py"), "--results_dir", str(results)],
        check=True, env=env, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert "cifarnet 32x32 b32 float32" in report.stdout and "peak:" in report.stdout
