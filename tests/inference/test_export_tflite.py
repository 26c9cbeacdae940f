"""TF Lite models and ONNX of the float-image signature agree with the SavedModel.

The net is a random ``small_cnn`` whose logits are scaled up and centred on the test
images, so the images fall into several classes with clear margins (a random net's
classes would all be one class, and agreement would say nothing).
"""

import subprocess
import sys

import numpy as np
import pytest

from slimcls.config import TFLITE_MODES
from slimcls.core.compat import tf
from slimcls.inference import export as ex
from tests.helpers import (
    ENV,
    REPO,
    build_model,
    classifier_config,
    images_and_labels,
    make_dataset,
    preprocess_numpy,
    save_model_checkpoint,
)

#: Largest |p_tflite - p_savedmodel| allowed per mode. Measured on x86 (XNNPACK) with this
#: model: float 5e-7, float16 4.5e-4 (float16 weights), dynamic_range 9e-3 (int8 weights).
TOLERANCE = {"float": 1e-5, "float16": 5e-3, "dynamic_range": 3e-2}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("tflite")
    dataset_dir, _ = make_dataset(root / "data", {"test": 3})
    images = preprocess_numpy(images_and_labels(32, seed=7)[0])
    model = build_model()
    weights, biases = (
        next(v for v in model.trainable_variables if f"logits/{name}" in v.name)
        for name in ("weights", "biases")
    )
    weights.assign(weights * 8.0)
    biases.assign(biases - model(tf.constant(images))[0].numpy().mean(axis=0))
    save_model_checkpoint(model, root / "train", step=1)
    config = ex.ExportConfig(
        classifier_config(root, dataset_dir), str(root / "saved"), tflite=TFLITE_MODES
    )
    info = ex.export(config)["saved_model"]
    reference = ex.predict_images(info["output_dir"], images)
    return {"info": info, "images": images, "reference": reference}


def test_every_mode_is_written_with_labels(exported):
    info = exported["info"]
    assert set(info["tflite"]) == set(TFLITE_MODES)
    out = info["output_dir"]
    with open(f"{out}/tflite/labels.txt", encoding="utf-8") as f:
        labels = f.read()
    with open(f"{out}/assets/labels.txt", encoding="utf-8") as f:
        assert labels == f.read()
    sizes = {mode: len(open(path, "rb").read()) for mode, path in info["tflite"].items()}
    assert sizes["float16"] < 0.6 * sizes["float"]
    assert sizes["dynamic_range"] < 0.4 * sizes["float"]


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
@pytest.mark.parametrize("mode", TFLITE_MODES)
def test_tflite_agrees_with_saved_model(exported, mode):
    interpreter = tf.lite.Interpreter(model_path=exported["info"]["tflite"][mode])
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert not {op for op in ops if op.startswith("Flex") or op == "CUSTOM"}, ops
    runner = interpreter.get_signature_runner(ex.IMAGES_SIGNATURE)
    out = runner(**{ex.IMAGES_INPUT_NAME: exported["images"]})
    ref = exported["reference"]
    np.testing.assert_allclose(out["probabilities"], ref["probabilities"], atol=TOLERANCE[mode])
    # With probabilities within tol, the top class can only differ where the top two are
    # closer than 2*tol; everywhere else the classes must be equal.
    top2 = np.sort(ref["probabilities"], axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 2 * TOLERANCE[mode]
    assert clear.sum() >= len(clear) // 4 and len(set(ref["classes"][clear])) >= 3
    np.testing.assert_array_equal(out["classes"][clear], ref["classes"][clear])


@pytest.mark.slow
def test_onnx_of_images_signature_agrees_with_saved_model(exported, tmp_path):
    """The documented tf2onnx command, run by the ONNX reference evaluator."""
    pytest.importorskip("tf2onnx")
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    path = tmp_path / "model.onnx"
    command = [
        sys.executable, "-m", "tf2onnx.convert",
        "--saved-model", exported["info"]["output_dir"],
        "--signature_def", ex.IMAGES_SIGNATURE,
        "--opset", "17",
        "--output", str(path),
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    outputs = [o.name for o in model.graph.output]
    results = dict(
        zip(outputs, ReferenceEvaluator(model).run(None, {"images": exported["images"]}))
    )
    ref = exported["reference"]
    np.testing.assert_allclose(results["probabilities"], ref["probabilities"], atol=1e-5)
    np.testing.assert_array_equal(results["classes"], ref["classes"])
