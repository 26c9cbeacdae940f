"""The plain configuration objects of every command: one dataclass per job.

Field names are the commands' flag names (TF-Slim's), and each default, help text and
choice list is declared once, in the field's metadata (see :func:`setting`):
``slimcls.cli`` generates the absl flags from these classes, and library code takes these
objects, never flags. Importing this package is cheap (no TensorFlow), so a command can
answer ``--help`` and reject a bad flag before TensorFlow loads.

Modules: :mod:`~slimcls.config.settings` (``setting``, the choice lists, shared help
texts), :mod:`~slimcls.config.train`, :mod:`~slimcls.config.inference`,
:mod:`~slimcls.config.convert` and :mod:`~slimcls.config.make_classifier`. Everything is
imported from here: ``from slimcls.config import TrainConfig``.
"""

from __future__ import annotations

from slimcls.config.convert import CONVERTER_NAMES, ConvertConfig
from slimcls.config.inference import (
    TFLITE_MODES,
    ClassifierConfig,
    ClassifyOutputConfig,
    EvalConfig,
    ExportConfig,
    TfSlimExportConfig,
    WatchConfig,
)
from slimcls.config.make_classifier import (
    CACHE_FEATURES,
    MAKE_CLASSIFIER_MODEL,
    CheckpointsConfig,
    MakeClassifierConfig,
)
from slimcls.config.settings import (
    CACHE_IMAGES,
    DECAY_TYPES,
    MIXED_PRECISION,
    MODEL_NAMES,
    OPTIMIZERS,
    REFUSED_MODEL_NAMES,
    VIDEO_MODEL_NAMES,
    close_matches,
    setting,
    unknown_choice,
)
from slimcls.config.train import (
    LearningRateConfig,
    OptimizerConfig,
    TfSlimDeploymentConfig,
    TrainConfig,
)

__all__ = [
    "CACHE_FEATURES",
    "CACHE_IMAGES",
    "CONVERTER_NAMES",
    "DECAY_TYPES",
    "MAKE_CLASSIFIER_MODEL",
    "MIXED_PRECISION",
    "MODEL_NAMES",
    "OPTIMIZERS",
    "REFUSED_MODEL_NAMES",
    "TFLITE_MODES",
    "VIDEO_MODEL_NAMES",
    "CheckpointsConfig",
    "ClassifierConfig",
    "ClassifyOutputConfig",
    "ConvertConfig",
    "EvalConfig",
    "ExportConfig",
    "LearningRateConfig",
    "MakeClassifierConfig",
    "OptimizerConfig",
    "TfSlimDeploymentConfig",
    "TfSlimExportConfig",
    "TrainConfig",
    "WatchConfig",
    "close_matches",
    "setting",
    "unknown_choice",
]
