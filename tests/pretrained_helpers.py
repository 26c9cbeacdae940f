"""Published-checkpoint test fixtures: checkpoints of the registry's nets with random
weights, tarballs in TF-Slim's layout, and a local HTTP server (127.0.0.1) that counts
requests and bytes, honours Range, and truncates, corrupts or fails on demand."""

from __future__ import annotations

import http.server
import io
import os
import tarfile
import threading
import time

import numpy as np

from slimcls.core.compat import tf
from slimcls.model import modeling
from slimcls.nets import published

NET = "mobilenet_v1_025"
RECORD = published.default_for(NET)  # mobilenet_v1_0.25_224.tgz -> mobilenet_v1_0.25_224.ckpt
WEIGHTS = "MobilenetV1/Conv2d_0/weights"


# ------------------------------------------------------------------ checkpoints and archives


def net_values(model_name: str, seed: int = 0, num_classes: int = 1001) -> tuple[dict, set]:
    """Random values for every variable of the registry's net (built eagerly, as slimcls
    restores it), and the names of the trainable ones."""
    model = modeling.create_model(model_name, num_classes)
    model.build_variables((32, 32, 3))
    rng = np.random.default_rng(seed)
    values = {
        name: rng.standard_normal(var.shape.as_list()).astype(np.float32) * 0.05
        for name, var in model.variables_by_name().items()
    }
    trainable = {v.name[:-2] for v in model.trainable_variables}
    return values, trainable


def save_v2(prefix: str, values: dict) -> None:
    names = sorted(values)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(values[n]) for n in names],
    )


def save_v1(path: str, values: dict) -> None:
    """A TF1 V1 single-file checkpoint, as TF-Slim's 2016 archives hold."""
    with tf.Graph().as_default():
        variables = [
            tf.compat.v1.get_variable(n, initializer=tf.constant(v), use_resource=False)
            for n, v in sorted(values.items())
        ]
        saver = tf.compat.v1.train.Saver(variables, write_version=tf.compat.v1.train.SaverDef.V1)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, path, write_meta_graph=False, write_state=False)


def make_archive(path: str, files: dict[str, bytes], dot_prefix: bool = True) -> bytes:
    """A .tgz of ``files`` (name -> bytes), members named ``./name`` as TF-Slim's are."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(("./" if dot_prefix else "") + name)
            info.size = len(data)
            info.mtime = 1_500_000_000
            tar.addfile(info, io.BytesIO(data))
    with open(path, "rb") as f:
        return f.read()


def bundle_files(directory: str, prefix_name: str) -> dict[str, bytes]:
    out = {}
    for name in sorted(os.listdir(directory)):
        if name.startswith(prefix_name):
            with open(os.path.join(directory, name), "rb") as f:
                out[name] = f.read()
    return out


def make_sources(root) -> dict:
    """Archives in TF-Slim's layout for mobilenet_v1_025: the good one, one with moving
    averages (shadows = weights + 1), one holding a cifarnet, one holding a
    mobilenet_v1_050, a V1 one."""
    values, trainable = net_values(NET)
    extras = {  # what else TF-Slim's MobileNet archives hold
        "mobilenet_v1_0.25_224.tflite": b"TFL3 not a real model",
        "mobilenet_v1_0.25_224_info.txt": b"Model: mobilenet_v1_0.25_224\n",
    }
    archives = {}

    def v2_archive(name, vals):
        d = root / name
        d.mkdir()
        save_v2(str(d / "mobilenet_v1_0.25_224.ckpt"), vals)
        files = {**bundle_files(str(d), "mobilenet_v1_0.25_224.ckpt"), **extras}
        archives[name] = make_archive(str(root / f"{name}.tgz"), files)

    v2_archive("good", values)
    shadows = {f"{n}/ExponentialMovingAverage": values[n] + 1.0 for n in trainable}
    v2_archive("ema", {**values, **shadows, "global_step": np.array(7, np.int64)})
    v2_archive("cifarnet", net_values("cifarnet", num_classes=1001)[0])
    v2_archive("wider", net_values("mobilenet_v1_050")[0])
    (root / "v1").mkdir()
    save_v1(str(root / "v1" / "mobilenet_v1_025.ckpt"), values)
    v1_files = bundle_files(str(root / "v1"), "mobilenet_v1_025.ckpt")
    assert list(v1_files) == ["mobilenet_v1_025.ckpt"]  # one file: V1
    archives["v1"] = make_archive(str(root / "v1.tgz"), v1_files)
    return {"values": values, "trainable": trainable, "archives": archives, "root": root}


# ------------------------------------------------------------------ the server


class Server:
    """Serves ``files`` (URL path -> bytes) on 127.0.0.1 with Range support.

    ``mode``: "ok"; "truncate" (every response stops half-way); "truncate_once";
    "ignore_range" (always 200 and the whole file); "corrupt" (bytes flipped mid-file);
    an int (that HTTP status). ``delay_s``: a pause per 64 KiB, to make downloads overlap.
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.mode: str | int = "ok"
        self.delay_s = 0.0
        self.requests: list[tuple[str, str | None]] = []
        self.bytes_sent = 0
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                with server._lock:
                    server.requests.append((self.path, self.headers.get("Range")))
                    mode = server.mode
                    if mode == "truncate_once":
                        server.mode = "ok"
                        mode = "truncate"
                data = server.files.get(self.path)
                if isinstance(mode, int):
                    self.send_error(mode)
                    return
                if data is None:
                    self.send_error(404)
                    return
                if mode == "corrupt":
                    middle = len(data) // 2
                    data = data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64])
                    data += server.files[self.path][middle + 64 :]
                start = 0
                wanted = self.headers.get("Range")
                if wanted and mode != "ignore_range":
                    start = int(wanted.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "truncate":
                    body = body[: len(body) // 2]
                    self.close_connection = True
                for i in range(0, len(body), 65536):
                    if server.delay_s:
                        time.sleep(server.delay_s)
                    chunk = body[i : i + 65536]
                    try:
                        self.wfile.write(chunk)
                    except ConnectionError:  # the client went away (killed)
                        return
                    with server._lock:
                        server.bytes_sent += len(chunk)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def gets(self, name: str) -> list:
        return [r for r in self.requests if r[0] == "/models/" + name]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def run_command(name: str, *args: str) -> int:
    """Runs a command's ``_main`` in this process as its entry point does (flags parsed,
    SlimclsError -> one line and exit 1); returns the exit status."""
    import importlib

    from absl import flags

    from slimcls import cli

    module = importlib.import_module(f"slimcls.cli.{name}")
    flags.FLAGS.unparse_flags()
    module.define_flags()
    argv = flags.FLAGS([name, *args])
    try:
        cli.report_errors(module._main, name)(argv)
        return 0
    except SystemExit as e:
        return int(e.code)
    finally:
        flags.FLAGS.unparse_flags()
