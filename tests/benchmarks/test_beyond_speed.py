"""pytest-benchmark timing of the figures beyond FID (bench/eval/copies.py, density.py,
fid_infinity.py) for a 10,000-sample evaluation: 10,000 x 128 generated features against
60,000 training and 10,000 test features, the shapes of the MNIST classifier's.

What depends only on the real sets (the training set's k-means cells, the test points'
nearest-training distances, the real k-NN radii, the real FID statistics) is built once,
outside the timed window, as an evaluation would cache it. Random features of the right
shape time the same work as real ones: every step is a fixed amount of arithmetic except
the exact fallback of the neighbour search, which real data needs no more often.

`make bench` times them at full size. Under `--benchmark-disable` (the plain test run) each
test runs once, at a fifth of the sizes, and checks what it computed.
"""

import time

import pytest
import torch

from bench.eval.copies import copy_rate, copy_reference, copying_reference, data_copying, fit_cells
from bench.eval.density import density_coverage, real_neighbourhoods
from bench.eval.fid_infinity import N_MIN, fid_infinity, reference_statistics

pytestmark = pytest.mark.xdist_group("test_beyond_speed")

N_SAMPLES, N_TRAIN, N_TEST, DIM, PIXELS = 10_000, 60_000, 10_000, 128, 784
SMALL = 5  # the plain test run's sizes are these divided by SMALL



def features(n, dim, seed):
    """ReLU-like features, as the classifier's penultimate layer gives."""
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)).relu_()


@pytest.fixture(scope="module")
def scale(request):
    disabled = request.config.getoption("benchmark_disable") and not request.config.getoption("benchmark_enable")
    return SMALL if disabled else 1


@pytest.fixture(scope="module")
def sets(scale):
    return {"samples": features(N_SAMPLES // scale, DIM, 0), "train": features(N_TRAIN // scale, DIM, 1),
            "test": features(N_TEST // scale, DIM, 2)}


@pytest.fixture(scope="module")
def references(sets):
    """The cacheable part of every figure, with the seconds each took to build."""
    built, seconds = {}, {}
    for name, build in [
        ("copy", lambda: copy_reference(sets["train"], sets["test"])),
        ("copying", lambda: copying_reference(sets["train"], sets["test"], fit_cells(sets["train"]))),
        ("neighbourhoods", lambda: real_neighbourhoods(sets["test"])),
        ("fid", lambda: reference_statistics(sets["test"])),
    ]:
        start = time.perf_counter()
        built[name] = build()
        seconds[name] = time.perf_counter() - start
    built["seconds"] = seconds
    return built


def timed(benchmark, name, function, sets, references, rounds=3):
    benchmark.group = "beyond FID, 10,000 samples"
    benchmark.extra_info.update(figure=name, n_samples=len(sets["samples"]), n_train=len(sets["train"]),
                                n_test=len(sets["test"]), dim=sets["samples"].shape[1],
                                torch_threads=torch.get_num_threads(),
                                reference_build_s={k: round(v, 2) for k, v in references["seconds"].items()})
    return benchmark.pedantic(function, rounds=rounds, warmup_rounds=0, iterations=1)


def test_copy_rate_speed(benchmark, sets, references):
    got = timed(benchmark, "copy_rate", lambda: copy_rate(sets["samples"], references["copy"]), sets, references)
    # Samples and test points are drawn alike: about 1% of them fall below the test's 1st percentile.
    assert 0.002 < got.copy_rate < 0.03 and got.n_samples == len(sets["samples"])


def test_data_copying_speed(benchmark, sets, references):
    got = timed(benchmark, "c_t", lambda: data_copying(sets["samples"], references["copying"]), sets, references)
    assert abs(got.c_t) < 5 and len(got.kept) > 0


def test_density_coverage_speed(benchmark, sets, references):
    got = timed(benchmark, "density_coverage",
                lambda: density_coverage(sets["samples"], references["neighbourhoods"]), sets, references)
    assert 0.7 < got.density < 1.3 and 0.9 < got.coverage <= 1


def test_fid_infinity_speed(benchmark, sets, references, scale):
    got = timed(benchmark, "fid_inf", lambda: fid_infinity(sets["samples"], references["fid"], n_min=N_MIN // scale),
                sets, references)
    assert len(got.ns) == 15 and got.slope > 0 and abs(got.fid_inf) < min(got.fids)


def test_all_beyond_figures_speed(benchmark, sets, references, scale):
    """What the four figures together add to a 10,000-sample evaluation."""
    def everything():
        samples = sets["samples"]
        return (copy_rate(samples, references["copy"]), data_copying(samples, references["copying"]),
                density_coverage(samples, references["neighbourhoods"]),
                fid_infinity(samples, references["fid"], n_min=N_MIN // scale))

    got = timed(benchmark, "all", everything, sets, references, rounds=2)
    assert len(got) == 4


def test_pixel_copy_rate_speed(benchmark, scale):
    """The copy rate's second view, on 784 pixels: six times the arithmetic of 128-d features."""
    samples, train, test = (features(n // scale, PIXELS, seed) for n, seed in
                            [(N_SAMPLES, 3), (N_TRAIN, 4), (N_TEST, 5)])
    reference = copy_reference(train, test)
    benchmark.group = "beyond FID, 10,000 samples"
    benchmark.extra_info.update(figure="copy_rate pixels", n_samples=len(samples), n_train=len(train), dim=PIXELS,
                                torch_threads=torch.get_num_threads())
    got = benchmark.pedantic(lambda: copy_rate(samples, reference), rounds=1, warmup_rounds=0, iterations=1)
    assert 0.002 < got.copy_rate < 0.03
