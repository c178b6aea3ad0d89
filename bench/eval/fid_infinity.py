"""FID without its sample-size bias: FID-infinity (Chong & Forsyth 2020, "Effectively
Unbiased FID and Inception Score and where to find them"), docs/figures.md, "Beyond FID".

FID on N samples overestimates the FID of the generator by a term that falls as 1/N
(the sampling error of the generated mean and covariance), so FIDs on different sample
counts are not comparable. Computed on random subsets of several sizes, FID_N lies on a
line in 1/N; its intercept at 1/N = 0 estimates the FID of infinitely many samples.
Every FID_N here is torch-fidelity's, against the real set's full statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import linregress
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric

from bench.eval.absent import FigureAbsent, features

N_MIN = 2_000
POINTS = 15
SEED = 0


@dataclass(frozen=True)
class FidInfinity:
    fid_inf: float  # the fit's intercept at 1/N = 0
    slope: float  # d FID_N / d(1/N)
    intercept_stderr: float  # the least-squares standard error of fid_inf
    ns: tuple[int, ...]
    fids: tuple[float, ...]
    seed: int
    n_samples: int

    def record(self) -> dict:
        return {"fid_inf": self.fid_inf, "slope": self.slope, "intercept_stderr": self.intercept_stderr,
                "ns": list(self.ns), "fids": list(self.fids), "seed": self.seed, "n_samples": self.n_samples}


def reference_statistics(real) -> dict:
    """torch-fidelity's FID statistics ({"mu", "sigma"}, float64) of real features."""
    return fid_features_to_statistics(features(real, "real").double().cpu())


def checked_statistics(stats: dict, dim: int) -> dict:
    """`stats` as float64 arrays, refused unless mu is [D] and sigma [D,D], both finite."""
    try:
        mu, sigma = np.asarray(stats["mu"], dtype=np.float64), np.asarray(stats["sigma"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"reference statistics must hold numeric mu and sigma: {error}") from None
    if mu.shape != (dim,) or sigma.shape != (dim, dim):
        raise ValueError(f"reference statistics must be mu [{dim}] and sigma [{dim},{dim}], "
                         f"got {mu.shape} and {sigma.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise FigureAbsent("the reference statistics are not finite (NaN or inf)")
    return {"mu": mu, "sigma": sigma}


def sample_sizes(n_max: int, n_min: int = N_MIN, points: int = POINTS) -> list[int]:
    """`points` sample counts from n_min to n_max, evenly spaced in 1/N (the fit's axis),
    rounded to whole samples; repeats after rounding are dropped."""
    if points < 2:
        raise ValueError(f"a line needs at least 2 points, got {points}")
    return sorted({round(1 / x) for x in np.linspace(1 / n_min, 1 / n_max, points)})


def fid_infinity(samples, reference: dict, n_min: int = N_MIN, points: int = POINTS, seed: int = SEED) -> FidInfinity:
    """FID_N on a random subset of N of the samples (drawn without replacement, a fresh
    subset per N, from a numpy Generator seeded with `seed`) at each N of
    `sample_sizes(len(samples), n_min, points)`, and the least-squares line
    FID_N = fid_inf + slope / N.

    `reference` is the real set's {"mu", "sigma"} (`reference_statistics`). Raises
    FigureAbsent with fewer than n_min + 1 samples (no line to fit) or non-finite samples.
    """
    samples = features(samples, "generated", generated=True).double().cpu()
    if n_min < 2:
        raise ValueError(f"n_min must be at least 2 (a covariance), got {n_min}")
    if len(samples) <= n_min:
        raise FigureAbsent(f"FID-infinity needs more than {n_min} samples (FID at several sample counts "
                           f"from {n_min} up), got {len(samples)}")
    reference = checked_statistics(reference, samples.shape[1])
    ns = sample_sizes(len(samples), n_min, points)
    rng = np.random.default_rng(seed)
    fids = []
    for n in ns:
        subset = samples[torch.from_numpy(rng.permutation(len(samples))[:n])]
        fids.append(fid_statistics_to_metric(fid_features_to_statistics(subset), reference, False)[KEY_METRIC_FID])
    fit = linregress(1 / np.asarray(ns, dtype=np.float64), np.asarray(fids))
    return FidInfinity(float(fit.intercept), float(fit.slope), float(fit.intercept_stderr), tuple(ns),
                       tuple(float(f) for f in fids), seed, len(samples))
