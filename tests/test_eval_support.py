"""Shared helpers for the eval, classify and export tests (no tests of its own).

Builds tiny converted datasets and name-based checkpoints of ``small_cnn`` directly with
``write_dataset_from_arrays`` and ``save_checkpoint``, so these tests do not depend on
the training loop.
"""

from __future__ import annotations

import numpy as np

from slimcls import checkpoints
from slimcls.core.compat import tf

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
    from slimcls.modeling import create_model

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
