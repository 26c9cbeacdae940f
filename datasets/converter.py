"""The converter registry and the one skeleton every converter runs on.

A conversion is always: plan (validate the input, find classes and split sizes) -> prepare
the output directory -> write each split's shards -> metadata (``labels.txt``, then
``dataset.json``) -> summary. :class:`Converter` implements that sequence once; a dataset
(``folder``, ``flowers``, ``cifar10``, ``mnist``, ``hwdb``, and ``adopt`` for a directory
TF-Slim converted) subclasses it, implements only
:meth:`Converter.plan` (and optionally :meth:`Converter.finish`) and registers itself by
name with :func:`register`; its module is named in :mod:`converter_table`. :func:`convert`
is the one way in, for the command and for Python callers alike.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from slimcls.config import ConvertConfig
from slimcls.core import signals
from slimcls.core.errors import SlimclsError
from slimcls.core.fileio import unwritable_errors, write_text_atomic
from slimcls.core.locking import pid_alive
from slimcls.datasets import converter_table, sharded_output
from slimcls.datasets import record_format as rf
from slimcls.datasets.parallel import parallel_map
from slimcls.datasets.progress import Progress, format_summary

#: What a worker returns per input item: ``(label, serialized record or None, note)``; a
#: None record is a rejected input and ``note`` its ``rejected.txt`` line (``path<TAB>why``).
Encoded = tuple[int, "bytes | None", str]

_REGISTRY: dict[str, type[Converter]] = {}


def register(name: str) -> Callable[[type[Converter]], type[Converter]]:
    """Class decorator: makes a :class:`Converter` subclass available as ``name`` (a row
    of :data:`converter_table.CONVERTERS` names the module, so the command offers it)."""

    def deco(cls: type[Converter]) -> type[Converter]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"converter {name!r} is registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def converter_names() -> tuple[str, ...]:
    """The converter names, in the order the command documents them (the table's)."""
    return converter_table.CONVERTER_NAMES


def get_converter(name: str) -> type[Converter]:
    """The converter class registered as ``name``, importing its module on first use.

    Raises:
      SlimclsError: ``name`` is not in the converter table (the message lists the choices).
      LookupError: the table's module for ``name`` registers no converter of that name.
    """
    if name not in _REGISTRY:
        module = converter_table.CONVERTERS.get(name)
        if module is None:
            raise SlimclsError(
                f"dataset_name {name!r} is unknown; expected one of {converter_names()}"
            )
        importlib.import_module(f"slimcls.datasets.{module}")  # registers its converters
        if name not in _REGISTRY:
            raise LookupError(
                f"converter_table says {name!r} is in slimcls.datasets.{module}, which registers "
                f"no converter of that name (expected @register({name!r}))"
            )
    return _REGISTRY[name]


@dataclasses.dataclass
class SplitPlan:
    """One split's input: its expected record count and its chunks (lazily produced)."""

    expected: int
    chunks: Iterable[Any]


@dataclasses.dataclass
class ConversionPlan:
    """What :meth:`Converter.plan` found: classes, splits and how to encode them.

    Attributes:
      class_names: names of classes ``0..num_classes-1``.
      splits: ``{split: SplitPlan}``, in writing order.
      channels: 1 or 3 (``dataset.json`` "channels").
      source: ``dataset.json`` "source" (how the dataset was made).
      encode_chunk: module-level function chunk -> list of :data:`Encoded`, run in workers.
      notes: lines added to the summary.
      rejected: inputs left out before encoding (``rejected.txt`` lines, ``path<TAB>why``).
    """

    class_names: list[str]
    splits: dict[str, SplitPlan]
    channels: int
    source: dict[str, Any]
    encode_chunk: Callable[[Any], list[Encoded]]
    notes: list[str] = dataclasses.field(default_factory=list)
    rejected: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class SplitResults:
    """What writing the splits produced."""

    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    shards: dict[str, int] = dataclasses.field(default_factory=dict)
    per_class: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    rejected: list[str] = dataclasses.field(default_factory=list)
    shard_counts: dict[str, list[int]] = dataclasses.field(default_factory=dict)


WORKDIR_PREFIX = "slimcls-convert-"


def remove_stale_workdirs(log: Callable[[str], None]) -> None:
    """Removes the temporary folders of conversions killed earlier (their PID is gone).

    Work folders are ``<tmp>/slimcls-convert-<pid>-<converter>-XXXX``; a killed run cannot
    clean its own, so each run removes those whose process no longer exists.
    """
    root = tempfile.gettempdir()
    try:
        names = os.listdir(root)
    except OSError:
        return
    for n in names:
        m = re.match(rf"^{re.escape(WORKDIR_PREFIX)}(\d+)-", n)
        if m and int(m.group(1)) != os.getpid() and not pid_alive(int(m.group(1))):
            log(f"removing {os.path.join(root, n)} (work folder of a killed conversion)")
            shutil.rmtree(os.path.join(root, n), ignore_errors=True)


def _stderr_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Converter:
    """The conversion skeleton; subclasses implement :meth:`plan` (and maybe :meth:`finish`).

    Args:
      config: the command's flags as a :class:`slimcls.config.ConvertConfig`.
      log: where messages go (default: stderr).
      progress_stream: where progress bars go (default: stderr).
    """

    name: ClassVar[str] = ""
    #: A one-line error when ``source_dir`` is required but missing; None = optional.
    source_required: ClassVar[str | None] = None

    def __init__(
        self, config: ConvertConfig, log: Callable[[str], None] | None = None, progress_stream=None
    ):
        self.config = config
        self.log = log or _stderr_log
        self.progress_stream = progress_stream

    # ------------------------------------------------------------------ per-dataset hooks

    def output_name(self) -> str:
        """The dataset name (shard prefix); default: ``--output_name`` or the converter's."""
        return rf.validate_name(self.config.output_name or self.name)

    def single_file(self) -> bool:
        """Whether each split is one ``<name>_<split>.tfrecord`` (TF-Slim's cifar10/mnist
        names, so TF-Slim's readers find them); default: numbered shards."""
        return False

    def plan(self, workdir: str) -> ConversionPlan:
        """Validates the input and plans the splits; nothing in ``dataset_dir`` changes yet.

        Args:
          workdir: a private temporary directory (archives extract here), removed afterwards.
        """
        raise NotImplementedError

    def finish(self, plan: ConversionPlan, results: SplitResults) -> list[str]:
        """Checks the written splits before the metadata; returns extra summary lines."""
        return []

    # ------------------------------------------------------------------ the skeleton

    def run(self) -> dict[str, Any]:
        """Converts; returns the ``dataset.json`` contents (the existing ones when complete).

        SIGTERM stops it like Ctrl-C: the staging folder, the work folder and the lock are
        removed and :class:`~slimcls.core.signals.Terminated` says ``dataset_dir`` is as it
        was (a swap already under way is finished first).
        """
        cfg = self.config
        if not cfg.dataset_dir:
            raise SlimclsError("--dataset_dir is required; expected the output directory")
        if self.source_required and not cfg.source_dir:
            raise SlimclsError(self.source_required)
        name = self.output_name()
        try:
            with signals.sigterm_raises(), unwritable_errors(f"--dataset_dir={cfg.dataset_dir}"):
                return self._run(name)
        except signals.Terminated:
            raise signals.Terminated(
                f"stopped by SIGTERM; {cfg.dataset_dir} holds what it held before (the partial "
                "conversion was removed)"
            ) from None

    def _run(self, name: str) -> dict[str, Any]:
        cfg = self.config
        with sharded_output.locked_dataset_dir(cfg.dataset_dir, self.log):
            output = sharded_output.OutputPlan(cfg.dataset_dir, name, cfg.overwrite, log=self.log)
            output.check()  # before the input is read or downloaded: nothing to convert into
            remove_stale_workdirs(self.log)  # also when there is nothing to do
            if output.is_complete() and not cfg.overwrite:
                output.prepare()  # says there is nothing to do
                return rf.read_dataset_json(cfg.dataset_dir)
            workdir = tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-{self.name}-")
            try:
                plan = self.plan(workdir)  # validate the input before anything is written
                output.prepare()
                try:
                    info = self._write(name, plan, output)
                except BaseException:
                    output.discard()
                    raise
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
        return info

    def _write(self, name: str, plan: ConversionPlan, output) -> dict[str, Any]:
        results = self.write_splits(name, plan, output.staging)
        results.rejected = [*plan.rejected, *results.rejected]
        notes = list(plan.notes)
        if results.rejected:
            staged = rf.join(output.staging, rf.REJECTED_FILENAME)
            write_text_atomic(staged, "".join(r + "\n" for r in results.rejected))
            path = rf.join(self.config.dataset_dir, rf.REJECTED_FILENAME)
            notes.append(f"rejected: {len(results.rejected)} files (listed with reasons in {path})")
        notes += self.finish(plan, results)
        info = output.commit(
            plan.class_names,
            results.counts,
            results.shards,
            results.shard_counts,
            plan.channels,
            plan.source,
            single_file=self.single_file(),
        )
        self.log(
            format_summary(
                name, self.config.dataset_dir, plan.class_names, results.per_class, notes
            )
        )
        return info

    def write_splits(self, name: str, plan: ConversionPlan, out_dir: str) -> SplitResults:
        """Encodes every split in worker processes and writes its shards, in input order."""
        cfg = self.config
        results = SplitResults()
        single = self.single_file()
        for split, sp in plan.splits.items():
            n_shards = (
                1 if single else sharded_output.default_num_shards(sp.expected, cfg.num_shards)
            )
            class_counts = [0] * len(plan.class_names)
            progress = Progress(sp.expected, f"{name} {split}", stream=self.progress_stream)
            with sharded_output.ShardedWriter(
                out_dir, name, split, n_shards, sp.expected, single_file=single
            ) as writer:
                for encoded in parallel_map(plan.encode_chunk, sp.chunks, cfg.num_workers):
                    rejected = 0
                    for label, record, note in encoded:
                        if record is None:
                            results.rejected.append(note)
                            rejected += 1
                        else:
                            writer.write(record)
                            class_counts[label] += 1
                    progress.update(len(encoded), rejected=rejected)
            progress.close()
            results.counts[split] = writer.count
            results.shards[split] = n_shards
            results.per_class[split] = class_counts
            results.shard_counts[split] = list(writer.shard_counts)
        return results


def convert(
    config: ConvertConfig, log: Callable[[str], None] | None = None, progress_stream=None
) -> dict[str, Any]:
    """Runs the converter ``config.dataset_name``; returns the ``dataset.json`` contents.

    The one way into conversion: ``download_and_convert_data`` passes its flags' config,
    and each converter module's keyword function (``convert_folder.convert_folder``...)
    builds one and calls this. A ``~`` in ``source_dir`` is the user's home.

    Args:
      config: the command's settings.
      log: where messages go (default: stderr).
      progress_stream: where progress bars go (default: stderr).

    Raises:
      SlimclsError: an unknown converter, or the converter's one-line error.
    """
    if config.source_dir:
        config = dataclasses.replace(config, source_dir=os.path.expanduser(config.source_dir))
    return get_converter(config.dataset_name)(config, log, progress_stream).run()
