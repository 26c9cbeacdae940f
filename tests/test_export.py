"""export: SavedModel on encoded bytes == classify_image; EMA weights; labels asset."""

import io
import os

import numpy as np
import pytest
from PIL import Image
from test_eval_support import (
    CLASS_NAMES,
    classifier_config,
    images_and_labels,
    make_trained_run,
)

from slimcls import classify as cl
from slimcls import export as ex
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    dataset_dir, _ = make_trained_run(root, step=9, splits={"test": 3}, ema=lambda v: v * 0.5)
    config = classifier_config(root, dataset_dir, moving_average_decay=0.999)
    info = ex.export_saved_model(ex.ExportConfig(config, str(root / "saved" / "1")))
    images, _ = images_and_labels(4, seed=3)
    encoded, paths = [], []
    for i, (image, fmt) in enumerate(zip(images, ["PNG", "JPEG", "GIF", "BMP"])):
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format=fmt)
        encoded.append(buf.getvalue())
        paths.append(str(root / f"img{i}.{fmt.lower()}"))
        with open(paths[-1], "wb") as f:
            f.write(encoded[-1])
    return {"root": root, "config": config, "info": info, "encoded": encoded, "paths": paths}


def test_saved_model_predictions_equal_classify(exported):
    out = ex.load_and_predict(exported["info"]["output_dir"], exported["encoded"])
    assert out["probabilities"].shape == (4, len(CLASS_NAMES))
    assert out["classes"].dtype == np.int64
    classifier = cl.Classifier(exported["config"])
    results = classifier.classify_files(exported["paths"], top_k=len(CLASS_NAMES))
    for i, result in enumerate(results):
        probs = np.zeros(len(CLASS_NAMES))
        for p in result["predictions"]:
            probs[p["class"]] = p["probability"]
        np.testing.assert_allclose(out["probabilities"][i], probs, rtol=1e-5, atol=1e-6)
        assert out["classes"][i] == result["predictions"][0]["class"]
        assert out["labels"][i].decode() == result["predictions"][0]["name"]


def test_signature_labels_asset_and_ema_weights(exported):
    out_dir = exported["info"]["output_dir"]
    loaded = tf.saved_model.load(out_dir)
    fn = loaded.signatures["serving_default"]
    assert set(fn.structured_outputs) == {"classes", "labels", "probabilities"}
    assert list(fn.structured_input_signature[1]) == [ex.INPUT_NAME]
    with open(os.path.join(out_dir, "assets", "labels.txt"), encoding="utf-8") as f:
        assert f.read().splitlines()[0] == f"0:{CLASS_NAMES[0]}"
    assert exported["info"]["moving_averages"]
    saved = {v.name: v.numpy() for v in loaded.model_variables}
    raw = tf.train.load_checkpoint(exported["info"]["checkpoint"])
    np.testing.assert_allclose(
        saved["SmallCNN/logits/biases:0"],
        raw.get_tensor("SmallCNN/logits/biases/ExponentialMovingAverage"),
    )


def test_existing_output_dir_needs_overwrite(exported):
    config = ex.ExportConfig(exported["config"], exported["info"]["output_dir"])
    with pytest.raises(SlimclsError, match="--overwrite"):
        ex.export_saved_model(config)
