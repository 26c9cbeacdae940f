"""What a checkpoint stands for, resolved once: :func:`resolve_run` -> :class:`RunSpec`.

eval, classify and export (the commands and their library calls alike) start from a
checkpoint and whatever settings their caller gave. The rest comes from the training run
that wrote the checkpoint (its ``flags.txt``): the net, its preprocessing, image size,
grayscale, labels offset and dataset. A given setting wins, but one that contradicts the
run is an error naming both values (a dataset may differ: evaluating on another converted
dataset is normal). Without a ``flags.txt`` the net is detected from the checkpoint's
variables. A published checkpoint (``imagenet``) has no run: its table gives the image
size, the ImageNet classes and the labels offset.

Then the dataset directory is read once (``dataset_factory``), the class count fixed
(dataset, published table or the checkpoint's logits layer), and the
:class:`~slimcls.model.modeling.ModelPlan` made. Each caller passes through here once.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from typing import Any

from slimcls.core.errors import SlimclsError

log = logging.getLogger("slimcls")

#: Settings taken from the training run unless given: config field -> the training flag
#: recorded in flags.txt.
FROM_RUN = {
    "model_name": "model_name",
    "preprocessing_name": "preprocessing_name",
    "eval_image_size": "train_image_size",
    "use_grayscale": "use_grayscale",
    "labels_offset": "labels_offset",
    "dataset_dir": "dataset_dir",
}
#: Given settings that may differ from the run's: evaluating a model on another converted
#: dataset is normal; another net, preprocessing or size would give wrong answers.
MAY_DIFFER = ("dataset_dir",)


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """A checkpoint's model, its inputs and its classes, resolved and checked.

    Attributes:
      checkpoint_path: as given (a prefix, a directory, ``imagenet[:<name>]``).
      checkpoint: the resolved checkpoint prefix (None when not asked for: eval's watch
        mode resolves each new checkpoint itself).
      published: ``checkpoint_path`` names a published checkpoint.
      settings: the completed settings (each :data:`FROM_RUN` field: given, the run's,
        the published checkpoint's, or None).
      dataset: the dataset read (a split's descriptor for eval, else the directory's
        info), or None.
      labels_file: where the class names came from (None: the dataset has none).
      class_names: the net's class names, index = class id.
      plan: the :class:`~slimcls.model.modeling.ModelPlan`.
      moving_average_decay: > 0: restore the moving averages.
    """

    checkpoint_path: str
    checkpoint: str | None
    published: bool
    settings: Mapping[str, Any]
    dataset: Any
    labels_file: str | None
    class_names: list[str]
    plan: Any
    moving_average_decay: float | None = None

    @property
    def model_name(self) -> str:
        return self.plan.model_name

    @property
    def labels_offset(self) -> int:
        return self.plan.labels_offset

    @property
    def num_classes(self) -> int:
        return self.plan.num_classes

    @property
    def channels(self) -> int:
        return self.plan.channels

    @property
    def dataset_dir(self) -> str | None:
        return self.settings.get("dataset_dir")

    def moving_averages(self, prefix: str) -> bool:
        """Whether ``prefix`` is restored from its moving averages: asked for, or a published
        checkpoint's (TF-Slim evaluated those)."""
        from slimcls.model import pretrained

        return bool(self.moving_average_decay) or pretrained.uses_moving_averages(prefix)


def _parse(field: str, raw: Any) -> Any:
    """A value recorded in flags.txt as the config field's type; None when unusable."""
    if raw is None:
        return None
    try:
        if field in ("eval_image_size", "labels_offset"):
            return int(raw)
        if field == "use_grayscale":
            if isinstance(raw, bool):
                return raw
            return {"true": True, "false": False, "1": True, "0": False}.get(str(raw).lower())
    except ValueError:
        return None
    if field == "model_name":
        from slimcls.config import MODEL_NAMES

        return raw if raw in MODEL_NAMES else None  # a net this version does not know: ask
    return raw if isinstance(raw, str) else None


def complete_settings(
    checkpoint_path: str | None,
    given: Mapping[str, Any],
    flag_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Each :data:`FROM_RUN` field of ``given``: its value when not None, else the run's.

    Args:
      given: config field -> the caller's value (None: not given).
      flag_names: field -> the caller's flag name where it differs (export's
        ``image_size``), for messages.

    Raises:
      SlimclsError: a given value contradicts the run (other than :data:`MAY_DIFFER`).
    """
    from slimcls.model import pretrained, run_info

    settings = {field: given.get(field) for field in FROM_RUN}
    if not checkpoint_path or pretrained.is_published(checkpoint_path):
        return settings  # a published checkpoint has no training run
    from slimcls.core.filesystems import check_file_system

    check_file_system(checkpoint_path, "checkpoint_path")  # before flags.txt is looked for
    recorded = run_info.read_run_flags(checkpoint_path)
    for field, run_name in FROM_RUN.items():
        value = _parse(field, recorded.get(run_name))
        if value is None:
            continue
        mine = settings[field]
        if mine is None:
            settings[field] = value
        elif mine != value and field not in MAY_DIFFER:
            flag = (flag_names or {}).get(field, field)
            where = os.path.join(run_info.run_dir(checkpoint_path), run_info.FLAGS_FILE)
            raise SlimclsError(
                f"--{flag}={mine} contradicts the training run, which used "
                f"--{run_name}={value} ({where}); drop --{flag} or pass the run's value"
            )
    return settings


def model_name_of_checkpoint(checkpoint_path: str) -> str:
    """The net a checkpoint without its run's flags.txt holds, when exactly one fits.

    Raises:
      SlimclsError: none or several registered nets fit (the message says which).
    """
    from slimcls.model import checkpoints, model_detect

    prefix = checkpoints.resolve_checkpoint(checkpoint_path)
    names, scope = model_detect.nets_holding(prefix)
    if len(names) == 1:
        log.info(
            "--model_name not given and no flags.txt beside %s: it holds %s; using --model_name=%s",
            prefix,
            model_detect.describe(names, scope),
            names[0],
        )
        return names[0]
    if names:
        raise SlimclsError(
            f"--model_name is required: checkpoint {prefix} (no flags.txt beside it) holds "
            f"{model_detect.describe(names, scope)}; pass --model_name=<the one it is>"
        )
    raise SlimclsError(
        f"--model_name is required: checkpoint {prefix} (no flags.txt beside it) holds no "
        f"registered net's variables (its scopes: {model_detect.scopes_in(prefix)}); pass "
        "--model_name"
    )


def checkpoint_prefix(checkpoint_path: str, model_name: str) -> str:
    """The checkpoint prefix ``checkpoint_path`` names now: itself, a directory's newest
    good checkpoint, or a published checkpoint's cached (downloaded on first use) file."""
    from slimcls.model import checkpoints, pretrained

    return checkpoints.resolve_checkpoint(
        pretrained.resolve_checkpoint(checkpoint_path, model_name)
    )


def resolve_settings(config: Any, flag_names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """:func:`complete_settings` of a config (eval's, classify's), with the net detected
    from the checkpoint when neither the caller nor the run names it.

    Raises:
      SlimclsError: a contradiction with the run, or no net can be told.
    """
    from slimcls.model import pretrained

    path = config.checkpoint_path
    if not path:
        raise SlimclsError("--checkpoint_path is required (a checkpoint prefix or directory)")
    given = {field: getattr(config, field, None) for field in FROM_RUN}
    settings = complete_settings(path, given, flag_names)
    if settings["model_name"] is None:
        if pretrained.is_published(path):
            raise SlimclsError(
                f"--checkpoint_path={path} needs --model_name (the net whose published "
                "weights to use)"
            )
        settings["model_name"] = model_name_of_checkpoint(path)
    return settings


def resolve_run(
    config: Any,
    *,
    split_name: str | None = None,
    dataset_name: str | None = None,
    resolve_checkpoint: bool = True,
    size_flag: str = "--eval_image_size",
) -> RunSpec:
    """Resolves ``config`` (an ``EvalConfig`` or ``ClassifierConfig``) into a :class:`RunSpec`.

    Args:
      split_name: read this split of the dataset (eval); the dataset is then required.
        None: read the directory only, when there is one (classify, export).
      dataset_name: the expected dataset name (``--dataset_name``), or None.
      resolve_checkpoint: resolve (and for ``imagenet``, download) the checkpoint now.
      size_flag: the image size flag named in errors (export's is ``--image_size``).

    Raises:
      SlimclsError: a contradiction with the run, no net, no dataset for a split, a bad
        dataset, a published checkpoint whose classes do not fit, a bad plan.
    """
    from slimcls.model import modeling, pretrained

    flag_names = {"eval_image_size": size_flag.lstrip("-")}
    settings = resolve_settings(config, flag_names)
    path, model_name = config.checkpoint_path, settings["model_name"]
    published = pretrained.is_published(path)
    labels_offset = int(settings["labels_offset"] or 0)
    dataset, labels_file = _read_dataset(settings["dataset_dir"], split_name, dataset_name)
    labels_file = getattr(config, "labels_file", None) or labels_file
    checkpoint = None
    if resolve_checkpoint:
        checkpoint = checkpoint_prefix(path, model_name)
    labels = _labels(labels_file, dataset)
    dataset_classes = _dataset_classes(config, settings, dataset, checkpoint, labels_offset)
    if published and not labels:  # TF-Slim's archives hold no labels file
        labels = pretrained.imagenet_class_names(dataset_classes)
    size = settings["eval_image_size"]
    if published:
        labels_offset = pretrained.labels_offset_for(
            path, model_name, dataset_classes, labels_offset
        )
        size = size or pretrained.published_image_size(path, model_name)
    channels = getattr(config, "channels", None) or getattr(dataset, "channels", None) or 3
    plan = modeling.plan(
        model_name,
        dataset_classes,
        preprocessing_name=settings["preprocessing_name"],
        image_size=size,
        channels=int(channels),
        use_grayscale=bool(settings["use_grayscale"]),
        labels_offset=labels_offset,
        size_flag=size_flag,
    )
    settings.update(labels_offset=labels_offset, eval_image_size=plan.image_size)
    return RunSpec(
        checkpoint_path=path,
        checkpoint=checkpoint,
        published=published,
        settings=settings,
        dataset=dataset,
        labels_file=labels_file,
        class_names=modeling.class_names(labels, plan.num_classes, labels_offset),
        plan=plan,
        moving_average_decay=config.moving_average_decay,
    )


def _labels(labels_file: str | None, dataset: Any) -> Mapping[int, str]:
    """Label -> name: of ``labels_file`` when it is not the dataset's, else the dataset's."""
    from slimcls.datasets import dataset_utils

    if labels_file and labels_file != getattr(dataset, "labels_file", None):
        return dataset_utils.read_label_file(labels_file)
    return getattr(dataset, "labels_to_names", None) or {}


def _dataset_classes(config, settings, dataset, checkpoint: str | None, labels_offset: int) -> int:
    """The dataset's class count (before ``labels_offset``): a caller's override, the
    dataset's, the published checkpoint's ImageNet classes, or the checkpoint's logits."""
    from slimcls.model import modeling, pretrained

    override = getattr(config, "num_classes", None)  # a library-only override (classify)
    path, model_name = config.checkpoint_path, settings["model_name"]
    if override is not None:
        return override + labels_offset
    if dataset is not None and dataset.num_classes:
        return int(dataset.num_classes)
    if pretrained.is_published(path):  # the net as published: from the table
        return pretrained.lookup(path, model_name).num_classes + labels_offset
    if checkpoint is not None:
        return modeling.num_classes_in_checkpoint(model_name, checkpoint) + labels_offset
    raise SlimclsError("--dataset_dir is required (a directory with dataset.json)")


def _read_dataset(dataset_dir: str | None, split_name: str | None, name: str | None):
    """The dataset the run is evaluated on (a split's descriptor) or named by (the
    directory's info; a directory that is gone, e.g. a run's moved since, is None), and
    its labels file."""
    from slimcls.core.compat import tf
    from slimcls.datasets import dataset_factory

    if split_name is not None:
        if not dataset_dir:
            raise SlimclsError(
                "--dataset_dir is required (a directory with dataset.json): no training run's "
                "flags.txt beside --checkpoint_path names one"
            )
        descriptor = dataset_factory.get_dataset(name, split_name, dataset_dir)
        return descriptor, descriptor.labels_file
    if dataset_dir and tf.io.gfile.isdir(dataset_dir):
        info = dataset_factory.get_dataset_info(name, dataset_dir)
        return info, info.labels_file
    return None, None
