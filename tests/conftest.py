"""Fixtures shared by the test modules, and the two tiers.

`make test` runs the tests not marked `slow`: unit tests, tiny runs on a small synthetic
MNIST-shaped set (`small_mnist_dir`) and every error path, in minutes. `make test-all` adds
the slow ones: training and evaluation on real MNIST, Ray clusters, subprocesses that are
killed and resumed. Each such test says so itself, with `@pytest.mark.slow` (or a module's
`pytestmark`); a test that asks for real MNIST without the mark is refused at collection, so
none slips into `make test` by accident.

Under pytest-xdist (`make test`, `make test-all`: `--dist loadgroup`) the tests of one
`xdist_group` run one after another on one worker. A module whose tests share a run trained
once (a module-scoped fixture) puts itself in a group of its own with
`pytestmark = pytest.mark.xdist_group(...)`, so that the run is trained once, not once per
worker. Tests that start Ray need no group: each study starts a Ray of its own, and a test
finds its own Ray's processes by a tag they inherit (tests/test_study.py).
"""

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.data import assets

# The fixtures that hand a test real MNIST: a test that uses one, directly or through another
# fixture, trains or scores on 60,000 or 10,000 real digits.
REAL_MNIST_FIXTURES = {"mnist_dir", "mnist"}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker: an unmarked test fails under `-m "not slow"` too
def pytest_collection_modifyitems(config, items):
    unmarked = [item.nodeid for item in items
                if REAL_MNIST_FIXTURES & set(getattr(item, "fixturenames", ()))
                and item.get_closest_marker("slow") is None]
    if unmarked:
        raise pytest.UsageError("these tests use real MNIST but are not marked slow (add @pytest.mark.slow): "
                                + ", ".join(unmarked))


def check_xdist_groups(config) -> None:
    """pytest-xdist 3.8 puts a test in its group by rewriting the test's node id in a way that
    pytest 9.2 no longer sees: `--dist loadgroup` then spreads every group over all workers,
    silently (a module's shared run trained again on each worker). Refuse to start instead."""
    if config.getoption("dist", default=None) == "loadgroup" and pytest.version_tuple[:2] >= (9, 2):
        raise pytest.UsageError(f"pytest {pytest.__version__} ignores pytest-xdist's test groups (--dist loadgroup): "
                                "install the versions in constraints.txt (make install does)")


def pytest_configure(config):
    # Ray starts its workers at nice 15, behind every other process: next to busy xdist workers a
    # study's runs then wait for minutes. In the tests they take their turn like the rest.
    os.environ.setdefault("RAY_worker_niceness", "0")
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        check_xdist_groups(config)
        if config.getoption("numprocesses", default=None):
            # The workers inherit it at birth, so torch starts in them with one thread, as it
            # does in each process a test starts: set later, after torch's start, a process
            # may keep kernels chosen for more threads (a Stacked MNIST run resumed in a
            # subprocess then parted from the same run trained in the worker).
            os.environ["OMP_NUM_THREADS"] = "1"
    else:
        # One torch thread per xdist worker, and per process a test starts (OMP_NUM_THREADS):
        # two workers with two threads each on two cores wait on each other and get many times
        # slower (docs/speed.md). A resumed run also must continue with its subprocess's thread
        # count, or its record is not bit-identical to the uninterrupted one.
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)
        # A worker starts with COLUMNS=80 and LINES=24 in its environment, which the CLI's rich
        # console would take at import as its fixed size: the tests that give COLUMNS per command
        # would all get 80 columns.
        os.environ.pop("COLUMNS", None)
        os.environ.pop("LINES", None)


@pytest.fixture(autouse=True)
def torch_threads_stay_put():
    """A command a test runs in-process with --threads sets torch's thread count for the whole
    process; put it back, or a later test's in-process run and its subprocess run would use
    different CPU kernels and their records would differ."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def mnist_dir():
    """Real MNIST, fetched once per machine (CI: once per run) into the default data dir."""
    data_dir = assets.default_data_dir()
    assets.fetch_mnist(data_dir)
    return data_dir


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    return assets.load_mnist(mnist_dir)


@pytest.fixture
def tiny_images():
    """A small synthetic uint8 set, shaped like MNIST, for fast unit tests."""
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (256, 1, 28, 28), generator=generator, dtype=torch.uint8)


# ---------------------------------------------------------------- a small synthetic MNIST on disk

SMALL_TRAIN, SMALL_TEST = 1024, 1000


@dataclass(frozen=True)
class SmallMnist:
    """A data directory laid out as `gan-bench fetch` leaves it, with random pixels and labels
    in MNIST's shapes (1,024 training and 1,000 test images), and the sha256 pins of its
    arrays. A run verifies its data against `assets.MNIST_SHA256`: under `pinned()` those are
    this set's pins, so the CLI trains and scores on it as it would on MNIST, in a fraction of
    the time."""

    dir: Path
    sha256: dict

    @contextmanager
    def pinned(self):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(assets, "MNIST_SHA256", dict(self.sha256))
            yield self.dir


@pytest.fixture(scope="session")
def small_mnist(tmp_path_factory) -> SmallMnist:
    folder = tmp_path_factory.mktemp("small-mnist")
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (SMALL_TRAIN, 28, 28), dtype=np.uint8),
              "train_labels": rng.integers(0, 10, SMALL_TRAIN, dtype=np.uint8),
              "test_images": rng.integers(0, 256, (SMALL_TEST, 28, 28), dtype=np.uint8),
              "test_labels": rng.integers(0, 10, SMALL_TEST, dtype=np.uint8)}
    for key, name in assets.RAW_FILES.items():
        assets.write_idx(assets.raw_dir(folder) / name, arrays[key])
    return SmallMnist(folder, {key: assets.array_sha256(a) for key, a in assets.read_raw(folder).items()})


@pytest.fixture
def small_mnist_dir(small_mnist):
    """The small synthetic set's data directory, its pins in force for the test."""
    with small_mnist.pinned() as folder:
        yield folder
