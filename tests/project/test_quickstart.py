"""The quickstart: the digits folder writer (fast) and the whole script (slow)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_digits_folder_holds_32x32_png_per_class(tmp_path):
    pytest.importorskip("sklearn")
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    from demo_digits import write_digits_folder

    counts = write_digits_folder(str(tmp_path), size=32, limit=30)
    assert sorted(counts) == [str(d) for d in range(10)]  # digits cycle 0..9 in the data
    assert sum(counts.values()) == 30
    assert sorted(os.listdir(tmp_path)) == sorted(counts)
    with Image.open(tmp_path / "0" / "0000.png") as image:  # the first digit is a 0
        assert image.size == (32, 32) and image.mode == "L"
        pixels = np.asarray(image)
    assert pixels.max() > 200 and pixels.min() < 20


def test_missing_scikit_learn_hint_works_outside_a_checkout_too(tmp_path, monkeypatch, capsys):
    """The hint must not be only `pip install -e '.[demo]'`, which needs a checkout."""
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    import demo_digits

    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn -> ImportError
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    assert demo_digits.main([f"--output_dir={tmp_path}"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install scikit-learn" in err


@pytest.mark.slow
def test_quickstart_script_reaches_97_percent(tmp_path):
    pytest.importorskip("sklearn")
    work = tmp_path / "qs"
    proc = subprocess.run(
        ["bash", os.path.join(REPO, "scripts", "quickstart.sh"), str(work)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = json.loads((work / "eval" / "metrics.json").read_text())
    info = json.loads((work / "digits" / "dataset.json").read_text())
    assert sum(info["splits"].values()) == 1797  # every digit of scikit-learn's set
    assert metrics["num_examples"] == info["splits"]["validation"] == 359
    assert metrics["accuracy"] >= 0.97
    assert (work / "export" / "digits" / "1" / "saved_model.pb").exists()
    predictions = json.loads((work / "predictions.json").read_text())
    assert [p["predictions"][0]["name"] for p in predictions] == ["0", "3", "7"]
    assert "validation accuracy" in proc.stdout
