"""The registry of preprocessing functions, by name (TF-Slim's ``get_preprocessing``).

Names are the preprocessing styles (``cifarnet``, ``inception``, ``vgg``,
``handwriting``) plus, as in TF-Slim, the model names that use them, so
``--preprocessing_name`` can default to ``--model_name``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.nets.net_table import NETS
from slimcls.preprocessing.common import BatchedPreprocess

#: preprocessing style -> module implementing ``preprocess_image``.
STYLES: dict[str, str] = {
    "cifarnet": "slimcls.preprocessing.cifarnet_preprocessing",
    "handwriting": "slimcls.preprocessing.handwriting_preprocessing",
    "inception": "slimcls.preprocessing.inception_preprocessing",
    "lenet": "slimcls.preprocessing.lenet_preprocessing",
    "vgg": "slimcls.preprocessing.vgg_preprocessing",
}

#: other accepted names (the registered model names, as in TF-Slim) -> style, from the net table
#: (TF-Slim's map; overfeat, absent there, gets its sibling VGG's).
ALIASES: dict[str, str] = {
    name: row.preprocessing for name, row in NETS.items() if name not in STYLES and not row.video
}


def choices() -> list[str]:
    """Every accepted preprocessing name, sorted."""
    return sorted({*STYLES, *ALIASES})


def resolve(name: str) -> str:
    """The style behind ``name`` (itself, or what a model-name alias points to).

    Raises:
      SlimclsError: for an unknown name, listing the choices.
    """
    if name in STYLES:
        return name
    if name in ALIASES:
        return ALIASES[name]
    raise SlimclsError(f"Unknown preprocessing_name {name!r}; expected one of {choices()}")


def get_preprocessing(
    name: str, is_training: bool = False, use_grayscale: bool = False
) -> Callable[..., tf.Tensor]:
    """Returns ``fn(image, output_height, output_width, **kwargs) -> float32 image``.

    ``image`` is one ``[H, W, C]`` image (uint8 or float, C = 1 or 3). The output has
    ``1 if use_grayscale else 3`` channels (1-channel inputs are tiled to RGB), except
    ``handwriting``, which always returns 1 channel. ``kwargs`` go to the style's
    ``preprocess_image``; ``seed`` (a shape-[2] integer tensor) makes the random ops
    reproducible, eagerly and inside ``Dataset.map``.

    Raises:
      SlimclsError: for an unknown name, listing the choices.
    """
    module = importlib.import_module(STYLES[resolve(name)])

    def preprocessing_fn(image, output_height, output_width, **kwargs):
        return module.preprocess_image(
            image,
            output_height,
            output_width,
            is_training=is_training,
            use_grayscale=use_grayscale,
            **kwargs,
        )

    return preprocessing_fn


def get_batched_preprocessing(
    name: str, use_grayscale: bool = False
) -> Callable[[int, int], BatchedPreprocess] | None:
    """The style's two-stage training preprocessing (``fn(output_height, output_width)``),
    or None when it has none (then the per-image function is the only one).

    Raises:
      SlimclsError: for an unknown name, listing the choices.
    """
    module = importlib.import_module(STYLES[resolve(name)])
    batched = getattr(module, "batched_preprocess_for_train", None)
    if batched is None:
        return None
    return lambda output_height, output_width: batched(
        output_height, output_width, use_grayscale=use_grayscale
    )
