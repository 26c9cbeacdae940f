"""``download_and_convert_data``'s settings."""

from __future__ import annotations

import dataclasses

from slimcls.config.settings import Settings, plain_table, setting

#: Converters of ``download_and_convert_data``, from the one converter table.
CONVERTER_NAMES = plain_table("datasets", "converter_table").CONVERTER_NAMES


@dataclasses.dataclass(frozen=True)
class ConvertConfig(Settings):
    """``download_and_convert_data``'s settings (TF-Slim's names where TF-Slim had them)."""

    dataset_name: str = setting(
        help="Converter: folder (class sub-folders, or train/ + validation/ (val/) + test/ "
        "of class sub-folders), flowers, cifar10, hwdb, mnist, or adopt (writes dataset.json "
        "beside TF-Slim shards already in --dataset_dir, counting their records). Required.",
        choices=CONVERTER_NAMES,
    )
    dataset_dir: str = setting(
        help="Output directory: TFRecord shards, labels.txt and dataset.json. Required."
    )
    source_dir: str | None = setting(
        None,
        "Input: a folder of class sub-folders (folder/flowers), cifar-10-batches-{bin,py} or "
        "its .tar.gz (cifar10), a folder of .gnt files or train/ and test/ (hwdb), the four "
        "IDX files, gzipped or not (mnist). None: flowers, cifar10 and mnist download their "
        "files into --dataset_dir (checksums verified).",
    )
    num_shards: int | None = setting(
        None, "Shards per split. None: one per 5,000 images.", lower_bound=1
    )
    validation_fraction: float = setting(
        0.1,
        "folder/flowers: share of each class held out as 'validation'; hwdb from one folder: "
        "share of writers held out as 'test'.",
    )
    random_seed: int = setting(0, "Seed of the split and of the record order.")
    output_name: str | None = setting(
        None,
        "Dataset name (shard prefix, dataset.json 'name'). None: the source folder's name "
        "(folder) or --dataset_name.",
    )
    overwrite: bool = setting(
        False,
        "Convert again even when --dataset_dir holds the complete dataset (the new one "
        "replaces the old only once it is complete).",
    )
    grayscale: bool = setting(False, "folder/flowers: store 1-channel images.")
    skip_corrupt: bool = setting(
        False, "hwdb: skip corrupt records (counted) instead of stopping at the first."
    )
    num_workers: int | None = setting(
        None, "Encoding processes. None: one per core; 0: in the main process.", lower_bound=0
    )
    download_url: str | None = setting(
        None, "flowers/cifar10: a mirror of the official archive (the checksum is still checked)."
    )
    max_image_pixels: int | None = setting(
        50_000_000,
        "folder/flowers: images with more pixels than this (read from the header, before "
        "decoding) are rejected and listed in rejected.txt. None: no limit.",
        lower_bound=1,
    )
    max_file_bytes: int | None = setting(
        256 * 1024 * 1024,
        "folder/flowers: files larger than this are not read (listed in rejected.txt). None: "
        "no limit.",
        lower_bound=1,
    )
    max_image_size: int | None = setting(
        None,
        "folder/flowers: longest side above which images are downscaled at conversion "
        "(stored as PNG), so training memory stays bounded. None: keep every image's size.",
        lower_bound=1,
    )
