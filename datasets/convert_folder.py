"""Converts a folder of class sub-folders (e.g. TensorFlow's flower_photos) to TFRecords.

``source_dir/<class name>/**/<image>``: class ids come from the sorted class folder names;
images may be nested. Each class is split into ``train`` and ``validation`` by
``validation_fraction`` (stratified, deterministic for a seed). A pre-split folder, detected
automatically (``train/`` plus ``validation/``, ``val/`` or ``test/``, each holding class
sub-folders), keeps its splits as they are; classes are the union over the splits, sorted,
and a class missing from a split is a warning. Folders are walked with :mod:`file_walk`
(symlink loops, duplicate files, FIFOs/devices, byte cap, non-UTF-8 names).

Every image is fully decoded once here, so training never meets a corrupt file; JPEG and
PNG bytes that decode to 8-bit RGB or L are kept as they are, everything else (CMYK,
palette, alpha, 16-bit, GIF, BMP, WebP) is normalised to 8-bit RGB (L with ``grayscale``)
and stored as PNG. Unreadable files are skipped and listed with the reason in
``rejected.txt``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

from slimcls.config import ConvertConfig
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.datasets import file_walk
from slimcls.datasets import record_format as rf
from slimcls.datasets.converter import (
    ConversionPlan,
    Converter,
    Encoded,
    SplitPlan,
    SplitResults,
    convert,
    register,
)
from slimcls.datasets.image_codec import DEFAULT_MAX_IMAGE_PIXELS, Rejected, load_image
from slimcls.datasets.parallel import chunked

SPLITS = ("train", "validation")
_CHUNK = 32


def _convert_chunk(args: tuple[list[tuple[str, int]], bool, int, Any, Any, Any]) -> list[Encoded]:
    """Worker: ``[(path, label)]`` -> ``[(label, serialized Example or None, rejection)]``."""
    items, grayscale, rel, max_pixels, max_size, max_bytes = args
    out: list[Encoded] = []
    for path, label in items:
        shown = file_walk.display_name(path[rel:])
        try:
            data = file_walk.read_file(path, max_bytes)
            encoded, fmt, h, w = load_image(data, grayscale, max_pixels, max_size)
            out.append((label, rf.encode_record(encoded, fmt, h, w, label), ""))
        except (Rejected, file_walk.TooLarge, file_walk.NotRegular) as e:
            out.append((label, None, f"{shown}\t{e}"))
        except (OSError, tf.errors.OpError) as e:
            out.append((label, None, f"{shown}\tcannot read: {getattr(e, 'strerror', None) or e}"))
    return out


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("__MACOSX")


def _visible(name: str) -> bool:
    return not _is_hidden(name)


def _class_dirs(source_dir: str) -> list[str]:
    """Sub-folder names, sorted. Local folders are listed with ``os`` so names that are not
    UTF-8 come back with their bytes (surrogate escapes; ``tf.io.gfile`` cannot decode them)."""
    if "://" not in source_dir:
        try:
            with os.scandir(source_dir) as entries:
                return sorted(e.name for e in entries if not _is_hidden(e.name) and e.is_dir())
        except OSError as e:
            raise SlimclsError(
                f"cannot list {file_walk.display_name(source_dir)} ({e.strerror}); expected a "
                "readable folder with one sub-folder of images per class"
            ) from None
    return sorted(
        name.rstrip("/")
        for name in tf.io.gfile.listdir(source_dir)
        if not _is_hidden(name) and tf.io.gfile.isdir(rf.join(source_dir, name.rstrip("/")))
    )


def class_name(dirname: str) -> str:
    """The label of a class folder: its name, bytes that are not UTF-8 as ``\\xNN`` text
    (``cl\\xff\\xfe``), so ``labels.txt`` stays UTF-8 and the name stays readable."""
    return file_walk.display_name(dirname)


def list_classes(
    source_dir: str, skipped: list[file_walk.Skipped] | None = None
) -> tuple[list[str], dict[str, list[str]]]:
    """Returns sorted class names and each class's sorted non-hidden file paths.

    Directory symlinks are followed once per real directory (loops end), a real file
    reached by two paths is kept once, and FIFOs, devices, sockets and broken links are
    left out before anything opens them (see :mod:`file_walk`); each left-out entry is
    appended to ``skipped``. Class names that are not UTF-8 are shown escaped (``\\xNN``);
    the paths keep the real bytes.

    Raises:
      SlimclsError: ``source_dir`` is not a directory, has no class folders, or a class
        folder holds no file.
    """
    if not tf.io.gfile.isdir(source_dir):
        raise SlimclsError(
            f"source_dir {file_walk.display_name(source_dir)} is not a directory; expected a "
            "folder with one sub-folder of images per class"
        )
    classes, files = _walk_classes(source_dir, set(), {}, skipped, allow_empty=False)
    if not classes:
        raise SlimclsError(
            f"source_dir {file_walk.display_name(source_dir)} has no class sub-folders; "
            "expected one sub-folder of images per class"
        )
    return classes, files


def _walk_classes(source_dir, seen_dirs, seen_files, skipped, allow_empty):
    files: dict[str, list[str]] = {}
    if "://" not in source_dir:
        st = os.stat(source_dir)
        seen_dirs.add((st.st_dev, st.st_ino))
    for dirname in _class_dirs(source_dir):
        class_dir = rf.join(source_dir, dirname)
        found = file_walk.walk_files(
            class_dir,
            keep_dir=_visible,
            keep_file=_visible,
            seen_dirs=seen_dirs,
            seen_files=seen_files,
            skipped=skipped,
        )
        if not found and not allow_empty:
            raise SlimclsError(
                f"class folder {file_walk.display_name(class_dir)} holds no files; expected "
                "images (remove the folder or add images)"
            )
        name = class_name(dirname)
        if name in files:  # "a\xff" (bytes) and a folder literally named "a\\xff"
            raise SlimclsError(
                f"class folders {file_walk.display_name(class_dir)} and another one of "
                f"{file_walk.display_name(source_dir)} have the same class name {name!r} (one "
                "name is not UTF-8, shown with \\xNN escapes); expected distinct names: "
                "rename one"
            )
        files[name] = found
    return sorted(files), files


#: Sub-folder names of a pre-split folder -> split names (``val`` is ``validation``).
PRESPLIT_NAMES = {"train": "train", "validation": "validation", "val": "validation", "test": "test"}


def find_presplit(source_dir: str) -> dict[str, str] | None:
    """``{split: folder}`` when ``source_dir`` holds ``train/`` and ``validation/``, ``val/``
    or ``test/``, each with class sub-folders; None for a plain folder of classes."""
    if "://" in source_dir or not tf.io.gfile.isdir(source_dir):
        return None
    found: dict[str, str] = {}
    for name in _class_dirs(source_dir):
        split = PRESPLIT_NAMES.get(name.lower())
        if split and _class_dirs(rf.join(source_dir, name)):
            if split in found:
                raise SlimclsError(
                    f"source_dir {source_dir} has both {found[split]}/ and {name}/; expected "
                    "one folder per split"
                )
            found[split] = name
    if "train" in found and len(found) > 1:
        return found
    return None


def _skip_notes(skipped: list[file_walk.Skipped], undecodable: int) -> list[str]:
    """Summary lines for what the walk left out (each also listed in rejected.txt)."""
    notes = []
    dupes = [sk for sk in skipped if "counted once" in sk.reason]
    other = [sk for sk in skipped if "counted once" not in sk.reason]
    if dupes:
        notes.append(
            f"{len(dupes)} paths lead to a file already taken (links); counted once, e.g. "
            f"{dupes[0].path}"
        )
    if other:
        notes.append(
            f"skipped {len(other)} entries that are not readable regular files, e.g. "
            f"{other[0].path} ({other[0].reason})"
        )
    if undecodable:
        notes.append(f"{undecodable} file names are not UTF-8 (shown with \\xNN escapes)")
    return notes


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
        """Plans a folder of classes (fraction split) or a pre-split folder (as it is)."""
        cfg = self.config
        skipped: list[file_walk.Skipped] = []
        notes: list[str] = []
        presplit = find_presplit(source_dir)
        if presplit is None:
            classes, files = list_classes(source_dir, skipped)
            splits = split_files(files, classes, cfg.validation_fraction, cfg.random_seed)
            layout = "classes"
        else:
            classes, splits, notes = self._plan_presplit(source_dir, presplit, skipped)
            layout = "pre-split"
        rel = len(source_dir) + 1
        # per class, its train inputs and its folder (relative, shown): for finish's check
        self._train_inputs = [0] * len(classes)
        for _, label in splits.get("train", []):
            self._train_inputs[label] += 1
        top = f"{presplit['train']}/" if presplit else ""
        self._class_folders = [f"{top}{c}" for c in classes]
        undecodable = sum(
            file_walk.is_undecodable(p) for items in splits.values() for p, _ in items
        )
        notes += _skip_notes(skipped, undecodable)
        return ConversionPlan(
            class_names=classes,
            splits={
                # chunks lazily: memory does not grow with the folder
                split: SplitPlan(
                    len(items),
                    (
                        (
                            c,
                            cfg.grayscale,
                            rel,
                            cfg.max_image_pixels,
                            cfg.max_image_size,
                            cfg.max_file_bytes,
                        )
                        for c in chunked(items, _CHUNK)
                    ),
                )
                for split, items in splits.items()
            },
            channels=1 if cfg.grayscale else 3,
            source={
                "converter": self.name,
                "source_dir": file_walk.display_name(source_dir),
                "layout": layout,
                "validation_fraction": cfg.validation_fraction if presplit is None else None,
                "random_seed": cfg.random_seed,
                "grayscale": cfg.grayscale,
                "max_image_pixels": cfg.max_image_pixels,
                "max_image_size": cfg.max_image_size,
                "max_file_bytes": cfg.max_file_bytes,
                "skipped": len(skipped),
            },
            encode_chunk=_convert_chunk,
            notes=notes,
            rejected=[sk.line(rel) for sk in skipped],
        )

    def _plan_presplit(
        self, source_dir: str, folders: dict[str, str], skipped: list[file_walk.Skipped]
    ) -> tuple[list[str], dict[str, list[tuple[str, int]]], list[str]]:
        """Each split folder as it is; classes = the union of every split's, sorted."""
        seen_dirs: set = set()
        seen_files: dict = {}
        per_split: dict[str, dict[str, list[str]]] = {}
        for split in ("train", "validation", "test"):
            if split in folders:
                split_dir = rf.join(source_dir, folders[split])
                _, per_split[split] = _walk_classes(
                    split_dir, seen_dirs, seen_files, skipped, allow_empty=True
                )
        classes = sorted({c for files in per_split.values() for c in files})
        notes = [
            f"pre-split folder: splits {', '.join(f'{s} ({folders[s]}/)' for s in per_split)} "
            "taken as they are (--validation_fraction not used)"
        ]
        others = [n for n in _class_dirs(source_dir) if n not in folders.values()]
        if others:
            notes.append(f"warning: folders {others[:5]} are not splits; ignored")
        rng = random.Random(self.config.random_seed)
        splits: dict[str, list[tuple[str, int]]] = {}
        for split, files in per_split.items():
            missing = [c for c in classes if not files.get(c)]
            if missing:
                more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
                notes.append(f"warning: {split} has no image of classes {missing[:5]}{more}")
            items = [(p, i) for i, c in enumerate(classes) for p in files.get(c, [])]
            rng.shuffle(items)  # mix classes inside shards: the reader's shuffle buffer is finite
            splits[split] = items
        return classes, splits, notes

    def finish(self, plan: ConversionPlan, results: SplitResults) -> list[str]:
        plan.source["rejected"] = len(results.rejected)
        if results.counts["train"] == 0:
            raise SlimclsError(
                f"source_dir {plan.source['source_dir']} has no decodable image for train; "
                "expected JPEG, PNG, GIF, BMP or WebP files"
            )
        kept = results.per_class["train"]
        for i, n in enumerate(self._train_inputs):
            if n and not kept[i]:  # every file of it was rejected: as useless as no file
                folder = self._class_folders[i]
                example = min(
                    (r for r in results.rejected if r.startswith(folder + "/")), default="\t?"
                ).replace("\t", ": ", 1)
                raise SlimclsError(
                    f"class folder {folder} of {plan.source['source_dir']} has no decodable "
                    f"image for train: all {n} of its files were rejected (e.g. {example}); "
                    "expected at least one image per class: remove the folder or fix its "
                    "files (nothing was written)"
                )
        empty = [plan.class_names[i] for i, c in enumerate(kept) if c == 0]
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
    max_file_bytes: int | None = file_walk.DEFAULT_MAX_FILE_BYTES,
    log: Callable[[str], None] | None = None,
    progress_stream=None,
) -> dict[str, Any]:
    """Converts ``source_dir`` into ``dataset_dir``; returns the ``dataset.json`` contents.

    Args:
      source_dir: folder with one sub-folder per class, or a pre-split folder (``train/``
        and ``validation/``, ``val/`` or ``test/``, each with class sub-folders).
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
        max_file_bytes=max_file_bytes,
    )
    return convert(config, log, progress_stream)


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
    return convert(config, log, progress_stream)
