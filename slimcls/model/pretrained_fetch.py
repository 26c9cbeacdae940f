"""Fetching a published archive and taking its checkpoint's files out of it.

* Source: the archive's URL, or ``$SLIMCLS_CHECKPOINT_MIRROR`` (a base URL, or a local
  folder) with the archive's file name, for air-gapped sites and tests.
* Download: a progress bar on a terminal (a line every few seconds otherwise), resumed with
  an HTTP Range request after a kill or a dropped connection (a server that ignores Range is
  read from the start).
* Extraction: every archive member is checked (no absolute paths, ``..``, links out,
  devices) and only the checkpoint's files are extracted, with their sha256s.

Failures are one-line :class:`SlimclsError` messages ending in :func:`how_to_fix`. No
TensorFlow here.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import re
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from slimcls.core import diskspace
from slimcls.core.errors import SlimclsError

if TYPE_CHECKING:  # importing slimcls.nets imports TensorFlow: only where needed
    from slimcls.nets import published

MIRROR_ENV = "SLIMCLS_CHECKPOINT_MIRROR"
_BLOCK = 1 << 20
_ATTEMPTS = 3  # connections per download: a dropped one is resumed from where it stopped
_TIMEOUT_S = 60

Log = Callable[[str], None]


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


def is_url(where: str) -> bool:
    return "://" in where


def how_to_fix(record: published.PublishedCheckpoint) -> str:
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
    opened = _open_at_end_of(url, part, archive, log)
    if opened is None:  # the server answered another range: the partial file is gone
        return _fetch_once(url, part, progress, archive, log)
    response, offset, remaining = opened
    with response:
        if remaining:  # the archive, and about as much again for the extracted checkpoint
            diskspace.check_free(part, 2 * remaining)
        if offset:
            log(f"{archive}: resuming at {offset / _BLOCK:.1f} MiB")
        got = _append(response, part, offset, remaining, progress, archive)
    if remaining is not None and got < remaining:
        raise _Truncated()


def _open_at_end_of(url: str, part: str, archive: str, log: Log):
    """Opens ``url`` from the end of the partial file ``part`` (a Range request), starting
    over where the server cannot resume: ``(response, offset, bytes remaining or None)``,
    or None after removing a partial file the server answered another range for."""
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    try:
        response = _open(url, offset)
    except urllib.error.HTTPError as e:
        if e.code != 416 or not offset:
            raise
        # Nothing left past our partial file: it is stale.
        log(f"{archive}: the server refused to resume at byte {offset}; starting over")
        os.remove(part)
        response, offset = _open(url, 0), 0
    if response.status == 206:
        found = _content_range(response.headers.get("Content-Range"))
        if found is None or found[0] != offset:  # not the range we asked for
            response.close()
            log(f"{archive}: the server answered another range; starting over")
            os.remove(part)
            return None
        total = found[1]
    else:
        if offset:
            log(f"{archive}: the server ignores resume requests; starting over")
        offset = 0
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
    return response, offset, (total - offset) if total is not None else None


def _append(response, part: str, offset: int, remaining, progress: bool, archive: str) -> int:
    """Copies the response body into ``part`` (appended after ``offset`` bytes, else from
    the start), with a progress bar; returns the bytes written.

    Raises:
      _Truncated: the connection ended or timed out mid-body (what came is kept).
    """
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
                    return got
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


def download(url: str, part: str, progress: bool, record, log: Log) -> None:
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
                f"(truncated); retry later, or {how_to_fix(record)}"
            ) from None
        except urllib.error.HTTPError as e:
            raise SlimclsError(
                f"{url} answered HTTP {e.code} {e.reason}; {how_to_fix(record)}"
            ) from None
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as e:
            reason = getattr(e, "reason", None) or e
            raise SlimclsError(
                f"cannot reach {url} ({reason}): offline, or the host is unreachable; "
                f"{how_to_fix(record)}"
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
        + f"; is it the right file? {how_to_fix(record)}"
    )


def extract(record, archive_path: str, target: str, log: Log) -> tuple[str, dict[str, str]]:
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
            f"archive {record.archive} is corrupt or not a tar archive ({first_line(e)}); "
            f"{how_to_fix(record)}"
        ) from None
    except Exception as e:  # noqa: BLE001  (zlib.error and friends from a damaged stream)
        if type(e).__module__ in ("zlib", "gzip", "_compression", "lzma", "bz2"):
            raise SlimclsError(
                f"archive {record.archive} is corrupt ({first_line(e)}); {how_to_fix(record)}"
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


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
