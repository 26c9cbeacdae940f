"""Exports a trained classifier: SavedModel, TF Lite models and TF-Slim's frozen GraphDef.

TF-Slim's ``export_inference_graph`` wrote a GraphDef without weights and left users to
run ``freeze_graph`` with the right output node names. Here one command writes, from
the checkpoint (its moving averages with ``--moving_average_decay``):

* a SavedModel (``output_dir``) with two signatures:

  - ``serving_default`` takes a batch of encoded images (JPEG, PNG, GIF, BMP; WebP too)
    as ``image_bytes`` (TF Serving's REST API accepts ``{"b64": ...}`` values for it)
    and returns ``classes`` (int64 ``[N]``), ``labels`` (string ``[N]``, names from
    ``labels.txt``) and ``probabilities`` (float32 ``[N, num_classes]``). Decoding and
    the net's eval preprocessing run inside, with the functions ``classify_image``
    uses, so the two agree.
  - ``serving_images`` takes ``images``, float32 ``[N, H, W, C]`` images already
    preprocessed as the net expects, and returns ``classes`` and ``probabilities``.
    It holds only the net, a softmax and an argmax: no string or decoding ops, which
    the TF Lite builtins and tf2onnx reject, so mobile and ONNX exports start here.

  ``labels.txt`` is an asset (``assets/labels.txt``); ``export.json`` describes both.
* TF Lite models of ``serving_images`` (``<output_dir>/tflite/``, TF Lite builtin ops
  only, with ``labels.txt``), float32 or post-training quantised.
* TF-Slim's frozen inference GraphDef (``output_file``; :mod:`slimcls.inference.graph_def`):
  the net alone on a float placeholder named ``input``, weights as constants, op names as
  TF-Slim's (output ``<Scope>/Predictions/Reshape_1``), for ``label_image`` and other
  GraphDef tools.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from typing import Any

from slimcls.config import TFLITE_MODES, ExportConfig
from slimcls.core import diskspace
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.core.fileio import unwritable_errors
from slimcls.core.logs import quiet_tensorflow_info
from slimcls.inference.classify import DECODABLE_FORMATS, Classifier
from slimcls.inference.export_outputs import (
    EXPORT_MARKER,
    WRITTEN_BY,
    check_output_dir,
    check_output_file,
    files_under,
    remove_tree,
)
from slimcls.inference.graph_def import write_graph_def
from slimcls.model import run_spec

INPUT_NAME = "image_bytes"
SIGNATURE = "serving_default"
IMAGES_INPUT_NAME = "images"
IMAGES_SIGNATURE = "serving_images"
TFLITE_DIR = "tflite"


def build_serving_module(classifier: Classifier, labels_path: str) -> tf.Module:
    """A ``tf.Module`` with the model's variables, the labels asset and two functions.

    The Keras wrapper itself is not attached (only its variables are), so the
    SavedModel holds plain variables and the traced functions ``serve`` (encoded
    bytes) and ``serve_images`` (preprocessed float images).
    """
    module = tf.Module()
    module.model_variables = list(classifier.model.variables)
    module.labels_file = tf.saved_model.Asset(labels_path)
    names = tf.constant(classifier.names)
    shape = classifier.image_shape

    def predict(images):
        logits, _ = classifier.model(images, training=False)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        classes = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {"classes": classes, "probabilities": probabilities}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_NAME)])
    def serve(image_bytes):
        images = tf.map_fn(
            classifier.decode_and_preprocess,
            image_bytes,
            fn_output_signature=tf.TensorSpec(shape, tf.float32),
        )
        outputs = predict(images)
        outputs["labels"] = tf.gather(names, outputs["classes"])
        return outputs

    @tf.function(
        input_signature=[tf.TensorSpec([None, *shape], tf.float32, name=IMAGES_INPUT_NAME)]
    )
    def serve_images(images):
        return predict(images)

    module.serve = serve
    module.serve_images = serve_images
    return module


def check_config(config: ExportConfig) -> None:
    """Fails early, before the checkpoint is loaded, on outputs that may not be written
    (``ExportConfig`` checked its values when it was made).

    Raises:
      SlimclsError: an output that exists (without ``overwrite``, or not an export's) or
        cannot be created.
    """
    if config.output_dir:
        check_output_dir(config.output_dir, config.overwrite)
    if config.output_file:
        check_output_file(config.output_file, config.overwrite)


def export(config: ExportConfig) -> dict[str, Any]:
    """Checks ``config``, resolves and restores the model once, writes what it asks for.

    The settings not given come from the training run (:func:`~slimcls.model.run_spec.
    resolve_run`); the outputs are checked before the checkpoint is loaded.

    Returns:
      ``{"checkpoint", "model_name", "num_classes", "image_size", "channels",
      "preprocessing_name", "moving_averages"}`` plus ``"saved_model"`` (``output_dir``,
      ``labels_file``, ``signatures``, ``tflite``: what ``export.json`` holds beyond
      those fields) and ``"graph_def"`` (``output_file``, ``input``, ``input_shape``,
      ``output_node_names``, ``num_nodes``) for what was written.

    Raises:
      SlimclsError: see :func:`check_config`; bad checkpoint, net or labels, a full disk,
        a TF Lite conversion failure.
    """
    check_config(config)
    spec = run_spec.resolve_run(config.classifier, size_flag="--image_size")
    classifier = Classifier(spec)
    info = _model_info(classifier)
    if config.output_dir:
        saved = _write_saved_model(config, classifier)
        # the model's fields are above already; "signature" repeats one of "signatures"
        info["saved_model"] = {k: v for k, v in saved.items() if k not in info and k != "signature"}
    if config.output_file:
        info["graph_def"] = write_graph_def(config, classifier)
    return info


def _model_info(classifier: Classifier) -> dict[str, Any]:
    return {
        "checkpoint": classifier.checkpoint,
        "model_name": classifier.plan.model_name,
        "num_classes": classifier.num_classes,
        "labels_offset": classifier.labels_offset,
        "image_size": classifier.plan.image_size,
        "channels": classifier.channels,
        "input_shape": list(classifier.image_shape),
        "preprocessing_name": classifier.plan.preprocessing_name,
        "moving_averages": classifier.moving_averages,
    }


def _write_labels(path: str, classifier: Classifier) -> None:
    offset = classifier.labels_offset
    with tf.io.gfile.GFile(path, "w") as f:
        f.write("".join(f"{i + offset}:{name}\n" for i, name in enumerate(classifier.names)))


def _write_saved_model(config: ExportConfig, classifier: Classifier) -> dict[str, Any]:
    """Writes the SavedModel (and its TF Lite models) atomically to ``config.output_dir``.

    Everything goes to a temporary sibling directory that is renamed when complete, so
    a server watching ``<model_base>`` never sees half a version. An existing
    ``output_dir`` is replaced only with ``overwrite`` and only when it is empty or an
    earlier export holding nothing else (:func:`check_output_dir`, checked again just
    before the rename: the folder may have changed while the model was written); a full
    disk is one line and leaves nothing behind.

    Returns:
      ``{"output_dir", "checkpoint", ..., "labels_file", "signature", "signatures",
      "tflite"}`` (also written as ``<output_dir>/export.json``). ``signature``
      describes ``serving_default`` (kept for older readers), ``signatures`` both.
    """
    out = config.output_dir
    parent = os.path.dirname(os.path.abspath(out)) if "://" not in out else os.path.dirname(out)
    # The variables alone take this much (the graph and TF Lite models come on top).
    needed = sum(int(v.shape.num_elements()) * v.dtype.size for v in classifier.model.variables)
    diskspace.check_free(parent, needed)
    with diskspace.disk_full_errors(out, needed), unwritable_errors(f"--output_dir={out}"):
        tf.io.gfile.makedirs(parent)
    base = os.path.basename(out.rstrip("/"))
    temp = os.path.join(parent, f".{base}.tmp-{uuid.uuid4().hex}")
    old = os.path.join(parent, f".{base}.old-{uuid.uuid4().hex}")
    try:
        with diskspace.disk_full_errors(out, needed), unwritable_errors(f"--output_dir={out}"):
            info = _write_export_into(temp, config, classifier)
            check_output_dir(out, config.overwrite)  # again: it may have changed meanwhile
            if tf.io.gfile.exists(out):  # ours or empty: moved aside, removed once replaced
                tf.io.gfile.rename(out, old)
            tf.io.gfile.rename(temp, out)
    finally:
        for leftover in (temp, old):
            if tf.io.gfile.exists(leftover):
                remove_tree(leftover)
    return info


def _signatures(classifier: Classifier) -> dict[str, Any]:
    """What ``export.json`` says of the two signatures' inputs and outputs."""
    n = classifier.num_classes
    shape = ", ".join(str(d) for d in classifier.image_shape)
    return {
        SIGNATURE: {
            "inputs": {INPUT_NAME: f"string [N] encoded {'/'.join(DECODABLE_FORMATS)} bytes"},
            "outputs": {
                "classes": "int64 [N]",
                "labels": "string [N]",
                "probabilities": f"float32 [N, {n}]",
            },
        },
        IMAGES_SIGNATURE: {
            "inputs": {IMAGES_INPUT_NAME: f"float32 [N, {shape}] preprocessed"},
            "outputs": {"classes": "int64 [N]", "probabilities": f"float32 [N, {n}]"},
        },
    }


def _write_export_into(temp: str, config: ExportConfig, classifier: Classifier) -> dict[str, Any]:
    """Writes the whole export into the new directory ``temp`` (renamed to
    ``config.output_dir`` by the caller), the marker last; returns ``export.json``'s data."""
    out = config.output_dir
    with tempfile.TemporaryDirectory(prefix="slimcls_labels_") as scratch:
        labels_path = os.path.join(scratch, "labels.txt")
        _write_labels(labels_path, classifier)
        module = build_serving_module(classifier, labels_path)
        with quiet_tensorflow_info():
            tf.saved_model.save(
                module,
                temp,
                signatures={SIGNATURE: module.serve, IMAGES_SIGNATURE: module.serve_images},
            )
    tflite = {}
    for mode in config.tflite:
        name = f"model_{mode}.tflite"
        write_tflite(temp, os.path.join(temp, TFLITE_DIR, name), mode)
        tflite[mode] = os.path.join(out, TFLITE_DIR, name)
    if tflite:
        _write_labels(os.path.join(temp, TFLITE_DIR, "labels.txt"), classifier)
    signatures = _signatures(classifier)
    info = {
        "output_dir": out,
        **_model_info(classifier),
        "labels_file": os.path.join(out, "assets", "labels.txt"),
        "signature": {"name": SIGNATURE, **signatures[SIGNATURE]},
        "signatures": signatures,
        "tflite": tflite,
    }
    with tf.io.gfile.GFile(os.path.join(temp, "export.json"), "w") as f:
        f.write(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    marker = {"written_by": WRITTEN_BY, "files": files_under(temp)}
    with tf.io.gfile.GFile(os.path.join(temp, EXPORT_MARKER), "w") as f:
        f.write(json.dumps(marker, indent=1) + "\n")
    return info


def write_tflite(saved_model_dir: str, path: str, mode: str) -> int:
    """Converts ``serving_images`` of a SavedModel to a TF Lite flatbuffer at ``path``.

    Only TF Lite builtin ops are allowed (no Flex/select TF ops), so the model runs
    with the plain TF Lite runtime on phones and microcontroller-class devices.

    Modes: ``float`` (no quantisation), ``dynamic_range`` (weights int8, dequantised or
    used by hybrid kernels at run time), ``float16`` (weights stored as float16). Full
    integer (int8 activations) would need representative images and is not offered.
    Nor is bfloat16: TensorFlow 2.21's converter accepts
    ``target_spec.supported_types=[tf.bfloat16]`` but writes an all-float32 model (its
    ``allow_bfloat16`` only matters inside float16 quantisation), and the TF Lite
    builtin kernels have no bfloat16 versions to run one.

    Returns:
      The size of the written model in bytes.

    Raises:
      SlimclsError: an unknown mode or a conversion failure.
    """
    if mode not in TFLITE_MODES:
        raise SlimclsError(f"TF Lite mode {mode!r}; expected one of {', '.join(TFLITE_MODES)}")
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=[IMAGES_SIGNATURE]
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode in ("dynamic_range", "float16"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    try:
        with quiet_tensorflow_info():
            model = converter.convert()
    except Exception as e:  # the converter raises ConverterError and others
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SlimclsError(f"TF Lite conversion ({mode}) failed: {first[:300]}") from None
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(model)
    return len(model)


def load_and_predict(saved_model_dir: str, encoded_images: list[bytes]) -> dict[str, Any]:
    """Runs ``serving_default`` of an exported model on encoded images (NumPy results)."""
    loaded = tf.saved_model.load(saved_model_dir)
    outputs = loaded.signatures[SIGNATURE](**{INPUT_NAME: tf.constant(encoded_images)})
    return {k: v.numpy() for k, v in outputs.items()}


def predict_images(saved_model_dir: str, images: Any) -> dict[str, Any]:
    """Runs ``serving_images`` on preprocessed float images (NumPy results)."""
    loaded = tf.saved_model.load(saved_model_dir)
    outputs = loaded.signatures[IMAGES_SIGNATURE](
        **{IMAGES_INPUT_NAME: tf.convert_to_tensor(images, tf.float32)}
    )
    return {k: v.numpy() for k, v in outputs.items()}
