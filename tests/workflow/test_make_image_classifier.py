"""make_image_classifier: a class folder in; converted data, a head trained on cached
features, an evaluation report, a SavedModel, a TF Lite model, labels and summary.json out.

The fast tests register a tiny net shaped like a MobileNet (batch norm, pooled features, a
1x1-convolution classifier in ``<scope>/Logits``, 1001 published classes) and start from
a checkpoint of it with random weights, standing in for a published one.
"""

import io
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from slimcls.config import MakeClassifierConfig, OptimizerConfig
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.model import checkpoints, modeling
from slimcls.nets import nets_factory
from slimcls.train import feature_cache as fc
from slimcls.workflow import make_image_classifier as mic
from tests.helpers import ENV, REPO, stderr_lines

TINY = "tiny_mobile"
SIZE = 16
COLOURS = [(210, 40, 40), (40, 210, 40), (40, 40, 210)]


def tiny_mobile(images, num_classes=1001, is_training=False, scope="TinyMobile", **_):
    """Two conv + batch-norm layers, global average pooling, a 1x1-conv classifier."""
    import tf_slim as slim

    with tf.compat.v1.variable_scope(scope, "TinyMobile", [images]):
        with slim.arg_scope([slim.batch_norm], is_training=is_training):
            net = slim.conv2d(images, 8, [3, 3], stride=2, normalizer_fn=slim.batch_norm,
                              scope="Conv2d_0")  # fmt: skip
            net = slim.conv2d(net, 16, [3, 3], stride=2, normalizer_fn=slim.batch_norm,
                              scope="Conv2d_1")  # fmt: skip
            net = tf.reduce_mean(net, [1, 2], keepdims=True, name="AvgPool_1a")
        if not num_classes:
            return net, {"AvgPool_1a": net}
        with tf.compat.v1.variable_scope("Logits"):
            net = slim.dropout(net, 0.9, is_training=is_training, scope="Dropout_1b")
            logits = slim.conv2d(net, num_classes, [1, 1], activation_fn=None,
                                 normalizer_fn=None, scope="Conv2d_1c_1x1")  # fmt: skip
            logits = tf.squeeze(logits, [1, 2], name="SpatialSqueeze")
    return logits, {"Logits": logits, "Predictions": slim.softmax(logits, scope="Predictions")}


def _tiny_arg_scope(weight_decay=0.0, batch_norm_decay=0.9997):
    import tf_slim as slim

    with slim.arg_scope([slim.conv2d], weights_regularizer=slim.l2_regularizer(weight_decay)):
        with slim.arg_scope([slim.batch_norm], decay=batch_norm_decay, scale=True) as sc:
            return sc


@pytest.fixture
def tiny(monkeypatch):
    spec = nets_factory.NetSpec(
        fn=tiny_mobile,
        arg_scope=_tiny_arg_scope,
        default_image_size=SIZE,
        preprocessing="inception",
        background_class=True,
        min_image_size=8,
        logits_scopes=("TinyMobile/Logits",),
    )
    monkeypatch.setitem(nets_factory.NETWORKS, TINY, spec)
    return TINY


def write_folder(root, per_class=10, classes=3, size=20, seed=0):
    """Class folders of small PNGs whose class is their colour."""
    rng = np.random.RandomState(seed)
    for c in range(classes):
        folder = os.path.join(root, f"class{c}")
        os.makedirs(folder)
        for i in range(per_class):
            noise = rng.randint(-50, 50, (size, size, 3))
            pixels = np.clip(noise + np.array(COLOURS[c]), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(os.path.join(folder, f"{i:03d}.png"))
    return str(root)


def published_checkpoint(directory, name=TINY, size=SIZE, seed=0):
    """A 1001-class checkpoint of the net with random weights (and non-trivial batch-norm
    statistics), as a published one would be."""
    tf.random.set_seed(seed)
    model = modeling.create_model(name, 1001)
    model.build_variables((size, size, 3))
    rng = np.random.RandomState(seed)
    for var_name, var in model.variables_by_name().items():
        if var_name.endswith("moving_mean"):
            var.assign(rng.uniform(-0.1, 0.1, var.shape).astype(np.float32))
        elif var_name.endswith("moving_variance"):
            var.assign(rng.uniform(0.5, 2.0, var.shape).astype(np.float32))
    tensors = {n: v.numpy() for n, v in model.variables_by_name().items()}
    return checkpoints.save_checkpoint(tensors, str(directory), 0)


def make_config(tmp_path, **kw):
    defaults = dict(
        image_dir=str(tmp_path / "photos"),
        output_dir=str(tmp_path / "out"),
        model_name=TINY,
        checkpoint_path=str(tmp_path / "published" / "model.ckpt-0"),
        train_epochs=4,
        batch_size=6,
        learning_rate=0.2,
        mixed_precision="float32",
    )
    return MakeClassifierConfig(**{**defaults, **kw})


@pytest.fixture
def job(tmp_path, tiny):
    write_folder(tmp_path / "photos")
    published_checkpoint(tmp_path / "published")
    return tmp_path


def _run(cfg):
    """(summary, what was printed: the progress lines, then the report and summary)."""
    progress, printed = io.StringIO(), io.StringIO()
    summary = mic.make_image_classifier(cfg, stream=progress, out=printed)
    return summary, progress.getvalue() + printed.getvalue()


def test_whole_command_from_a_class_folder(job, caplog):
    caplog.set_level(logging.INFO, logger="slimcls")
    cfg = make_config(job)
    summary, printed = _run(cfg)
    out = job / "out"
    # Every output is there and described by summary.json.
    assert json.loads((out / "summary.json").read_text()) == summary
    assert summary["num_classes"] == 3 and summary["class_names"] == ["class0", "class1", "class2"]
    assert (summary["num_train"], summary["num_validation"]) == (24, 6)
    assert (out / "labels.txt").read_text() == "class0\nclass1\nclass2\n"  # TF Hub's format
    assert (out / "saved_model" / "saved_model.pb").exists()
    assert summary["files"]["tflite"]["bytes"] == os.path.getsize(out / "model.tflite") > 0
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert metrics["num_examples"] == 6 and len(metrics["per_class"]) == 3
    assert (out / "eval" / "confusion_matrix.csv").exists()
    assert summary["evaluation"]["accuracy"] == metrics["accuracy"] >= 5 / 6
    assert "eval/Accuracy[" in printed and "validation accuracy" in printed
    # The head trained on features computed once; a run record lets the other tools reuse it.
    head = summary["head"]
    assert head["feature_cache"]["used"] and head["steps"] == 4 * (24 // 6)
    assert "on cached features" in printed
    assert f"--model_name={TINY}" in (out / "head" / "flags.txt").read_text()
    # The body restored from the published checkpoint is bit-identical after training,
    # batch-norm statistics included; only the new 3-class classifier differs.
    published = tf.train.load_checkpoint(cfg.checkpoint_path)
    trained = tf.train.load_checkpoint(head["checkpoint"])
    body = [k for k in trained.get_variable_to_shape_map() if not k.startswith("TinyMobile/Logits")]
    assert len(body) == 11 and any(k.endswith("moving_variance") for k in body)  # + step
    for key in body:
        if key != "global_step":
            assert np.array_equal(trained.get_tensor(key), published.get_tensor(key)), key
    assert trained.get_tensor("TinyMobile/Logits/Conv2d_1c_1x1/biases").shape == (3,)
    # The SavedModel and the TF Lite model give the same answers.
    images = np.random.RandomState(1).uniform(-1, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    from slimcls.inference import export

    expected = export.predict_images(str(out / "saved_model"), images)["probabilities"]
    interpreter = tf.lite.Interpreter(str(out / "model.tflite"))
    runner = interpreter.get_signature_runner("serving_images")
    np.testing.assert_allclose(runner(images=images)["probabilities"], expected, atol=1e-5)
    # A second run does nothing and says so.
    again, printed = _run(cfg)
    assert again == summary and "already holds the finished classifier" in printed


def test_cached_features_train_the_same_head_as_the_frozen_body(tiny):
    """Same initial head, same data order, same dropout masks: training on features
    computed once matches training through the body, and the body never changes."""
    tf.keras.utils.set_random_seed(0)
    plan = modeling.plan(TINY, 4, image_size=SIZE)
    model = modeling.build(plan)
    head = fc.find_head(model, "TinyMobile/Logits", plan.image_shape)
    features_of = fc.feature_fn(model)
    rng = np.random.RandomState(0)
    labels = np.arange(48) % 4
    images = rng.uniform(-1, 1, (48, SIZE, SIZE, 3)) * 0.3 + (labels[:, None, None, None] - 1.5)
    images = images.astype(np.float32)
    body = {n: v.numpy() for n, v in model.variables_by_name().items() if "Logits" not in n}
    start = [v.numpy() for v in head.variables]

    def train(batches_of_epoch):
        for v, value in zip(head.variables, start):
            v.assign(value)
        trainer = fc.HeadTrainer(head, OptimizerConfig(optimizer="momentum"), 0.5,
                                 weight_decay=1e-3, label_smoothing=0.1, dropout_rate=0.3,
                                 seed=7)  # fmt: skip
        for epoch in range(3):
            trainer.train_epoch(batches_of_epoch(epoch))
        return [v.numpy() for v in head.variables], trainer

    cached = fc.extract_features(
        features_of, tf.data.Dataset.from_tensor_slices((images, labels)).batch(32)
    )
    on_cache, trainer = train(lambda e: fc.cached_batches(*cached, 8, seed=3, epoch=e))

    def through_body(epoch):
        order = fc.epoch_order(48, 3, epoch)
        batches = [(tf.constant(images[order[i : i + 8]]), tf.constant(labels[order[i : i + 8]]))
                   for i in range(0, 48, 8)]  # fmt: skip
        return fc.body_batches(features_of, batches)

    body_accuracy = trainer.evaluate(*cached)[0]
    on_body, _ = train(through_body)
    assert not np.allclose(on_cache[0], start[0])  # the head did train
    for a, b in zip(on_cache, on_body):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert trainer.evaluate(*cached)[0] == body_accuracy > 0.5
    for name, var in model.variables_by_name().items():
        if name in body:
            assert np.array_equal(var.numpy(), body[name]), name


def test_find_head_refuses_a_classifier_of_several_layers(tiny_net):
    plan = modeling.plan(tiny_net, 4, image_size=12)
    model = modeling.build(plan)
    with pytest.raises(SlimclsError, match="Tiny/fc2 of tiny_aux is not one linear layer"):
        fc.find_head(model, "Tiny/fc2", plan.image_shape)


def test_foreign_or_mismatched_output_dirs_are_refused_before_anything_is_written(job):
    (job / "foreign").mkdir()
    (job / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(SlimclsError, match=r"is not empty and holds no earlier output"):
        mic.make_image_classifier(make_config(job, output_dir=str(job / "foreign")))
    assert os.listdir(job / "foreign") == ["notes.txt"]
    with pytest.raises(SlimclsError, match="is inside --image_dir"):
        mic.make_image_classifier(make_config(job, output_dir=str(job / "photos" / "out")))
    (job / "model.tflite").write_text("someone else's")
    with pytest.raises(SlimclsError, match="--tflite_output_file=.* already exists and was not"):
        mic.make_image_classifier(make_config(job, tflite_output_file=str(job / "model.tflite")))
    with pytest.raises(SlimclsError, match="--validation_fraction=0.0; expected a value between"):
        mic.make_image_classifier(make_config(job, validation_fraction=0.0))
    # A checkpoint that does not exist: one line, and no output directory left behind.
    with pytest.raises(SlimclsError, match="checkpoint"):
        _run(make_config(job, checkpoint_path=str(job / "missing.ckpt")))
    assert not (job / "out").exists()


@pytest.mark.train_loop  # two more runs of the job
def test_rerun_with_other_settings_is_refused_and_outputs_are_redone(job, caplog):
    cfg = make_config(job, train_epochs=2)
    summary, _ = _run(cfg)
    with pytest.raises(SlimclsError, match="holds a run made with --train_epochs=2, not 3"):
        _run(make_config(job, train_epochs=3))
    marker = json.loads((job / "out" / mic.MARKER).read_text())
    assert marker["command"] == "make_image_classifier" and marker["stages"]["head"]["done"]
    # Deleting an output makes the next run redo the stages that write it, not the head.
    os.remove(job / "out" / "model.tflite")
    caplog.set_level(logging.INFO, logger="slimcls")
    again, printed = _run(cfg)
    assert (job / "out" / "model.tflite").exists() and "head training: done" in printed
    assert "already holds the finished classifier" not in printed
    assert again["head"] == summary["head"]


def test_command_line_help_and_errors_without_tensorflow(tmp_path):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "slimcls", "make_image_classifier", *args],
            capture_output=True, text=True, timeout=120, env=ENV, cwd=REPO,
        )  # fmt: skip

    shown = run("--help")
    assert shown.returncode == 0
    for flag in ("--image_dir", "--train_epochs", "--do_fine_tuning", "--saved_model_dir",
                 "--tflite_output_file", "--labels_output_file", "--summaries_dir",
                 "--validation_fraction", "--checkpoint_path", "--image_size"):  # fmt: skip
        assert flag in shown.stdout
    missing = run(f"--image_dir={tmp_path / 'nothing'}", f"--output_dir={tmp_path / 'out'}")
    assert missing.returncode == 1
    assert stderr_lines(missing) == [
        f"make_image_classifier: error: --image_dir='{tmp_path / 'nothing'}' does not exist; "
        "expected a folder with one sub-folder of images per class"
    ]
    assert not (tmp_path / "out").exists()
    bad = run("--image_dir=.", "--output_dir=/tmp/x", "--model_name=mobilenet_v9")
    assert bad.returncode == 1 and "mobilenet_v9" in stderr_lines(bad)[0]


def test_job_progress_eta_covers_the_stages_still_to_run():
    from slimcls.workflow.job_progress import JobProgress, Stage

    now = [0.0]
    forward = Stage("features", 100, "images")

    def train_estimate():
        measured = forward.measured(now[0])
        return None if measured is None else 3 * measured

    stages = [
        forward,
        Stage("train", 10, "steps", estimate=train_estimate),
        Stage("export", 1, "models", estimate=lambda: 5.0),
    ]
    stream = io.StringIO()
    progress = JobProgress(stages, stream=stream, is_tty=False, clock=lambda: now[0])
    progress.begin("features", "computing features")
    assert progress.eta() is None and "[1/3] computing features" in stream.getvalue()
    progress.advance(10)  # the first unit(s) may include tracing: not measured
    now[0] = 20.0  # a line is due (every 10 s) while nothing is measured yet
    progress.advance(0)
    assert "ETA ?" in stream.getvalue().splitlines()[-1]
    now[0] = 27.0
    progress.advance(90)  # 27 s for the 90 images after the first 10: 0.3 s per image
    progress.end("features")
    assert progress.eta() == pytest.approx(10 * 3 * 0.3 + 5.0)
    progress.skip("train")
    assert progress.eta() == pytest.approx(5.0)
    assert "ETA" in progress.line()


@pytest.mark.train_loop
def test_fine_tuning_all_layers_then_resume_after_an_interruption(job, monkeypatch, caplog):
    from slimcls.train import hooks
    from slimcls.workflow import stages

    cfg = make_config(job, do_fine_tuning=True, fine_tuning_epochs=2, train_epochs=2)
    real = stages._StageHook.after_step

    def interrupt(self, run, metrics):  # Ctrl-C after the 3rd fine-tuning step
        real(self, run, metrics)
        return hooks.StopReason("SIGINT") if metrics.step == 3 else None

    monkeypatch.setattr(stages._StageHook, "after_step", interrupt)
    with pytest.raises(KeyboardInterrupt):
        _run(cfg)
    assert checkpoints.latest_checkpoint(str(job / "out" / "fine_tune")).endswith("-3")
    monkeypatch.setattr(stages._StageHook, "after_step", real)
    caplog.set_level(logging.INFO, logger="slimcls")
    summary, printed = _run(cfg)
    assert "head training: done" in printed and "Resumed from" in caplog.text
    ft = summary["fine_tuning"]
    assert ft["steps"] == 8 and ft["checkpoint"].endswith("model.ckpt-8")
    assert ft["batch_norm_decay"] == modeling.fitted_batch_norm_decay(8)
    assert summary["evaluation"]["checkpoint"] == ft["checkpoint"]
    assert "fine-tuning          all layers, 8 steps" in printed
    assert (job / "out" / "fine_tune" / "flags.txt").exists()


def test_flags_are_generated_from_the_config_with_its_defaults():
    import dataclasses

    from absl import flags

    from slimcls.cli import make_image_classifier as command

    try:
        flags.FLAGS.unparse_flags()
        specs = command.define_flags()
        flags.FLAGS(["make_image_classifier", "--image_dir=a", "--output_dir=b"])
        expected = {
            f.name: None if f.default is dataclasses.MISSING else f.default
            for f in dataclasses.fields(MakeClassifierConfig)
        }
        assert {s.name: flags.FLAGS[s.name].default for s in specs} == expected
        built = command.flag_defs.config_from_flags(MakeClassifierConfig)
        assert built == MakeClassifierConfig(image_dir="a", output_dir="b")
    finally:
        flags.FLAGS.unparse_flags()


@pytest.mark.train_loop
def test_command_line_with_published_weights_from_a_local_mirror(tmp_path):
    """The console command on mobilenet_v1_025 with --checkpoint_path=imagenet, served by a
    local HTTP server: downloaded once, head-only first, then --do_fine_tuning on the same
    output directory reuses the head and the download."""
    from slimcls.model import pretrained
    from tests.pretrained_helpers import RECORD, Server, make_sources

    (tmp_path / "published").mkdir()
    source = make_sources(tmp_path / "published")
    server = Server()
    server.files["/models/" + RECORD.archive] = source["archives"]["good"]
    env = {
        **ENV,
        pretrained.MIRROR_ENV: server.url + "/models/",
        pretrained.CACHE_ENV: str(tmp_path / "cache"),
    }
    images = write_folder(tmp_path / "photos", per_class=8)

    def run(*extra):
        return subprocess.run(
            [sys.executable, "-m", "slimcls", "make_image_classifier", f"--image_dir={images}",
             f"--output_dir={tmp_path / 'out'}", "--model_name=mobilenet_v1_025",
             "--image_size=32", "--batch_size=8", "--train_epochs=2", "--learning_rate=0.1",
             "--mixed_precision=float32", *extra],
            capture_output=True, text=True, timeout=600, env=env, cwd=REPO,
        )  # fmt: skip

    try:
        first = run()
        assert first.returncode == 0, first.stderr[-2000:]
        assert len(server.gets(RECORD.archive)) == 1
        summary = json.loads((tmp_path / "out" / "summary.json").read_text())
        assert summary["checkpoint"].startswith(str(tmp_path / "cache"))
        assert summary["head"]["feature_cache"]["used"] and summary["fine_tuning"] is None
        assert "validation accuracy" in first.stdout and "[6/6] exporting" in first.stderr
        second = run("--do_fine_tuning")
        assert second.returncode == 0, second.stderr[-2000:]
        assert len(server.gets(RECORD.archive)) == 1  # the cache, not a second download
        assert "head training: done" in second.stderr
        summary = json.loads((tmp_path / "out" / "summary.json").read_text())
        assert summary["fine_tuning"]["steps"] == 2 * (18 // 8)
        assert summary["evaluation"]["checkpoint"] == summary["fine_tuning"]["checkpoint"]
    finally:
        server.close()


def test_job_eta_before_the_body_speed_is_measured(tmp_path, tiny):  # tiny: its model_name
    """The ETA of a job whose feature pass has not measured the body yet is unknown (it
    once recursed, estimating the feature pass from itself)."""
    from slimcls.workflow import stages

    cfg = make_config(tmp_path)
    layout = mic.Layout.of(cfg)
    job = stages.Job(cfg, layout, mic.OutputDir(layout), stream=io.StringIO())
    now = [0.0]
    job.progress.clock = lambda: now[0]
    job.progress.stage("features").total = 100
    job.progress.stage("fine_tune").total = 10
    job.progress.skip("convert")  # a converted dataset
    job.progress.begin("features")
    job.progress.advance(10)
    assert job.progress.eta() is None and "ETA ?" in job.progress.line()
    now[0] = 9.0
    job.progress.advance(90)  # 0.1 s per image
    expected_fine_tune = 10 * cfg.batch_size * 0.1 * stages.TRAIN_STEP_FORWARDS
    assert job.progress.stage("fine_tune").remaining_seconds(now[0]) == pytest.approx(
        expected_fine_tune
    )


def standin_archive(folder, model_name):
    """The published archive of ``model_name`` (TF-Slim's layout) with the registry net's
    initial weights: what a mirror would serve, for tests without the network."""
    from slimcls.nets import published
    from tests.pretrained_helpers import bundle_files, make_archive, save_v2

    record = published.default_for(model_name)
    model = modeling.create_model(model_name, record.num_classes)
    model.build_variables((32, 32, 3))
    values = {n: v.numpy() for n, v in model.variables_by_name().items()}
    inner, stem = os.path.split(record.checkpoint)  # V3 archives: <folder>/ema/model-N
    work = os.path.join(str(folder), "standin", inner)
    os.makedirs(work)
    save_v2(os.path.join(work, stem), values)
    files = {os.path.join(inner, n): data for n, data in bundle_files(work, stem).items()}
    make_archive(os.path.join(str(folder), record.archive), files)
    return values


@pytest.mark.slow
def test_digits_recipe_with_published_weights_from_a_mirror(tmp_path, monkeypatch):
    """The full recipe on the quickstart's real digits (1,797 scans): convert, head on
    cached features, all layers, evaluation, export. Offline, ``imagenet`` comes from a
    mirror folder holding a stand-in archive (the net's initial weights, not ImageNet's),
    so all-layers training gets a rate for learning from scratch."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "demo_digits", os.path.join(REPO, "scripts", "demo_digits.py")
    )
    demo_digits = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo_digits)
    from slimcls.model import pretrained

    images = tmp_path / "digits_images"
    demo_digits.write_digits_folder(str(images), size=32)
    (tmp_path / "mirror").mkdir()
    values = standin_archive(tmp_path / "mirror", "mobilenet_v1_025")
    monkeypatch.setenv(pretrained.MIRROR_ENV, str(tmp_path / "mirror"))
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    cfg = MakeClassifierConfig(
        image_dir=str(images),
        output_dir=str(tmp_path / "out"),
        model_name="mobilenet_v1_025",
        image_size=64,
        do_fine_tuning=True,
        fine_tuning_epochs=10,
        fine_tuning_learning_rate=0.05,
    )
    summary, printed = _run(cfg)
    assert (summary["num_train"], summary["num_validation"]) == (1438, 359)
    head = summary["head"]
    assert head["feature_cache"]["used"]
    assert head["first_epoch_seconds"] >= 10 * head["later_epoch_seconds"]  # the cache's point
    trained = tf.train.load_checkpoint(head["checkpoint"])
    for name, value in values.items():
        if not name.startswith("MobilenetV1/Logits"):
            assert np.array_equal(trained.get_tensor(name), value), name
    assert summary["fine_tuning"]["steps"] == 10 * (1438 // 32)
    assert summary["evaluation"]["accuracy"] >= 0.8
    for name in ("saved_model", "tflite", "labels"):
        assert os.path.exists(summary["files"][name]["path"])


@pytest.mark.train_loop  # another run of the job
def test_a_converted_dataset_is_used_as_it_is(tmp_path, tiny):
    from tests.helpers import write_toy_dataset

    dataset = write_toy_dataset(tmp_path / "toy", num_train=24, num_validation=8)
    published_checkpoint(tmp_path / "published")
    before = sorted(os.listdir(dataset))
    summary, printed = _run(make_config(tmp_path, image_dir=dataset, train_epochs=1))
    assert summary["dataset_dir"] == dataset and not (tmp_path / "out" / "data").exists()
    assert f"using the converted dataset in {dataset}" in printed
    assert sorted(os.listdir(dataset)) == before  # nothing written into it
    assert summary["num_validation"] == 8


@pytest.mark.train_loop  # another run of the job
def test_without_the_cache_the_head_trains_through_the_body(job, monkeypatch):
    """--cache_features=none (and features too large for memory) train through the body
    on every step; the summary says the cache was not used and why."""
    summary, printed = _run(make_config(job, cache_features="none"))
    cache = summary["head"]["feature_cache"]
    assert not cache["used"] and cache["reason"] == "--cache_features=none"
    assert "through the body" in printed and summary["evaluation"]["accuracy"] >= 5 / 6
    monkeypatch.setattr(fc, "cache_fits", lambda n, d: (False, n * d * 4))
    summary, printed = _run(make_config(job, output_dir=str(job / "out2")))
    assert "above the memory limit" in summary["head"]["feature_cache"]["reason"]
    assert summary["head"]["validation_accuracy"] is None  # no per-epoch validation
    assert summary["evaluation"]["num_examples"] == 6  # the final evaluation still runs


def test_find_head_in_bfloat16(tiny):
    """--mixed_precision=auto is bfloat16 on CPUs with bfloat16 instructions: the head
    is found, and the features come back as float32 (the net's eager 16-bit call fails)."""
    plan = modeling.plan(TINY, 3, image_size=SIZE, compute_dtype="bfloat16")
    model = modeling.build(plan)
    head = fc.find_head(model, "TinyMobile/Logits", plan.image_shape)
    features = fc.feature_fn(model)(tf.zeros((2, *plan.image_shape)))
    assert head.feature_dim == 16 and features.shape == (2, 16) and features.dtype == tf.float32
