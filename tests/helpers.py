"""Helpers shared by the tests (no tests here): subprocess runners for the commands, tiny
datasets and checkpoints for eval/classify/export (built without the training loop), and the
toy training set-up."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from slimcls.core.compat import tf
from slimcls.model import checkpoints

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# TensorFlow's C++ logs and Python warnings off: tests read the tools' own stderr lines.
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}


def run_module(module, *args, timeout=300):
    """Runs ``python -m <module> args`` in the repository root; the CompletedProcess (text)."""
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        cwd=REPO,
    )


def stderr_lines(proc):
    """Non-empty stderr lines, without absl's pre-init C++ log noise."""
    return [
        ln
        for ln in proc.stderr.splitlines()
        if ln.strip() and not ln.startswith(("WARNING: All log messages", "I0000", "W0000"))
    ]


# --------------------------------------------------------------------------------------
# Tiny datasets and checkpoints for the eval, classify and export tests.


MODEL = "small_cnn"
SIZE = 8
CLASS_NAMES = ["zero", "one", "two", "three", "four", "five", "six"]
NUM_CLASSES = len(CLASS_NAMES)


def images_and_labels(n, seed=0, size=SIZE, channels=3, num_classes=NUM_CLASSES):
    """Random uint8 images whose mean brightness depends a little on the label."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, num_classes, size=n)
    noise = rng.randint(0, 120, size=(n, size, size, channels))
    images = (noise + labels[:, None, None, None] * (130 // num_classes)).astype(np.uint8)
    return images, labels


def make_dataset(directory, splits=None, channels=3, name="tiny", seed=0):
    """Writes a converted dataset; ``splits`` maps split name -> number of examples."""
    from slimcls.datasets import dataset_utils

    splits = splits or {"test": 23}
    arrays = {
        split: images_and_labels(n, seed=seed + i, channels=channels)
        for i, (split, n) in enumerate(splits.items())
    }
    dataset_utils.write_dataset_from_arrays(str(directory), name, arrays, CLASS_NAMES)
    return str(directory), arrays


def build_model(num_classes=NUM_CLASSES, channels=3, seed=0):
    from slimcls.model.modeling import create_model

    tf.random.set_seed(seed)
    model = create_model(MODEL, num_classes)
    model.build_variables((SIZE, SIZE, channels))
    return model


def save_model_checkpoint(model, train_dir, step, ema=None, max_to_keep=5):
    """Saves the model's variables (+ ``global_step``) and optional EMA shadows.

    ``ema`` is a function ``np.ndarray -> np.ndarray`` giving each shadow's value.
    """
    tensors = {name: v.numpy() for name, v in model.variables_by_name().items()}
    if ema is not None:
        for name, value in list(tensors.items()):
            tensors[checkpoints.ema_name(name)] = ema(value)
    tensors["global_step"] = np.int64(step)
    return checkpoints.save_checkpoint(tensors, str(train_dir), step, max_to_keep=max_to_keep)


def make_trained_run(root, step, splits, ema=None):
    """A dataset in ``root/data`` and a ``small_cnn`` checkpoint at ``step`` in ``root/train``.

    Returns:
      ``(dataset_dir, model)``.
    """
    dataset_dir, _ = make_dataset(root / "data", splits)
    model = build_model()
    save_model_checkpoint(model, root / "train", step=step, ema=ema)
    return dataset_dir, model


def classifier_config(root, dataset_dir, **kwargs):
    """The ClassifierConfig of :func:`make_trained_run`'s checkpoint."""
    from slimcls.config import ClassifierConfig

    return ClassifierConfig(
        checkpoint_path=str(root / "train"),
        model_name=MODEL,
        dataset_dir=dataset_dir,
        eval_image_size=SIZE,
        **kwargs,
    )


def preprocess_numpy(images, size=SIZE):
    """Eval preprocessing of uint8 images, applied one by one (the reference path)."""
    from slimcls.preprocessing import preprocessing_factory

    fn = preprocessing_factory.get_preprocessing("cifarnet", is_training=False)
    return np.stack([fn(tf.constant(im), size, size).numpy() for im in images])


def logits_of(model, images):
    return model(tf.constant(preprocess_numpy(images)), training=False)[0].numpy()


# --------------------------------------------------------------------------------------
# The toy training set-up shared by the training, fine-tuning, reliability and distribute
# tests: 12x12 RGB images of 4 classes whose class is set by the mean colour, and a tiny
# BatchNorm net with AuxLogits (``tiny_aux``, registered by the ``tiny_net`` fixture).

TOY_CLASSES = 4
TOY_SIZE = 12


def write_toy_dataset(path, num_train=48, num_validation=16, num_shards=2):
    """A converted dataset ``toy`` with splits ``train`` (and ``validation`` if > 0)."""
    from slimcls.datasets import dataset_utils

    rng = np.random.RandomState(0)
    total = num_train + num_validation
    labels = np.arange(total) % TOY_CLASSES
    images = rng.randint(0, 60, (total, TOY_SIZE, TOY_SIZE, 3)) + (labels * 60)[:, None, None, None]
    images = images.astype(np.uint8)
    splits = {"train": (images[:num_train], labels[:num_train])}
    if num_validation:
        splits["validation"] = (images[num_train:], labels[num_train:])
    dataset_utils.write_dataset_from_arrays(
        str(path), "toy", splits, ["a", "b", "c", "d"], num_shards=num_shards
    )
    return str(path)


def toy_train_config(dataset_dir, train_dir, **kw):
    """A TrainConfig of small_cnn on the toy dataset (20 momentum steps, seeded)."""
    from slimcls import config

    defaults = dict(
        train_dir=str(train_dir),
        dataset_dir=dataset_dir,
        dataset_name="toy",
        model_name="small_cnn",
        train_image_size=TOY_SIZE,
        batch_size=8,
        max_number_of_steps=20,
        log_every_n_steps=10,
        weight_decay=0.0,
        optimizer=config.OptimizerConfig(optimizer="momentum"),
        learning_rate=config.LearningRateConfig(learning_rate=0.01),
        random_seed=1,
        shuffle_buffer_size=64,
    )
    return config.TrainConfig(**{**defaults, **kw})


def tiny_aux_net(images, num_classes, is_training=False, scope="Tiny"):
    """A BatchNorm net with AuxLogits, registered as 'tiny_aux' by the ``tiny_net`` fixture."""
    import tf_slim as slim

    with tf.compat.v1.variable_scope(scope, "Tiny", [images]):
        with slim.arg_scope(
            [slim.conv2d],
            normalizer_fn=slim.batch_norm,
            normalizer_params={"is_training": is_training, "decay": 0.9},
        ):
            net = slim.conv2d(images, 4, [3, 3], stride=2, scope="conv1")
            flat = slim.flatten(net)
            aux = slim.fully_connected(flat, num_classes, activation_fn=None, scope="AuxLogits")
            net = slim.fully_connected(flat, 8, scope="fc2")
            logits = slim.fully_connected(net, num_classes, activation_fn=None, scope="Logits")
    return logits, {"AuxLogits": aux, "Logits": logits}


def _tiny_arg_scope(weight_decay=0.0):
    import tf_slim as slim

    with slim.arg_scope(
        [slim.conv2d, slim.fully_connected],
        weights_regularizer=slim.l2_regularizer(weight_decay) if weight_decay else None,
    ) as sc:
        return sc


def tiny_spec():
    """The registry record of ``tiny_aux``."""
    from slimcls.nets import nets_factory

    return nets_factory.NetSpec(
        fn=tiny_aux_net,
        arg_scope=_tiny_arg_scope,
        default_image_size=TOY_SIZE,
        preprocessing="cifarnet",
        background_class=False,
        min_image_size=4,
        has_aux_logits=True,
        logits_scopes=("Tiny/Logits", "Tiny/AuxLogits"),
    )
