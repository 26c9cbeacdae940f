"""pytest configuration: the test tiers and shared fixtures.

Three tiers, so the default run stays short on 2 cores:

* default (``scripts/test.sh``): unit tests, no training loop;
* ``--full`` (or ``SLIMCLS_FULL=1``; CI runs this): also tests marked ``train_loop``, which
  run real training loops or training commands, and ``heavy``, which build big graphs or
  start several TensorFlow processes;
* ``--run-slow`` (or ``SLIMCLS_RUN_SLOW=1``): everything, also tests marked ``slow``
  (big nets, the quickstart, kill trials, multi-process runs).
"""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="run every test, also those marked slow or train_loop (or SLIMCLS_RUN_SLOW=1)",
    )
    parser.addoption(
        "--full",
        action="store_true",
        default=False,
        help="also run tests marked train_loop, as CI does (or SLIMCLS_FULL=1)",
    )


def pytest_collection_modifyitems(config, items):
    run_slow = config.getoption("--run-slow") or os.environ.get("SLIMCLS_RUN_SLOW") == "1"
    full = run_slow or config.getoption("--full") or os.environ.get("SLIMCLS_FULL") == "1"
    skip_slow = pytest.mark.skip(reason="slow: run with --run-slow or SLIMCLS_RUN_SLOW=1")
    skip_full = pytest.mark.skip(reason="train_loop/heavy: run with --full (as CI does)")
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
        elif ("train_loop" in item.keywords or "heavy" in item.keywords) and not full:
            item.add_marker(skip_full)


#: Markers that allow a test (and the fixtures it uses) to run a training loop.
_LOOP_MARKERS = ("train_loop", "heavy", "slow")
_loop_allowed = {"now": True}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before the test's fixtures are set up: may it run a training loop?"""
    _loop_allowed["now"] = any(item.get_closest_marker(m) for m in _LOOP_MARKERS)


@pytest.fixture(scope="session", autouse=True)
def _no_training_loop_in_the_default_tier():
    """The default tier stays fast: an in-process training loop in a test that is not marked
    train_loop (or heavy/slow) fails the test, whether the test or a fixture started it."""
    from slimcls.train import loop

    original = loop._loop

    def guarded(*args, **kwargs):
        if not _loop_allowed["now"]:
            raise AssertionError(
                "this test runs a training loop: mark it @pytest.mark.train_loop "
                "(the default tier has none)"
            )
        return original(*args, **kwargs)

    loop._loop = guarded
    yield
    loop._loop = original


@pytest.fixture
def tiny_net(monkeypatch):
    """Registers the tiny BatchNorm + AuxLogits net as ``tiny_aux`` for one test."""
    from slimcls.nets import nets_factory
    from tests.helpers import tiny_spec

    monkeypatch.setitem(nets_factory.NETWORKS, "tiny_aux", tiny_spec())
    return "tiny_aux"


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    """The toy dataset: 48 train / 16 validation 12x12 RGB images, 2 shards per split."""
    from tests.helpers import write_toy_dataset

    return write_toy_dataset(tmp_path_factory.mktemp("toy"))
