"""TF-Slim's frozen inference GraphDef: the net alone, weights folded into constants.

What TF-Slim's ``export_inference_graph`` + ``freeze_graph`` produced, for
``label_image`` and other GraphDef tools: a float32 placeholder ``input`` (preprocessed
images) feeding the net, whose ops keep TF-Slim's names (output
``<Scope>/Predictions/Reshape_1``), written with a ``<output_file>.json`` naming them.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from slimcls.config import ExportConfig
from slimcls.core import diskspace
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.core.fileio import unwritable_errors
from slimcls.core.logs import quiet_tensorflow_info
from slimcls.inference.classify import Classifier
from slimcls.inference.export_outputs import WRITTEN_BY

#: TF-Slim's placeholder name in its exported inference graph.
GRAPH_INPUT_NAME = "input"


def frozen_graph_def(classifier: Classifier, batch_size: int | None = None):
    """TF-Slim's inference graph of the restored net, its weights folded into constants.

    As TF-Slim's ``export_inference_graph`` + ``freeze_graph``: a float32 placeholder
    ``input`` of shape ``[batch_size, H, W, C]`` (preprocessed images) feeds the net,
    whose ops keep TF-Slim's names. The net is traced through ``SlimModel.call``, not
    the Keras ``__call__``, because the latter opens a name scope of the Keras layer
    (``small_cnn/SmallCNN/...``) that TF-Slim's graphs do not have.

    Returns:
      ``(graph_def, {"Logits": op name, "Predictions": op name})`` (plus
      ``"predictions"``, ``<scope>/predictions/Reshape_1``, for tf_slim's ResNets, whose
      TF-Slim graphs ended there); ops that feed none of them are pruned.
    """
    # The public TF2 freezing helper lives here (tf.compat.v1's needs a Session).
    from tensorflow.python.framework import convert_to_constants

    model = classifier.model
    outputs: dict[str, str] = {}
    spec = tf.TensorSpec([batch_size, *classifier.image_shape], tf.float32, GRAPH_INPUT_NAME)

    @tf.function(input_signature=[spec])
    def inference(input):  # noqa: A002  (the placeholder's name is the argument's)
        logits, end_points = model.call(input, training=False)
        predictions = end_points.get("Predictions")
        if predictions is None:  # every registered net has it; be safe for plugged-in nets
            predictions = tf.nn.softmax(logits, name="Predictions")
        outputs["Logits"] = logits.op.name
        outputs["Predictions"] = predictions.op.name
        tensors = {"logits": logits, "predictions": predictions}
        if "predictions" in end_points:  # tf_slim ResNet's own (4-D) softmax, kept for
            outputs["predictions"] = end_points["predictions"].op.name  # its users' scripts
            tensors["resnet_predictions"] = end_points["predictions"]
        return tensors

    with quiet_tensorflow_info():
        frozen = convert_to_constants.convert_variables_to_constants_v2(
            inference.get_concrete_function()
        )
        graph_def = _sub_graph(frozen.graph.as_graph_def(), list(outputs.values()))
    return graph_def, outputs


def _sub_graph(graph_def, outputs: list[str]):
    """The nodes ``outputs`` depend on, in their order (``tf.compat.v1.graph_util``'s
    ``extract_sub_graph``, which is deprecated and prints a three-line warning saying so)."""
    by_name = {node.name: node for node in graph_def.node}
    keep: set[str] = set()
    pending = list(outputs)
    while pending:
        name = pending.pop()
        if name in keep:
            continue
        if name not in by_name:
            raise SlimclsError(f"the frozen graph has no node {name!r}")
        keep.add(name)
        for inp in by_name[name].input:
            pending.append(inp.lstrip("^").split(":")[0])
    out = tf.compat.v1.GraphDef()
    out.node.extend(node for node in graph_def.node if node.name in keep)
    out.library.CopyFrom(graph_def.library)
    out.versions.CopyFrom(graph_def.versions)
    return out


def write_graph_def(config: ExportConfig, classifier: Classifier) -> dict[str, Any]:
    """Writes TF-Slim's frozen inference GraphDef to ``config.output_file``.

    Binary unless ``write_text_graphdef``; written to a temporary name, then renamed.
    A ``<output_file>.json`` next to it names the input and output nodes. A full disk is
    one line and leaves no temporary file.
    """
    path = config.output_file
    graph_def, nodes = frozen_graph_def(classifier, config.batch_size)
    parent = os.path.dirname(path)
    data = str(graph_def) if config.write_text_graphdef else graph_def.SerializeToString()
    info = {
        "output_file": path,
        "format": "text" if config.write_text_graphdef else "binary",
        "input": GRAPH_INPUT_NAME,
        "input_shape": [config.batch_size, *classifier.image_shape],
        "output_node_names": nodes,
        "num_nodes": len(graph_def.node),
    }
    described = {**info, "written_by": WRITTEN_BY}
    if parent:
        diskspace.check_free(parent, len(data))
    temp = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        with (
            unwritable_errors(f"--output_file={path}"),
            diskspace.disk_full_errors(path, len(data)),
        ):
            if parent:
                tf.io.gfile.makedirs(parent)
            with tf.io.gfile.GFile(temp, "w" if config.write_text_graphdef else "wb") as f:
                f.write(data)
            tf.io.gfile.rename(temp, path, overwrite=True)
            with tf.io.gfile.GFile(temp, "w") as f:
                f.write(json.dumps(described, indent=2) + "\n")
            tf.io.gfile.rename(temp, path + ".json", overwrite=True)
    finally:
        if tf.io.gfile.exists(temp):
            tf.io.gfile.remove(temp)
    return info
