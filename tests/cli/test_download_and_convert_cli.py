"""End-to-end tests of the download_and_convert_data command (subprocesses)."""

import hashlib
import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

from slimcls.datasets import convert_folder, dataset_factory, download
from tests.helpers import ENV, REPO, run_module


def run_cli(*args):
    return run_module("slimcls.download_and_convert_data", *args)


def _pets(root):
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        for i in range(5):
            d = os.path.join(root, c, "nested" if i % 2 else "")
            os.makedirs(d, exist_ok=True)
            img = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
            Image.fromarray(img).save(os.path.join(d, f"{i}.png"))
    return root


@pytest.mark.heavy
def test_folder_convert_and_rerun(tmp_path):
    src = _pets(str(tmp_path / "pets"))
    out = str(tmp_path / "out")
    args = [
        "--dataset_name=folder",
        f"--source_dir={src}",
        f"--dataset_dir={out}",
        "--validation_fraction=0.2",
        "--num_workers=0",
    ]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert "converted dataset 'pets'" in r.stderr and "train: 8 images" in r.stderr
    info = json.load(open(os.path.join(out, "dataset.json")))
    assert info["splits"] == {"train": 8, "validation": 2}
    assert dataset_factory.get_dataset("pets", "validation", out).num_samples == 2
    r = run_cli(*args)  # a complete output: nothing to do
    assert r.returncode == 0 and "nothing to do" in r.stderr


def _assert_one_line_error(r, *words):
    assert r.returncode == 1, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("download_and_convert_data: error: "), r.stderr
    assert all(w in last for w in words) and "Traceback" not in r.stderr


def test_expected_error_is_one_line(tmp_path):
    r = run_cli("--dataset_name=folder", f"--source_dir={tmp_path}/missing", "--dataset_dir=x")
    _assert_one_line_error(r, f"{tmp_path}/missing", "expected a folder")


@pytest.mark.slow
def test_more_errors_and_interrupted_run(tmp_path):
    r = run_cli("--dataset_name=imagenet", f"--dataset_dir={tmp_path}")
    assert r.returncode != 0 and "imagenet" in r.stderr and "Traceback" not in r.stderr
    _assert_one_line_error(
        run_cli("--dataset_name=hwdb", f"--dataset_dir={tmp_path}"), "--source_dir is required"
    )
    src = _pets(str(tmp_path / "pets"))
    out = str(tmp_path / "out")
    os.makedirs(out)
    open(os.path.join(out, "pets_train_00000-of-00001.tfrecord.tmp"), "wb").close()
    r = run_cli("--dataset_name=folder", f"--source_dir={src}", f"--dataset_dir={out}")
    assert r.returncode == 0 and "interrupted run" in r.stderr
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


def test_flowers_download_offline(tmp_path, monkeypatch):
    src = _pets(str(tmp_path / "flower_photos"))
    with open(os.path.join(src, "LICENSE.txt"), "w") as f:
        f.write("licence text (not a class)")
    archive = str(tmp_path / "flower_photos.tgz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="flower_photos")
    data = open(archive, "rb").read()
    fake = download.Archive(
        "file://" + archive, "flower_photos.tgz", md5=hashlib.md5(data).hexdigest(), size=len(data)
    )
    monkeypatch.setattr(download, "FLOWERS", fake)
    out = str(tmp_path / "flowers")
    info = convert_folder.convert_flowers(None, out, num_workers=0, log=lambda m: None)
    assert info["name"] == "flowers" and info["num_classes"] == 2
    assert sum(info["splits"].values()) == 10
    assert os.path.exists(os.path.join(out, "flower_photos.tgz"))


@pytest.mark.slow
def test_console_script_installed():
    exe = os.path.join(os.path.dirname(sys.executable), "download_and_convert_data")
    r = subprocess.run([exe, "--helpshort"], capture_output=True, text=True, env=ENV, timeout=120)
    assert "--dataset_name: <folder|flowers|cifar10|hwdb>" in r.stdout  # absl exits 1 on help


def test_converter_registry_matches_the_flag_choices():
    from slimcls.cli import download_and_convert_data as cli
    from slimcls.config import ConvertConfig
    from slimcls.core.errors import SlimclsError
    from slimcls.datasets import converter

    assert converter.converter_names() == cli.DATASETS
    for name in cli.DATASETS:
        assert converter.get_converter(name).name == name
    with pytest.raises(SlimclsError, match=r"'imagenet' is unknown; expected one of \('folder'"):
        converter.get_converter("imagenet")
    with pytest.raises(SlimclsError, match="--source_dir is required"):
        converter.convert(ConvertConfig("folder", "/tmp/unused-out"))


def test_converter_table_is_the_one_list(monkeypatch):
    """Adding a converter is its module plus one row of ``datasets/converter_table.py``:
    the flag's choices and the registry both come from that row."""
    from slimcls import config
    from slimcls.datasets import converter, converter_table

    assert config.CONVERTER_NAMES == converter_table.CONVERTER_NAMES == converter.converter_names()
    assert converter_table.CONVERTER_NAMES == tuple(converter_table.CONVERTERS)
    # A row whose module registers no converter of that name is found on first use.
    monkeypatch.setitem(converter_table.CONVERTERS, "mnist2", "convert_mnist")
    with pytest.raises(LookupError, match=r"registers no converter.*@register\('mnist2'\)"):
        converter.get_converter("mnist2")


def test_get_converter_imports_only_its_module():
    code = (
        "import sys; from slimcls.datasets import converter; converter.get_converter('mnist'); "
        "print(sorted(m for m in sys.modules if m.startswith('slimcls.datasets.convert_')))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, cwd=REPO, timeout=300
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[-2] == "['slimcls.datasets.convert_mnist']"


def test_every_way_in_goes_through_converter_convert(tmp_path, monkeypatch):
    """The keyword functions and the command build a ConvertConfig and call
    ``converter.convert``, which expands ``~`` for all of them (it was the command's alone)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    _pets(str(tmp_path / "home" / "pets"))
    out = str(tmp_path / "out")
    info = convert_folder.convert_folder("~/pets", out, num_workers=0, log=lambda m: None)
    assert info["num_classes"] == 2 and sum(info["splits"].values()) == 10
