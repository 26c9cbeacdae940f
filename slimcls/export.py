"""Exports a trained classifier as a SavedModel that takes encoded image bytes.

TF-Slim's ``export_inference_graph`` wrote a GraphDef without weights and left users to
find output node names for ``freeze_graph``. The SavedModel written here is complete:
its ``serving_default`` signature takes a batch of encoded images (JPEG, PNG, GIF, BMP;
WebP too) as ``image_bytes`` (TF Serving's REST API accepts ``{"b64": ...}`` values for
it) and returns

* ``classes``: int64 ``[N]``, the most probable class id,
* ``labels``: string ``[N]``, its name from ``labels.txt``,
* ``probabilities``: float32 ``[N, num_classes]``.

Decoding and the net's eval preprocessing run inside the graph, with the same functions
``classify_image`` uses, so the two agree. ``labels.txt`` is stored as an asset
(``assets/labels.txt``). Write it to ``<model_base>/<version>`` for TF Serving.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from typing import Any

from slimcls.classify import Classifier
from slimcls.config import ExportConfig
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.core.logs import quiet_tensorflow_info

INPUT_NAME = "image_bytes"
SIGNATURE = "serving_default"


def build_serving_module(classifier: Classifier, labels_path: str) -> tf.Module:
    """A ``tf.Module`` with the model's variables, the labels asset and ``serve``.

    The Keras wrapper itself is not attached (only its variables are), so the
    SavedModel holds plain variables and one traced function.
    """
    module = tf.Module()
    module.model_variables = list(classifier.model.variables)
    module.labels_file = tf.saved_model.Asset(labels_path)
    names = tf.constant(classifier.names)
    shape = classifier.image_shape

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_NAME)])
    def serve(image_bytes):
        images = tf.map_fn(
            classifier.decode_and_preprocess,
            image_bytes,
            fn_output_signature=tf.TensorSpec(shape, tf.float32),
        )
        logits, _ = classifier.model(images, training=False)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        classes = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {
            "classes": classes,
            "labels": tf.gather(names, classes),
            "probabilities": probabilities,
        }

    module.serve = serve
    return module


def export_saved_model(config: ExportConfig) -> dict[str, Any]:
    """Restores the checkpoint and writes the SavedModel atomically.

    Returns:
      ``{"output_dir", "checkpoint", "num_classes", "image_size", "moving_averages",
      "labels_file", "signature"}`` (also written as ``<output_dir>/export.json``).

    Raises:
      SlimclsError: bad checkpoint, net, labels, or an existing ``output_dir``.
    """
    out = config.output_dir
    if not out:
        raise SlimclsError("--output_dir is required (where the SavedModel goes)")
    if tf.io.gfile.exists(out) and not config.overwrite:
        if not tf.io.gfile.isdir(out) or tf.io.gfile.listdir(out):
            raise SlimclsError(
                f"--output_dir={out!r} already exists; pass --overwrite to replace it"
            )
    classifier = Classifier(config.classifier)
    with tempfile.TemporaryDirectory(prefix="slimcls_labels_") as scratch:
        labels_path = os.path.join(scratch, "labels.txt")
        with open(labels_path, "w", encoding="utf-8") as f:
            offset = config.classifier.labels_offset
            f.writelines(f"{i + offset}:{name}\n" for i, name in enumerate(classifier.names))
        module = build_serving_module(classifier, labels_path)
        parent = os.path.dirname(os.path.abspath(out)) if "://" not in out else os.path.dirname(out)
        tf.io.gfile.makedirs(parent)
        temp = os.path.join(parent, f".{os.path.basename(out.rstrip('/'))}.tmp-{uuid.uuid4().hex}")
        try:
            with quiet_tensorflow_info():
                tf.saved_model.save(module, temp, signatures={SIGNATURE: module.serve})
            info = {
                "output_dir": out,
                "checkpoint": classifier.checkpoint,
                "model_name": config.classifier.model_name,
                "num_classes": classifier.num_classes,
                "image_size": classifier.plan.image_size,
                "channels": classifier.channels,
                "preprocessing_name": classifier.plan.preprocessing_name,
                "moving_averages": bool(config.classifier.moving_average_decay),
                "labels_file": os.path.join(out, "assets", "labels.txt"),
                "signature": {
                    "name": SIGNATURE,
                    "inputs": {INPUT_NAME: "string [N] encoded JPEG/PNG/GIF/BMP bytes"},
                    "outputs": {
                        "classes": "int64 [N]",
                        "labels": "string [N]",
                        "probabilities": f"float32 [N, {classifier.num_classes}]",
                    },
                },
            }
            with tf.io.gfile.GFile(os.path.join(temp, "export.json"), "w") as f:
                f.write(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
            if tf.io.gfile.exists(out):
                _remove_tree(out)
            tf.io.gfile.rename(temp, out)
        finally:
            if tf.io.gfile.exists(temp):
                _remove_tree(temp)
    return info


def _remove_tree(path: str) -> None:
    if "://" in path:
        tf.io.gfile.rmtree(path)
    else:
        shutil.rmtree(path)


def load_and_predict(saved_model_dir: str, encoded_images: list[bytes]) -> dict[str, Any]:
    """Runs ``serving_default`` of an exported model on encoded images (NumPy results)."""
    loaded = tf.saved_model.load(saved_model_dir)
    outputs = loaded.signatures[SIGNATURE](**{INPUT_NAME: tf.constant(encoded_images)})
    return {k: v.numpy() for k, v in outputs.items()}
