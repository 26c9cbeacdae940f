"""The benchmark machinery (bench/) runs and writes its JSON schema. No timing asserts."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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
    assert doc["sides"] == ["slimcls", "keras", "torch"]  # --quick: torch eager only
    assert [r["case"] for r in doc["rows"]] == [
        "cifarnet 32x32 b32 float32",
        "cifarnet 32x32 b32 bfloat16",
    ]
    for row in doc["rows"]:
        for side in ("slimcls", "keras", "torch"):
            # Each side measured its trial or recorded why it failed or was skipped, in a line.
            trials = row["trials"].get(side)
            error = row["errors"].get(side) or row["skipped"].get(side)
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


# ------------------------------------------------------------------ the PyTorch side


def _python_without_torch(tmp_path):
    """This interpreter, with ``import torch`` failing whatever is installed."""
    path = tmp_path / "notorch" / "python"
    path.parent.mkdir()
    path.write_text(
        "#!/bin/bash\n"
        f"exec {sys.executable} -c \"import runpy, sys; sys.modules['torch'] = None; "
        f'sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name=\'__main__\')" "$@"\n'
    )
    path.chmod(0o755)
    return str(path)


def test_torch_side_is_skipped_with_a_line_naming_the_interpreter_and_the_fix(tmp_path):
    import bench_peers

    python = _python_without_torch(tmp_path)
    found = bench_peers.torch_check(python)
    assert found["torch"] is None
    assert found["skip_all"].startswith(f"no torch in {python} (")
    assert "pip install -e '.[bench]'" in found["skip_all"]
    assert "--torch_python" in found["skip_all"]
    assert "\n" not in found["skip_all"]
    missing = bench_peers.torch_check(str(tmp_path / "nope" / "python"))
    assert "cannot run" in missing["skip_all"]


def test_bench_peers_refuses_unknown_torch_sides_before_running_anything(tmp_path):
    proc = subprocess.run(
        [sys.executable, os.path.join(BENCH, "bench_peers.py"), "--torch_sides", "eager,jit",
         "--results_dir", str(tmp_path)], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--torch_sides: unknown ['jit']; expected some of eager, compile" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_bench_precision_refuses_unknown_choices_before_running_anything(tmp_path):
    script = os.path.join(BENCH, "bench_precision.py")
    for bad, message in (("--cpus=native,zen9", "unknown ['zen9']"),
                         ("--datasets=mnist", "unknown ['mnist']"),
                         ("--variants=float64", "unknown ['float64']"),
                         ("--seeds=a", "expected comma-separated integers"),
                         ("--steps=5", "--steps > 20")):  # fmt: skip
        proc = subprocess.run(
            [sys.executable, script, bad, "--work_dir", str(tmp_path / "w"),
             "--json", str(tmp_path / "p.json")], capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 2 and message in proc.stderr, (bad, proc.stderr)
    assert not (tmp_path / "p.json").exists()


def test_uint8_export_holds_the_split_the_other_sides_read(tmp_path):
    import data
    import numpy as np

    from slimcls.datasets import dataset_utils

    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    labels = rng.integers(0, 4, 10)
    dataset_utils.write_dataset_from_arrays(
        str(tmp_path / "d"), "toy", {"train": (images, labels)}, list("abcd"), num_shards=3
    )
    out = data.export_uint8(str(tmp_path / "d"), str(tmp_path / "toy.npz"))
    with np.load(out) as split:
        got_images, got_labels = split["images"], split["labels"]
    assert got_images.dtype == np.uint8 and got_images.shape == images.shape

    # Same examples (shards reorder them): compare as sets of (label, pixels).
    def examples(pixels, classes):
        return sorted((int(c), p.tobytes()) for p, c in zip(pixels, classes))

    assert examples(got_images, got_labels) == examples(images, labels)
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_shapes_set_has_every_class_and_the_same_images_for_the_same_seed():
    import data
    import numpy as np

    images, labels = data.shapes_arrays(np.random.default_rng(0), 400)
    assert images.shape == (400, 32, 32, 3) and images.dtype == np.uint8
    assert set(labels.tolist()) == set(range(len(data.SHAPES)))
    again, _ = data.shapes_arrays(np.random.default_rng(0), 400)
    assert (again == images).all()


def _torch():
    return pytest.importorskip("torch")


def test_torch_cifarnet_augment_shifts_flips_and_standardises_each_image():
    torch = _torch()
    import torch_peer

    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 32, 32, 3), dtype=torch.uint8, generator=gen)
    torch.manual_seed(1)
    out = torch_peer.cifarnet_augment(torch, images)
    assert out.shape == (16, 3, 32, 32) and out.is_contiguous(memory_format=torch.channels_last)
    flat = out.reshape(16, -1)
    assert torch.allclose(flat.mean(1), torch.zeros(16), atol=1e-4)
    assert torch.allclose(flat.std(1, unbiased=False), torch.ones(16), atol=1e-3)
    # Geometry: every output is a (possibly flipped) 32x32 window of the zero-padded input,
    # up to the per-image affine contrast/standardisation: compare rank orders of pixels.
    torch.manual_seed(1)
    padded = torch.nn.functional.pad(images, (0, 0, 4, 4, 4, 4)).float()
    flips = 0
    for i in range(16):
        target = out[i].permute(1, 2, 0)
        matches = [
            (dy, dx, f)
            for dy in range(9) for dx in range(9) for f in (False, True)
            if _same_up_to_affine(torch, target, padded[i, dy:dy + 32, dx:dx + 32], f)
        ]  # fmt: skip
        assert matches, f"image {i} is no shifted/flipped window of its input"
        flips += matches[0][2]
    assert 0 < flips < 16  # flipped at random, not all or none


def _same_up_to_affine(torch, target, window, flip):
    window = window.flip(1) if flip else window
    # One positive scale and per-channel offset: the contrast-standardisation is affine per
    # channel with the same positive scale.
    t = target - target.mean(dim=(0, 1))
    w = window - window.mean(dim=(0, 1))
    scale = (t * w).sum() / (w * w).sum().clamp(min=1e-6)
    return scale > 0 and torch.allclose(t, w * scale, atol=1e-3)


def test_torch_inception_augment_crops_resizes_flips_into_minus_one_one():
    torch = _torch()
    import torch_peer

    images = torch.randint(0, 256, (6, 40, 40, 3), dtype=torch.uint8)
    out = torch_peer.inception_augment(torch, images, 24)
    assert out.shape == (6, 3, 24, 24) and out.is_contiguous(memory_format=torch.channels_last)
    assert out.min() >= -1.0 and out.max() <= 1.0
    grey = torch.full((2, 40, 40, 3), 128, dtype=torch.uint8)
    flat = torch_peer.inception_augment(torch, grey, 24)
    # A flat grey image stays flat (brightness/saturation move all its pixels together).
    assert torch.allclose(flat.amax(dim=(1, 2, 3)), flat.amin(dim=(1, 2, 3)), atol=1e-5)


@pytest.mark.train_loop
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_torch_peer_trains_a_few_steps_and_reports_its_result_line(tmp_path, dtype):
    _torch()
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "split.npz", images=rng.integers(0, 256, (12, 32, 32, 3), np.uint8),
             labels=rng.integers(0, 10, 12))  # fmt: skip
    result = common.run_child(
        [sys.executable, os.path.join(BENCH, "torch_peer.py"), "--data",
         str(tmp_path / "split.npz"), "--model", "cifarnet", "--batch", "4", "--dtype", dtype,
         "--warmup", "1", "--steps", "3"], common.child_env(), 300,
    )  # fmt: skip
    assert "error" not in result, result
    assert len(result["step_seconds"]) == 4 and result["examples_per_s"] > 0
    assert np.isfinite(result["final_loss"]) and result["parameters"] == 1_756_426
    bad = common.run_child(
        [sys.executable, os.path.join(BENCH, "torch_peer.py"), "--data",
         str(tmp_path / "split.npz"), "--model", "cifarnet", "--batch", "64"],
        common.child_env(), 300,
    )  # fmt: skip
    assert bad["error"] == f"ValueError: {tmp_path / 'split.npz'}: 12 images, fewer than --batch 64"


def test_a_failed_uint8_export_is_the_torch_sides_one_line_error_not_a_crash(monkeypatch, tmp_path):
    import argparse

    import bench_peers

    ran = []

    def fake_child(cmd, env, timeout):
        ran.append(os.path.basename(cmd[1]))
        return {"examples_per_s": 10.0, "step_seconds": [0.1, 0.1], "child_seconds": 0.0}

    def failed_export(cmd, **kwargs):
        assert "--uint8" in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "Traceback ...\nValueError: bad shard\n")

    monkeypatch.setattr(common, "make_dataset", lambda python, out, *a: out)
    monkeypatch.setattr(common, "run_child", fake_child)
    monkeypatch.setattr(bench_peers.subprocess, "run", failed_export)
    args = argparse.Namespace(
        warmup=1, steps=1, quick=True, trials=2, synthetic=False, timeout=10,
        torch_python="tp", torch_found={"torch": "2", "timm": "1"}, tfslim_dir=None,
    )  # fmt: skip
    row = bench_peers.run_case(("cifarnet", 32, 32, "float32"), ["slimcls", "torch"], args,
                               "py", str(tmp_path), "quick")  # fmt: skip
    assert ran == ["slimcls_trial.py", "slimcls_trial.py"]  # torch never started
    assert row["errors"]["torch"].endswith("cifarnet_32 failed: ValueError: bad shard")
    assert row["slimcls_median"] == 10.0 and row["torch_median"] is None
    assert "torch failed: the uint8 export" in row["note"]
