"""Converts a folder of class sub-folders (e.g. TensorFlow's flower_photos) to TFRecords.

``source_dir/<class name>/**/<image>``: class ids come from the sorted class folder names;
images may be nested. Each class is split into ``train`` and ``validation`` by
``validation_fraction`` (stratified, deterministic for a seed). Every image is fully decoded
once here, so training never meets a corrupt file; JPEG and PNG bytes that decode to 8-bit
RGB or L are kept as they are, everything else (CMYK, palette, alpha, 16-bit, GIF, BMP, WebP)
is normalised to 8-bit RGB (L with ``grayscale``) and stored as PNG. Unreadable files are
skipped and listed with the reason in ``rejected.txt``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from slimcls.config import ConvertConfig
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.datasets import record_format as rf
from slimcls.datasets.converter import (
    ConversionPlan,
    Converter,
    Encoded,
    SplitPlan,
    SplitResults,
    register,
)
from slimcls.datasets.image_codec import DEFAULT_MAX_IMAGE_PIXELS, Rejected, load_image
from slimcls.datasets.parallel import chunked

SPLITS = ("train", "validation")
_CHUNK = 32


def _read(path: str) -> bytes:
    if "://" not in path:  # local: the builtin is faster than GFile per small file
        with open(path, "rb") as f:
            return f.read()
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def _convert_chunk(args: tuple[list[tuple[str, int]], bool, int, Any, Any]) -> list[Encoded]:
    """Worker: ``[(path, label)]`` -> ``[(label, serialized Example or None, rejection)]``."""
    items, grayscale, rel, max_pixels, max_size = args
    out: list[Encoded] = []
    for path, label in items:
        try:
            encoded, fmt, h, w = load_image(_read(path), grayscale, max_pixels, max_size)
            out.append((label, rf.encode_record(encoded, fmt, h, w, label), ""))
        except Rejected as e:
            out.append((label, None, f"{path[rel:]}\t{e}"))
        except (OSError, tf.errors.OpError) as e:
            out.append((label, None, f"{path[rel:]}\tcannot read: {e}"))
    return out


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("__MACOSX")


def list_classes(source_dir: str) -> tuple[list[str], dict[str, list[str]]]:
    """Returns sorted class names and each class's sorted non-hidden file paths."""
    if not tf.io.gfile.isdir(source_dir):
        raise SlimclsError(
            f"source_dir {source_dir} is not a directory; expected a folder with one "
            "sub-folder of images per class"
        )
    classes = sorted(
        name.rstrip("/")
        for name in tf.io.gfile.listdir(source_dir)
        if not _is_hidden(name) and tf.io.gfile.isdir(rf.join(source_dir, name.rstrip("/")))
    )
    if not classes:
        raise SlimclsError(
            f"source_dir {source_dir} has no class sub-folders; expected one sub-folder of "
            "images per class"
        )
    files: dict[str, list[str]] = {}
    for cname in classes:
        class_dir = rf.join(source_dir, cname)
        found = []
        for dirpath, subdirs, names in tf.io.gfile.walk(class_dir):
            subdirs[:] = [d for d in subdirs if not _is_hidden(d.rstrip("/"))]
            found += [rf.join(dirpath, n) for n in names if not _is_hidden(n)]
        if not found:
            raise SlimclsError(
                f"class folder {class_dir} holds no files; expected images (remove the folder "
                "or add images)"
            )
        files[cname] = sorted(found)
    return classes, files


def split_files(
    files: dict[str, list[str]], classes: list[str], validation_fraction: float, seed: int
) -> dict[str, list[tuple[str, int]]]:
    """Stratified split: ``round(fraction * n)`` of each class (at least 1 when it has 2+)."""
    if not 0.0 <= validation_fraction < 1.0:
        raise SlimclsError(
            f"validation_fraction {validation_fraction} is invalid; expected 0 <= f < 1"
        )
    rng = random.Random(seed)
    train: list[tuple[str, int]] = []
    val: list[tuple[str, int]] = []
    for label, cname in enumerate(classes):
        paths = list(files[cname])
        rng.shuffle(paths)
        n_val = round(validation_fraction * len(paths))
        if validation_fraction > 0 and len(paths) >= 2:
            n_val = min(max(n_val, 1), len(paths) - 1)
        val += [(p, label) for p in paths[:n_val]]
        train += [(p, label) for p in paths[n_val:]]
    # Mix classes inside shards: the reader's shuffle buffer is finite.
    rng.shuffle(train)
    rng.shuffle(val)
    splits = {"train": train}
    if validation_fraction > 0:
        splits["validation"] = val
    return splits


@register("folder")
class FolderConverter(Converter):
    """A folder of class sub-folders -> ``train`` / ``validation``."""

    source_required = (
        "--source_dir is required for --dataset_name=folder; expected a folder with one "
        "sub-folder of images per class"
    )

    def source_dir(self) -> str:
        source_dir = self.config.source_dir or ""
        return source_dir.rstrip("/\\") or source_dir

    def output_name(self) -> str:
        return rf.validate_name(
            self.config.output_name or rf.basename(self.source_dir()),
            "dataset name (--output_name, default: the source folder's name)",
        )

    def plan(self, workdir: str) -> ConversionPlan:
        return self.plan_folder(self.source_dir())

    def plan_folder(self, source_dir: str) -> ConversionPlan:
        cfg = self.config
        classes, files = list_classes(source_dir)
        splits = split_files(files, classes, cfg.validation_fraction, cfg.random_seed)
        rel = len(source_dir) + 1
        return ConversionPlan(
            class_names=classes,
            splits={
                # chunks lazily: memory does not grow with the folder
                split: SplitPlan(
                    len(items),
                    (
                        (c, cfg.grayscale, rel, cfg.max_image_pixels, cfg.max_image_size)
                        for c in chunked(items, _CHUNK)
                    ),
                )
                for split, items in splits.items()
            },
            channels=1 if cfg.grayscale else 3,
            source={
                "converter": self.name,
                "source_dir": source_dir,
                "validation_fraction": cfg.validation_fraction,
                "random_seed": cfg.random_seed,
                "grayscale": cfg.grayscale,
                "max_image_pixels": cfg.max_image_pixels,
                "max_image_size": cfg.max_image_size,
            },
            encode_chunk=_convert_chunk,
        )

    def finish(self, plan: ConversionPlan, results: SplitResults) -> list[str]:
        plan.source["rejected"] = len(results.rejected)
        if results.counts["train"] == 0:
            raise SlimclsError(
                f"source_dir {plan.source['source_dir']} has no decodable image for train; "
                "expected JPEG, PNG, GIF, BMP or WebP files"
            )
        empty = [plan.class_names[i] for i, c in enumerate(results.per_class["train"]) if c == 0]
        return [f"warning: no train image for classes {empty}"] if empty else []


@register("flowers")
class FlowersConverter(FolderConverter):
    """TF-Slim's flowers: the folder converter on TensorFlow's ``flower_photos``.

    Without ``source_dir`` the archive is downloaded into ``dataset_dir`` (progress,
    checksum, not again when present) and extracted safely into the work directory.
    """

    source_required = None

    def output_name(self) -> str:
        return rf.validate_name(self.config.output_name or "flowers")

    def plan(self, workdir: str) -> ConversionPlan:
        if self.config.source_dir:
            return self.plan_folder(self.source_dir())
        from slimcls.datasets import download

        archive = download.download(
            download.FLOWERS,
            self.config.dataset_dir,
            url=self.config.download_url,
            log=self.log,
            progress_stream=self.progress_stream,
        )
        local = archive
        if "://" in archive:  # tarfile needs a local file
            local = rf.join(workdir, download.FLOWERS.filename)
            tf.io.gfile.copy(archive, local, overwrite=True)
        download.safe_extract(local, rf.join(workdir, "extracted"))
        root = rf.join(workdir, "extracted", "flower_photos")
        if not tf.io.gfile.isdir(root):
            root = rf.join(workdir, "extracted")
        return self.plan_folder(root)


def convert_folder(
    source_dir: str,
    dataset_dir: str,
    *,
    name: str | None = None,
    validation_fraction: float = 0.1,
    random_seed: int = 0,
    num_shards: int | None = None,
    grayscale: bool = False,
    overwrite: bool = False,
    num_workers: int | None = None,
    converter: str = "folder",
    max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
    max_image_size: int | None = None,
    log: Callable[[str], None] | None = None,
    progress_stream=None,
) -> dict[str, Any]:
    """Converts ``source_dir`` into ``dataset_dir``; returns the ``dataset.json`` contents.

    Args:
      source_dir: folder with one sub-folder per class.
      dataset_dir: output directory (local or a ``tf.io.gfile`` URL).
      name: dataset name; None = the source folder's name.
      validation_fraction: share of each class in ``validation`` (0 = train only).
      random_seed: seed of the split and of the record order.
      num_shards: shards per split; None = one per 5,000 images.
      grayscale: store 1-channel images.
      overwrite: convert even when ``dataset_dir`` holds a complete dataset.
      num_workers: decode/encode processes; None = one per core, 0 = in this process.
      converter: registry name (``folder`` or ``flowers``), recorded in ``dataset.json``.
      log: where messages go (default: stderr).

    Raises:
      SlimclsError: missing source, no classes, an empty class folder, no decodable image.
    """
    config = ConvertConfig(
        dataset_name=converter,
        dataset_dir=dataset_dir,
        source_dir=source_dir,
        num_shards=num_shards,
        validation_fraction=validation_fraction,
        random_seed=random_seed,
        output_name=name,
        overwrite=overwrite,
        grayscale=grayscale,
        num_workers=num_workers,
        max_image_pixels=max_image_pixels,
        max_image_size=max_image_size,
    )
    cls = FlowersConverter if converter == "flowers" else FolderConverter
    return cls(config, log, progress_stream).run()


def convert_flowers(
    source_dir: str | None,
    dataset_dir: str,
    *,
    name: str = "flowers",
    download_url: str | None = None,
    log: Callable[[str], None] | None = None,
    progress_stream=None,
    **kwargs: Any,
) -> dict[str, Any]:
    """TF-Slim's flowers (see :class:`FlowersConverter`); ``kwargs`` as for convert_folder."""
    config = ConvertConfig(
        dataset_name="flowers",
        dataset_dir=dataset_dir,
        source_dir=source_dir,
        output_name=name,
        download_url=download_url,
        **kwargs,
    )
    return FlowersConverter(config, log, progress_stream).run()
