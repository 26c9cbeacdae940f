"""``--checkpoint_path=imagenet``: TF-Slim's published checkpoint of ``--model_name``.

:func:`resolve_checkpoint` turns ``imagenet`` into a local checkpoint path (a TF1 V1 file or
a V2 bundle prefix) from the cache, downloading and verifying it first when needed:

* Cache: ``$SLIMCLS_CACHE_DIR``, else ``$XDG_CACHE_HOME/slimcls``, else ``~/.cache/slimcls``;
  each archive's checkpoint lives in ``<cache>/checkpoints/<archive name>/`` next to
  ``slimcls_checkpoint.json`` (what was verified, and the sha256 of every file). That
  directory appears in one rename once complete and verified: it is never half-written.
* ``$SLIMCLS_CHECKPOINT_MIRROR`` (a base URL, or a local folder) replaces the archive's host
  and keeps its file name, for air-gapped sites and tests.
* Download: a progress bar on a terminal (a line every few seconds otherwise), resumed with
  an HTTP Range request after a kill or a dropped connection (a server that ignores Range is
  read from the start), one download per archive however many processes ask at once (the
  others wait on ``<cache>/checkpoints/<archive name>.download/.slimcls.lock``).
* Verification before first use: every archive member is checked (no absolute paths, ``..``,
  links out, devices) and only the checkpoint's files are extracted; the checkpoint's
  variable names and shapes must equal those of slimcls's net (built in a TF1 graph);
  later uses check the recorded sha256s.
* ``imagenet`` means the net's default record in :mod:`slimcls.nets.published` (its first);
  ``imagenet:<name>`` picks another, e.g. ``imagenet:mobilenet_v1_0.25_128`` (the names
  ``python -m slimcls checkpoints`` lists).

Failures are one-line :class:`SlimclsError` messages saying what happened and how to fix it
(download the archive by hand and pass ``--checkpoint_path=FILE``, or set the mirror); a
failed download or verification leaves nothing in the cache.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.client
import json
import os
import re
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from slimcls.core import diskspace
from slimcls.core.errors import SlimclsError
from slimcls.core.locking import LOCK_FILENAME, DirLock

if TYPE_CHECKING:  # importing slimcls.nets imports TensorFlow: only where needed
    from slimcls.nets import published

IMAGENET = "imagenet"
CACHE_ENV = "SLIMCLS_CACHE_DIR"
MIRROR_ENV = "SLIMCLS_CHECKPOINT_MIRROR"
RECORD_FILE = "slimcls_checkpoint.json"
_RECORD_KIND = "slimcls published checkpoint"
_PART_SUFFIX = ".slimcls-part"
_EXTRACT_PREFIX = "slimcls-extract-"
_BLOCK = 1 << 20
_ATTEMPTS = 3  # connections per download: a dropped one is resumed from where it stopped
_TIMEOUT_S = 60

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def is_published(checkpoint_path: str | None) -> bool:
    """Whether ``checkpoint_path`` names a published checkpoint (``imagenet[:<name>]``)."""
    return bool(checkpoint_path) and (
        checkpoint_path == IMAGENET or checkpoint_path.startswith(IMAGENET + ":")
    )


def lookup(checkpoint_path: str, model_name: str) -> published.PublishedCheckpoint:
    """The published record ``imagenet`` or ``imagenet:<name>`` means for ``model_name``.

    Raises:
      SlimclsError: the net has no published weights (the message lists the nets that
        have), or ``<name>`` is not one of the net's archives.
    """
    from slimcls.nets import published

    records = published.published_for(model_name)
    if not records:
        raise SlimclsError(
            f"--checkpoint_path={checkpoint_path}: --model_name={model_name} has no published "
            "ImageNet checkpoint; the nets with one are "
            + ", ".join(published.models_with_weights())
        )
    _, _, name = checkpoint_path.partition(":")
    if not name:
        return records[0]
    for record in records:
        if record.name == name:
            return record
    raise SlimclsError(
        f"--checkpoint_path={checkpoint_path}: {name!r} is not a published checkpoint of "
        f"{model_name}; expected one of {', '.join(IMAGENET + ':' + r.name for r in records)}"
    )


# --------------------------------------------------------------------------- cache


def cache_dir() -> str:
    """``$SLIMCLS_CACHE_DIR``, else ``$XDG_CACHE_HOME/slimcls``, else ``~/.cache/slimcls``."""
    if os.environ.get(CACHE_ENV):
        return os.path.abspath(os.path.expanduser(os.environ[CACHE_ENV]))
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return os.path.join(os.path.abspath(os.path.expanduser(xdg)), "slimcls")
    return os.path.join(os.path.expanduser("~"), ".cache", "slimcls")


def entry_dir(record: published.PublishedCheckpoint) -> str:
    """Where the record's verified checkpoint lives in the cache."""
    return os.path.join(cache_dir(), "checkpoints", record.name)


def _work_dir(record: published.PublishedCheckpoint) -> str:
    """The record's download directory: its lock, the partial archive, the extraction."""
    return entry_dir(record) + ".download"


def _read_record(directory: str) -> dict | None:
    try:
        with open(os.path.join(directory, RECORD_FILE), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("kind") == _RECORD_KIND else None


def cached_checkpoint(record: published.PublishedCheckpoint) -> str | None:
    """The cached checkpoint path of ``record`` when it was downloaded and verified, else
    None (its files' sha256s are not checked here: see :func:`resolve_checkpoint`)."""
    data = _read_record(entry_dir(record))
    return os.path.join(entry_dir(record), data["path"]) if data else None


def cache_record(checkpoint: str) -> dict | None:
    """What slimcls recorded when it verified the cached checkpoint ``checkpoint`` (a path
    :func:`resolve_checkpoint` returned), or None for any other path.

    Keys include ``model_name``, ``num_classes``, ``moving_averages`` (the checkpoint holds
    ``<var>/ExponentialMovingAverage`` shadows of every trainable variable) and ``url``.
    """
    data = _read_record(os.path.dirname(os.path.abspath(checkpoint)))
    if data and data.get("path") == os.path.basename(checkpoint):
        return data
    return None


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _check_cached(record: published.PublishedCheckpoint, directory: str, data: dict) -> str:
    """The cached checkpoint path, after checking every file's recorded sha256."""
    files = data.get("files")
    if not isinstance(files, dict) or not files or not isinstance(data.get("path"), str):
        raise SlimclsError(
            f"cached checkpoint {directory}: {RECORD_FILE} is damaged; delete {directory} "
            "to download it again"
        )
    for name, want in sorted(files.items()):
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            raise SlimclsError(
                f"cached checkpoint file {path} is missing; delete {directory} to download "
                f"{record.archive} again"
            )
        got = _sha256(path)
        if got != want:
            raise SlimclsError(
                f"cached checkpoint file {path} has sha256 {got}, not the {want} recorded "
                f"when it was verified (changed or damaged on disk); delete {directory} to "
                f"download {record.archive} again"
            )
    return os.path.join(directory, data["path"])


# --------------------------------------------------------------------------- sources


def source(record: published.PublishedCheckpoint) -> str:
    """Where the archive is read from: its URL, or the mirror's copy (URL or local path)."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return record.url
    parsed = urllib.parse.urlparse(mirror)
    if parsed.scheme == "file":
        return os.path.join(urllib.request.url2pathname(parsed.path), record.archive)
    if parsed.scheme and len(parsed.scheme) > 1:  # a URL (a single letter is a drive)
        return mirror.rstrip("/") + "/" + urllib.parse.quote(record.archive)
    return os.path.join(os.path.expanduser(mirror), record.archive)


def _is_url(where: str) -> bool:
    return "://" in where


def _how_to_fix(record: published.PublishedCheckpoint) -> str:
    by_hand = (
        f"download {record.url} by hand, extract it and pass --checkpoint_path=<the "
        f"extracted {posix_basename(record.checkpoint)}>"
    )
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if mirror:
        return (
            f"check {MIRROR_ENV}={mirror} (it must hold an intact {record.archive}), or {by_hand}"
        )
    return f"{by_hand}, or set {MIRROR_ENV} to a URL or folder holding {record.archive}"


def posix_basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


# --------------------------------------------------------------------------- download


class _Truncated(Exception):
    """The connection ended before the announced length (resumable)."""


def _open(url: str, offset: int):
    headers = {"User-Agent": "slimcls"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=_TIMEOUT_S)


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    """``bytes START-END/TOTAL`` -> (START, TOTAL or None)."""
    m = re.match(r"bytes\s+(\d+)-\d+/(\d+|\*)", value or "")
    if not m:
        return None
    return int(m.group(1)), None if m.group(2) == "*" else int(m.group(2))


def _fetch_once(url: str, part: str, progress: bool, archive: str, log: Log) -> None:
    """One connection: appends to ``part`` from its current size (Range), or rewrites it when
    the server ignores Range.

    Raises:
      _Truncated: fewer bytes came than announced (call again to resume).
      urllib.error.URLError, OSError: as urllib raises them.
    """
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    try:
        response = _open(url, offset)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # nothing left past our partial file: it is stale
            log(f"{archive}: the server refused to resume at byte {offset}; starting over")
            os.remove(part)
            response = _open(url, 0)
            offset = 0
        else:
            raise
    with response:
        total = None
        length = response.headers.get("Content-Length")
        if response.status == 206:
            found = _content_range(response.headers.get("Content-Range"))
            if found is None or found[0] != offset:  # not the range we asked for
                response.close()
                log(f"{archive}: the server answered another range; starting over")
                os.remove(part)
                return _fetch_once(url, part, progress, archive, log)
            total = found[1]
        else:
            if offset:
                log(f"{archive}: the server ignores resume requests; starting over")
            offset = 0
            total = int(length) if length and length.isdigit() else None
        remaining = (total - offset) if total is not None else None
        if remaining:  # the archive, and about as much again for the extracted checkpoint
            diskspace.check_free(part, 2 * remaining)
        if offset:
            log(f"{archive}: resuming at {offset / _BLOCK:.1f} MiB")
        bar = None
        if progress:
            from slimcls.datasets.progress import Progress  # numpy only

            size = None if remaining is None else round(remaining / _BLOCK, 1) or 0.1
            bar = Progress(size, f"downloading {archive}", unit="MiB", log_every_s=5.0)
        got = 0
        try:
            with (
                diskspace.disk_full_errors(part, remaining),
                open(part, "ab" if offset else "wb") as out,
            ):
                while True:
                    try:
                        block = response.read(_BLOCK)
                    except http.client.IncompleteRead as e:
                        out.write(e.partial)
                        got += len(e.partial)
                        raise _Truncated() from None
                    if not block:
                        break
                    out.write(block)
                    got += len(block)
                    if bar is not None:
                        bar.update(len(block) / _BLOCK)
        except (TimeoutError, ConnectionError) as e:
            raise _Truncated() from e
        finally:
            if bar is not None:
                if remaining is not None and got == remaining:
                    bar.n = bar.total  # the bar's total is rounded to 0.1 MiB
                bar.close()
        if remaining is not None and got < remaining:
            raise _Truncated()


def _download(url: str, part: str, progress: bool, record, log: Log) -> None:
    """Downloads ``url`` into ``part``, resuming a partial file, with up to ``_ATTEMPTS``
    connections.

    Raises:
      SlimclsError: offline/unreachable, an HTTP error, or still truncated.
    """
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            _fetch_once(url, part, progress, record.archive, log)
            return
        except SlimclsError:  # a full disk (a ValueError: not one of the network errors below)
            raise
        except _Truncated:
            if attempt < _ATTEMPTS:
                log(f"{record.archive}: the connection ended early; resuming")
                continue
            raise SlimclsError(
                f"the download of {url} stopped short of its length {_ATTEMPTS} times "
                f"(truncated); retry later, or {_how_to_fix(record)}"
            ) from None
        except urllib.error.HTTPError as e:
            raise SlimclsError(
                f"{url} answered HTTP {e.code} {e.reason}; {_how_to_fix(record)}"
            ) from None
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as e:
            reason = getattr(e, "reason", None) or e
            raise SlimclsError(
                f"cannot reach {url} ({reason}): offline, or the host is unreachable; "
                f"{_how_to_fix(record)}"
            ) from None


# --------------------------------------------------------------------------- extraction


def _members(archive_path: str, tar: tarfile.TarFile, target: str) -> dict:
    """Normalised name -> member, after refusing any hostile member (see
    :func:`slimcls.datasets.download.check_tar_members`)."""
    from slimcls.datasets import download

    found = {}
    for member in download.check_tar_members(archive_path, tar, target):
        name = member.name
        while name.startswith("./"):
            name = name[2:]
        found[name] = member
    return found


def _checkpoint_members(record, members: Mapping[str, tarfile.TarInfo], log: Log) -> tuple:
    """(member path of the checkpoint, {member name: file name}) for its files only."""

    def files_of(path: str) -> dict[str, str] | None:
        member = members.get(path)
        if member is not None and member.isfile():  # a V1 file
            return {path: posix_basename(path)}
        index = members.get(path + ".index")
        if index is None or not index.isfile():
            return None
        data = re.compile(re.escape(path) + r"\.data-\d{5}-of-\d{5}$")
        files = {n: posix_basename(n) for n, m in members.items() if data.match(n) and m.isfile()}
        return {path + ".index": posix_basename(path) + ".index", **files} if files else None

    files = files_of(record.checkpoint)
    if files:
        return record.checkpoint, files
    candidates = {n[: -len(".index")] for n in members if n.endswith(".index")}
    candidates |= {n for n, m in members.items() if n.endswith(".ckpt") and m.isfile()}
    usable = sorted(c for c in candidates if files_of(c))
    if len(usable) == 1:
        log(
            f"{record.archive} holds its checkpoint as {usable[0]}, not {record.checkpoint} "
            "as slimcls's table says; using it"
        )
        return usable[0], files_of(usable[0])
    raise SlimclsError(
        f"archive {record.archive} holds no checkpoint {record.checkpoint}"
        + (f" (it holds {', '.join(usable)})" if usable else " nor any other checkpoint")
        + f"; is it the right file? {_how_to_fix(record)}"
    )


def _extract(record, archive_path: str, target: str, log: Log) -> tuple[str, dict[str, str]]:
    """Extracts the checkpoint's files into ``target``; returns (its path there, sha256s)."""
    os.makedirs(target)
    try:
        _check_compression(archive_path)
        with diskspace.disk_full_errors(target), tarfile.open(archive_path, "r:*") as tar:
            members = _members(archive_path, tar, target)
            member_path, files = _checkpoint_members(record, members, log)
            digests = {}
            for name, out_name in files.items():
                source_file = tar.extractfile(members[name])
                digest = hashlib.sha256()
                with source_file, open(os.path.join(target, out_name), "wb") as out:
                    while block := source_file.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
                digests[out_name] = digest.hexdigest()
    except SlimclsError:  # hostile members, no checkpoint, a full disk
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        # zlib.error is an Exception subclass raised by gzip on a damaged stream.
        raise SlimclsError(
            f"archive {record.archive} is corrupt or not a tar archive ({_first_line(e)}); "
            f"{_how_to_fix(record)}"
        ) from None
    except Exception as e:  # noqa: BLE001  (zlib.error and friends from a damaged stream)
        if type(e).__module__ in ("zlib", "gzip", "_compression", "lzma", "bz2"):
            raise SlimclsError(
                f"archive {record.archive} is corrupt ({_first_line(e)}); {_how_to_fix(record)}"
            ) from None
        raise
    return os.path.join(target, posix_basename(member_path)), digests


def _check_compression(archive_path: str) -> None:
    """Reads a gzip-compressed archive to its end once: gzip checks its CRC and length
    there, so a damaged download is found even where tar would stop early without an error
    (tar takes a garbled header after the first member for the end of the archive)."""
    with open(archive_path, "rb") as f:
        if f.read(2) != b"\x1f\x8b":
            return
    with gzip.open(archive_path, "rb") as f:
        while f.read(_BLOCK):
            pass


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


# --------------------------------------------------------------------------- verification


@functools.lru_cache(maxsize=8)
def net_variables(model_name: str, num_classes: int, image_size: int) -> dict[str, tuple]:
    """The net's variables as a TF1 graph builds them (those slimcls's model restores):
    name -> (shape, trainable).

    Cached per process (a graph build of a big net takes seconds); do not modify the
    returned dict.
    """
    from slimcls.core.compat import tf
    from slimcls.nets import nets_factory

    network_fn = nets_factory.get_network_fn(model_name, num_classes)
    # The variables slimcls's model owns (e.g. NASNet's auxiliary head in evaluation too).
    build_kwargs = dict(nets_factory.get_spec(model_name).build_kwargs)
    with tf.Graph().as_default():
        images = tf.compat.v1.placeholder(tf.float32, [1, image_size, image_size, 3])
        network_fn(images, is_training=False, **build_kwargs)
        trainable = {v.name for v in tf.compat.v1.trainable_variables()}
        return {
            v.op.name: (v.shape.as_list(), v.name in trainable)
            for v in tf.compat.v1.global_variables()
        }


def check_matches_net(
    record: published.PublishedCheckpoint, checkpoint: str
) -> dict[str, bool | int]:
    """Checks that ``checkpoint``'s variables are ``record.model_name``'s, names and shapes.

    Keys beyond the net's variables may only be ``global_step`` and ``<var>/<slot>``
    children of a net variable (moving averages, optimizer slots); keys elsewhere outside
    the net's scope are ignored.

    Returns:
      ``{"moving_averages": bool, "variables": int}``: whether every trainable variable has
      a ``<var>/ExponentialMovingAverage`` shadow.

    Raises:
      SlimclsError: unreadable, another net's checkpoint, or other shapes.
    """
    from slimcls.model import checkpoints
    from slimcls.core.compat import tf

    try:
        reader = tf.train.load_checkpoint(checkpoint)
        shapes = {k: list(v) for k, v in reader.get_variable_to_shape_map().items()}
        for name in sorted(shapes):  # each tensor once: TensorFlow checks its checksum
            reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, IndexError, RuntimeError) as e:
        raise SlimclsError(
            f"the checkpoint in {record.archive} is corrupt or unreadable ({_first_line(e)}); "
            f"{_how_to_fix(record)}"
        ) from None
    net = net_variables(record.model_name, record.num_classes, record.image_size)
    missing = sorted(n for n in net if n not in shapes)
    other = sorted(n for n, (shape, _) in net.items() if n in shapes and shapes[n] != shape)
    scopes = {n.split("/")[0] for n in net}
    extra = sorted(
        k
        for k in shapes
        if k not in net
        and k.split("/")[0] in scopes
        and not any(k.startswith(n + "/") for n in _parents(k) if n in net)
    )
    if missing or other or extra:
        held = checkpoints.describe_model(checkpoint)
        what = f"holds {held}" if held and record.model_name not in held else "does not fit"
        parts = []
        if missing:
            parts.append(f"lacks {len(missing)} of its {len(net)} variables (e.g. {missing[0]})")
        if other:
            n = other[0]
            parts.append(f"has other shapes for {len(other)} (e.g. {n} {shapes[n]} vs {net[n][0]})")
        if extra:
            parts.append(f"has {len(extra)} variables the net lacks (e.g. {extra[0]})")
        raise SlimclsError(
            f"the checkpoint in {record.archive} {what} slimcls's {record.model_name}: "
            f"{'; '.join(parts)}; is the mirror's file another net's? {_how_to_fix(record)}"
        )
    trainable = [n for n, (_, t) in net.items() if t]
    ema = bool(trainable) and all(checkpoints.ema_name(n) in shapes for n in trainable)
    return {"moving_averages": ema, "variables": len(net)}


def _parents(key: str) -> Iterator[str]:
    parts = key.split("/")
    for i in range(len(parts) - 1, 0, -1):
        yield "/".join(parts[:i])


# --------------------------------------------------------------------------- locking


@contextlib.contextmanager
def _locked(directory: str, record, log: Log) -> Iterator[None]:
    """Holds ``directory``'s lock, waiting while another live process holds it."""
    lock = DirLock(directory, what=f"download of {record.archive}", log=log)
    lock_path = os.path.join(directory, LOCK_FILENAME)
    said, unlocked_failures = False, 0
    while True:
        try:
            lock.acquire()
            break
        except (FileNotFoundError, SlimclsError):
            holder = _lock_holder(lock_path)
            if holder is None and not os.path.exists(lock_path):
                # Released meanwhile, or the directory was removed by the process that just
                # finished: try again; a directory that cannot be written fails every time.
                unlocked_failures += 1
                if unlocked_failures >= 20:
                    raise
                time.sleep(0.05)
                continue
            if not said:
                log(
                    f"waiting for pid {holder.get('pid') if holder else '?'} on "
                    f"{holder.get('host') if holder else '?'}, which is getting "
                    f"{record.archive} (lock {lock_path})"
                )
                said = True
            time.sleep(0.2)
    try:
        yield
    finally:
        lock.release()


def _lock_holder(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- main entry


def resolve_checkpoint(checkpoint_path: str, model_name: str, *, progress: bool = True) -> str:
    """``checkpoint_path`` unchanged, or for ``imagenet[:<name>]`` the local path of
    ``model_name``'s published checkpoint (a V1 file or V2 bundle prefix), downloaded,
    extracted and verified into the cache on first use.

    Args:
      checkpoint_path: a user's checkpoint path, or ``imagenet`` / ``imagenet:<name>``.
      model_name: slimcls's ``--model_name``.
      progress: show a download progress bar on stderr.

    Raises:
      SlimclsError: a net without published weights, an unreachable host or mirror, an
        HTTP error, a truncated or corrupt download, a checkpoint of another net, or a
        cached file that no longer matches its recorded sha256.
    """
    if not is_published(checkpoint_path):
        return checkpoint_path
    record = lookup(checkpoint_path, model_name)
    log = _stderr
    final = entry_dir(record)
    data = _read_record(final)
    if data is not None:
        return _check_cached(record, final, data)
    work = _work_dir(record)
    _check_cache_dir(os.path.dirname(final))
    try:
        with _locked(work, record, log):
            data = _read_record(final)  # another process may have finished meanwhile
            if data is not None:
                return _check_cached(record, final, data)
            if os.path.exists(final):
                raise SlimclsError(
                    f"{final} exists but holds no {RECORD_FILE} (not written by slimcls, or "
                    f"damaged); move it away to let slimcls download {record.archive} there"
                )
            return _fetch_and_install(record, work, final, progress, log)
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(work)  # empty unless a partial download waits to be resumed, or
            # another process has just locked it


def _check_cache_dir(directory: str) -> None:
    """Creates ``<cache>/checkpoints``; a cache that cannot hold it is one line."""
    try:
        os.makedirs(directory, exist_ok=True)
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PermissionError(f"{directory} is not writable")
    except OSError as e:
        raise SlimclsError(
            f"cannot use the checkpoint cache {directory} ({_first_line(e)}); set {CACHE_ENV} "
            "to a directory you can write"
        ) from None


def _fetch_and_install(record, work: str, final: str, progress: bool, log: Log) -> str:
    where = source(record)
    part = os.path.join(work, record.archive + _PART_SUFFIX)
    if _is_url(where):
        log(f"downloading {record.model_name}'s ImageNet checkpoint from {where}")
        try:
            _download(where, part, progress, record, log)
        except SlimclsError:
            _remove(part)
            raise
        archive_path = part
    else:
        if not os.path.isfile(where):
            raise SlimclsError(
                f"{MIRROR_ENV} folder {os.path.dirname(where)} has no {record.archive}; "
                f"put it there (from {record.url}) or unset {MIRROR_ENV}"
            )
        log(f"reading {record.model_name}'s ImageNet checkpoint from {where}")
        archive_path = where
    target = os.path.join(work, _EXTRACT_PREFIX + uuid.uuid4().hex)
    try:
        checkpoint, digests = _extract(record, archive_path, target, log)
        found = check_matches_net(record, checkpoint)
        info = {
            "kind": _RECORD_KIND,
            "model_name": record.model_name,
            "name": record.name,
            "url": record.url,
            "source": where,
            "archive_member": record.checkpoint,
            "path": os.path.basename(checkpoint),
            "num_classes": record.num_classes,
            "image_size": record.image_size,
            "moving_averages": found["moving_averages"],
            "variables": found["variables"],
            "files": digests,
            "verified_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with open(os.path.join(target, RECORD_FILE), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=1, sort_keys=True)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.rename(target, final)  # complete and verified: appears in one step
    except BaseException as e:
        shutil.rmtree(target, ignore_errors=True)
        if not isinstance(e, (KeyboardInterrupt, SystemExit)):
            _remove(part)  # a bad archive is not worth resuming; an interrupted one is
        raise
    _remove(part)
    size = sum(os.path.getsize(os.path.join(final, n)) for n in digests)
    log(
        f"verified {record.model_name}'s checkpoint ({found['variables']} variables, "
        f"{size / _BLOCK:.1f} MiB"
        + (", with moving averages" if found["moving_averages"] else "")
        + f") into {final}"
    )
    return os.path.join(final, os.path.basename(checkpoint))


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


# --------------------------------------------------------------------------- for commands


def uses_moving_averages(checkpoint: str) -> bool:
    """Whether ``checkpoint`` is a cached published checkpoint whose verification found
    moving-average shadows of every trainable variable (restores then start from them, as
    TF-Slim's eval reads them)."""
    data = cache_record(checkpoint)
    return bool(data and data.get("moving_averages"))


def imagenet_class_names(num_classes: int) -> dict[int, str]:
    """Names of a published checkpoint's classes without a labels file.

    TF-Slim's archives hold no labels file, and the synset names cannot be made offline, so
    classes are named by their ImageNet index (0-999, sorted-synset order, as Keras's
    ``decode_predictions`` counts them); with 1001 classes, class 0 is ``background`` and
    class ``i`` is ImageNet index ``i - 1``.
    """
    shift = 1 if num_classes == 1001 else 0
    names = {i: f"imagenet class {i - shift}" for i in range(shift, num_classes)}
    if shift:
        names[0] = "background"
    return names


def published_image_size(checkpoint_path: str, model_name: str) -> int:
    """The image size the published checkpoint's accuracy was measured at: eval, classify and
    export use it unless an image size is given (ResNet V2: 299, not the net's 224)."""
    return lookup(checkpoint_path, model_name).image_size


def labels_offset_for(
    checkpoint_path: str, model_name: str, dataset_classes: int, labels_offset: int
) -> int:
    """The ``labels_offset`` evaluating or classifying a dataset with the published checkpoint
    takes: the given one when the classes match; 1 for TF-Slim's ImageNet (1001 classes,
    0 = background) with a 1000-class net (VGG, ResNet V1), as TF-Slim's README advises.

    Raises:
      SlimclsError: the dataset's classes are not the checkpoint's ImageNet classes.
    """
    record = lookup(checkpoint_path, model_name)
    if dataset_classes - labels_offset == record.num_classes:
        return labels_offset
    if labels_offset == 0 and dataset_classes == 1001 and record.num_classes == 1000:
        _stderr(
            f"{model_name}'s published checkpoint has 1000 classes, the dataset 1001 (0 = "
            "background): using --labels_offset=1"
        )
        return 1
    offset = f" minus --labels_offset={labels_offset}" if labels_offset else ""
    raise SlimclsError(
        f"--checkpoint_path={checkpoint_path}: {model_name}'s published checkpoint has "
        f"{record.num_classes} ImageNet classes, the dataset {dataset_classes}{offset}; use "
        "a checkpoint trained on this dataset (train_image_classifier "
        "--checkpoint_path=imagenet fine-tunes one), or no --dataset_dir to see ImageNet classes"
    )


def finetune_source(
    checkpoint_path: str | None,
    model_name: str,
    num_classes: int,
    exclude_scopes: tuple[str, ...] | list[str] = (),
    *,
    progress: bool = True,
) -> tuple[str | None, list[str], bool, str | None]:
    """What fine-tuning from ``checkpoint_path`` restores.

    For ``imagenet[:<name>]``: the cached checkpoint (downloaded when needed); when the
    model's ``num_classes`` differ from the checkpoint's, the classifier's head scopes are
    added to ``exclude_scopes`` (a new head is trained, so the background class and the
    label offset need no flags); the moving averages when the checkpoint holds them. Any
    other path is returned as it is.

    Returns:
      ``(checkpoint, exclude_scopes, use_moving_averages, note)``; ``note`` is the one line
      to log when head scopes were added, else None.
    """
    scopes = list(exclude_scopes)
    if not is_published(checkpoint_path):
        return checkpoint_path, scopes, False, None
    record = lookup(checkpoint_path, model_name)
    checkpoint = resolve_checkpoint(checkpoint_path, model_name, progress=progress)
    note = None
    if num_classes != record.num_classes:
        added = [s for s in record.head_scopes if s not in scopes]
        scopes += added
        if added:
            background = " (0 = background)" if record.num_classes == 1001 else ""
            note = (
                f"--checkpoint_path={checkpoint_path}: the dataset has {num_classes} classes, "
                f"{model_name}'s published checkpoint {record.num_classes}{background}; not "
                f"restoring {','.join(added)}: a new {num_classes}-class head is trained"
            )
    return checkpoint, scopes, uses_moving_averages(checkpoint), note


# --------------------------------------------------------------------------- listing


def listing(model_name: str | None = None) -> list[dict]:
    """One row per published checkpoint (of ``model_name``, else all), for the
    ``checkpoints`` command: ``model_name``, ``checkpoint_path`` (the flag value that picks
    it), ``archive``, ``image_size``, ``num_classes``, ``top1``, ``top5``, ``cached`` (the
    cached checkpoint's path, or None). Reads no checkpoint and downloads nothing."""
    from slimcls.nets import published

    rows = []
    for record in published.PUBLISHED:
        if model_name and record.model_name != model_name:
            continue
        default = published.default_for(record.model_name) is record
        rows.append(
            {
                "model_name": record.model_name,
                "checkpoint_path": IMAGENET if default else f"{IMAGENET}:{record.name}",
                "archive": record.archive,
                "url": record.url,
                "image_size": record.image_size,
                "num_classes": record.num_classes,
                "top1": record.top1,
                "top5": record.top5,
                "cached": cached_checkpoint(record),
            }
        )
    return rows
