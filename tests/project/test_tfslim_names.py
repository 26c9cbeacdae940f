"""TF-Slim's import names (``from nets import nets_factory``) resolve to slimcls's modules.

In-process tests drive the finders of ``_slimcls_tfslim_names`` directly; the slow test
builds the real wheel and an editable install into a scratch virtual environment next to
a stand-in for Hugging Face's ``datasets`` and checks that both coexist and that
uninstalling slimcls leaves the other package's files untouched.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

import _slimcls_tfslim_names as names

REPO = Path(__file__).resolve().parents[2]
STANDIN_MARKER = "hf-datasets-standin"


def _forget_names():
    """Drops every module registered under a TF-Slim name (aliases or stand-ins)."""
    for key in list(sys.modules):
        if key.partition(".")[0] in names.NAMES:
            del sys.modules[key]


@pytest.fixture
def tfslim_names():
    _forget_names()
    names.install()
    yield names
    names.uninstall()
    _forget_names()
    importlib.invalidate_caches()


def _write_standin_package(root: Path) -> Path:
    """A top-level ``datasets`` package of another distribution (marker + one module)."""
    pkg = root / "datasets"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(f"MARKER = {STANDIN_MARKER!r}\n")
    (pkg / "arrow_dataset.py").write_text("class Dataset:\n    pass\n")
    return pkg


def test_aliases_are_the_slimcls_module_objects(tfslim_names):
    import slimcls.nets.nets_factory

    factory = importlib.import_module("nets.nets_factory")
    assert factory is slimcls.nets.nets_factory
    assert sys.modules["nets"] is sys.modules["slimcls.nets"]
    # The real module keeps its own identity: aliasing must not rewrite its spec.
    assert factory.__spec__.name == "slimcls.nets.nets_factory"
    assert factory.__name__ == "slimcls.nets.nets_factory"


def test_tfslim_import_statements(tfslim_names):
    scope: dict = {}
    exec(
        "from nets import nets_factory, inception_v3\n"
        "import nets.cifarnet\n"
        "from preprocessing import preprocessing_factory\n"
        "from datasets import dataset_factory, dataset_utils\n",
        scope,
    )
    for alias, real in [
        ("nets_factory", "slimcls.nets.nets_factory"),
        ("inception_v3", "slimcls.nets.inception_v3"),
        ("preprocessing_factory", "slimcls.preprocessing.preprocessing_factory"),
        ("dataset_factory", "slimcls.datasets.dataset_factory"),
        ("dataset_utils", "slimcls.datasets.dataset_utils"),
    ]:
        assert scope[alias] is sys.modules[real], alias
    assert scope["nets"].cifarnet is sys.modules["slimcls.nets.cifarnet"]
    # No second copy of any module was loaded under the TF-Slim names.
    copies = [
        k
        for k, m in sys.modules.items()
        if k.partition(".")[0] in names.NAMES and m is not sys.modules.get("slimcls." + k)
    ]
    assert copies == []


def test_missing_module_is_module_not_found(tfslim_names):
    with pytest.raises(ModuleNotFoundError, match="nets.no_such_net"):
        importlib.import_module("nets.no_such_net")
    assert importlib.util.find_spec("nets.no_such_net") is None
    assert importlib.util.find_spec("nets.nets_factory") is not None


def test_real_top_level_package_wins(tfslim_names, tmp_path, monkeypatch):
    _write_standin_package(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()

    import datasets

    assert datasets.MARKER == STANDIN_MARKER
    assert Path(datasets.__file__).parent == tmp_path / "datasets"
    # Its own modules are its own; TF-Slim's modules it lacks are slimcls's.
    arrow = importlib.import_module("datasets.arrow_dataset")
    assert Path(arrow.__file__).parent == tmp_path / "datasets"
    from datasets import dataset_factory

    assert dataset_factory is sys.modules["slimcls.datasets.dataset_factory"]
    assert datasets.dataset_factory is dataset_factory
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("datasets.not_in_either")


def test_tfslim_checkout_in_cwd_wins(tfslim_names, tmp_path, monkeypatch):
    """Running inside TF-Slim's research/slim keeps using TF-Slim's own ``nets``."""
    pkg = tmp_path / "nets"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets_factory.py").write_text("ORIGIN = 'checkout'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()

    from nets import nets_factory

    assert nets_factory.ORIGIN == "checkout"
    assert nets_factory is not sys.modules.get("slimcls.nets.nets_factory")


def test_checkout_root_gives_one_module_per_file(tmp_path):
    """From the repository root, not installed: the top-level folders are slimcls's packages.

    ``nets/`` on the path would otherwise load every file a second time under TF-Slim's name.
    """
    out = _run_python(
        """
        import json, sys
        sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f)]
        import nets.cifarnet
        from datasets import dataset_utils
        import preprocessing
        import slimcls
        m = sys.modules
        print(json.dumps([nets.cifarnet is m["slimcls.nets.cifarnet"],
                          m["nets"] is m["slimcls.nets"],
                          dataset_utils is m["slimcls.datasets.dataset_utils"],
                          preprocessing is m["slimcls.preprocessing"],
                          m["slimcls.nets"].__file__, slimcls.__file__]))
        """,
        cwd=REPO,
        extra_env={names.DISABLE_ENV: "1"},
    )
    assert out == [True, True, True, True, str(REPO / "nets" / "__init__.py"),
                   str(REPO / "slimcls" / "__init__.py")]


def test_install_is_idempotent_and_can_be_disabled(monkeypatch):
    before = list(sys.meta_path)
    try:
        names.install()
        names.install()
        assert sys.meta_path[0] is names._ChildFinder
        assert sys.meta_path.count(names._ChildFinder) == 1
        assert sys.meta_path.count(names._FallbackFinder) == 1
        assert sys.meta_path[-1] is names._FallbackFinder
        names.uninstall()
        monkeypatch.setenv(names.DISABLE_ENV, "1")
        names.install()
        assert names._ChildFinder not in sys.meta_path
        assert names._FallbackFinder not in sys.meta_path
    finally:
        names.uninstall()
        sys.meta_path[:] = before


def _run_python(code: str, cwd: Path, python: str = sys.executable, extra_env=None):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "PYTHONPATH")}
    env.update({"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore", **(extra_env or {})})
    proc = subprocess.run(
        [python, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_startup_hook_imports_nothing_heavy(tmp_path):
    """What the .pth runs in every process: no slimcls, TensorFlow or environment change.

    A miss under another distribution's ``datasets`` (Hugging Face probing an optional
    module) must not import slimcls either.
    """
    _write_standin_package(tmp_path / "site")
    # Only the hook module: the checkout's own top-level datasets/ must not be on the path.
    (tmp_path / "hook").mkdir()
    shutil.copy2(REPO / "_slimcls_tfslim_names.py", tmp_path / "hook")
    out = _run_python(
        """
        import json, os, sys
        import _slimcls_tfslim_names
        _slimcls_tfslim_names.install()
        import datasets
        try:
            import datasets.optional_extra
        except ModuleNotFoundError:
            pass
        heavy = sorted(m for m in ("slimcls", "tensorflow", "tf_slim", "numpy") if m in sys.modules)
        print(json.dumps({"heavy": heavy, "env": "TF_USE_LEGACY_KERAS" in os.environ,
                          "marker": datasets.MARKER}))
        """,
        cwd=tmp_path,
        extra_env={"PYTHONPATH": os.pathsep.join([str(tmp_path / "hook"), str(tmp_path / "site")])},
    )
    assert out == {"heavy": [], "env": False, "marker": STANDIN_MARKER}


# --- slow: real wheel, real editable install, real uninstall ------------------------------


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _build_standin_wheel(out_dir: Path) -> Path:
    """A minimal wheel of a distribution named ``datasets`` (no build backend needed)."""
    files = {
        "datasets/__init__.py": f"MARKER = {STANDIN_MARKER!r}\n".encode(),
        "datasets/arrow_dataset.py": b"class Dataset:\n    pass\n",
        "datasets-99.0.dist-info/METADATA": (
            b"Metadata-Version: 2.1\nName: datasets\nVersion: 99.0\n"
        ),
        "datasets-99.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [_record_line(n, d) for n, d in files.items()] + ["datasets-99.0.dist-info/RECORD,,"]
    files["datasets-99.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    path = out_dir / "datasets-99.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _build_flags() -> list[str]:
    """pip flags that build slimcls without touching the network, or skip the test.

    pyproject.toml needs setuptools>=77: use the running one if it is new enough, else an
    isolated build from a local wheelhouse (SLIMCLS_WHEELHOUSE, default /opt/pypi/files).
    """

    def version(text):
        return tuple(int(p) for p in re.findall(r"\d+", text)[:2])

    try:
        import setuptools

        if version(setuptools.__version__) >= (77,):
            return ["--no-build-isolation"]
    except ImportError:
        pass
    house = Path(os.environ.get("SLIMCLS_WHEELHOUSE", "/opt/pypi/files"))
    found = [version(p.name.split("-")[1]) for p in house.glob("setuptools-*.whl")]
    if not any(v >= (77,) for v in found):
        pytest.skip(f"no setuptools>=77 available offline (set SLIMCLS_WHEELHOUSE, not {house})")
    return ["--find-links", str(house)]


def _pip(venv_python: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv_python), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def _copy_source(dst: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("pyproject.toml", "setup.py", "README.md", "_slimcls_tfslim_names.py"):
        shutil.copy2(REPO / name, dst / name)
    for folder in ("slimcls", "nets", "preprocessing", "datasets"):
        shutil.copytree(REPO / folder, dst / folder, ignore=ignore)
    return dst


def _dependency_dir(dst: Path) -> Path:
    """This interpreter's installed packages (TensorFlow, ...), minus slimcls and the names.

    Linked in through a .pth path line: the scratch venv imports TensorFlow without any
    download, and neither pip nor the import system sees another slimcls or datasets there.
    """
    skip = re.compile(r"(slimcls|^(datasets|nets|preprocessing)([-.]|$)|\.pth$|^__pycache__$)")
    for entry in Path(sysconfig.get_path("purelib")).iterdir():
        if not skip.search(entry.name):
            (dst / entry.name).symlink_to(entry)
    return dst


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


CHECK_CODE = """
    import json, sys
    import datasets
    marker = getattr(datasets, "MARKER", None)
    from datasets import dataset_factory, dataset_utils
    import nets.nets_factory
    from preprocessing import preprocessing_factory
    m = sys.modules
    print(json.dumps({
        "marker": marker,
        "datasets_file": datasets.__file__,
        "ours": [dataset_factory is m["slimcls.datasets.dataset_factory"],
                 dataset_utils is m["slimcls.datasets.dataset_utils"],
                 nets.nets_factory is m["slimcls.nets.nets_factory"],
                 m["nets"] is m["slimcls.nets"],
                 preprocessing_factory is m["slimcls.preprocessing.preprocessing_factory"]],
        "slimcls_file": m["slimcls"].__file__,
    }))
"""

GONE_CODE = """
    import json
    import datasets
    out = {"marker": datasets.MARKER}
    for stmt in ("import nets", "from datasets import dataset_factory", "import slimcls"):
        try:
            exec(stmt)
            out[stmt] = "imported"
        except ImportError as e:
            out[stmt] = type(e).__name__
    print(json.dumps(out))
"""


@pytest.mark.slow
def test_wheel_and_editable_install_coexist_with_datasets(tmp_path):
    flags = _build_flags()
    src = _copy_source(_mkdir(tmp_path / "src"))
    wheels = _mkdir(tmp_path / "wheels")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", *flags]
    subprocess.run([*build, "-w", str(wheels), str(src)], check=True, capture_output=True)
    (slimcls_wheel,) = wheels.glob("slimcls-*.whl")
    with zipfile.ZipFile(slimcls_wheel) as zf:
        tops = {n.split("/")[0] for n in zf.namelist()}
    assert not tops & names.NAMES, tops
    assert "slimcls_tfslim_names.pth" in tops
    standin_wheel = _build_standin_wheel(wheels)

    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True
    )
    py = tmp_path / "venv" / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(subprocess.check_output([py, "-c", purelib], text=True).strip())
    deps = _dependency_dir(_mkdir(tmp_path / "deps"))
    (site / "zz_slimcls_test_deps.pth").write_text(f"{deps}\n")

    _pip(py, "install", "--no-deps", str(standin_wheel))
    standin = _tree_digest(site / "datasets")
    _pip(py, "install", "--no-deps", str(slimcls_wheel))
    assert (site / "slimcls_tfslim_names.pth").is_file()
    assert _tree_digest(site / "datasets") == standin

    out = _run_python(CHECK_CODE, cwd=tmp_path, python=str(py))
    assert out["marker"] == STANDIN_MARKER
    assert Path(out["datasets_file"]).parent == site / "datasets"
    assert out["ours"] == [True] * 5
    assert Path(out["slimcls_file"]).parent == site / "slimcls"

    _pip(py, "uninstall", "-y", "slimcls")
    assert _tree_digest(site / "datasets") == standin
    assert not (site / "slimcls_tfslim_names.pth").exists()
    assert not (site / "_slimcls_tfslim_names.py").exists()
    gone = {
        "marker": STANDIN_MARKER,
        "import nets": "ModuleNotFoundError",
        "from datasets import dataset_factory": "ImportError",
        "import slimcls": "ModuleNotFoundError",
    }
    assert _run_python(GONE_CODE, cwd=tmp_path, python=str(py)) == gone

    # pip install -e . (PEP 660): the .pth comes with the editable wheel too.
    _pip(py, "install", "--no-deps", *flags, "-e", str(src))
    assert (site / "slimcls_tfslim_names.pth").is_file()
    out = _run_python(CHECK_CODE, cwd=tmp_path, python=str(py))
    assert out["marker"] == STANDIN_MARKER
    assert out["ours"] == [True] * 5
    assert Path(out["slimcls_file"]).parent == src / "slimcls"
    _pip(py, "uninstall", "-y", "slimcls")
    assert _tree_digest(site / "datasets") == standin
    assert _run_python(GONE_CODE, cwd=tmp_path, python=str(py)) == gone


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_upstream_summary_counts_per_test_file(tmp_path, capsys):
    """scripts/tfslim_upstream/summarize.py: per-file counts and why a file failed."""
    path = REPO / "scripts" / "tfslim_upstream" / "summarize.py"
    spec = importlib.util.spec_from_file_location("tfslim_upstream_summarize", path)
    summarize = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(summarize)
    report = tmp_path / "report.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="" name="upstream_nets.vgg_test" file="upstream_nets/vgg_test.py">'
        '<error message="collection failure">Traceback:\n    from nets import vgg\n'
        "E   ImportError: cannot import name 'vgg' from 'slimcls.nets' (/x/__init__.py)"
        "</error></testcase>"
        '<testcase classname="upstream_nets.mobilenet.mobilenet_v2_test.MobilenetV2Test" '
        'name="testA" file="upstream_nets/mobilenet/mobilenet_v2_test.py"/>'
        '<testcase classname="upstream_nets.mobilenet.mobilenet_v2_test.MobilenetV2Test" '
        'name="testB" file="upstream_nets/mobilenet/mobilenet_v2_test.py">'
        '<failure message="boom">E   AssertionError: 3 != 4</failure></testcase>'
        '<testcase classname="upstream_nets.mobilenet.mobilenet_v2_test.MobilenetV2Test" '
        'name="test_session" file="/site-packages/tensorflow/test_util.py">'
        '<skipped message="Not a test."/></testcase>'
        "</testsuite></testsuites>"
    )
    summarize.main(str(report), "upstream_nets/", "nets/")
    out = capsys.readouterr().out
    rows = {
        ln.split()[0]: ln.split()[1:]
        for ln in out.splitlines()
        if ln.startswith(("nets/", "TOTAL"))
    }
    assert rows == {
        "nets/mobilenet/mobilenet_v2_test.py": ["1", "1", "0", "0"],
        "nets/vgg_test.py": ["0", "0", "1", "0"],
        "TOTAL": ["1", "1", "1", "0"],
    }
    assert "module missing: slimcls.nets.vgg" in out
    assert "AssertionError: 3 != 4" in out


def test_a_checkout_on_pythonpath_uses_its_own_folders(tmp_path):
    """PYTHONPATH=<checkout> runs that checkout's nets/, preprocessing/ and datasets/, also
    when another checkout is installed editable (a git worktree beside the main one)."""
    code = (
        "import slimcls.nets, slimcls.preprocessing, slimcls.datasets as d;"
        "print(d.__file__); print(slimcls.nets.__file__); print(slimcls.preprocessing.__file__)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    for line, folder in zip(out.stdout.split(), ("datasets", "nets", "preprocessing")):
        assert line == str(REPO / folder / "__init__.py"), out.stdout
