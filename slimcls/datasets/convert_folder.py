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

import io
import posixpath
import random
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.datasets import dataset_utils as du

ACCEPTED_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP")  # MPO: cameras' JPEG
SPLITS = ("train", "validation")
_CHUNK = 32


class _Rejected(Exception):
    pass


def _png_is_8bit_plain(data: bytes) -> bool:
    """True for an 8-bit greyscale or RGB PNG (IHDR bit depth 8, colour type 0 or 2)."""
    # signature (8) + IHDR length (4) + "IHDR" (4) + width (4) + height (4) + depth + type
    return len(data) > 25 and data[12:16] == b"IHDR" and data[24] == 8 and data[25] in (0, 2)


def _to_8bit(img, grayscale: bool):
    """Normalises any PIL image to 8-bit RGB (or L); alpha is composited over white."""
    from PIL import Image

    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(img).astype(np.int64)
        if img.mode.startswith("I;16") or arr.max(initial=0) > 255:
            arr = (np.clip(arr, 0, 65535) * 255 + 32767) // 65535  # 16 -> 8 bit, rounded
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        img = Image.fromarray(np.clip(np.asarray(img), 0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    ):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("L" if grayscale else "RGB")


def load_image(data: bytes, grayscale: bool = False) -> tuple[bytes, str, int, int]:
    """Decodes ``data`` fully and returns ``(encoded, format, height, width)`` to store.

    Raises:
      _Rejected: not an image, a corrupt or truncated one, or an unsupported format.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise _Rejected("not an image (unrecognised file format)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise _Rejected(f"cannot open image: {e}") from None
    fmt = img.format
    if fmt not in ACCEPTED_FORMATS:
        raise _Rejected(f"format {fmt} is not accepted; expected one of {ACCEPTED_FORMATS}")
    try:
        img.load()  # full decode: truncated and corrupt files fail here
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise _Rejected(f"cannot decode {fmt}: {e}") from None
    width, height = img.size
    keep_modes = ("L",) if grayscale else ("RGB", "L")
    if img.mode in keep_modes and "transparency" not in img.info:
        if fmt in ("JPEG", "MPO"):  # an MPO's first picture is a plain baseline JPEG
            return data, "jpeg", height, width
        if fmt == "PNG" and _png_is_8bit_plain(data):
            return data, "png", height, width
    normalised = _to_8bit(img, grayscale)
    return du.encode_png(np.asarray(normalised)), "png", height, width


def _read(path: str) -> bytes:
    if "://" not in path:  # local: the builtin is faster than GFile per small file
        with open(path, "rb") as f:
            return f.read()
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def _convert_chunk(args: tuple[list[tuple[str, int]], bool]) -> list[tuple[bool, Any]]:
    """Worker: ``[(path, label)]`` -> ``[(True, serialized Example) | (False, reason)]``."""
    items, grayscale = args
    out = []
    for path, label in items:
        try:
            encoded, fmt, h, w = load_image(_read(path), grayscale)
            out.append((True, du.serialize_example(encoded, fmt, h, w, label)))
        except _Rejected as e:
            out.append((False, str(e)))
        except (OSError, tf.errors.OpError) as e:
            out.append((False, f"cannot read: {e}"))
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
        if not _is_hidden(name) and tf.io.gfile.isdir(du.join(source_dir, name.rstrip("/")))
    )
    if not classes:
        raise SlimclsError(
            f"source_dir {source_dir} has no class sub-folders; expected one sub-folder of "
            "images per class"
        )
    files: dict[str, list[str]] = {}
    for cname in classes:
        class_dir = du.join(source_dir, cname)
        found = []
        for dirpath, subdirs, names in tf.io.gfile.walk(class_dir):
            subdirs[:] = [d for d in subdirs if not _is_hidden(d.rstrip("/"))]
            found += [du.join(dirpath, n) for n in names if not _is_hidden(n)]
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
      converter: recorded in ``dataset.json`` ``source``.
      log: where messages go (default: stderr).

    Raises:
      SlimclsError: missing source, no classes, an empty class folder, no decodable image.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    source_dir = source_dir.rstrip("/\\") or source_dir
    name = du.validate_name(
        name or posixpath.basename(source_dir.replace("\\", "/")),
        "dataset name (--output_name, default: the source folder's name)",
    )
    plan = du.OutputPlan(dataset_dir, name, overwrite=overwrite, log=log)
    if plan.is_complete() and not overwrite:
        plan.prepare()  # says there is nothing to do
        return du.read_dataset_json(dataset_dir)
    # Validate the input before prepare() removes anything from dataset_dir.
    classes, files = list_classes(source_dir)
    splits = split_files(files, classes, validation_fraction, random_seed)
    plan.prepare()

    rel = len(source_dir) + 1
    rejected: list[str] = []
    counts: dict[str, int] = {}
    shards: dict[str, int] = {}
    per_class: dict[str, list[int]] = {}
    for split, items in splits.items():
        n_shards = du.default_num_shards(len(items), num_shards)
        class_counts = [0] * len(classes)
        progress = du.Progress(len(items), f"{name} {split}", stream=progress_stream)
        chunks = (
            (chunk, grayscale) for chunk in du.chunked(items, _CHUNK)
        )  # lazily: memory does not grow with the folder
        with du.ShardedWriter(dataset_dir, name, split, n_shards, len(items)) as writer:
            offset = 0
            for results in du.parallel_map(_convert_chunk, chunks, num_workers):
                for ok, payload in results:
                    path, label = items[offset]
                    offset += 1
                    if ok:
                        writer.write(payload)
                        class_counts[label] += 1
                    else:
                        rejected.append(f"{path[rel:]}\t{payload}")
                progress.update(len(results))
        progress.close()
        counts[split] = writer.count
        shards[split] = n_shards
        per_class[split] = class_counts

    notes = []
    if rejected:
        rejected_path = du.join(dataset_dir, du.REJECTED_FILENAME)
        du.write_text_atomic(rejected_path, "".join(line + "\n" for line in rejected))
        notes.append(f"rejected: {len(rejected)} files (listed with reasons in {rejected_path})")
    if counts["train"] == 0:
        raise SlimclsError(
            f"source_dir {source_dir} has no decodable image for train; expected JPEG, PNG, "
            "GIF, BMP or WebP files"
        )
    empty = [classes[i] for i, c in enumerate(per_class["train"]) if c == 0]
    if empty:
        notes.append(f"warning: no train image for classes {empty}")
    info = du.write_dataset_metadata(
        dataset_dir,
        name,
        classes,
        counts,
        shards,
        1 if grayscale else 3,
        {
            "converter": converter,
            "source_dir": source_dir,
            "validation_fraction": validation_fraction,
            "random_seed": random_seed,
            "grayscale": grayscale,
            "rejected": len(rejected),
        },
    )
    log(du.format_summary(name, dataset_dir, classes, per_class, notes))
    return info


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
    """TF-Slim's flowers: the folder converter on TensorFlow's ``flower_photos``.

    Without ``source_dir`` the archive is downloaded into ``dataset_dir`` (progress,
    checksum, not again when present) and extracted safely into a temporary folder.
    ``kwargs`` go to :func:`convert_folder`.
    """
    import shutil
    import tempfile

    from slimcls.datasets import download

    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    kw = dict(name=name, converter="flowers", log=log, progress_stream=progress_stream, **kwargs)
    if source_dir:
        return convert_folder(source_dir, dataset_dir, **kw)
    plan = du.OutputPlan(dataset_dir, name, overwrite=kwargs.get("overwrite", False), log=log)
    if plan.is_complete() and not kwargs.get("overwrite", False):
        plan.prepare()  # says there is nothing to do
        return du.read_dataset_json(dataset_dir)
    archive = download.download(
        download.FLOWERS, dataset_dir, url=download_url, log=log, progress_stream=progress_stream
    )
    workdir = tempfile.mkdtemp(prefix="slimcls-flowers-")
    try:
        local = archive
        if "://" in archive:  # tarfile needs a local file
            local = du.join(workdir, download.FLOWERS.filename)
            tf.io.gfile.copy(archive, local, overwrite=True)
        download.safe_extract(local, du.join(workdir, "extracted"))
        root = du.join(workdir, "extracted", "flower_photos")
        if not tf.io.gfile.isdir(root):
            root = du.join(workdir, "extracted")
        return convert_folder(root, dataset_dir, **kw)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
