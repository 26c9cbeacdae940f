"""``make_image_classifier``'s settings, and ``checkpoints``' (the published checkpoints
it starts from)."""

from __future__ import annotations

import dataclasses

from slimcls.config.settings import (
    MIXED_PRECISION,
    MODEL_NAMES,
    Settings,
    registered_nets,
    setting,
)
from slimcls.core.errors import SlimclsError

#: make_image_classifier's default net (see the README's "Fine-tune on your own photos"
#: for the measurement behind it).
MAKE_CLASSIFIER_MODEL = "mobilenet_v3_small_minimalistic"
CACHE_FEATURES = ("auto", "none")


@dataclasses.dataclass(frozen=True)
class MakeClassifierConfig(Settings):
    """``make_image_classifier``'s settings: TF Hub's tool's flag names where it has them."""

    image_dir: str = setting(
        help="A folder with one sub-folder of images per class (as download_and_convert_data "
        "--dataset_name=folder takes), or a dataset directory that command converted (with "
        "dataset.json), used as it is. Required."
    )
    output_dir: str = setting(
        help="Directory for everything the command writes: data/ (the converted images), "
        "head/ and fine_tune/ (training runs), eval/, saved_model/, model.tflite, "
        "labels.txt and summary.json. Must be new, empty, or this command's earlier output "
        "(then it resumes, or says it is done). Required."
    )
    model_name: str = setting(
        MAKE_CLASSIFIER_MODEL,
        "Net to fine-tune (a key of nets_factory.NETWORKS whose classifier is one layer on "
        "pooled features: the MobileNets, inception_v3, resnet_*, ...).",
        choices=MODEL_NAMES,
        more_choices=registered_nets,
    )
    checkpoint_path: str = setting(
        "imagenet",
        "Weights to start from: 'imagenet' (the published ImageNet checkpoint of "
        "--model_name, downloaded once into the cache), or a checkpoint prefix, file or "
        "directory.",
    )
    image_size: int | None = setting(
        None,
        "Height and width the net sees. None: the published checkpoint's (else the net's default).",
        lower_bound=1,
    )
    train_epochs: int = setting(
        5, "Epochs of head-only training (the new classifier on the frozen body).", lower_bound=1
    )
    batch_size: int = setting(32, "Examples per training step.", lower_bound=1)
    learning_rate: float = setting(
        0.005, "Learning rate of head-only training (SGD with --momentum).", lower_bound=0
    )
    momentum: float = setting(0.9, "Momentum of the SGD optimizer (0: plain SGD).", lower_bound=0)
    dropout_rate: float = setting(
        0.2, "Dropout on the features the new classifier sees during head-only training."
    )
    label_smoothing: float = setting(0.1, "Label smoothing of the training loss.", lower_bound=0)
    weight_decay: float = setting(
        0.00004,
        "L2 weight decay (TF-Slim's) on the classifier, and on all layers when fine-tuning.",
        lower_bound=0,
    )
    do_fine_tuning: bool = setting(
        False,
        "After head-only training, also train all layers (TF-Slim's second phase), at "
        "--fine_tuning_learning_rate for --fine_tuning_epochs, with the net's training "
        "preprocessing (random crops, flips, colour).",
    )
    fine_tuning_epochs: int | None = setting(
        None, "Epochs of fine-tuning all layers. None: --train_epochs.", lower_bound=1
    )
    fine_tuning_learning_rate: float | None = setting(
        None,
        "Learning rate of fine-tuning all layers (cosine decay to 1% of it). None: "
        "--learning_rate / 10.",
        lower_bound=0,
    )
    batch_norm_decay: float | None = setting(
        None,
        "Moving-average decay of the batch norms while fine-tuning all layers. None: fit "
        "to the run's length (about 1 - 10/steps; TF-Slim's 0.9997 would leave the "
        "ImageNet statistics in place in a short run).",
        lower_bound=0,
        upper_bound=1,
    )
    cache_features: str = setting(
        "auto",
        "Head-only training computes each image's body features once and trains the "
        "classifier on them (the body runs in evaluation mode, without augmentation). "
        "auto: when they fit in memory (at most 2 GiB and a quarter of what is free); "
        "none: run the body on every step.",
        choices=CACHE_FEATURES,
    )
    validation_fraction: float = setting(
        0.2,
        "Share of each class held out for validation when converting a class folder "
        "(as download_and_convert_data's flag). Not used for a converted dataset.",
    )
    random_seed: int = setting(0, "Seed of the split, the example order and initialisation.")
    mixed_precision: str = setting(
        "auto",
        "Compute dtype: auto (bfloat16 where it is fast, else float32), bfloat16, float16 "
        "(GPUs) or float32. Variables and checkpoints stay float32.",
        choices=MIXED_PRECISION,
    )
    saved_model_dir: str | None = setting(
        None, "Where the SavedModel goes (must not exist). None: <output_dir>/saved_model."
    )
    tflite_output_file: str | None = setting(
        None, "Where the float32 TF Lite model goes. None: <output_dir>/model.tflite."
    )
    labels_output_file: str | None = setting(
        None,
        "Where the class names go, one per line in the order of the model's outputs (TF "
        "Hub's format). None: <output_dir>/labels.txt.",
    )
    summaries_dir: str | None = setting(
        None,
        "TensorBoard logs of head-only training (train/, validation/). None: "
        "<output_dir>/head. Fine-tuning writes its own in <output_dir>/fine_tune.",
    )

    def validate(self) -> None:
        """The settings' choices and bounds, then the ranges a bound cannot say (open
        at one end).

        Raises:
          SlimclsError: --validation_fraction outside (0, 1), --dropout_rate or
            --label_smoothing outside [0, 1).
        """
        super().validate()
        if not 0.0 < self.validation_fraction < 1.0:
            raise SlimclsError(
                f"--validation_fraction={self.validation_fraction}; expected a value between 0 "
                "and 1 (the held-out share evaluated at the end, e.g. 0.2)"
            )
        if not 0.0 <= self.dropout_rate < 1.0:
            raise SlimclsError(f"--dropout_rate={self.dropout_rate}; expected a value in [0, 1)")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise SlimclsError(
                f"--label_smoothing={self.label_smoothing}; expected a value in [0, 1)"
            )


@dataclasses.dataclass(frozen=True)
class CheckpointsConfig(Settings):
    """``python -m slimcls checkpoints``: which published checkpoints to list."""

    model_name: str | None = setting(
        None,
        "List only this net's published checkpoints. None: every net's.",
        choices=MODEL_NAMES,
        more_choices=registered_nets,
    )
