"""What every benchmark module shares: torch's thread count, pinned by `make bench BENCH_THREADS=N`
(a timing only compares with one taken at the same thread count)."""

import os

import pytest
import torch

THREADS_ENV = "GAN_BENCH_THREADS"


@pytest.fixture(scope="module", autouse=True)
def pinned_threads():
    """Pin torch's CPU threads when asked: with another process on a 2-core machine, two
    threads that wait on each other can make a step many times slower (docs/speed.md)."""
    before = torch.get_num_threads()
    if os.environ.get(THREADS_ENV):
        torch.set_num_threads(int(os.environ[THREADS_ENV]))
    yield
    torch.set_num_threads(before)
