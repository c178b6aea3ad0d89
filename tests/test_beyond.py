"""The figures beyond FID (bench/eval/neighbours.py, copies.py, density.py,
fid_infinity.py; docs/figures.md, "Beyond FID"): exactness against brute force and the
`prdc` package, their definitions on data where the answer is known, the absent
outcomes, and (slow tier) their calibration on real MNIST features.

`.venv/bin/python -m pytest tests/test_beyond.py -s -m slow` prints the calibration figures.
"""

import numpy as np
import prdc
import pytest
import torch
from scipy.linalg import sqrtm
from scipy.stats import mannwhitneyu

from bench.errors import BenchError
from bench.eval.absent import FigureAbsent
from bench.eval.copies import (
    copy_rate,
    copy_reference,
    copying_reference,
    data_copying,
    fit_cells,
    pixel_features,
    z_u,
)
from bench.eval.density import density_coverage, real_neighbourhoods
from bench.eval.fid_infinity import fid_infinity, reference_statistics, sample_sizes
from bench.eval.neighbours import kth_neighbour_radii, nearest_distances, smallest_distances

pytestmark = pytest.mark.xdist_group("test_beyond")


def gaussian(n, d, seed, scale=1.0, shift=0.0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale + shift


def brute_distances(queries, reference):
    """Exact float64 distances without the matrix-product expansion."""
    return torch.cdist(torch.as_tensor(queries, dtype=torch.float64), torch.as_tensor(reference, dtype=torch.float64),
                       compute_mode="donot_use_mm_for_euclid_dist")


# ---------------------------------------------------------------- nearest neighbours

@pytest.mark.parametrize("dim", [3, 128, 784])
@pytest.mark.parametrize("m", [700, 2_500])  # below and above the size searched by groups
def test_nearest_distances_match_brute_force(dim, m):
    queries = gaussian(300, dim, 0, shift=4.0).float()  # ReLU-like offset: large norms, small gaps
    reference = gaussian(m, dim, 1, shift=4.0).float()
    reference[100:140] = queries[:40]  # exact copies
    reference[200:210] = reference[200]  # duplicate reference points (ties)
    queries[40] = reference[200]
    distances, indices = nearest_distances(queries, reference, chunk=37)
    expected = brute_distances(queries, reference).min(1).values
    torch.testing.assert_close(distances, expected, rtol=1e-4, atol=0)
    assert (distances[:41] == 0).all(), "an exact copy is at distance 0, not at float32 noise"
    # The index names a point at that distance.
    torch.testing.assert_close((queries.double() - reference.double()[indices]).norm(dim=1), distances,
                               rtol=1e-12, atol=1e-12)


def test_k_smallest_distances_match_brute_force():
    queries, reference = gaussian(200, 20, 2), gaussian(500, 20, 3)
    distances, _ = smallest_distances(queries, reference, k=7, chunk=64)
    expected = brute_distances(queries, reference).topk(7, dim=1, largest=False).values
    torch.testing.assert_close(distances, expected, rtol=1e-12, atol=1e-12)
    assert (distances[:, 1:] >= distances[:, :-1]).all()


@pytest.mark.parametrize("k, ring", [(3, 60), (1, 3_000), (2, 3_000)])
def test_neighbours_closer_than_float32_resolves_are_ordered_exactly(k, ring):
    # `ring` reference points at distances 10 + 1e-6 i from the query, shuffled: float32
    # cannot tell them apart (its error here is ~1e-4), so the screen's candidates are
    # arbitrary and the row must be decided on exact distances.
    generator = torch.Generator().manual_seed(4)
    directions = torch.nn.functional.normalize(torch.randn(ring, 32, generator=generator, dtype=torch.float64), dim=1)
    order = torch.randperm(ring, generator=generator)
    query = gaussian(1, 32, 5)
    reference = torch.cat([query + directions * (10 + 1e-6 * order.double())[:, None], gaussian(100, 32, 6, shift=50.0)])
    distances, indices = smallest_distances(query, reference, k=k)
    torch.testing.assert_close(distances[0], 10 + 1e-6 * torch.arange(k, dtype=torch.float64), rtol=0, atol=1e-9)
    assert indices[0].tolist() == [int((order == i).nonzero()) for i in range(k)]


def test_kth_neighbour_radii_are_prdcs():
    points = gaussian(400, 16, 7).numpy()
    expected = prdc.prdc.compute_nearest_neighbour_distances(points, 5)
    np.testing.assert_allclose(kth_neighbour_radii(points, 5, chunk=50).numpy(), expected, rtol=1e-10)


# ---------------------------------------------------------------- density and coverage

@pytest.mark.parametrize("dim, scale, shift", [(16, 1.0, 0.0), (128, 1.2, 0.3), (64, 0.5, 1.0)])
def test_density_and_coverage_are_prdcs(dim, scale, shift, capsys):
    real, fake = gaussian(800, dim, 8), gaussian(600, dim, 9, scale, shift)
    fake[:50] = real[:50]  # fakes on real points: distance 0 to their own ball's centre
    expected = prdc.compute_prdc(real.numpy(), fake.numpy(), nearest_k=5)
    got = density_coverage(fake, real_neighbourhoods(real, 5, chunk=100), chunk=70)
    assert got.density == pytest.approx(expected["density"], abs=1e-6)
    assert got.coverage == pytest.approx(expected["coverage"], abs=1e-6)
    assert (got.k, got.n_fake, got.n_real) == (5, 600, 800)


def test_density_and_coverage_read_as_documented():
    real = real_neighbourhoods(gaussian(2000, 8, 10))
    same = density_coverage(gaussian(2000, 8, 11), real)
    assert 0.85 < same.density < 1.15 and 0.93 < same.coverage < 0.99  # E[coverage] = 1 - 2^-5 = 0.97
    collapsed = density_coverage(gaussian(2000, 8, 12, scale=0.05), real)  # every sample near the mode
    assert collapsed.density > 1.5 and collapsed.coverage < 0.05
    outside = density_coverage(gaussian(2000, 8, 13, shift=10.0), real)
    assert outside.density == 0 and outside.coverage == 0


# ---------------------------------------------------------------- copy rate

def test_copy_rate_is_the_share_below_the_tests_first_percentile():
    train, test, fresh = gaussian(4000, 16, 14), gaussian(2000, 16, 15), gaussian(3000, 16, 16)
    reference = copy_reference(train, test, chunk=333)
    test_nn = brute_distances(test, train).min(1).values.numpy()
    assert reference.threshold == pytest.approx(np.percentile(test_nn, 1), rel=1e-12)
    got = copy_rate(fresh, reference)
    expected = (brute_distances(fresh, train).min(1).values.numpy() < reference.threshold).mean()
    assert got.copy_rate == expected and got.copies == round(expected * 3000)
    assert 0.004 < got.copy_rate < 0.02  # unseen data from the training distribution: ~1%
    copies = copy_rate(torch.cat([train[:2000], fresh[:2000]]), reference)
    assert 0.5 < copies.copy_rate < 0.52  # every copied sample, and ~1% of the rest
    assert copies.record()["n_samples"] == 4000 and copies.record()["percentile"] == 1.0


def test_pixel_features_flatten_uint8_images(tiny_images):
    pixels = pixel_features(tiny_images)
    assert pixels.shape == (256, 784) and pixels.dtype == torch.float32
    assert torch.equal(pixels[3].reshape(1, 28, 28), tiny_images[3].float())
    with pytest.raises(ValueError, match="uint8"):
        pixel_features(tiny_images.float())


# ---------------------------------------------------------------- C_T

def brute_c_t(samples, test, reference, tau):
    """C_T from its definition, on brute-force distances and scipy's U."""
    cells = reference.cells
    sample_cells = brute_distances(samples, cells.centroids).argmin(1)
    test_cells = brute_distances(test, cells.centroids).argmin(1)
    zs, weights = [], []
    for c in range(len(cells.centroids)):
        train_c = reference.train[cells.train_cells == c]
        s, t = samples[sample_cells == c], test[test_cells == c]
        if len(s) <= tau or len(t) == 0:
            continue
        ds, dt = brute_distances(s, train_c).min(1).values.numpy(), brute_distances(t, train_c).min(1).values.numpy()
        u = mannwhitneyu(ds, dt).statistic
        m, n = len(ds), len(dt)
        zs.append((u - m * n / 2 + 0.5) / np.sqrt(m * n * (n + m + 1) / 12))
        weights.append(n)
    return float(np.dot(weights, zs) / np.sum(weights))


def test_c_t_is_its_definition():
    train, test, samples = gaussian(3000, 6, 17), gaussian(800, 6, 18), gaussian(900, 6, 19, scale=0.9)
    reference = copying_reference(train, test, fit_cells(train, k=8, seed=3), chunk=101)
    got = data_copying(samples, reference, chunk=57)
    assert got.c_t == pytest.approx(brute_c_t(samples, test, reference, 20), rel=1e-9)
    kept = [c for c in got.cells if c.dropped is None]
    weights = np.array([c.n_test for c in kept])
    assert got.c_t == pytest.approx(np.dot(weights, [c.z for c in kept]) / weights.sum(), rel=1e-12)
    record = got.record()
    assert (record["k"], record["seed"], record["tau_samples"], record["n_samples"], record["n_test"]) == (
        8,
        3,
        20,
        900,
        800,
    )
    assert record["cells_kept"] + record["cells_dropped"] == len(reference.cells.centroids)


def test_z_u_is_the_continuity_corrected_u_score():
    below, above = np.arange(30.0), np.arange(100.0, 140.0)
    m, n = 30, 40
    assert z_u(below, above) == pytest.approx((0.5 - m * n / 2) / np.sqrt(m * n * (m + n + 1) / 12))
    assert z_u(above, below) == pytest.approx((m * n + 0.5 - m * n / 2) / np.sqrt(m * n * (m + n + 1) / 12))


def blobs(n_per_blob, seed, centres):
    parts = [gaussian(n, 4, seed + i, scale=0.5) + torch.tensor(c, dtype=torch.float64)
             for i, (n, c) in enumerate(zip(n_per_blob, centres))]
    return torch.cat(parts)


CENTRES = [(0, 0, 0, 0), (20, 0, 0, 0), (0, 20, 0, 0)]


def test_c_t_keeps_cells_with_more_than_tau_samples():
    train, test = blobs([500, 500, 500], 20, CENTRES), blobs([100, 100, 100], 30, CENTRES)
    reference = copying_reference(train, test, fit_cells(train, k=3, seed=0))
    samples = blobs([21, 20, 40], 40, CENTRES)
    got = data_copying(samples, reference)
    cell_of = reference.cells.assign(torch.tensor(CENTRES, dtype=torch.float64)).tolist()
    assert sorted(cell_of) == [0, 1, 2], "k-means found the three blobs"
    assert set(got.kept) == {cell_of[0], cell_of[2]}
    assert got.dropped == {cell_of[1]: "20 samples, not more than 20"}
    scores = {c.cell: c for c in got.cells}
    assert scores[cell_of[0]].n_samples == 21 and scores[cell_of[1]].z is None
    assert abs(got.c_t) < 3, "samples drawn as the test points are: no copying"


def test_c_t_reads_copies_below_zero_and_underfitting_above():
    train, test = blobs([1000, 1000, 1000], 50, CENTRES), blobs([200, 200, 200], 60, CENTRES)
    reference = copying_reference(train, test, fit_cells(train, k=6, seed=1))
    copies = data_copying(train[::5] + 1e-3, reference)  # near-copies of training points
    assert copies.c_t < -10
    blurry = data_copying(blobs([200, 200, 200], 70, CENTRES) * 1.5, reference)  # farther from every training point
    assert blurry.c_t > 5
    fresh = data_copying(blobs([200, 200, 200], 80, CENTRES), reference)
    assert abs(fresh.c_t) < 3


# ---------------------------------------------------------------- FID-infinity

def test_sample_sizes_are_evenly_spaced_in_one_over_n():
    ns = sample_sizes(10_000, 2_000, 15)
    assert ns[0] == 2_000 and ns[-1] == 10_000 and len(ns) == 15
    # rounded to whole samples
    np.testing.assert_allclose(np.diff(1 / np.array(ns)), -(1 / 2000 - 1 / 10000) / 14, rtol=5e-3)


def test_fid_infinity_approaches_the_closed_form():
    # Two Gaussians, so the FID of infinitely many samples is known exactly.
    rng = np.random.default_rng(1)
    d = 128

    def covariance():
        a = rng.standard_normal((d, d)) / np.sqrt(d)
        return a @ a.T + 0.1 * np.eye(d)

    sigma_fake, sigma_real, mu = covariance(), covariance(), np.zeros(d)
    true = float(np.trace(sigma_fake + sigma_real - 2 * sqrtm(sigma_fake @ sigma_real).real))
    chol = np.linalg.cholesky(sigma_fake)
    errors_inf, errors_full = [], []
    for seed in range(3):
        samples = np.random.default_rng(10 + seed).standard_normal((10_000, d)) @ chol.T
        got = fid_infinity(torch.from_numpy(samples), {"mu": mu, "sigma": sigma_real}, seed=seed)
        assert got.ns == tuple(sample_sizes(10_000)) and len(got.fids) == 15
        assert got.fids[0] > true and got.slope > 0, "FID_N is biased upwards, by a term in 1/N"
        assert abs(got.fid_inf - true) < 0.25 * abs(got.fids[0] - true)
        errors_inf.append(abs(got.fid_inf - true))
        errors_full.append(abs(got.fids[-1] - true))
    assert np.mean(errors_inf) < np.mean(errors_full), "FID-infinity beats FID on all 10,000 samples"


def test_fid_infinity_uses_torch_fidelitys_fid_against_the_full_reference():
    real, fake = gaussian(3000, 8, 90), gaussian(2500, 8, 91, scale=1.3)
    reference = reference_statistics(real)
    got = fid_infinity(fake, reference, n_min=500, points=5, seed=7)
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    full = fid_statistics_to_metric(fid_features_to_statistics(fake), reference, False)["frechet_inception_distance"]
    assert got.ns[-1] == 2500 and got.fids[-1] == pytest.approx(full, rel=1e-12)
    slope, intercept = np.polyfit(1 / np.array(got.ns), got.fids, 1)
    assert (got.slope, got.fid_inf) == pytest.approx((slope, intercept), rel=1e-9)
    again = fid_infinity(fake, reference, n_min=500, points=5, seed=7)
    assert again == got, "seeded: the same subsets every time"


# ---------------------------------------------------------------- absent figures

def test_diverged_samples_are_a_status_not_a_number():
    train, test = gaussian(500, 4, 100), gaussian(200, 4, 101)
    samples = gaussian(100, 4, 102)
    samples[7, 2] = float("nan")
    samples[9, 0] = float("inf")
    calls = [
        lambda: copy_rate(samples, copy_reference(train, test)),
        lambda: data_copying(samples, copying_reference(train, test, fit_cells(train, k=2))),
        lambda: density_coverage(samples, real_neighbourhoods(test)),
        lambda: fid_infinity(torch.cat([samples] * 30), reference_statistics(test), n_min=100),
    ]
    for call in calls:
        with pytest.raises(FigureAbsent, match=r"generated features are not finite \(NaN or inf\): the generator diverged"):
            call()
    assert issubclass(FigureAbsent, BenchError), "uncaught, the CLI prints it as one error line"


def test_too_small_sets_say_what_they_need():
    train, test = gaussian(500, 4, 110), gaussian(99, 4, 111)
    cases = [
        (lambda: copy_reference(train, test), "needs at least 100 test points, got 99"),
        (lambda: fit_cells(train[:40], k=50), "50 k-means cells needs at least 50 training points, got 40"),
        (lambda: real_neighbourhoods(test[:5], k=5), "needs at least 6 real points, got 5"),
        (lambda: fid_infinity(gaussian(2000, 4, 112), reference_statistics(test)), "more than 2000 samples"),
        (lambda: data_copying(gaussian(20, 4, 113), copying_reference(train, test, fit_cells(train, k=2))),
         "no cell holds more than 20 of the 20 samples"),
    ]
    for call, message in cases:
        with pytest.raises(FigureAbsent, match=message):
            call()


def test_malformed_inputs_are_refused_before_use():
    with pytest.raises(ValueError, match="widths differ"):
        nearest_distances(gaussian(3, 4, 0), gaussian(3, 5, 0))
    with pytest.raises(ValueError, match=r"must be \[N,D\]"):
        nearest_distances(gaussian(3, 4, 0)[0], gaussian(3, 4, 0))
    with pytest.raises(ValueError, match=r"mu \[4\] and sigma \[4,4\]"):
        fid_infinity(gaussian(300, 4, 0), {"mu": np.zeros(4), "sigma": np.eye(3)}, n_min=100)
    with pytest.raises(FigureAbsent, match="reference statistics are not finite"):
        fid_infinity(gaussian(300, 4, 0), {"mu": np.full(4, np.nan), "sigma": np.eye(4)}, n_min=100)
    with pytest.raises(FigureAbsent, match=r"training features are not finite \(NaN or inf\)$"):
        copy_reference(torch.full((200, 4), float("nan")), gaussian(200, 4, 0))


# ---------------------------------------------------------------- calibration on real MNIST (slow)

@pytest.fixture(scope="module")
def mnist_views(mnist):
    """The classifier's features and the pixels of the 60,000 training and 10,000 test digits,
    with the seeded draws the calibration uses: 10,000 training digits to play a generator
    that copies, and the test digits split in two halves (one held out, one played)."""
    from bench.eval.classifier import load_classifier
    from bench.eval.features import full_float32

    model = load_classifier("cpu")

    def extract(images):
        with torch.no_grad(), full_float32():
            return torch.cat([model.features(images[i:i + 1000])[0] for i in range(0, len(images), 1000)])

    generator = torch.Generator().manual_seed(0)
    views = {"features": {"train": extract(mnist["train_images"]), "test": extract(mnist["test_images"])},
             "pixels": {"train": pixel_features(mnist["train_images"]), "test": pixel_features(mnist["test_images"])}}
    copied = torch.randperm(60_000, generator=generator)[:10_000]
    halves = torch.randperm(10_000, generator=generator).split(5_000)
    return views, copied, halves


@pytest.mark.slow
@pytest.mark.parametrize("view", ["features", "pixels"])
def test_copy_rate_calibration_on_mnist(mnist_views, view):
    views, copied, (held_out, played) = mnist_views
    train, test = views[view]["train"], views[view]["test"]
    copies = copy_rate(train[copied], copy_reference(train, test))
    unseen = copy_rate(test[played], copy_reference(train, test[held_out]))
    print(f"\ncopy rate ({view}): 10,000 training digits {copies.copy_rate:.4f} (threshold {copies.threshold:.4g}); "
          f"5,000 test digits against the other 5,000 {unseen.copy_rate:.4f} (threshold {unseen.threshold:.4g})")
    assert copies.copy_rate == 1.0, "a training digit is at distance 0 from the training set"
    assert 0.004 < unseen.copy_rate < 0.02, "unseen digits: about 1% by construction"


@pytest.mark.slow
def test_c_t_calibration_on_mnist(mnist_views):
    views, copied, (held_out, played) = mnist_views
    train, test = views["features"]["train"], views["features"]["test"]
    cells = fit_cells(train)
    copies = data_copying(train[copied], copying_reference(train, test, cells))
    unseen = data_copying(test[played], copying_reference(train, test[held_out], cells))
    print(f"\nC_T (features, {len(cells.centroids)} cells): 10,000 training digits {copies.c_t:.2f} "
          f"({len(copies.kept)} cells kept); 5,000 test digits against the other 5,000 {unseen.c_t:.2f} "
          f"({len(unseen.kept)} cells kept)")
    assert copies.c_t < -10, "copying"
    assert abs(unseen.c_t) < 3, "unseen digits are no copies"


@pytest.mark.slow
def test_density_and_coverage_are_prdcs_on_mnist_features(mnist_views, capsys):
    views, copied, _ = mnist_views
    # 5,000 of each keeps prdc's three dense distance matrices to ~600 MB.
    real, fake = views["features"]["test"][:5000].double(), views["features"]["train"][copied[:5000]].double()
    expected = prdc.compute_prdc(real.numpy(), fake.numpy(), nearest_k=5)
    got = density_coverage(fake, real_neighbourhoods(real))
    with capsys.disabled():
        print(f"\ndensity/coverage (features, 5,000 training digits against 5,000 test digits): "
              f"{got.density:.4f} / {got.coverage:.4f}; prdc {expected['density']:.4f} / {expected['coverage']:.4f}")
    assert got.density == pytest.approx(expected["density"], abs=1e-6)
    assert got.coverage == pytest.approx(expected["coverage"], abs=1e-6)
