"""--checkpoint_path=imagenet: download, cache, verification and failures, all offline.

A local HTTP server on 127.0.0.1 (started and stopped here) serves tarballs in TF-Slim's
layout whose checkpoint has random weights with the names and shapes of the registry's
mobilenet_v1_025 (the smallest net with published weights), made at test time. The server
counts requests and bytes, honours Range, and truncates, corrupts or fails on demand.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import subprocess
import sys
import tarfile
import threading

import numpy as np
import pytest

from slimcls.core.errors import SlimclsError
from slimcls.model import checkpoints, modeling, pretrained
from slimcls.nets import published
from tests.pretrained_helpers import (
    NET,
    RECORD,
    WEIGHTS,
    Server,
    make_archive,
    make_sources,
    run_command,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return make_sources(tmp_path_factory.mktemp("published"))


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv(pretrained.CACHE_ENV, str(path))
    return path


def serve(server, monkeypatch, data: bytes, archive: str = RECORD.archive) -> None:
    server.files["/models/" + archive] = data
    monkeypatch.setenv(pretrained.MIRROR_ENV, server.url + "/models/")


def files_in(path) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs
    )


def restored_value(prefix: str, name: str, use_moving_averages: bool = False) -> np.ndarray:
    model = modeling.load(modeling.plan(NET, 1001, image_size=32), prefix, use_moving_averages)
    return model.variables_by_name()[name].numpy()


# ------------------------------------------------------------------ tests


def test_other_paths_are_returned_unchanged(cache):
    assert pretrained.resolve_checkpoint("/x/model.ckpt-5", NET) == "/x/model.ckpt-5"
    assert pretrained.resolve_checkpoint("imagenet_dir/ckpt", NET) == "imagenet_dir/ckpt"
    assert not cache.exists()


def test_cache_dir_order(monkeypatch, tmp_path):
    monkeypatch.delenv(pretrained.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert pretrained.cache_dir() == str(tmp_path / "xdg" / "slimcls")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert pretrained.cache_dir() == str(tmp_path / "home" / ".cache" / "slimcls")
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "mine"))
    assert pretrained.cache_dir() == str(tmp_path / "mine")


def test_mirror_keeps_the_file_name(monkeypatch, tmp_path):
    monkeypatch.setenv(pretrained.MIRROR_ENV, "https://mirror.example/slim/")
    assert pretrained.source(RECORD) == "https://mirror.example/slim/mobilenet_v1_0.25_224.tgz"
    monkeypatch.setenv(pretrained.MIRROR_ENV, str(tmp_path))
    assert pretrained.source(RECORD) == str(tmp_path / "mobilenet_v1_0.25_224.tgz")
    monkeypatch.delenv(pretrained.MIRROR_ENV)
    assert pretrained.source(RECORD) == RECORD.url


def test_net_without_published_weights_lists_those_with(cache):
    with pytest.raises(
        SlimclsError, match=r"cifarnet has no published.*inception_v3.*mobilenet_v1_025"
    ):
        pretrained.resolve_checkpoint("imagenet", "cifarnet")
    with pytest.raises(SlimclsError, match="imagenet:mobilenet_v1_0.25_128"):
        pretrained.resolve_checkpoint("imagenet:mobilenet_v1_0.5_128", NET)


def test_download_once_then_cache_hits(cache, server, monkeypatch, source, capfd):
    serve(server, monkeypatch, source["archives"]["good"])
    path = pretrained.resolve_checkpoint("imagenet", NET, progress=True)
    assert path == str(
        cache / "checkpoints" / "mobilenet_v1_0.25_224" / "mobilenet_v1_0.25_224.ckpt"
    )
    assert len(server.gets(RECORD.archive)) == 1
    err = capfd.readouterr().err
    assert "downloading mobilenet_v1_0.25_224.tgz" in err and "done" in err  # not a TTY: lines
    # Only the checkpoint's files were extracted, with the record of what was verified.
    assert files_in(cache) == [
        "checkpoints/mobilenet_v1_0.25_224/mobilenet_v1_0.25_224.ckpt.data-00000-of-00001",
        "checkpoints/mobilenet_v1_0.25_224/mobilenet_v1_0.25_224.ckpt.index",
        "checkpoints/mobilenet_v1_0.25_224/slimcls_checkpoint.json",
    ]
    record = pretrained.cache_record(path)
    assert record["model_name"] == NET and record["moving_averages"] is False
    assert set(record["files"]) == {
        "mobilenet_v1_0.25_224.ckpt.index",
        "mobilenet_v1_0.25_224.ckpt.data-00000-of-00001",
    }
    np.testing.assert_array_equal(restored_value(path, WEIGHTS), source["values"][WEIGHTS])

    server.requests.clear()
    assert pretrained.resolve_checkpoint("imagenet", NET) == path
    assert server.requests == []  # the second use downloads nothing


def test_threads_share_one_download(cache, server, monkeypatch, source):
    serve(server, monkeypatch, source["archives"]["good"])
    server.delay_s = 0.02  # the second caller arrives while the first downloads
    results, errors = [], []

    def call():
        try:
            results.append(pretrained.resolve_checkpoint("imagenet", NET, progress=False))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(set(results)) == 1 and len(results) == 3
    assert len(server.gets(RECORD.archive)) == 1


@pytest.mark.heavy  # several TensorFlow processes
def test_processes_share_one_download(cache, server, monkeypatch, source):
    serve(server, monkeypatch, source["archives"]["good"])
    server.delay_s = 0.05
    code = (
        "from slimcls.model import pretrained; "
        f"print(pretrained.resolve_checkpoint('imagenet', {NET!r}, progress=False))"
    )
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "3"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]  # fmt: skip
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert len({o[0].strip().splitlines()[-1] for o in outs}) == 1
    assert len(server.gets(RECORD.archive)) == 1


def test_resumes_a_partial_download(cache, server, monkeypatch, source):
    data = source["archives"]["good"]
    serve(server, monkeypatch, data)
    work = cache / "checkpoints" / "mobilenet_v1_0.25_224.download"
    work.mkdir(parents=True)
    (work / (RECORD.archive + ".slimcls-part")).write_bytes(data[:100_000])  # a killed run's
    path = pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    assert server.gets(RECORD.archive) == [("/models/" + RECORD.archive, "bytes=100000-")]
    assert server.bytes_sent == len(data) - 100_000
    np.testing.assert_array_equal(restored_value(path, WEIGHTS), source["values"][WEIGHTS])
    assert not work.exists()


def test_server_ignoring_range_starts_over(cache, server, monkeypatch, source):
    data = source["archives"]["good"]
    serve(server, monkeypatch, data)
    server.mode = "ignore_range"
    work = cache / "checkpoints" / "mobilenet_v1_0.25_224.download"
    work.mkdir(parents=True)
    (work / (RECORD.archive + ".slimcls-part")).write_bytes(b"x" * 5000)  # not a prefix of it
    path = pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    assert server.bytes_sent == len(data)
    np.testing.assert_array_equal(restored_value(path, WEIGHTS), source["values"][WEIGHTS])


def test_dropped_connection_is_resumed(cache, server, monkeypatch, source):
    data = source["archives"]["good"]
    serve(server, monkeypatch, data)
    server.mode = "truncate_once"
    pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    gets = server.gets(RECORD.archive)
    assert len(gets) == 2 and gets[0][1] is None and gets[1][1] == f"bytes={len(data) // 2}-"


def assert_nothing_cached(cache):
    assert files_in(cache) == [] if cache.exists() else True


def test_truncated_download_is_one_line_and_leaves_nothing(cache, server, monkeypatch, source):
    serve(server, monkeypatch, source["archives"]["good"])
    server.mode = "truncate"
    with pytest.raises(SlimclsError) as e:
        pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    message = str(e.value)
    assert "\n" not in message and "truncated" in message
    assert "--checkpoint_path=" in message and pretrained.MIRROR_ENV in message
    assert_nothing_cached(cache)


def test_corrupt_download_is_one_line_and_leaves_nothing(cache, server, monkeypatch, source):
    serve(server, monkeypatch, source["archives"]["good"])
    server.mode = "corrupt"
    with pytest.raises(SlimclsError, match="corrupt") as e:
        pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    assert "\n" not in str(e.value)
    assert_nothing_cached(cache)
    server.mode = "ok"  # an HTML error page instead of the archive
    serve(server, monkeypatch, b"<html>Service unavailable</html>")
    with pytest.raises(SlimclsError, match="corrupt or not a tar archive"):
        pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    assert_nothing_cached(cache)


def test_http_error_is_one_line(cache, server, monkeypatch, source):
    serve(server, monkeypatch, source["archives"]["good"])
    server.mode = 503
    with pytest.raises(SlimclsError, match=r"answered HTTP 503.*download http://download"):
        pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    assert_nothing_cached(cache)


def test_unreachable_mirror(cache, monkeypatch):
    with contextlib.closing(__import__("socket").socket()) as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(pretrained.MIRROR_ENV, f"http://127.0.0.1:{port}/slim")
    with pytest.raises(SlimclsError) as e:
        pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    message = str(e.value)
    assert message.startswith(f"cannot reach http://127.0.0.1:{port}/slim/{RECORD.archive}")
    assert "offline" in message and "\n" not in message and pretrained.MIRROR_ENV in message
    assert_nothing_cached(cache)


def test_another_nets_checkpoint_is_refused(cache, server, monkeypatch, source):
    serve(server, monkeypatch, source["archives"]["cifarnet"])
    with pytest.raises(SlimclsError, match=r"holds a cifarnet model \(scope CifarNet\)"):
        pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    assert_nothing_cached(cache)
    serve(server, monkeypatch, source["archives"]["wider"])  # mobilenet_v1_050's weights
    with pytest.raises(
        SlimclsError, match=r"does not fit slimcls's mobilenet_v1_025: has other shapes"
    ):
        pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    assert_nothing_cached(cache)


def test_v1_checkpoint(cache, server, monkeypatch, source):
    record = dataclasses.replace(
        RECORD,
        url="http://download.tensorflow.org/models/mobilenet_v1_025_2016_08_28.tar.gz",
        checkpoint="mobilenet_v1_025.ckpt",
    )
    monkeypatch.setattr(published, "PUBLISHED", (record, *published.PUBLISHED))
    serve(server, monkeypatch, source["archives"]["v1"], archive=record.archive)
    path = pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    assert path.endswith("mobilenet_v1_025_2016_08_28/mobilenet_v1_025.ckpt") and os.path.isfile(
        path
    )
    assert checkpoints.resolve_checkpoint(path) == path  # the restore path reads V1 files
    np.testing.assert_array_equal(restored_value(path, WEIGHTS), source["values"][WEIGHTS])


def test_local_folder_mirror(cache, monkeypatch, source, tmp_path):
    folder = tmp_path / "mirror"
    folder.mkdir()
    monkeypatch.setenv(pretrained.MIRROR_ENV, str(folder))
    with pytest.raises(SlimclsError, match=f"folder {folder} has no {RECORD.archive}"):
        pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    (folder / RECORD.archive).write_bytes(source["archives"]["good"])
    path = pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    np.testing.assert_array_equal(restored_value(path, WEIGHTS), source["values"][WEIGHTS])
    assert (folder / RECORD.archive).exists()  # the mirror's file is only read


def test_changed_cache_file_fails_its_sha256(cache, server, monkeypatch, source):
    serve(server, monkeypatch, source["archives"]["good"])
    path = pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    data_file = path + ".data-00000-of-00001"
    with open(data_file, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    with pytest.raises(SlimclsError, match=r"has sha256 .* not the .* recorded.*delete"):
        pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    assert os.path.exists(data_file)  # never deleted behind the user's back


def test_hostile_archive_is_refused(cache, server, monkeypatch, source, tmp_path):
    good = source["archives"]["good"]
    with tarfile.open(fileobj=io.BytesIO(good)) as tar:
        files = {m.name[2:]: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    files["../../escaped.txt"] = b"outside"
    serve(server, monkeypatch, make_archive(str(tmp_path / "bad.tgz"), files, dot_prefix=False))
    with pytest.raises(SlimclsError, match="outside"):
        pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    assert_nothing_cached(cache)
    assert not any(p.name == "escaped.txt" for p in tmp_path.rglob("*"))


def test_checkpoint_found_under_another_name(cache, server, monkeypatch, source, tmp_path):
    with tarfile.open(fileobj=io.BytesIO(source["archives"]["good"])) as tar:
        files = {
            m.name[2:].replace("mobilenet_v1_0.25_224.ckpt", "model.ckpt-1234"): tar.extractfile(
                m
            ).read()
            for m in tar.getmembers()
            if m.isfile()
        }
    serve(server, monkeypatch, make_archive(str(tmp_path / "renamed.tgz"), files))
    path = pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    assert path.endswith("/model.ckpt-1234")


def test_moving_averages_are_restored(cache, server, monkeypatch, source):
    serve(server, monkeypatch, source["archives"]["ema"])
    path = pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    assert pretrained.uses_moving_averages(path)
    np.testing.assert_array_equal(
        restored_value(path, WEIGHTS, use_moving_averages=True), source["values"][WEIGHTS] + 1.0
    )


def test_finetune_source_excludes_the_head_when_classes_differ(cache, server, monkeypatch, source):
    serve(server, monkeypatch, source["archives"]["ema"])
    checkpoint, exclude, ema, note = pretrained.finetune_source("imagenet", NET, 5, ["X/y"])
    assert exclude == ["X/y", "MobilenetV1/Logits"] and ema is True
    assert "5 classes" in note and "1001 (0 = background)" in note and "\n" not in note
    same = pretrained.finetune_source("imagenet", NET, 1001)
    assert same[:3] == (checkpoint, [], True) and same[3] is None
    assert pretrained.finetune_source("/my/run", NET, 5, ["A"]) == ("/my/run", ["A"], False, None)


def test_labels_offset_for_published():
    assert pretrained.labels_offset_for("imagenet", NET, 1001, 0) == 0
    assert pretrained.labels_offset_for("imagenet", "vgg_16", 1001, 0) == 1  # TF-Slim's README
    assert pretrained.labels_offset_for("imagenet", "vgg_16", 1000, 0) == 0
    with pytest.raises(SlimclsError, match="1001 ImageNet classes, the dataset 5"):
        pretrained.labels_offset_for("imagenet", NET, 5, 0)


def test_imagenet_class_names():
    names = pretrained.imagenet_class_names(1001)
    assert names[0] == "background" and names[1] == "imagenet class 0" and len(names) == 1001
    assert pretrained.imagenet_class_names(1000)[999] == "imagenet class 999"


def test_checkpoints_listing(cache, server, monkeypatch, source):
    from slimcls.cli import checkpoints as command

    rows = pretrained.listing(NET)
    assert [r["checkpoint_path"] for r in rows] == [
        "imagenet",
        "imagenet:mobilenet_v1_0.25_192",
        "imagenet:mobilenet_v1_0.25_160",
        "imagenet:mobilenet_v1_0.25_128",
    ]
    assert not any(r["cached"] for r in rows)
    serve(server, monkeypatch, source["archives"]["good"])
    path = pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    rows = pretrained.listing(NET)
    assert rows[0]["cached"] == path and not rows[1]["cached"]
    table = command.format_table(rows).splitlines()
    assert table[0].split()[:3] == ["net", "--checkpoint_path", "archive"]
    assert table[1].split() == [
        NET, "imagenet", "mobilenet_v1_0.25_224.tgz", "224", "1001", "49.8", "74.2", "yes",
    ]  # fmt: skip
    assert len(pretrained.listing()) == len(published.PUBLISHED)


def test_checkpoints_command(cache, capsys):
    from slimcls.__main__ import COMMANDS

    assert "checkpoints" in COMMANDS  # python -m slimcls checkpoints
    assert run_command("checkpoints", "--model_name=inception_v3") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == [
        "inception_v3", "imagenet", "inception_v3_2016_08_28.tar.gz", "299", "1001", "78.0",
        "93.9", "no",
    ]  # fmt: skip
    assert lines[-1] == f"1 published checkpoints, 0 cached in {cache / 'checkpoints'}"
    assert run_command("checkpoints", "--model_name=cifarnet") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "checkpoints: error: --model_name=cifarnet has no published ImageNet checkpoint"
    )


def test_too_little_free_space_fails_before_downloading(cache, server, monkeypatch, source):
    from slimcls.core import diskspace

    serve(server, monkeypatch, source["archives"]["good"])
    monkeypatch.setattr(diskspace, "free_bytes", lambda path: 1000)
    with pytest.raises(SlimclsError, match=r"no space left on the device of .*1000 bytes free"):
        pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    assert_nothing_cached(cache)  # checked before the first byte was written


def test_disk_filling_up_during_extraction_is_one_line(cache, server, monkeypatch, source):
    import errno

    serve(server, monkeypatch, source["archives"]["good"])

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "extractfile", full)
    with pytest.raises(SlimclsError, match="no space left on the device of .*slimcls-extract-"):
        pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    assert_nothing_cached(cache)


@pytest.mark.parametrize("kind", ["file", "read_only"])
def test_unusable_cache_dir_is_one_line(tmp_path, monkeypatch, source, kind):
    cache = tmp_path / "cache"
    if kind == "file":
        cache.write_text("a user's file")
    else:
        cache.mkdir()
        cache.chmod(0o500)
    if kind == "read_only" and os.access(cache, os.W_OK):
        pytest.skip("running as a user who can write anywhere (root)")
    monkeypatch.setenv(pretrained.CACHE_ENV, str(cache))
    monkeypatch.setenv(pretrained.MIRROR_ENV, str(tmp_path))
    with pytest.raises(SlimclsError, match=f"cannot use the checkpoint cache {cache}/checkpoints"):
        pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    if kind == "file":
        assert cache.read_text() == "a user's file"


def test_a_file_where_the_download_folder_goes_is_one_line(cache, monkeypatch, tmp_path):
    work = cache / "checkpoints" / "mobilenet_v1_0.25_224.download"
    work.parent.mkdir(parents=True)
    work.write_text("a user's file")
    monkeypatch.setenv(pretrained.MIRROR_ENV, str(tmp_path))
    with pytest.raises(SlimclsError, match="cannot be written"):
        pretrained.resolve_checkpoint("imagenet", NET, progress=False)
    assert work.read_text() == "a user's file"
