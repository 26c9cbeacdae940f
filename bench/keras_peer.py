"""The Keras 3 peer: ``model.fit`` of the same net on the same shards, same augmentation.

Usage: python bench/keras_peer.py --dataset_dir D --model cifarnet|inception_v3 --batch 32
           [--image_size N] [--dtype float32|bfloat16] [--steps 20] [--warmup 5] [--synthetic]

Prints one ``BENCH_RESULT {json}`` line (``step_seconds``, ``examples_per_s``), like
``slimcls_trial.py train``. Runs in its own process with ``TF_USE_LEGACY_KERAS=0`` (the
parent sets it), because Keras 3 and the legacy Keras 2 that tf-slim needs cannot both be
``tf.keras`` in one process.

* Input: what a Keras user writes: ``tf.data`` reading the same shards, the net's training
  augmentation per image in a parallel ``map`` (``slimcls.reader.input_pipeline.make_dataset``
  with the per-image preprocessing function and TrainConfig's default parallelism), batch,
  prefetch. slimcls's own training runs CifarNet's augmentation on whole batches instead
  (same random distributions); InceptionV3's is per image on both sides.
* CifarNet: TF-Slim's layer sizes, initialisers (truncated normal 0.05 convs, 0.04 fc, 1/192
  logits; fc biases 0.1), L2 on the fc layers (Keras L2(wd/2) equals TF1's
  ``l2_regularizer(wd)``), dropout 0.5, LRN through ``tf.nn.local_response_normalization``
  kept float32 (TensorFlow has no CPU bfloat16 LRN kernel).
* InceptionV3: ``keras.applications.InceptionV3(weights=None)`` at the given size (it has
  no auxiliary head; slimcls' InceptionV3 trains one, about 1% of the FLOPs at 150x150).
* bfloat16: the ``mixed_bfloat16`` policy (float32 variables, bfloat16 compute).
* Optimiser: SGD (TF-Slim's ``--optimizer=sgd``), fixed learning rate 0.01; XLA off (as
  slimcls' default). Step time: between consecutive ``on_train_batch_end`` calls, after the
  loss is fetched (slimcls' loop also waits for its loss every step).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

# Keras 3 as tf.keras; slimcls' package import only setdefaults this, so "0" stays.
os.environ["TF_USE_LEGACY_KERAS"] = "0"

from common import report_child, steady_examples_per_s  # noqa: E402

NUM_CLASSES = 10
WEIGHT_DECAY = 0.00004  # TrainConfig's default, as the slimcls side uses


def cifarnet(keras, tf, num_classes: int, weight_decay: float = WEIGHT_DECAY):
    """TF-Slim's CifarNet as a Keras 3 functional model (same sizes and initialisers)."""
    layers = keras.layers
    normal = keras.initializers.TruncatedNormal
    reg = keras.regularizers.L2(weight_decay / 2)

    class LRN(layers.Layer):
        """The CIFAR-10 tutorial's LRN, always in float32."""

        def __init__(self, **kwargs):
            super().__init__(dtype="float32", **kwargs)

        def call(self, x):
            return tf.nn.local_response_normalization(
                tf.cast(x, tf.float32), depth_radius=4, bias=1.0, alpha=0.001 / 9.0, beta=0.75
            )

    def conv(name):
        return layers.Conv2D(
            64, 5, padding="same", activation="relu", kernel_initializer=normal(stddev=5e-2),
            name=name,
        )  # fmt: skip

    def fc(units, name):
        return layers.Dense(
            units, activation="relu", kernel_initializer=normal(stddev=0.04),
            bias_initializer=keras.initializers.Constant(0.1), kernel_regularizer=reg, name=name,
        )  # fmt: skip

    inputs = keras.Input((32, 32, 3))
    x = conv("conv1")(inputs)
    x = layers.MaxPooling2D(2, 2, name="pool1")(x)
    x = LRN(name="norm1")(x)
    x = conv("conv2")(x)
    x = LRN(name="norm2")(x)
    x = layers.MaxPooling2D(2, 2, name="pool2")(x)
    x = layers.Flatten()(x)
    x = fc(384, "fc3")(x)
    x = layers.Dropout(0.5)(x)
    x = fc(192, "fc4")(x)
    logits = layers.Dense(num_classes, kernel_initializer=normal(stddev=1 / 192.0), name="logits")(
        x
    )
    return keras.Model(inputs, logits, name="CifarNet")


def build(keras, tf, model: str, image_size: int):
    if model == "cifarnet":
        return cifarnet(keras, tf, NUM_CLASSES)
    if model == "inception_v3":
        return keras.applications.InceptionV3(
            weights=None,
            input_shape=(image_size, image_size, 3),
            classes=NUM_CLASSES,
            classifier_activation=None,
        )
    raise SystemExit(f"keras_peer: no Keras model for {model!r}; expected cifarnet, inception_v3")


def dataset(args, image_size: int):
    from slimcls.config import TrainConfig
    from slimcls.datasets import dataset_factory
    from slimcls.nets import nets_factory
    from slimcls.preprocessing import preprocessing_factory
    from slimcls.reader import input_pipeline

    defaults = TrainConfig(train_dir="", dataset_dir="")
    spec = nets_factory.get_spec(args.model)
    fn = preprocessing_factory.get_preprocessing(spec.preprocessing, is_training=True)
    data = input_pipeline.make_dataset(
        dataset_factory.get_dataset(None, "train", args.dataset_dir),
        lambda image: fn(image, image_size, image_size),
        args.batch,
        is_training=True,
        shuffle_buffer_size=defaults.shuffle_buffer_size,
        num_readers=defaults.num_readers,
        num_parallel_calls=defaults.num_preprocessing_threads,
    )
    if args.synthetic:
        data = data.take(1).cache().repeat()
    return data


def run(args) -> dict:
    import keras
    import tensorflow as tf

    if not keras.__version__.startswith("3"):
        raise RuntimeError(f"keras {keras.__version__} is not Keras 3")
    defaults = {"cifarnet": 32, "inception_v3": 299}
    image_size = args.image_size or defaults.get(args.model, 224)
    if args.dtype == "bfloat16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = build(keras, tf, args.model, image_size)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,
    )

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self.last, self.loss = [], None, None

        def on_train_batch_begin(self, batch, logs=None):
            if self.last is None:
                self.last = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.loss = float(logs["loss"])  # waits for the step, as slimcls' loop does
            now = time.perf_counter()
            self.seconds.append(now - self.last)
            self.last = now

    timer = StepTimer()
    model.fit(
        dataset(args, image_size),
        epochs=1,
        steps_per_epoch=args.warmup + args.steps,
        callbacks=[timer],
        verbose=0,
    )
    return {
        "step_seconds": [round(s, 5) for s in timer.seconds],
        "examples_per_s": steady_examples_per_s(timer.seconds, args.batch, args.warmup),
        "final_loss": timer.loss,
        "keras_version": keras.__version__,
        "parameters": int(model.count_params()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset_dir", required=True)
    parser.add_argument("--model", default="cifarnet")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--image_size", type=int, default=None)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--synthetic", action="store_true")
    args = parser.parse_args()
    return report_child(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
