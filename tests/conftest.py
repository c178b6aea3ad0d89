"""Fixtures shared by the test modules, and the two tiers.

`make test` runs the tests not marked `slow`: unit tests, tiny runs on a small synthetic
MNIST-shaped set (`small_mnist_dir`) and every error path, in minutes. `make test-all` adds
the slow ones: training and evaluation on real MNIST, Ray clusters, subprocesses that are
killed and resumed. A test is marked slow here from what it uses (`pytest_collection_modifyitems`),
so a new test file lands in the right tier without anyone remembering to mark it.
"""

import os
import types
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


def imports_ray(function) -> bool:
    """Whether `function` (or a function defined inside it) imports or names the `ray` module:
    the tests and fixtures that start Ray clusters do, e.g. `from ray.cluster_utils import Cluster`."""
    stack = [getattr(function, "__code__", None)]
    while stack:
        code = stack.pop()
        if code is None:
            continue
        if any(name == "ray" or name.startswith("ray.") for name in code.co_names):
            return True
        stack.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    return False


def fixture_defs(item) -> list:
    return [d for defs in getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {}).values() for d in defs]


def starts_ray(item) -> bool:
    functions = [getattr(item, "function", None)] + [d.func for d in fixture_defs(item)]
    return any(imports_ray(function) for function in functions)


def shares_a_module_fixture(item) -> bool:
    """Whether the test uses a module-scoped fixture of its own module (a run trained once for
    several tests, say): under xdist such a fixture is built once per worker that needs it."""
    module = getattr(getattr(item, "module", None), "__name__", None)
    return any(d.scope in ("module", "package", "session") and getattr(d.func, "__module__", None) == module
               for d in fixture_defs(item))


# Under pytest-xdist (`make test`, `make test-all`: `--dist loadgroup`) the tests of one group run
# one after another on one worker: the tests that share a module-scoped fixture of their module
# form a group per module, so that the fixture (a run trained once for several tests) is built
# once. Tests that start Ray need no group: each study starts a Ray of its own, and a test finds
# its own Ray's processes by a tag they inherit (tests/test_study.py).


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker and xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        if REAL_MNIST_FIXTURES & set(getattr(item, "fixturenames", ())) or starts_ray(item):
            item.add_marker(pytest.mark.slow)
        # xdist joins the names of several groups: an explicit group stays as it is.
        if item.get_closest_marker("xdist_group") is None and shares_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


def check_xdist_groups(config) -> None:
    """pytest-xdist puts a test in its group by rewriting the test's `Node._nodeid`, which a
    pytest that keeps its node ids elsewhere (9.2) ignores: `--dist loadgroup` then spreads every
    group over all workers, silently (a module's shared run trained again on each worker).
    Refuse to start instead."""
    from _pytest.nodes import Node

    if config.getoption("dist", default=None) == "loadgroup" and "_nodeid" not in getattr(Node, "__slots__", ()):
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
