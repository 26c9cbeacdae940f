"""TF-Slim's ``datasets/mnist.py`` API: ``get_split`` and its constants.

The facts TF-Slim hard-coded here live in one record,
``dataset_factory.TF_SLIM_DATASETS["mnist"]``; see
:func:`~slimcls.datasets.dataset_factory.tf_slim_split_api`.
"""

from slimcls.datasets import dataset_factory

(
    _FILE_PATTERN,
    SPLITS_TO_SIZES,
    _NUM_CLASSES,
    _ITEMS_TO_DESCRIPTIONS,
    get_split,
) = dataset_factory.tf_slim_split_api("mnist")
