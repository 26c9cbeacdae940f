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
    # Where it ran, in the terms that decide bfloat16's speed, and what auto picks there.
    from slimcls.train import precision

    assert machine["isa_summary"] == common.isa_summary(machine["isa_flags"])
    assert "AVX512_BF16" in machine["isa_summary"] and "AMX-BF16" in machine["isa_summary"]
    auto = precision.auto_choice(precision.cpu_flags(), precision.gpu_capabilities())
    assert machine["mixed_precision_auto"] == {"dtype": auto[0], "reason": auto[1]}


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


# ------------------------------------------------------------------ where results were measured


def test_machine_line_names_the_cpu_its_bfloat16_flags_and_autos_choice():
    zen4 = {
        "cpu_model": "AMD EPYC", "cores": 2, "gpus": [],
        "isa_flags": ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"],
        "mixed_precision_auto": {"dtype": "bfloat16", "reason": "the CPU has AVX512_BF16"},
    }  # fmt: skip
    line = common.machine_line(zen4)
    assert line.startswith("AMD EPYC, 2 cores; AMX-BF16 no, AVX512_BF16 yes, AVX-512 yes;")
    assert "GPUs none" in line
    assert line.endswith("auto picks bfloat16 (the CPU has AVX512_BF16)")
    old = {"cpu_model": "Xeon", "cores": 2, "isa_flags": ["avx2", "amx_bf16"]}
    assert "AMX-BF16 yes, AVX512_BF16 no, AVX-512 no" in common.machine_line(old)
    assert "(not recorded)" in common.machine_line(old)


def test_report_says_which_machine_each_result_ran_on(tmp_path):
    def doc(name, model, flags):
        machine = {
            "cpu_model": model,
            "cores": 2,
            "isa_flags": flags,
            "gpus": [],
            "cpu_mhz": 2000.0,
            "cpu_mhz_source": "test",
            "peak": {"derivation": "d", "float32_gflops": 1, "bfloat16_gflops": 2},
        }
        rows = [{"case": f"{name} case", "value": 1.0, "metric": "x"}]
        return {"benchmark": name, "machine": machine, "rows": rows}  # fmt: skip

    for name, model, flags in (("commands", "AMD EPYC", ["avx512f", "avx512_bf16"]),
                               ("convert", "Intel Xeon", ["avx512f", "amx_bf16"])):  # fmt: skip
        (tmp_path / f"{name}.json").write_text(json.dumps(doc(name, model, flags)))
    out = subprocess.run(
        [sys.executable, os.path.join(BENCH, "report.py"), "--results_dir", str(tmp_path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert "commands measured on: AMD EPYC, 2 cores; AMX-BF16 no, AVX512_BF16 yes" in out
    assert "convert measured on: Intel Xeon, 2 cores; AMX-BF16 yes, AVX512_BF16 no" in out


# ------------------------------------------------------------------ run_all.sh's interpreter


def _run_all_copy(tmp_path):
    """bench/run_all.sh copied into an empty repository layout (no .venv there)."""
    repo = tmp_path / "repo"
    (repo / "bench").mkdir(parents=True)
    script = repo / "bench" / "run_all.sh"
    script.write_text(open(os.path.join(BENCH, "run_all.sh")).read())
    return repo, script


def _stub_python(path, log, has_tensorflow=True):
    """An interpreter that answers run_all.sh's TensorFlow check and logs every other call."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/bash\n"
        f'if [[ "$1" == -c ]]; then exit {0 if has_tensorflow else 1}; fi\n'
        f'echo "$0 $*" >> {log}\n'
    )
    path.chmod(0o755)
    return path


def _clean_env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHON", "VIRTUAL_ENV", "CONDA_PREFIX", "TORCH_PYTHON")}  # fmt: skip
    # python3 on PATH is a stub without TensorFlow.
    bindir = tmp_path / "pathbin"
    _stub_python(bindir / "python3", tmp_path / "unused.log", has_tensorflow=False)
    env["PATH"] = f"{bindir}:/usr/bin:/bin"
    return {**env, **extra}


def test_run_all_uses_the_active_environments_python(tmp_path):
    repo, script = _run_all_copy(tmp_path)
    log = tmp_path / "calls.log"
    venv = tmp_path / "venv"
    python = _stub_python(venv / "bin" / "python", log)
    proc = subprocess.run(
        ["bash", str(script), "--quick", "--torch_python=/tp"], capture_output=True, text=True,
        env=_clean_env(tmp_path, VIRTUAL_ENV=str(venv)), timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"==> using {python}" in proc.stdout
    calls = log.read_text().splitlines()
    assert calls[0] == f"{python} bench/bench_peers.py --quick --torch_python=/tp"
    assert calls[-1] == f"{python} bench/report.py"
    # .venv of the repository is the fallback when no environment is active.
    log.unlink()
    dot_venv = _stub_python(repo / ".venv" / "bin" / "python", log)
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                          env=_clean_env(tmp_path), timeout=60)  # fmt: skip
    assert proc.returncode == 0 and f"==> using {dot_venv}" in proc.stdout


def test_run_all_without_a_python_with_tensorflow_says_what_it_tried(tmp_path):
    _, script = _run_all_copy(tmp_path)
    venv = tmp_path / "venv"
    _stub_python(venv / "bin" / "python", tmp_path / "calls.log", has_tensorflow=False)
    proc = subprocess.run(["bash", str(script), "--quick"], capture_output=True, text=True,
                          env=_clean_env(tmp_path, VIRTUAL_ENV=str(venv)), timeout=60)  # fmt: skip
    assert proc.returncode == 127 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "no Python with TensorFlow found" in lines[0]
    assert f"{venv}/bin/python (no tensorflow)" in lines[0]
    assert "/repo/.venv/bin/python (missing)" in lines[0]
    assert "set PYTHON=" in lines[0]
    env = _clean_env(tmp_path, PYTHON="/no/such/python")
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 127 and "PYTHON=/no/such/python, which is not" in proc.stderr
    assert not (tmp_path / "calls.log").exists()
