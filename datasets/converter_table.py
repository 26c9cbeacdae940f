"""The one table of converters: ``--dataset_name`` -> the module that registers it.

Plain data, no imports: ``slimcls.config`` reads this file by path for
``download_and_convert_data --dataset_name``'s choices before TensorFlow loads (importing
``slimcls.datasets`` would load it), and :mod:`slimcls.datasets.converter` imports a
converter's module the first time its name is asked for. Adding a converter is its module
(a :class:`~slimcls.datasets.converter.Converter` subclass decorated with
``@register("<name>")``) plus one row here; the order is the order ``--help`` lists them.
"""

#: ``--dataset_name`` -> its module under ``slimcls.datasets``.
CONVERTERS = {
    "folder": "convert_folder",  # class sub-folders, or train/ + validation/ of them
    "flowers": "convert_folder",  # TF-Slim's flowers: the folder converter on its archive
    "cifar10": "convert_cifar10",
    "hwdb": "convert_hwdb",
    "mnist": "convert_mnist",
    "adopt": "adopt",  # dataset.json beside shards TF-Slim's own converters wrote
}

#: The converter names, in the order ``--help`` lists them.
CONVERTER_NAMES = tuple(CONVERTERS)
