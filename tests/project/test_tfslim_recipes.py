"""TF-Slim's own recipes (research/slim/scripts/*.sh) run with slimcls as a drop-in.

Each recipe's command lines are transcribed below, as data, with TF-Slim's exact flags and
values. Only these change: program names (``python -m slimcls.<command>``), paths (tmp
dirs), ``--source_dir`` added to ``download_and_convert_data`` (nothing downloads in tests;
the input is generated here), and ``--max_number_of_steps`` / ``--batch_size`` reduced so a
recipe runs in minutes on 2 CPU cores (said per recipe). The "pretrained" checkpoints the
recipes download are replaced by checkpoints slimcls writes from a freshly built net with
the published layout (scope names, 1001 classes where TF-Slim's have them, 1000 for
resnet_v1_50), stored under the published file name (``<dir>/inception_v3.ckpt``).

All are ``slow``: each trains and evaluates an ImageNet-sized net on CPU.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from PIL import Image

from tests.helpers import ENV, REPO

pytestmark = pytest.mark.slow

FLOWERS = ("daisy", "dandelion", "roses", "sunflowers", "tulips")

# --------------------------------------------------------------------- the recipes, as data
# Placeholders: {DATASET_DIR}, {TRAIN_DIR}, {SOURCE_DIR}, {PRETRAINED_CHECKPOINT_DIR},
# {MODEL_FOLDER}, {CHECKPOINT}. Each entry: (command, [flags]).

# train_cifarnet_on_cifar10.sh. Reduced: --max_number_of_steps 100000 -> 3,
# --batch_size 128 -> 4.
CIFARNET = [
    (
        "download_and_convert_data",
        ["--dataset_name=cifar10", "--dataset_dir={DATASET_DIR}", "--source_dir={SOURCE_DIR}"],
    ),
    (
        "train_image_classifier",
        [
            "--train_dir={TRAIN_DIR}",
            "--dataset_name=cifar10",
            "--dataset_split_name=train",
            "--dataset_dir={DATASET_DIR}",
            "--model_name=cifarnet",
            "--preprocessing_name=cifarnet",
            "--max_number_of_steps=3",
            "--batch_size=4",
            "--save_interval_secs=120",
            "--save_summaries_secs=120",
            "--log_every_n_steps=100",
            "--optimizer=sgd",
            "--learning_rate=0.1",
            "--learning_rate_decay_factor=0.1",
            "--num_epochs_per_decay=200",
            "--weight_decay=0.004",
        ],
    ),
    (
        "eval_image_classifier",
        [
            "--checkpoint_path={TRAIN_DIR}",
            "--eval_dir={TRAIN_DIR}",
            "--dataset_name=cifar10",
            "--dataset_split_name=test",
            "--dataset_dir={DATASET_DIR}",
            "--model_name=cifarnet",
        ],
    ),
]

# train_lenet_on_mnist.sh. Reduced: --max_number_of_steps 20000 -> 3, --batch_size 50 -> 4.
LENET = [
    (
        "download_and_convert_data",
        ["--dataset_name=mnist", "--dataset_dir={DATASET_DIR}", "--source_dir={SOURCE_DIR}"],
    ),
    (
        "train_image_classifier",
        [
            "--train_dir={TRAIN_DIR}",
            "--dataset_name=mnist",
            "--dataset_split_name=train",
            "--dataset_dir={DATASET_DIR}",
            "--model_name=lenet",
            "--preprocessing_name=lenet",
            "--max_number_of_steps=3",
            "--batch_size=4",
            "--learning_rate=0.01",
            "--save_interval_secs=60",
            "--save_summaries_secs=60",
            "--log_every_n_steps=100",
            "--optimizer=sgd",
            "--learning_rate_decay_type=fixed",
            "--weight_decay=0",
        ],
    ),
    (
        "eval_image_classifier",
        [
            "--checkpoint_path={TRAIN_DIR}",
            "--eval_dir={TRAIN_DIR}",
            "--dataset_name=mnist",
            "--dataset_split_name=test",
            "--dataset_dir={DATASET_DIR}",
            "--model_name=lenet",
        ],
    ),
]


def _finetune_recipe(
    model, exclude, stage1, stage2, steps, batch, lr1, lr2, fixed1, fixed2, log1, log2, ckpt_first
):
    """The four commands shared by TF-Slim's finetune_*_on_flowers.sh (their flags differ
    only in the values passed here; ``ckpt_first``: stage 2 lists --checkpoint_path before
    --model_name, as the v1 / resnet recipes do)."""
    common = [
        "--dataset_name=flowers",
        "--dataset_split_name=train",
        "--dataset_dir={DATASET_DIR}",
    ]
    tail = ["--save_interval_secs=60", "--save_summaries_secs=60"]
    first = [
        "--train_dir={TRAIN_DIR}",
        *common,
        f"--model_name={model}",
        f"--checkpoint_path={{PRETRAINED_CHECKPOINT_DIR}}/{model}.ckpt",
        f"--checkpoint_exclude_scopes={exclude}",
        f"--trainable_scopes={exclude}",
        f"--max_number_of_steps={steps[0]}",
        f"--batch_size={batch}",
        f"--learning_rate={lr1}",
        *(["--learning_rate_decay_type=fixed"] if fixed1 else []),
        *tail,
        f"--log_every_n_steps={log1}",
        "--optimizer=rmsprop",
        "--weight_decay=0.00004",
    ]
    order = (
        ["--checkpoint_path={TRAIN_DIR}", f"--model_name={model}"]
        if ckpt_first
        else [f"--model_name={model}", "--checkpoint_path={TRAIN_DIR}"]
    )
    second = [
        "--train_dir={TRAIN_DIR}/all",
        *common,
        *order,
        f"--max_number_of_steps={steps[1]}",
        f"--batch_size={batch}",
        f"--learning_rate={lr2}",
        *(["--learning_rate_decay_type=fixed"] if fixed2 else []),
        *tail,
        f"--log_every_n_steps={log2}",
        "--optimizer=rmsprop",
        "--weight_decay=0.00004",
    ]

    def evaluate(d):
        return (
            "eval_image_classifier",
            [
                f"--checkpoint_path={d}",
                f"--eval_dir={d}",
                "--dataset_name=flowers",
                "--dataset_split_name=validation",
                "--dataset_dir={DATASET_DIR}",
                f"--model_name={model}",
            ],
        )

    del stage1, stage2  # the published step counts, kept for the reader
    return [
        (
            "download_and_convert_data",
            ["--dataset_name=flowers", "--dataset_dir={DATASET_DIR}", "--source_dir={SOURCE_DIR}"],
        ),
        ("train_image_classifier", first),
        evaluate("{TRAIN_DIR}"),
        ("train_image_classifier", second),
        evaluate("{TRAIN_DIR}/all"),
    ]


# finetune_inception_v3_on_flowers.sh. Reduced: --max_number_of_steps 1000/500 -> 2/1,
# --batch_size 32 -> 2.
INCEPTION_V3 = _finetune_recipe(
    "inception_v3", "InceptionV3/Logits,InceptionV3/AuxLogits", 1000, 500, (2, 1), 2,
    "0.01", "0.0001", True, True, 100, 10, ckpt_first=False,
)  # fmt: skip
# finetune_inception_v1_on_flowers.sh. Reduced: --max_number_of_steps 3000/1000 -> 2/1,
# --batch_size 32 -> 2.
INCEPTION_V1 = _finetune_recipe(
    "inception_v1", "InceptionV1/Logits", 3000, 1000, (2, 1), 2,
    "0.01", "0.001", False, False, 100, 100, ckpt_first=True,
)  # fmt: skip
# finetune_resnet_v1_50_on_flowers.sh. Reduced: --max_number_of_steps 3000/1000 -> 2/1,
# --batch_size 32 -> 2.
RESNET_V1_50 = _finetune_recipe(
    "resnet_v1_50", "resnet_v1_50/logits", 3000, 1000, (2, 1), 2,
    "0.01", "0.001", False, False, 100, 100, ckpt_first=True,
)  # fmt: skip
# finetune_inception_resnet_v2_on_flowers.sh. Reduced: --max_number_of_steps 1000/500 ->
# 1/1, --batch_size 32 -> 2. No size flag added (299 x 299, as published).
INCEPTION_RESNET_V2 = _finetune_recipe(
    "inception_resnet_v2", "InceptionResnetV2/Logits,InceptionResnetV2/AuxLogits", 1000, 500,
    (1, 1), 2, "0.01", "0.0001", True, True, 10, 10, ckpt_first=False,
)  # fmt: skip

# export_mobilenet.sh 0.25 128 <checkpoint>. slimcls's export writes the frozen graph
# itself (TF-Slim: export_inference_graph, then bazel's freeze_graph with
# --input_checkpoint), so --checkpoint_path is added and --output_file names the frozen
# graph; the quantize step (graph_transforms) becomes --tflite=dynamic_range (needs
# --output_dir); label_image becomes classify_image on the same checkpoint.
# The first export keeps TF-Slim's --dataset_dir={MODEL_FOLDER} (a folder without
# dataset.json: names from its labels.txt, classes from the checkpoint); the others show
# --labels_file.
MOBILENET = [
    (
        "export_inference_graph",
        [
            "--model_name=mobilenet_v1_025",
            "--image_size=128",
            "--logtostderr",
            "--output_file={MODEL_FOLDER}/frozen_graph.pb",
            "--dataset_dir={MODEL_FOLDER}",
            "--checkpoint_path={CHECKPOINT}",
        ],
    ),
    (
        "export_inference_graph",
        [
            "--model_name=mobilenet_v1_025",
            "--image_size=128",
            "--logtostderr",
            "--output_dir={MODEL_FOLDER}/saved_model",
            "--tflite=dynamic_range",
            "--labels_file={MODEL_FOLDER}/labels.txt",
            "--checkpoint_path={CHECKPOINT}",
        ],
    ),
    (
        "classify_image",
        [
            "--checkpoint_path={CHECKPOINT}",
            "--model_name=mobilenet_v1_025",
            "--eval_image_size=128",
            "--labels_file={MODEL_FOLDER}/labels.txt",
            "{MODEL_FOLDER}/grace_hopper.jpg",
        ],
    ),
]

# ------------------------------------------------------------------------------ the data


def _jpeg(path, seed, size=(40, 48)):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (*size, 3), np.uint8)).save(path, "JPEG")


def _flowers_source(d):
    """5 flower classes x 10 images: the converter holds out 1 per class (10%)."""
    for c, name in enumerate(FLOWERS):
        os.makedirs(os.path.join(d, name))
        for i in range(10):
            _jpeg(os.path.join(d, name, f"{i}.jpg"), seed=c * 100 + i)


def _cifar10_source(d):
    os.makedirs(d)
    with open(os.path.join(d, "batches.meta.txt"), "w") as f:
        f.write("".join(f"class{i}\n" for i in range(10)))
    rng = np.random.default_rng(0)
    for name, n in (("data_batch_1.bin", 20), ("test_batch.bin", 10)):
        recs = [bytes([i % 10]) + rng.integers(0, 256, 3072, np.uint8).tobytes() for i in range(n)]
        with open(os.path.join(d, name), "wb") as f:
            f.write(b"".join(recs))


def _mnist_source(d):
    os.makedirs(d)
    rng = np.random.default_rng(1)
    for prefix, n in (("train", 20), ("t10k", 10)):
        images = rng.integers(0, 256, (n, 28, 28), np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for kind, arr, magic in (("images-idx3", images, 2051), ("labels-idx1", labels, 2049)):
            head = struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape)
            with open(os.path.join(d, f"{prefix}-{kind}-ubyte"), "wb") as f:
                f.write(head + arr.tobytes())


_PRETRAINED = textwrap.dedent(
    """
    import os, sys
    from slimcls.model import checkpoints
    from slimcls.model import modeling
    model_name, num_classes, size, prefix = sys.argv[1:]
    num_classes, size = int(num_classes), int(size)
    model = modeling.create_model(model_name, num_classes)
    model.build_variables((size, size, 3))
    tmp = prefix + ".tmpdir"
    written = checkpoints.save_checkpoint(model.variables_by_name(), tmp, step=0)
    for name in os.listdir(tmp):
        if name.startswith(os.path.basename(written) + "."):
            os.rename(os.path.join(tmp, name), prefix + name[len(os.path.basename(written)):])
    """
)


def _pretrained(model_name, num_classes, size, prefix):
    """A checkpoint with the published layout at ``prefix`` (e.g. .../inception_v3.ckpt):
    a freshly built slimcls net's variables under their TF-Slim names."""
    proc = subprocess.run(
        [sys.executable, "-c", _PRETRAINED, model_name, str(num_classes), str(size), prefix],
        capture_output=True, text=True, timeout=600, env=ENV, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert os.path.exists(prefix + ".index")


def _run_recipe(recipe, paths):
    """Runs every command; returns the outputs of the eval_image_classifier runs."""
    evals = []
    for command, flags in recipe:
        args = [f.format(**paths) for f in flags]
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", f"slimcls.{command}", *args],
            capture_output=True, text=True, timeout=1800, env=ENV, cwd=REPO,
        )  # fmt: skip
        took = time.monotonic() - start
        print(f"{command}: {took:.0f} s")
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"{command} {' '.join(args)}\n{out[-4000:]}"
        if command == "eval_image_classifier":
            evals.append(out)
    return evals


def _flag(flags, name):
    """The value of ``name`` in a transcribed command line."""
    (value,) = [f.split("=", 1)[1] for f in flags if f.startswith(name + "=")]
    return value


def _assert_accuracy_printed(evals, count):
    assert len(evals) == count
    for out in evals:
        assert "eval/Accuracy[" in out, out[-2000:]


def test_train_cifarnet_on_cifar10(tmp_path):
    paths = {
        "SOURCE_DIR": str(tmp_path / "cifar-10-batches-bin"),
        "DATASET_DIR": str(tmp_path / "cifar10"),
        "TRAIN_DIR": str(tmp_path / "cifarnet-model"),
    }
    _cifar10_source(paths["SOURCE_DIR"])
    _assert_accuracy_printed(_run_recipe(CIFARNET, paths), 1)


def test_train_lenet_on_mnist(tmp_path):
    paths = {
        "SOURCE_DIR": str(tmp_path / "mnist-src"),
        "DATASET_DIR": str(tmp_path / "mnist"),
        "TRAIN_DIR": str(tmp_path / "lenet-model"),
    }
    _mnist_source(paths["SOURCE_DIR"])
    _assert_accuracy_printed(_run_recipe(LENET, paths), 1)


@pytest.mark.parametrize(
    "model_name, num_classes, size, recipe",
    [
        ("inception_v3", 1001, 299, INCEPTION_V3),
        ("inception_v1", 1001, 224, INCEPTION_V1),
        ("resnet_v1_50", 1000, 224, RESNET_V1_50),
        ("inception_resnet_v2", 1001, 299, INCEPTION_RESNET_V2),
    ],
)
def test_finetune_on_flowers(tmp_path, model_name, num_classes, size, recipe):
    paths = {
        "SOURCE_DIR": str(tmp_path / "flower_photos"),
        "DATASET_DIR": str(tmp_path / "flowers"),
        "TRAIN_DIR": str(tmp_path / "flowers-models" / model_name),
        "PRETRAINED_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
    }
    _flowers_source(paths["SOURCE_DIR"])
    os.makedirs(paths["PRETRAINED_CHECKPOINT_DIR"])
    _pretrained(
        model_name,
        num_classes,
        size,
        os.path.join(paths["PRETRAINED_CHECKPOINT_DIR"], f"{model_name}.ckpt"),
    )
    _assert_accuracy_printed(_run_recipe(recipe, paths), 2)
    import tensorflow as tf

    from slimcls.model import checkpoints

    pretrained = tf.train.load_checkpoint(
        os.path.join(paths["PRETRAINED_CHECKPOINT_DIR"], f"{model_name}.ckpt")
    )
    stage1, stage2 = (
        tf.train.load_checkpoint(checkpoints.latest_checkpoint(d))
        for d in (paths["TRAIN_DIR"], os.path.join(paths["TRAIN_DIR"], "all"))
    )
    scopes = tuple(s + "/" for s in _flag(recipe[1][1], "--checkpoint_exclude_scopes").split(","))
    weights = [n for n in pretrained.get_variable_to_shape_map() if n.endswith("/weights")]
    frozen = [n for n in weights if not n.startswith(scopes)]
    logits = [n for n in weights if n.startswith(scopes)]
    assert frozen and logits
    # --checkpoint_exclude_scopes: new 5-class logits; --trainable_scopes: the rest is frozen
    # in stage 1 (moving averages of batch norm may still move, as in TF-Slim).
    shapes1 = stage1.get_variable_to_shape_map()
    for scope in scopes:  # the classifier convs: the only ones with biases (others: BN)
        biases = [n for n in shapes1 if n.startswith(scope) and n.endswith("/biases")]
        assert biases and all(shapes1[n] == [len(FLOWERS)] for n in biases), biases
    for name in frozen:
        np.testing.assert_array_equal(stage1.get_tensor(name), pretrained.get_tensor(name))
    # Stage 2 trains every layer, starting from stage 1.
    assert any(not np.array_equal(stage2.get_tensor(n), stage1.get_tensor(n)) for n in frozen)


def test_export_mobilenet(tmp_path):
    import tensorflow as tf

    folder = tmp_path / "mobilenet_v1_0.25_128"
    folder.mkdir()
    # The published tarball's labels.txt: 1001 lines, background first.
    (folder / "labels.txt").write_text("".join(f"{i}:class{i}\n" for i in range(1001)))
    _jpeg(folder / "grace_hopper.jpg", seed=7, size=(60, 50))
    ckpt = str(tmp_path / "checkpoints" / "mobilenet_v1_0.25_128.ckpt")
    os.makedirs(os.path.dirname(ckpt))
    _pretrained("mobilenet_v1_025", 1001, 128, ckpt)
    paths = {"MODEL_FOLDER": str(folder), "CHECKPOINT": ckpt}
    _run_recipe(MOBILENET, paths)
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((folder / "frozen_graph.pb").read_bytes())
    names = {n.name for n in graph_def.node}
    # The names export_mobilenet.sh's freeze and label_image steps use.
    assert {"input", "MobilenetV1/Predictions/Reshape_1"} <= names
    assert not [n for n in graph_def.node if n.op in ("VariableV2", "VarHandleOp")]
    assert os.listdir(folder / "saved_model" / "tflite")
