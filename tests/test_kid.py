"""KID with the real set's part cached (bench/eval/kid.py) against torch-fidelity's own."""

import numpy as np
import pytest
import torch
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

from bench.eval import features, kid, quality

CPU = torch.device("cpu")
# Ten rounds rather than torch-fidelity's 100: the rounds are alike, and the test stays fast.
OPTIONS = quality._options(CPU, None, quality.MNIST_BATCH, kid_subsets=10)


def feature_sets(n_fake=600, n_real=700, dim=128, shift=0.3):
    """ReLU features like the classifier's, generated and real apart by `shift`."""
    generator = torch.Generator().manual_seed(0)
    fake = (torch.randn(n_fake, dim, generator=generator) + shift).relu()
    real = torch.randn(n_real, dim, generator=generator).relu()
    return fake, real


def torch_fidelity_kid(fake, real, size):
    out = kid_features_to_metric(fake, real, kid_subset_size=size, **OPTIONS)
    return out[KEY_METRIC_KID_MEAN], out[KEY_METRIC_KID_STD]


@pytest.mark.parametrize("shift", [0.3, 0.02])
@pytest.mark.parametrize("size", [500, 37])
def test_kid_equals_torch_fidelitys_to_the_last_bits_of_its_sums(shift, size):
    """Same subsets in the same order, the same operations in the same dtype. What is left:
    numpy's float32 sums take their SIMD order from the array's memory alignment, so one
    kernel sum may round one float32 step (ulp) either way from one call to the next, in
    torch-fidelity as here. The bound is three such steps per round; relative to KID that is
    below 1e-6 for shift 0.3 and a few 1e-6 for shift 0.02 (KID 8e-4)."""
    fake, real = feature_sets(shift=shift)
    draw = kid.draw_of(len(fake), len(real), size, OPTIONS)
    expected = torch_fidelity_kid(fake, real, size)
    got = kid.kid(fake, real, draw)
    step = float(np.spacing(np.float32(kid.real_part(real, draw).numpy().max()))) / (size * (size - 1))
    print(f"shift {shift}, subsets of {size}: {got[0]!r} vs {expected[0]!r}, one step {step:.2g}")
    assert abs(got[0] - expected[0]) <= 3 * step
    assert got[1] == pytest.approx(expected[1], abs=3 * step)
    if shift == 0.3:
        assert got[0] == pytest.approx(expected[0], rel=1e-6)


def test_float64_features_too():
    fake, real = (x.double() for x in feature_sets())
    got = kid.kid(fake, real, kid.draw_of(len(fake), len(real), 200, OPTIONS))
    assert got == pytest.approx(torch_fidelity_kid(fake, real, 200), rel=1e-12)


def test_the_cached_real_part_gives_the_same_figure_bit_for_bit(tmp_path, monkeypatch):
    fake, real = feature_sets()
    uncached = quality.kid_figures(fake, real, OPTIONS)
    extractor = quality._mnist_extractor(("128",), OPTIONS)
    first = quality.kid_figures(fake, real, OPTIONS, tmp_path, "real-test", extractor)
    files = list(tmp_path.glob("real-test-*kid-nf600-nr700-m600-r10-seed*"))
    assert len(files) == 1
    # Once cached, the real part is read, never computed again.
    monkeypatch.setattr(kid, "real_part", lambda *args: pytest.fail("the cached real part was computed again"))
    again = quality.kid_figures(fake, real, OPTIONS, tmp_path, "real-test", extractor)
    assert uncached == first == again


def test_a_damaged_or_foreign_cached_part_is_recomputed(tmp_path):
    fake, real = feature_sets()
    extractor = quality._mnist_extractor(("128",), OPTIONS)
    expected = quality.kid_figures(fake, real, OPTIONS)
    draw = kid.draw_of(len(fake), len(real), 600, OPTIONS)
    path = features.cache_file(tmp_path, "real-test", extractor, draw.name(), "128")
    for bad in (torch.zeros(9), torch.full((10,), float("nan")), torch.zeros(10, dtype=torch.float64)):
        torch.save(bad, path)
        assert quality.kid_figures(fake, real, OPTIONS, tmp_path, "real-test", extractor) == expected
    path.write_bytes(b"not a tensor")
    assert quality.kid_figures(fake, real, OPTIONS, tmp_path, "real-test", extractor) == expected


def test_the_draw_depends_on_both_set_sizes():
    """The real subsets follow the generated ones in one random stream, so the real part
    of 600 generated samples is not that of 650."""
    assert kid.draw_of(600, 700, 500, OPTIONS).name() != kid.draw_of(650, 700, 500, OPTIONS).name()
    first = kid.subset_indices(kid.draw_of(600, 700, 500, OPTIONS))[1][1]
    other = kid.subset_indices(kid.draw_of(650, 700, 500, OPTIONS))[1][1]
    assert not torch.equal(torch.from_numpy(first), torch.from_numpy(other))


def test_another_kernel_or_too_few_samples_is_refused():
    with pytest.raises(ValueError, match="default kernel"):
        kid.draw_of(600, 700, 500, {**OPTIONS, "kid_kernel_poly_degree": 2})
    with pytest.raises(ValueError, match="need at least"):
        kid.draw_of(100, 700, 500, OPTIONS)
