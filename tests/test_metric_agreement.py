"""gan-bench's figures against independent code: features against torch-fidelity's own
extraction, FID against pytorch-fid, KID against an unbiased polynomial-kernel MMD written
here, precision/recall (with the real set's radii cached) against torch-fidelity's, and
precision and recall the right way round.

Small synthetic sets keep the unit tests fast; the tests on real MNIST (the `mnist`
fixture) run in the slow tier.
"""

import numpy as np
import pytest
import torch
from pytorch_fid.fid_score import calculate_frechet_distance
from torch_fidelity.metric_fid import fid_features_to_statistics
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric
from torch_fidelity.metric_prc import calc_cdist_part, prc_features_to_metric
from torch_fidelity.utils import extract_featuresdict_from_input_id

from bench.eval import features, precision_recall, quality
from bench.eval.classifier import FEATURES, LOGITS

CPU = torch.device("cpu")
KID_SEED = 2020  # torch-fidelity's default rng_seed, which draws its KID subsets
KID_SUBSETS = 100


def torch_fidelity_features(images: torch.Tensor) -> dict:
    """torch-fidelity's own extraction: its Dataset path, one image at a time, batches of 500."""
    options = quality._options(CPU, None, quality.MNIST_BATCH)
    extractor = quality._mnist_extractor((FEATURES, LOGITS), options)
    with quality.full_float32(), torch.random.fork_rng(devices=[]):
        return extract_featuresdict_from_input_id(1, extractor, input1=quality._Images(images), **options)


def relative(a, b) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def largest_relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b).abs() / b.abs().clamp_min(1e-30)).max())


def clustered(n: int, clusters, seed: int, dim: int = 4) -> torch.Tensor:
    """n points spread evenly over the given ones of ten well separated Gaussian clusters."""
    generator = torch.Generator().manual_seed(seed)
    centres = 30 * torch.arange(10.0)[:, None] * torch.eye(1, dim)  # on a line, 30 apart
    labels = torch.tensor(list(clusters)).repeat(n // len(clusters) + 1)[:n]
    return centres[labels] + torch.randn(n, dim, generator=generator)


# ---------------------------------------------------------------- features

def test_batched_features_equal_torch_fidelity_extraction(tiny_images):
    """Whole batches (of another size on a CPU) give torch-fidelity's features and logits."""
    ours = quality.mnist_features(tiny_images, CPU)
    theirs = torch_fidelity_features(tiny_images)
    assert len(tiny_images) > features.CPU_BATCH  # more than one batch, and a partial last one
    for layer in (FEATURES, LOGITS):
        assert ours[layer].dtype == theirs[layer].dtype == torch.float64
        assert ours[layer].shape == theirs[layer].shape
        worst = largest_relative(ours[layer], theirs[layer])
        print(f"{layer}: bitwise {torch.equal(ours[layer], theirs[layer])}, largest relative difference {worst:.3g}")
        assert torch.allclose(ours[layer], theirs[layer], rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_features_of_real_digits_equal_torch_fidelity_extraction(mnist):
    images = mnist["test_images"]
    ours, theirs = quality.mnist_features(images, CPU), torch_fidelity_features(images)
    for layer in (FEATURES, LOGITS):
        print(f"{layer}: bitwise {torch.equal(ours[layer], theirs[layer])}")
        assert torch.allclose(ours[layer], theirs[layer], rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- FID

def pytorch_fid_of(fake_features: torch.Tensor, real_features: torch.Tensor) -> float:
    f1, f2 = fake_features.double().numpy(), real_features.double().numpy()
    return float(calculate_frechet_distance(f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0),
                                            np.cov(f2, rowvar=False)))


def test_fid_equals_pytorch_fid_on_the_same_features():
    """gan-bench's FID of features [N, 128] against the real set's statistics, on random
    features with full-rank covariances (synthetic images leave some classifier features dead)."""
    generator = torch.Generator().manual_seed(0)
    fake = torch.randn(600, 128, generator=generator, dtype=torch.float64).relu()
    real = torch.randn(700, 128, generator=generator, dtype=torch.float64).relu() * 1.1 + 0.05
    fid = quality.fid_figure(fake, fid_features_to_statistics(real))
    expected = pytorch_fid_of(fake, real)
    print(f"fid {fid:.10g}, pytorch-fid {expected:.10g}")
    assert fid == pytest.approx(expected, rel=1e-6)


@pytest.mark.slow
def test_fid_of_real_digits_equals_pytorch_fid(mnist, tmp_path):
    fake, real = mnist["train_images"][:10000], mnist["test_images"]
    fids = [quality.fid_mnist(fake, real, CPU, tmp_path) for _ in range(2)]  # computed, then from the cache
    expected = pytorch_fid_of(quality.mnist_features(fake, CPU)[FEATURES], quality.mnist_features(real, CPU)[FEATURES])
    print(f"fid_mnist {fids}, pytorch-fid {expected:.10g}")
    assert fids[0] == fids[1] == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------------------- KID

def polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Bińkowski et al.'s unbiased MMD^2 estimate with k(a, b) = (a.b / d + 1)^3, in float64:
    the within-set sums leave out the diagonal, the cross term keeps it."""
    m, d = len(x), x.shape[1]
    k_xx, k_yy, k_xy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


def independent_kid(fake: torch.Tensor, real: torch.Tensor, subset: int) -> tuple[float, float]:
    """The mean and standard deviation of the MMD over the subsets torch-fidelity draws: for
    each subset, `subset` generated then `subset` real indices without replacement, from
    one numpy RandomState seeded with its rng_seed."""
    rng = np.random.RandomState(KID_SEED)
    x, y = fake.double().numpy(), real.double().numpy()
    mmds = []
    for _ in range(KID_SUBSETS):
        i = rng.choice(len(x), subset, replace=False)
        j = rng.choice(len(y), subset, replace=False)
        mmds.append(polynomial_mmd2(x[i], y[j]))
    return float(np.mean(mmds)), float(np.std(mmds))


def test_kid_equals_an_unbiased_polynomial_mmd_on_the_same_subsets():
    """On float64 features the comparison is exact; gan-bench runs KID on float32 features,
    which moves it by a float32 rounding of the kernel sums (bounded below)."""
    generator = torch.Generator().manual_seed(0)
    fake = torch.randn(300, 32, generator=generator).relu() + 0.1
    real = torch.randn(400, 32, generator=generator).relu()
    options = quality._options(CPU, None, quality.MNIST_BATCH)
    for subset in (50, 300):
        expected = independent_kid(fake, real, subset)
        exact = kid_features_to_metric(fake.double(), real.double(), kid_subset_size=subset, **options)
        assert exact[KEY_METRIC_KID_MEAN] == pytest.approx(expected[0], rel=1e-9)
        assert exact[KEY_METRIC_KID_STD] == pytest.approx(expected[1], rel=1e-9)
    kid, kid_std = quality.kid_figures(fake, real, options)  # float32, the subset capped at 300
    expected = independent_kid(fake, real, 300)
    print(f"kid {kid:.8g} ± {kid_std:.8g}, independent {expected[0]:.8g} ± {expected[1]:.8g}")
    assert kid == pytest.approx(expected[0], rel=1e-4)
    assert kid_std == pytest.approx(expected[1], rel=1e-3)


@pytest.mark.slow
def test_kid_of_real_digits_equals_an_unbiased_polynomial_mmd(mnist, tmp_path):
    fake, real = mnist["train_images"][:10000], mnist["test_images"]
    ones = mnist["test_images"][mnist["test_labels"] == 1][:1000]
    for name, sample in (("train digits", fake), ("test ones", ones)):
        m = quality.mnist_metrics(sample, real, CPU, tmp_path)
        expected = independent_kid(quality.mnist_features(sample, CPU)[FEATURES].float(),
                                   quality.mnist_features(real, CPU)[FEATURES].float(), min(1000, len(sample)))
        print(f"{name}: kid_mnist {m['kid_mnist']:.8g} ± {m['kid_mnist_std']:.8g}, "
              f"independent {expected[0]:.8g} ± {expected[1]:.8g}")
        # float32 kernel sums of ~1e6 terms: an absolute error well below 1e-4 of a kernel value
        assert m["kid_mnist"] == pytest.approx(expected[0], rel=1e-3, abs=1e-5)
        assert m["kid_mnist_std"] == pytest.approx(expected[1], rel=1e-2, abs=1e-5)


# ---------------------------------------------------------------- precision and recall

@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("batch_size", [10000, 97])
def test_precision_recall_with_given_radii_equal_torch_fidelity(k, batch_size):
    """Random features with exact duplicates (distance 0, ties at the radius), in one chunk
    and in many."""
    generator = torch.Generator().manual_seed(k)
    real = torch.randn(500, 8, generator=generator)
    fake = torch.cat([torch.randn(300, 8, generator=generator) * 1.3 + 0.2, real[:60]])
    real = torch.cat([real, real[:20]])
    radii = precision_recall.neighbour_distances(real, k, batch_size)[:, k]
    expected = prc_features_to_metric(fake, real, prc_neighborhood=k, prc_batch_size=batch_size,
                                      save_cpu_ram=True, verbose=False)
    got = precision_recall.precision_recall(fake, real, radii, k, batch_size)
    assert got == (expected["precision"], expected["recall"])
    # the radius is the k-th value torch-fidelity takes of the same distances, bit for bit
    theirs = torch.cat([calc_cdist_part(rows, real, batch_size).kthvalue(k + 1).values
                        for rows in real.split(batch_size)])
    assert torch.equal(radii, theirs)


def test_precision_recall_refuse_radii_of_another_set():
    real, fake = torch.randn(50, 4), torch.randn(40, 4)
    with pytest.raises(ValueError, match="radii"):
        precision_recall.precision_recall(fake, real, torch.ones(49), 3, 10000)


def test_one_cluster_gets_high_precision_and_low_recall():
    """Generated points from one of ten clusters all lie among the real ones (precision ~1)
    but cover a tenth of them (recall ~0.1); swapping the roles swaps the figures."""
    one, every = clustered(300, [4], seed=1), clustered(3000, range(10), seed=2)
    radii = precision_recall.neighbour_distances(every, 3, 10000)[:, 3]
    precision, recall = precision_recall.precision_recall(one, every, radii, 3, 10000)
    print(f"one cluster as generated: precision {precision:.3f}, recall {recall:.3f}")
    assert precision > 0.9 and recall < 0.15
    radii = precision_recall.neighbour_distances(one, 3, 10000)[:, 3]
    precision, recall = precision_recall.precision_recall(every, one, radii, 3, 10000)
    print(f"every cluster as generated: precision {precision:.3f}, recall {recall:.3f}")
    assert precision < 0.15 and recall > 0.9


@pytest.mark.slow
def test_precision_recall_of_real_digits_equal_torch_fidelity_and_are_not_swapped(mnist, tmp_path):
    test, labels = mnist["test_images"], mnist["test_labels"]
    ones = test[labels == 1]
    fake = mnist["train_images"][:10000]
    m = quality.mnist_metrics(fake, test, CPU, tmp_path)
    cached = quality.mnist_metrics(fake, test, CPU, tmp_path)  # the real radii from the cache
    expected = prc_features_to_metric(quality.mnist_features(fake, CPU)[FEATURES].float(),
                                      quality.mnist_features(test, CPU)[FEATURES].float(),
                                      save_cpu_ram=True, verbose=False)
    assert (m["precision_mnist"], m["recall_mnist"]) == (cached["precision_mnist"], cached["recall_mnist"]) \
        == (expected["precision"], expected["recall"])
    only_ones = quality.mnist_metrics(ones, test, CPU, tmp_path)
    print(f"the test set's 1s against the test set: precision {only_ones['precision_mnist']:.3f}, "
          f"recall {only_ones['recall_mnist']:.3f}")
    assert only_ones["precision_mnist"] > 0.9 and only_ones["recall_mnist"] < 0.2
    against_ones = quality.mnist_metrics(test, ones, CPU, tmp_path)
    print(f"the test set against its 1s: precision {against_ones['precision_mnist']:.3f}, "
          f"recall {against_ones['recall_mnist']:.3f}")
    assert against_ones["precision_mnist"] < 0.3 and against_ones["recall_mnist"] > 0.9
