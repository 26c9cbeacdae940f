"""What every config module shares: :func:`setting` (a field that describes its flag),
the choice lists, the help texts used by several commands, and :class:`Settings`, the
base class that validates a config's values once, when it is built.

Importing this module is cheap (no TensorFlow): the commands answer ``--help`` and reject
a bad flag before TensorFlow loads.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from collections.abc import Callable, Collection
from typing import Any

from slimcls.core.errors import SlimclsError


def plain_table(package: str, module: str):
    """``slimcls.<package>.<module>``, a module of plain data (the net table, the converter
    table), loaded without running ``slimcls.<package>``'s ``__init__``.

    Those ``__init__`` import TensorFlow (the tf-slim shims), and ``--help`` must answer
    before TensorFlow loads. The module is registered under its own name, so a later
    ``import`` gives this same object.
    """
    name = f"slimcls.{package}.{module}"
    if name not in sys.modules:
        folder = importlib.util.find_spec(f"slimcls.{package}").submodule_search_locations[0]
        spec = importlib.util.spec_from_file_location(name, f"{folder}/{module}.py")
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[name] = loaded
        spec.loader.exec_module(loaded)
    return sys.modules[name]


def _net_table():
    """``slimcls.nets.net_table`` (:func:`plain_table`)."""
    return plain_table("nets", "net_table")


CACHE_IMAGES = ("auto", "memory", "none")
#: ``--model_name``'s choices, from the one net table (readable without TensorFlow, so
#: ``--help`` stays fast). The video nets (i3d, s3dg) are Python-only and not offered.
MODEL_NAMES = _net_table().MODEL_NAMES
#: TF-Slim's video nets: ``--model_name`` refuses them at parse time, saying why.
VIDEO_MODEL_NAMES = tuple(sorted(n for n, row in _net_table().NETS.items() if row.video))
_VIDEO_NET = (
    "is a video net (it takes clips [batch, time, height, width, 3]), for TF-Slim's Python "
    "API only (nets_factory.get_network_fn); the commands take image nets"
)
REFUSED_MODEL_NAMES = {name: _VIDEO_NET for name in VIDEO_MODEL_NAMES}


def registered_nets() -> set[str]:
    """Image nets added to ``nets_factory.NETWORKS`` at run time (as TF-Slim's
    ``networks_map`` allowed): Python callers may pass them as ``model_name``; the flags
    offer the table's. Empty while nets_factory is not loaded (nothing registered then)."""
    factory = sys.modules.get("slimcls.nets.nets_factory")
    networks = getattr(factory, "NETWORKS", {})
    return {name for name, spec in networks.items() if not getattr(spec, "video", False)}


OPTIMIZERS = ("adadelta", "adagrad", "adam", "ftrl", "momentum", "sgd", "rmsprop")
DECAY_TYPES = ("fixed", "exponential", "polynomial", "cosine")
MIXED_PRECISION = ("auto", "bfloat16", "float16", "float32")


def close_matches(value: str, choices: tuple[str, ...] | list[str], n: int = 3) -> list[str]:
    """The choices nearest to a mistyped ``value``: those it begins (``resnet`` ->
    every ``resnet_*``), else difflib's closest ``n``, best first; may be empty."""
    import difflib

    started = [c for c in choices if value and c.startswith(value)]
    if started:
        return sorted(started)
    return difflib.get_close_matches(value, list(choices), n=n, cutoff=0.6)


def unknown_choice(name: str, value: str, choices, refused: dict[str, str] | None = None) -> str:
    """The message for ``--name=value`` outside ``choices``: a refused value's reason, or
    "did you mean" the closest choices (all choices when none is close or there are few).
    """
    choices = list(choices)
    if refused and value in refused:
        return f"{name} {value!r} {refused[value]} (--help lists the {len(choices)})"
    near = close_matches(value, choices)
    if near and len(choices) > 8:
        return (
            f"unknown {name} {value!r}; did you mean {' or '.join(near)}? "
            f"(--help lists all {len(choices)} choices)"
        )
    guess = f"did you mean {' or '.join(near)}? " if near else ""
    return f"unknown {name} {value!r}; {guess}expected one of {', '.join(choices)}"


def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",  # noqa: A002  (absl's word)
    *,
    choices: tuple[str, ...] | None = None,
    flag_default: Any = dataclasses.MISSING,
    lower_bound: int | float | None = None,
    flag: bool = True,
    default_factory: Any = dataclasses.MISSING,
    refused: dict[str, str] | None = None,
    upper_bound: int | float | None = None,
    more_choices: Callable[[], Collection[str]] | None = None,
) -> Any:
    """A dataclass field that also describes its command-line flag.

    Args:
      default: the field's default; none: a required field (its flag defaults to None and
        the command reports a missing value).
      help: the flag's help text (says what None means).
      choices: allowed string values (an enum flag: a typo fails at parsing).
      flag_default: the flag's default where TF-Slim's command had one and the library
        has none (``--train_dir=/tmp/tfmodel/``).
      lower_bound: smallest accepted number.
      upper_bound: largest accepted number.
      flag: False: a library-only knob, not a flag.
      default_factory: for nested configs (their fields become flags of the same names).
      refused: values outside ``choices`` that get their own reason when given (the
        video nets for ``--model_name``).
      more_choices: values outside ``choices`` that Python callers may also pass (not
        offered by the flag): :func:`registered_nets` for ``model_name``.
    """
    metadata = {
        "help": help,
        "choices": choices,
        "refused": refused,
        "more_choices": more_choices,
        "flag_default": flag_default,
        "lower_bound": lower_bound,
        "upper_bound": upper_bound,
        "flag": flag,
    }
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# Help texts shared by several commands (one wording, one place).
HELP_DATASET_DIR = "Directory of a converted dataset (TFRecord shards + dataset.json + labels.txt)."
HELP_DATASET_NAME = (
    "Name of the converted dataset in --dataset_dir (the 'name' in its dataset.json, e.g. "
    "cifar10, flowers, hwdb). A name that disagrees with dataset.json is an error. None: use "
    "whatever dataset --dataset_dir holds."
)
HELP_SPLIT = "Split to read (a key of dataset.json's 'splits')."
HELP_LABELS_OFFSET = (
    "Subtracted from every label: 1 trains a net without a background class on a dataset "
    "whose label 0 is background (TF-Slim's ImageNet convention)."
)
HELP_IMAGENET = (
    "TF-Slim's published ImageNet checkpoint of --model_name, downloaded once into "
    "$SLIMCLS_CACHE_DIR; list: python -m slimcls checkpoints"
)
HELP_MODEL_NAME = "Name of the net (docs/nets.md lists them with their sizes)."
HELP_RUN_ELSE = " None: the training run's (its flags.txt), else {}."
HELP_FROM_RUN = (
    " None: the one recorded in the training run's flags.txt (next to --checkpoint_path)."
)
HELP_MODEL_FROM_RUN = (
    " None: the training run's (its flags.txt, next to --checkpoint_path), else the net the "
    "checkpoint's variables show."
)
HELP_PREPROCESSING = (
    "Preprocessing style: cifarnet, inception, vgg, lenet or handwriting (TF-Slim's model "
    "names work too). None: the net's own."
)
HELP_GRAYSCALE = "Convert images to grayscale during preprocessing (the net then sees 1 channel)."
HELP_IMAGE_SIZE = (
    "Height and width in pixels of the images fed to the net. None: the net's default."
)
HELP_EMA = (
    "Decay of the exponential moving averages of the model variables, saved as "
    "<var>/ExponentialMovingAverage. None: no moving averages."
)
HELP_READERS = "Shards read in parallel (tf.data interleave cycle length). 0 or None: AUTOTUNE."
HELP_THREADS = (
    "Parallel decode + preprocess calls (tf.data map num_parallel_calls). 0 or None: AUTOTUNE."
)
HELP_TF_CONFIG = "Not used: set TF_CONFIG instead (tf.distribute)."
HELP_MAX_IMAGE_PIXELS = (
    "Addition: a record whose image has more pixels than this (read from its header, before "
    "decoding) stops the run with one line naming the shard and record, instead of "
    "decoding it into memory. None: no limit."
)


def value_problem(name: str, value: Any, field: dataclasses.Field) -> str | None:
    """What is wrong with ``value`` for the field ``name`` by its setting's choices and
    bounds, as one line naming the flag (None: nothing). None always passes: it means
    "not given" (the default, the net's or the training run's value)."""
    meta = field.metadata
    if value is None:
        return None
    choices = meta.get("choices")
    if choices and not isinstance(value, str):
        return f"--{name}={value!r}; expected one of {', '.join(choices)}"
    more = meta.get("more_choices")
    if choices and value not in choices and not (more and value in more()):
        return unknown_choice(f"--{name}", value, choices, meta.get("refused"))
    lower, upper = meta.get("lower_bound"), meta.get("upper_bound")
    if lower is None and upper is None:
        return None
    kinds = set(str(field.type).replace(" ", "").split("|")) - {"None"}
    number = (int,) if kinds == {"int"} else (int, float)
    if isinstance(value, bool) or not isinstance(value, number):
        what = "an integer" if kinds == {"int"} else "a number"
        return f"--{name}={value!r}; expected {what}"
    if lower is not None and upper is not None:
        if not lower <= value <= upper:
            return f"--{name}={value}; expected a value in [{lower}, {upper}]"
    elif lower is not None and value < lower:
        return f"--{name}={value}; expected {lower} or more"
    elif upper is not None and value > upper:
        return f"--{name}={value}; expected {upper} or less"
    return None


class Settings:
    """Base of the config dataclasses: a config checks its values when it is built.

    ``__post_init__`` (which ``dataclasses.replace`` runs too) calls :meth:`validate`, so
    the commands and Python callers get the same one-line :class:`SlimclsError` for a
    value outside a field's ``choices`` or bounds (declared once, in its :func:`setting`,
    which also gives the flag its absl bounds) or against a cross-field rule.
    """

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Checks every field by its setting; subclasses add their cross-field rules after
        ``super().validate()``. Call it again after changing a field in place.

        Raises:
          SlimclsError: one line naming the flag, its value and what was expected.
        """
        for field in dataclasses.fields(self):
            problem = value_problem(field.name, getattr(self, field.name), field)
            if problem:
                raise SlimclsError(problem)
