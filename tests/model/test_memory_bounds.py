"""An image size whose batch cannot fit in memory fails before anything is built (it died
of an out-of-memory traceback after 16 s)."""

import os

import pytest

from slimcls import config, train
from slimcls.core.errors import SlimclsError
from slimcls.inference import evaluate
from slimcls.model import memory_bounds
from tests.helpers import toy_train_config


def test_train_image_size_too_large_for_memory_is_one_line_before_anything(dataset_dir, tmp_path):
    cfg = toy_train_config(dataset_dir, tmp_path / "run", train_image_size=100000)
    with pytest.raises(SlimclsError) as err:
        train.train(cfg)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("--train_image_size=100000 with --batch_size=8 needs at least ")
    assert "small_cnn is designed for 32x32 images" in message
    assert "lower --train_image_size or --batch_size" in message
    assert not os.path.exists(tmp_path / "run")  # nothing written


def test_eval_image_size_too_large_is_one_line(dataset_dir):
    cfg = config.EvalConfig(
        checkpoint_path="/nonexistent",
        dataset_dir=dataset_dir,
        dataset_split_name="validation",
        model_name="small_cnn",
        eval_image_size=100000,
    )
    with pytest.raises(SlimclsError, match=r"--eval_image_size=100000 with --batch_size=100 .* "
                       r"to evaluate small_cnn"):  # fmt: skip
        evaluate.Evaluator(cfg)


def test_the_bound_is_the_input_batch_times_the_smallest_net_factor():
    kw = dict(size_flag="--s", channels=3, model_name="m", default_size=32)
    batch = 10 * 100 * 100 * 3 * 4  # bytes of 10 float32 100x100x3 images
    memory_bounds.check(image_size=100, batch_size=10, training=True,
                        available=batch * memory_bounds.TRAIN_FACTOR, **kw)  # fmt: skip
    with pytest.raises(SlimclsError, match=r"needs at least 9.2 MiB \(9600000 bytes\)"):
        memory_bounds.check(image_size=100, batch_size=10, training=True,
                            available=batch * memory_bounds.TRAIN_FACTOR - 1, **kw)  # fmt: skip
    memory_bounds.check(image_size=100, batch_size=10, training=False,
                        available=batch * memory_bounds.EVAL_FACTOR, **kw)  # fmt: skip


def test_available_memory_reads_meminfo_and_the_cgroup_limit(monkeypatch):
    files = {
        "/proc/meminfo": "MemTotal: 100 kB\nMemAvailable:   4000 kB\n",
        "/sys/fs/cgroup/memory.max": "3000000\n",
        "/sys/fs/cgroup/memory.current": "1000000\n",
    }
    real_open = open

    def fake_open(path, *a, **kw):
        if path in files:
            import io

            return io.StringIO(files[path])
        if str(path).startswith(("/proc/", "/sys/fs/cgroup")):
            raise FileNotFoundError(path)
        return real_open(path, *a, **kw)

    monkeypatch.setattr("builtins.open", fake_open)
    assert memory_bounds.available_bytes() == 2000000  # the container's limit is lower
    files["/sys/fs/cgroup/memory.max"] = "max\n"
    assert memory_bounds.available_bytes() == 4000 * 1024
