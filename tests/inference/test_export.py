"""export: both SavedModel signatures, EMA weights, labels asset, TF-Slim's frozen GraphDef."""

import dataclasses
import io
import json
import os

import numpy as np
import pytest
from google.protobuf import text_format
from PIL import Image

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.inference import classify as cl
from slimcls.inference import export as ex
from slimcls.model.modeling import create_model
from tests.helpers import (
    CLASS_NAMES,
    SIZE,
    classifier_config,
    images_and_labels,
    make_trained_run,
    preprocess_numpy,
    save_model_checkpoint,
    stderr_lines,
)
from tests.helpers import run_module as run_cli

#: Op types the TF Lite builtins / tf2onnx reject, which only the bytes signature may hold.
BYTES_ONLY_OPS = {"DecodeImage", "Substr", "StringFormat", "MapFn", "While", "StatelessWhile"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    dataset_dir, _ = make_trained_run(root, step=9, splits={"test": 3}, ema=lambda v: v * 0.5)
    config = classifier_config(root, dataset_dir, moving_average_decay=0.999)
    info = ex.export(
        ex.ExportConfig(
            config, str(root / "saved" / "1"), output_file=str(root / "graph" / "frozen.pb")
        )
    )
    images, _ = images_and_labels(4, seed=3)
    encoded, paths = [], []
    for i, (image, fmt) in enumerate(zip(images, ["PNG", "JPEG", "GIF", "BMP"])):
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format=fmt)
        encoded.append(buf.getvalue())
        paths.append(str(root / f"img{i}.{fmt.lower()}"))
        with open(paths[-1], "wb") as f:
            f.write(encoded[-1])
    return {
        "root": root,
        "config": config,
        "info": {**{k: v for k, v in info.items() if k != "saved_model"}, **info["saved_model"]},
        "returned": info,
        "graph": info["graph_def"],
        "images": images,
        "encoded": encoded,
        "paths": paths,
    }


def run_graph_def(graph_def, output, images):
    """Imports a GraphDef into a fresh graph and runs ``output`` feeding ``input:0``."""
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as sess:
            return sess.run(f"{output}:0", {"input:0": images})


def all_op_types(concrete_fn):
    graph_def = concrete_fn.graph.as_graph_def()
    ops = {n.op for n in graph_def.node}
    for fn in graph_def.library.function:
        ops |= {n.op for n in fn.node_def}
    return ops


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


def test_images_signature_equals_bytes_signature_on_lossless_images(exported):
    out_dir = exported["info"]["output_dir"]
    png = [0]  # the PNG of the fixture: decoding is exact, so the pixels are the same
    from_bytes = ex.load_and_predict(out_dir, [exported["encoded"][i] for i in png])
    from_images = ex.predict_images(out_dir, preprocess_numpy(exported["images"][png]))
    assert set(from_images) == {"classes", "probabilities"}
    np.testing.assert_allclose(
        from_images["probabilities"], from_bytes["probabilities"], rtol=1e-6, atol=1e-7
    )
    np.testing.assert_array_equal(from_images["classes"], from_bytes["classes"])


def test_images_signature_has_no_string_or_decoding_ops(exported):
    loaded = tf.saved_model.load(exported["info"]["output_dir"])
    images_fn = loaded.signatures[ex.IMAGES_SIGNATURE]
    spec = images_fn.structured_input_signature[1][ex.IMAGES_INPUT_NAME]
    assert spec.dtype == tf.float32 and spec.shape.as_list() == [None, SIZE, SIZE, 3]
    assert not all_op_types(images_fn) & BYTES_ONLY_OPS
    assert all_op_types(loaded.signatures[ex.SIGNATURE]) & BYTES_ONLY_OPS  # the check can fail
    described = json.loads((exported["root"] / "saved" / "1" / "export.json").read_text())
    assert set(described["signatures"]) == {ex.SIGNATURE, ex.IMAGES_SIGNATURE}


def test_frozen_graph_def_has_tf_slim_names_and_matches_saved_model(exported):
    graph = exported["graph"]
    assert graph["output_node_names"]["Predictions"] == "SmallCNN/Predictions/Reshape_1"
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((exported["root"] / "graph" / "frozen.pb").read_bytes())
    nodes = {n.name: n for n in graph_def.node}
    placeholder = nodes["input"]
    assert placeholder.op == "Placeholder"
    dims = [d.size for d in placeholder.attr["shape"].shape.dim]
    assert dims == [-1, SIZE, SIZE, 3]
    assert not {n.op for n in graph_def.node} & {"VarHandleOp", "VariableV2", "ReadVariableOp"}
    images = preprocess_numpy(exported["images"])
    probabilities = run_graph_def(graph_def, "SmallCNN/Predictions/Reshape_1", images)
    expected = ex.predict_images(exported["info"]["output_dir"], images)["probabilities"]
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-6)
    written = json.loads((exported["root"] / "graph" / "frozen.pb.json").read_text())
    assert written["output_node_names"] == graph["output_node_names"]


def test_frozen_cifarnet_text_graph_def_with_batch_size(tmp_path):
    """CifarNet (TF-Slim's own net): TF-Slim's output name, a fixed batch, text format."""
    dataset_dir, _ = make_trained_run(tmp_path, step=1, splits={"test": 2})
    tf.random.set_seed(1)
    model = create_model("cifarnet", len(CLASS_NAMES))
    model.build_variables((SIZE, SIZE, 3))
    save_model_checkpoint(model, tmp_path / "cifarnet", step=1)
    config = dataclasses.replace(
        classifier_config(tmp_path, dataset_dir),
        checkpoint_path=str(tmp_path / "cifarnet"),
        model_name="cifarnet",
    )
    out = tmp_path / "cifarnet.pbtxt"
    info = ex.export(
        ex.ExportConfig(config, output_file=str(out), batch_size=2, write_text_graphdef=True)
    )
    assert "saved_model" not in info
    name = info["graph_def"]["output_node_names"]["Predictions"]
    assert name == "CifarNet/Predictions/Reshape_1"
    graph_def = text_format.Parse(out.read_text(), tf.compat.v1.GraphDef())
    placeholder = next(n for n in graph_def.node if n.name == "input")
    assert [d.size for d in placeholder.attr["shape"].shape.dim] == [2, SIZE, SIZE, 3]
    images = preprocess_numpy(images_and_labels(2, seed=5)[0])
    expected = tf.nn.softmax(model(tf.constant(images), training=False)[0]).numpy()
    np.testing.assert_allclose(run_graph_def(graph_def, name, images), expected, rtol=1e-5)


def test_existing_output_dir_needs_overwrite(exported):
    config = ex.ExportConfig(exported["config"], exported["info"]["output_dir"])
    with pytest.raises(SlimclsError, match="--overwrite"):
        ex.export(config)
    config = ex.ExportConfig(exported["config"], output_file=exported["graph"]["output_file"])
    with pytest.raises(SlimclsError, match="--output_file=.*--overwrite"):
        ex.export(config)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"output_dir": None}, "--output_dir .* or --output_file"),
        ({"tflite": ("float", "int4")}, "'int4'; expected .*float, dynamic_range, float16"),
        ({"output_dir": None, "output_file": "g.pb", "tflite": ("float",)}, "--tflite needs"),
        ({"is_training": True}, "--is_training=true"),
    ],
)
def test_bad_settings_fail_before_loading(tmp_path, changes, message):
    classifier = classifier_config(tmp_path, "no_dataset")  # nothing exists: not loaded
    config = ex.ExportConfig(classifier, str(tmp_path / "out"))
    with pytest.raises(SlimclsError, match=message):  # the config refuses them when built
        ex.export(dataclasses.replace(config, **changes))


@pytest.mark.heavy
def test_cli_output_file_prints_node_names_and_checks_dataset_name(exported):
    root = exported["root"]
    common = [
        f"--checkpoint_path={root / 'train'}",
        "--model_name=small_cnn",
        f"--dataset_dir={root / 'data'}",
        f"--image_size={SIZE}",
    ]
    proc = run_cli(
        "slimcls.export_inference_graph",
        *common,
        "--dataset_name=tiny",
        f"--output_file={root / 'cli.pb'}",
    )
    assert proc.returncode == 0, proc.stderr
    assert "input 'input', output 'SmallCNN/Predictions/Reshape_1'" in proc.stderr
    printed = json.loads(proc.stdout)  # exactly one JSON document
    assert printed["graph_def"]["output_node_names"]["Predictions"] == (
        "SmallCNN/Predictions/Reshape_1"
    )
    assert (root / "cli.pb").stat().st_size > 0
    # only the line for people: no TensorFlow warning (an AutoGraph "could not transform"
    # one, 3 lines, came with tf.compat.v1's extract_sub_graph)
    assert stderr_lines(proc) == [
        f"wrote frozen GraphDef to {root / 'cli.pb'}: input 'input', output "
        "'SmallCNN/Predictions/Reshape_1'"
    ], proc.stderr
    proc = run_cli(
        "slimcls.export_inference_graph",
        *common,
        "--dataset_name=flowers",
        f"--output_file={root / 'cli2.pb'}",
    )
    lines = stderr_lines(proc)
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert "dataset_name 'flowers' does not match" in lines[0] and "'tiny'" in lines[0]


# ------------------------------------------------------------------ what export may replace


def _tree(d):
    return {
        os.path.relpath(os.path.join(r, f), d): open(os.path.join(r, f), "rb").read()
        for r, _, fs in os.walk(d)
        for f in fs
    }


def test_returned_info_names_each_field_once(exported):
    info = exported["returned"]
    saved = info["saved_model"]
    assert not set(saved) & (set(info) - {"saved_model", "graph_def"})
    assert "signature" not in saved and set(saved["signatures"]) == {
        ex.SIGNATURE,
        ex.IMAGES_SIGNATURE,
    }
    described = json.loads((exported["root"] / "saved" / "1" / "export.json").read_text())
    assert described["model_name"] == "small_cnn" and described["output_dir"]  # file: complete


def test_export_json_lists_the_formats_the_saved_model_decodes(exported):
    described = json.loads((exported["root"] / "saved" / "1" / "export.json").read_text())
    listed = described["signatures"][ex.SIGNATURE]["inputs"][ex.INPUT_NAME]
    image = exported["images"][0]
    fn = tf.saved_model.load(exported["info"]["output_dir"]).signatures[ex.SIGNATURE]
    for fmt in ("JPEG", "PNG", "GIF", "BMP", "WebP", "TIFF"):
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format=fmt.upper())
        try:
            fn(**{ex.INPUT_NAME: tf.constant([buf.getvalue()])})
            decodes = True
        except tf.errors.InvalidArgumentError:
            decodes = False
        assert decodes == (fmt in listed), (fmt, listed)


def test_overwrite_refuses_a_folder_it_did_not_write(tmp_path):
    out = tmp_path / "photos"
    (out / "sub").mkdir(parents=True)
    for i in range(3):
        (out / "sub" / f"{i}.jpg").write_bytes(b"jpeg %d" % i)
    (out / "precious.txt").write_text("mine")
    before = _tree(out)
    classifier = classifier_config(tmp_path, "no_dataset")  # refused before loading
    with pytest.raises(SlimclsError, match=r"is not an export of export_inference_graph") as e:
        ex.export(ex.ExportConfig(classifier, str(out), overwrite=True))
    assert "\n" not in str(e.value) and "nothing was changed" in str(e.value)
    assert _tree(out) == before
    assert sorted(os.listdir(tmp_path)) == ["photos"]  # no temporary sibling


def test_overwrite_replaces_an_earlier_export_only_when_it_holds_nothing_else(exported, tmp_path):
    import shutil

    earlier = tmp_path / "model" / "1"
    shutil.copytree(exported["info"]["output_dir"], earlier)
    (earlier / "notes.txt").write_text("mine")
    config = ex.ExportConfig(exported["config"], str(earlier), overwrite=True)
    with pytest.raises(SlimclsError, match=r"also holds 1 file it did not write .*notes.txt"):
        ex.export(config)
    assert (earlier / "notes.txt").read_text() == "mine"
    (earlier / "notes.txt").unlink()
    (earlier / "variables" / "variables.index").write_bytes(b"old")  # ours: replaced
    ex.export(config)
    assert (earlier / "variables" / "variables.index").read_bytes() != b"old"
    assert ex.load_and_predict(str(earlier), exported["encoded"][:1])["classes"].shape == (1,)
    assert sorted(os.listdir(tmp_path / "model")) == ["1"]  # nothing left beside it
    empty = tmp_path / "empty"
    empty.mkdir()
    ex.export(ex.ExportConfig(exported["config"], str(empty)))  # an empty folder is fine
    assert (empty / "saved_model.pb").exists()


def test_output_file_that_is_a_directory_is_one_line_and_leaves_nothing(tmp_path):
    out = tmp_path / "graphs"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    classifier = classifier_config(tmp_path, "no_dataset")
    with pytest.raises(SlimclsError, match=r"--output_file=.*graphs' is a directory; expected a"):
        ex.export(ex.ExportConfig(classifier, output_file=str(out), overwrite=True))
    assert sorted(os.listdir(tmp_path)) == ["graphs"] and os.listdir(out) == ["keep.txt"]


def test_output_file_description_of_another_tool_is_not_overwritten(exported, tmp_path):
    path = tmp_path / "frozen.pb"
    (tmp_path / "frozen.pb.json").write_text('{"mine": true}')
    config = ex.ExportConfig(exported["config"], output_file=str(path), overwrite=True)
    with pytest.raises(SlimclsError, match=r"frozen.pb.json exists and was not written by"):
        ex.export(config)
    assert (tmp_path / "frozen.pb.json").read_text() == '{"mine": true}'
    (tmp_path / "frozen.pb.json").unlink()
    ex.export(config)
    ex.export(config)  # its own description is replaced with --overwrite
    assert sorted(os.listdir(tmp_path)) == ["frozen.pb", "frozen.pb.json"]


@pytest.mark.parametrize("kind", ["OSError", "tf"])
def test_disk_full_in_output_dir_is_one_line_and_leaves_nothing(
    exported, tmp_path, monkeypatch, kind
):
    import errno

    real_save = tf.saved_model.save

    def save_then_fill_up(module, path, signatures=None):
        real_save(module, path, signatures=signatures)  # half of it, as far as we know
        if kind == "OSError":
            raise OSError(errno.ENOSPC, "No space left on device")
        raise tf.errors.ResourceExhaustedError(None, None, "write: No space left on device")

    monkeypatch.setattr(tf.saved_model, "save", save_then_fill_up)
    out = tmp_path / "export" / "1"
    with pytest.raises(SlimclsError, match=r"^no space left on the device of .*export/1") as e:
        ex.export(ex.ExportConfig(exported["config"], str(out)))
    assert "\n" not in str(e.value)
    assert os.listdir(tmp_path / "export") == []  # no temporary directory, no half export


def test_disk_full_for_output_file_is_one_line_and_leaves_nothing(exported, tmp_path, monkeypatch):
    import errno

    real = tf.io.gfile.GFile

    class Full(real):
        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tf.io.gfile, "GFile", Full)
    with pytest.raises(SlimclsError, match=r"^no space left on the device of .*frozen.pb"):
        ex.export(ex.ExportConfig(exported["config"], output_file=str(tmp_path / "frozen.pb")))
    assert os.listdir(tmp_path) == []


def test_too_little_free_space_is_reported_before_writing(exported, tmp_path, monkeypatch):
    from slimcls.core import diskspace

    monkeypatch.setattr(diskspace, "free_bytes", lambda path: 10)
    with pytest.raises(SlimclsError, match=r"no space left .* needs .*, 10 bytes free"):
        ex.export(ex.ExportConfig(exported["config"], str(tmp_path / "out")))
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ the dataset directory


def _tf_slim_dir(root):
    """A TF-Slim cifar10 directory as its converter leaves it: no dataset.json."""
    d = root / "tfslim_cifar10"
    d.mkdir()
    for split in ("train", "test"):
        with tf.io.TFRecordWriter(str(d / f"cifar10_{split}.tfrecord")) as w:
            w.write(b"")
    (d / "labels.txt").write_text("".join(f"{i}:{n}\n" for i, n in enumerate(CLASS_NAMES)))
    return d


def test_tf_slim_dataset_dir_is_read_as_train_and_eval_read_it(exported, tmp_path):
    from slimcls.cli import export_inference_graph as cli

    d = str(_tf_slim_dir(tmp_path))
    cli._check_dataset_name("cifar10", d)  # TF-Slim's name for it: accepted
    with pytest.raises(SlimclsError, match=r"dataset_name 'flowers' does not match"):
        cli._check_dataset_name("flowers", d)
    config = dataclasses.replace(exported["config"], dataset_dir=d)
    info = ex.export(ex.ExportConfig(config, output_file=str(tmp_path / "g.pb")))
    assert info["num_classes"] == len(CLASS_NAMES)
    assert cl.Classifier(config).names == CLASS_NAMES  # names from its labels.txt


def test_classifier_refuses_a_dataset_dir_with_a_pending_swap(exported, tmp_path):
    import shutil

    from slimcls.datasets import record_format as rf

    d = tmp_path / "data"
    shutil.copytree(exported["config"].dataset_dir, d)
    (d / rf.STAGING_DIRNAME).mkdir()
    (d / rf.STAGING_DIRNAME / rf.SWAP_FILENAME).write_text('{"old": [], "new": []}')
    (d / rf.DATASET_JSON).unlink()  # the swap's first step
    config = dataclasses.replace(exported["config"], dataset_dir=str(d))
    with pytest.raises(SlimclsError, match="interrupted while swapping .*--dataset_name=adopt"):
        cl.Classifier(config)


def test_read_only_output_location_is_one_line_and_leaves_nothing(exported, tmp_path, monkeypatch):
    real = tf.io.gfile.makedirs
    out = tmp_path / "ro" / "export" / "1"

    def read_only(path):  # what TensorFlow answers for a read-only directory (root or not)
        if str(path).startswith(str(tmp_path / "ro")):
            raise tf.errors.PermissionDeniedError(None, None, f"{path}; Permission denied")
        return real(path)

    monkeypatch.setattr(tf.io.gfile, "makedirs", read_only)
    with pytest.raises(SlimclsError, match=r"^--output_dir=.*1: cannot write \(.*Permission de"):
        ex.export(ex.ExportConfig(exported["config"], str(out)))
    with pytest.raises(SlimclsError, match=r"^--output_file=.*g.pb: cannot write \(.*Permission"):
        ex.export(ex.ExportConfig(exported["config"], output_file=str(tmp_path / "ro" / "g.pb")))
    assert not (tmp_path / "ro").exists()
