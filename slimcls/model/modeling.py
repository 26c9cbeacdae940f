"""Builds the model of a run: the one place that turns names and a dataset into a net.

Training, evaluation, classification and export all need the same facts resolved the
same way: which net, which preprocessing, at which image size, for how many channels
and classes (after ``labels_offset``), in which compute dtype, restored from which
checkpoint, raw weights or moving averages. :func:`plan` resolves and checks them once
into a :class:`ModelPlan`; :func:`build` and :func:`load` make the
:class:`~slimcls.model.slim_model.SlimModel` of a plan. A mismatch between the tools (eval
seeing other pixels than training) then cannot happen by construction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.core.logs import quiet_tensorflow_info
from slimcls.model import checkpoints
from slimcls.model.slim_model import SlimModel
from slimcls.nets import nets_factory
from slimcls.preprocessing import preprocessing_factory
from slimcls.preprocessing.common import BatchedPreprocess

Preprocess = Callable[[tf.Tensor], tf.Tensor]


@dataclasses.dataclass(frozen=True)
class ModelPlan:
    """Everything that defines a model's inputs and outputs, resolved and checked.

    Attributes:
      model_name: a key of ``nets_factory.NETWORKS``.
      num_classes: the net's outputs (the dataset's classes minus ``labels_offset``).
      image_size: height and width the net sees.
      preprocessing_name: the preprocessing style (the net's own unless overridden).
      channels: channels images are decoded to (the dataset's: 1 or 3).
      use_grayscale: preprocessing converts to one channel.
      labels_offset: class ``i`` of the net is dataset label ``i + labels_offset``.
      compute_dtype: ``float32``, ``bfloat16`` or ``float16`` (variables stay float32).
      batch_norm_decay: moving-average decay of the net's batch norms (None: the net's
        own, TF-Slim's value).
    """

    model_name: str
    num_classes: int
    image_size: int
    preprocessing_name: str
    channels: int = 3
    use_grayscale: bool = False
    labels_offset: int = 0
    compute_dtype: str = "float32"
    batch_norm_decay: float | None = None

    @property
    def spec(self) -> nets_factory.NetSpec:
        return nets_factory.get_spec(self.model_name)

    def preprocess_fn(self, is_training: bool) -> Preprocess:
        """The preprocessing of one decoded uint8 image ``[H, W, channels]``."""
        fn = preprocessing_factory.get_preprocessing(
            self.preprocessing_name, is_training=is_training, use_grayscale=self.use_grayscale
        )
        size = self.image_size
        return lambda image: fn(image, size, size)

    def train_input_fn(self) -> Preprocess | BatchedPreprocess:
        """The training preprocessing for ``input_pipeline.make_dataset``: the style's
        two-stage (per image, then per batch) variant where it has one, else per image."""
        batched = preprocessing_factory.get_batched_preprocessing(
            self.preprocessing_name, use_grayscale=self.use_grayscale
        )
        if batched is None:
            return self.preprocess_fn(is_training=True)
        return batched(self.image_size, self.image_size)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The ``(H, W, C)`` the net sees (eval preprocessing of a blank image)."""
        blank = tf.zeros((self.image_size, self.image_size, self.channels), tf.uint8)
        return tuple(int(d) for d in self.preprocess_fn(False)(blank).shape)


def plan(
    model_name: str,
    num_classes: int,
    *,
    preprocessing_name: str | None = None,
    image_size: int | None = None,
    channels: int = 3,
    use_grayscale: bool = False,
    labels_offset: int = 0,
    compute_dtype: str | None = None,
    size_flag: str = "--train_image_size",
    batch_norm_decay: float | None = None,
) -> ModelPlan:
    """Resolves defaults (the net's preprocessing and size) and checks what depends on
    the net and the dataset. The values a flag bounds by itself (``labels_offset`` >= 0,
    ``batch_norm_decay`` in [0, 1]) are checked once, by the config that carries them
    (:mod:`slimcls.config`).

    Args:
      num_classes: the dataset's classes *before* ``labels_offset`` is taken off.
      size_flag: the flag named in an image-size error (train and eval call it
        differently).

    Raises:
      SlimclsError: unknown net or preprocessing, a video net, an image size below the
        net's minimum, no classes left after ``labels_offset``, or channels other than 1
        or 3.
    """
    spec = nets_factory.image_spec(model_name)
    size = int(image_size or spec.default_image_size)
    nets_factory.check_image_size(model_name, size, flag=size_flag)
    classes = int(num_classes) - labels_offset
    if classes < 1:
        raise SlimclsError(
            f"--labels_offset={labels_offset} leaves no classes of the dataset's {num_classes}"
        )
    if channels not in (1, 3):
        raise SlimclsError(f"images with {channels} channels; expected 1 or 3")
    name = preprocessing_name or spec.preprocessing
    preprocessing_factory.resolve(name)  # fails now, with the choices, not at first use
    return ModelPlan(
        model_name=model_name,
        num_classes=classes,
        image_size=size,
        preprocessing_name=name,
        channels=int(channels),
        use_grayscale=use_grayscale,
        labels_offset=labels_offset,
        compute_dtype=compute_dtype or "float32",
        batch_norm_decay=batch_norm_decay,
    )


def create_model(
    model_name: str,
    num_classes: int,
    weight_decay: float = 0.0,
    compute_dtype: str = "float32",
    batch_norm_decay: float | None = None,
    **net_kwargs: Any,
) -> SlimModel:
    """A :class:`SlimModel` of the registered net ``model_name`` (variables not built yet).

    The net's ``arg_scope(weight_decay)`` is applied on every call, so weight decay shows
    up in ``model.losses``. ``training`` is chosen per call: ``model(images, training=True)``.
    ``batch_norm_decay`` (None: the net's own) goes into that arg scope, and to the net
    function too when it takes it (``small_cnn``).

    Raises:
      SlimclsError: unknown ``model_name`` (the message lists the choices), or a video net.
    """
    spec = nets_factory.image_spec(model_name)
    if batch_norm_decay is not None and spec.batch_norm_decay_arg:
        net_kwargs.setdefault("batch_norm_decay", batch_norm_decay)
    return SlimModel(
        spec.fn,
        num_classes,
        arg_scope=nets_factory.arg_scope_fn(model_name, weight_decay, batch_norm_decay),
        net_kwargs={**spec.build_kwargs, **net_kwargs},
        compute_dtype=compute_dtype,
        name=model_name,
    )


def fitted_batch_norm_decay(steps: int) -> float:
    """A batch-norm decay for a run of ``steps`` steps: about ``1 - 10 / steps``, within
    [0.9, 0.9997] (TF-Slim's value for long runs).

    The moving statistics keep ``decay ** steps`` of their start value; this leaves
    about e**-10 of it at the end, while averaging over the last tenth of the run.
    """
    if steps <= 0:
        return 0.9997
    return round(min(0.9997, max(0.9, 1.0 - 10.0 / steps)), 4)


def build(model_plan: ModelPlan, weight_decay: float = 0.0) -> SlimModel:
    """The plan's net with its variables created (float32), computing in its dtype.

    Call under ``strategy.scope()`` when distributing: variables are created here,
    eagerly, once, outside any replica.
    """
    with quiet_tensorflow_info():
        model = create_model(
            model_plan.model_name,
            model_plan.num_classes,
            weight_decay,
            compute_dtype=model_plan.compute_dtype,
            batch_norm_decay=model_plan.batch_norm_decay,
        )
        model.build_variables(model_plan.image_shape)
    return model


def ema_name_map(model: SlimModel, prefix: str) -> dict[str, str]:
    """Maps each model variable to its ``<var>/ExponentialMovingAverage`` shadow.

    As TF1's ``ExponentialMovingAverage.variables_to_restore``: a variable without a
    shadow is read under its own name, unless it is trainable (then the checkpoint was
    not written with moving averages of the weights, and evaluating it would silently
    evaluate the raw weights).

    Raises:
      SlimclsError: the checkpoint has no shadows for the trainable variables.
    """
    keys = set(checkpoints.read_shapes(prefix))
    trainable = {v.ref() for v in model.trainable_variables}
    name_map, missing = {}, []
    for name, var in model.variables_by_name().items():
        shadow = checkpoints.ema_name(name)
        if shadow in keys:
            name_map[name] = shadow
        elif var.ref() in trainable:
            missing.append(name)
    if missing:
        what = "no" if len(missing) == len(model.trainable_variables) else "incomplete"
        raise SlimclsError(
            f"checkpoint {prefix!r} has {what} moving averages (e.g. no "
            f"{checkpoints.ema_name(missing[0])!r}); train with --moving_average_decay or "
            "evaluate without --moving_average_decay"
        )
    return name_map


def restore(model: SlimModel, prefix: str, use_moving_averages: bool = False) -> None:
    """Restores a built model from a checkpoint, the EMA shadows when asked.

    Raises:
      SlimclsError: missing keys, other shapes, or no moving averages.
    """
    name_map = ema_name_map(model, prefix) if use_moving_averages else None
    checkpoints.restore_variables(model.variables_by_name(), prefix, name_map=name_map)


def load(model_plan: ModelPlan, prefix: str, use_moving_averages: bool = False) -> SlimModel:
    """Builds the plan's net and restores it from the checkpoint ``prefix``."""
    model = build(model_plan)
    restore(model, prefix, use_moving_averages)
    return model


def class_names(
    labels_to_names: Mapping[int, str] | None, num_classes: int, offset: int = 0
) -> list[str]:
    """Names of the net's classes ``0..num_classes-1`` (dataset label = class + offset)."""
    labels_to_names = labels_to_names or {}
    return [str(labels_to_names.get(i + offset, i + offset)) for i in range(num_classes)]


def num_classes_in_checkpoint(model_name: str, prefix: str) -> int:
    """The number of classes of the logits layer stored in a checkpoint.

    Raises:
      SlimclsError: the checkpoint has no logits layer of ``model_name``.
    """
    spec = nets_factory.image_spec(model_name)
    shapes = checkpoints.read_shapes(prefix)
    for scope in spec.logits_scopes:
        for key in sorted(k for k in shapes if k.startswith(f"{scope}/")):  # also nested
            if key.endswith(("/biases", "/weights")):  # e.g. .../Logits/Conv2d_1c_1x1/weights
                return int(shapes[key][-1])
    raise SlimclsError(
        f"cannot tell the number of classes of {model_name} from checkpoint {prefix!r}; "
        "pass --dataset_dir (a converted dataset) or --labels_file"
    )
