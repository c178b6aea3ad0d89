"""Copies of the training set: the copy rate, and Meehan et al.'s C_T data-copying test
(docs/figures.md, "Beyond FID").

FID cannot tell a generator that learned the digits from one that replays its training
set: both match the real feature statistics. Both figures here look instead at how near
each sample lies to the training set, measured against how near unseen real digits (the
held-out test images) lie to it. They take features [N,D] of any kind: the classifier's
128-d features, or pixels (uint8 images flattened to 784 floats) as a second view.

What depends only on the training and test sets (their nearest-neighbour distances, the
k-means cells) is built once, by `copy_reference` and `copying_reference`, and reused for
every sample set.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy.cluster.vq import kmeans2
from scipy.stats import mannwhitneyu

from bench.eval.absent import FigureAbsent, at_least, features, same_width
from bench.eval.neighbours import nearest_distances, search

COPY_PERCENTILE = 1.0  # the share of unseen real digits allowed below the threshold, in %
CELLS = 50  # k-means cells, as Meehan et al. partition MNIST
TAU_SAMPLES = 20  # a cell counts only with more than this many samples (their tau = 20 / m)
KMEANS_ITERATIONS = 10  # scipy's kmeans2 default
KMEANS_SEED = 0
# k-means fits on this many training points: scipy's k-means++ start costs k passes over
# them (~1 s per 10,000 on 2 cores); every training point is then placed in its cell.
KMEANS_FIT_SIZE = 10_000


def pixel_features(images: torch.Tensor) -> torch.Tensor:
    """uint8 images [N,C,H,W] as float32 [N,C*H*W] pixel vectors (0..255): the pixel view."""
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"expected uint8 images [N,C,H,W], got {images.dtype} {tuple(images.shape)}")
    return images.flatten(1).float()


# ---------------------------------------------------------------- copy rate

@dataclass(frozen=True)
class CopyReference:
    """The training set and the threshold distance, from the held-out test set."""

    train: torch.Tensor  # [M,D]
    test_distances: torch.Tensor  # float64 [n]: each test point's distance to its nearest training point
    percentile: float
    threshold: float  # the `percentile`-th percentile of test_distances


def copy_reference(train, test, percentile: float = COPY_PERCENTILE, chunk: int | None = None,
                   device=None) -> CopyReference:
    """The copy-rate threshold: the `percentile`-th percentile (numpy's linear
    interpolation) of the test points' nearest-training distances. Needs at least
    100 / percentile test points (100 at 1%), so that the percentile lies between
    observed distances rather than beyond the smallest."""
    if not 0 < percentile < 100:
        raise ValueError(f"percentile must be in (0, 100), got {percentile}")
    train, test = features(train, "training"), features(test, "test")
    same_width(("training", train), ("test", test))
    at_least(train, 1, "training", "the copy rate")
    at_least(test, int(np.ceil(100 / percentile)), "test", f"a {percentile:g}th-percentile threshold")
    distances = nearest_distances(test, train, chunk, device)[0]
    threshold = float(np.percentile(distances.numpy(), percentile))
    return CopyReference(train, distances, percentile, threshold)


@dataclass(frozen=True)
class CopyRate:
    copy_rate: float  # share of samples strictly nearer to a training point than `threshold`
    copies: int
    n_samples: int
    n_test: int
    percentile: float
    threshold: float

    def record(self) -> dict:
        return {"copy_rate": self.copy_rate, "copies": self.copies, "n_samples": self.n_samples,
                "n_test": self.n_test, "percentile": self.percentile, "threshold": self.threshold}


def copy_rate(samples, reference: CopyReference, chunk: int | None = None, device=None) -> CopyRate:
    """The share of samples nearer to a training point than all but `percentile`% of the
    held-out test points are: mean(d(sample, training) < threshold), d the Euclidean
    distance to the nearest training point.

    Unseen real digits score about `percentile`% (1%) by construction; a generator that
    replays training digits puts far more of its samples below that distance.
    """
    samples = features(samples, "generated", generated=True)
    same_width(("generated", samples), ("training", reference.train))
    at_least(samples, 1, "generated", "the copy rate")
    distances = nearest_distances(samples, reference.train, chunk, device)[0]
    copies = int((distances < reference.threshold).sum())
    return CopyRate(copies / len(samples), copies, len(samples), len(reference.test_distances),
                    reference.percentile, reference.threshold)


# ---------------------------------------------------------------- C_T (Meehan et al. 2020)

@dataclass(frozen=True)
class Cells:
    """A partition of feature space into the k-means cells of the training set."""

    centroids: torch.Tensor  # float64 [cells,D]: the cells that hold training points
    train_cells: torch.Tensor  # int64 [M]: each training point's cell
    k: int  # cells asked of k-means; `len(centroids)` may be fewer (an empty cell is dropped)
    seed: int
    iterations: int
    fit_size: int  # training points k-means was fitted on

    def assign(self, x: torch.Tensor, chunk: int | None = None, device=None) -> torch.Tensor:
        """Each point's cell: its nearest centroid."""
        return nearest_distances(x, self.centroids, chunk, device)[1]


def fit_cells(train, k: int = CELLS, seed: int = KMEANS_SEED, fit_size: int | None = KMEANS_FIT_SIZE,
              iterations: int = KMEANS_ITERATIONS, chunk: int | None = None, device=None) -> Cells:
    """k-means cells of the training features (scipy's kmeans2, k-means++ start, seeded
    numpy Generator), fitted on `fit_size` training points drawn with the same generator
    (None: all) and then holding every training point by its nearest centroid. A centroid
    no training point is nearest to is dropped, so every cell has training points."""
    train = features(train, "training")
    at_least(train, k, "training", f"{k} k-means cells")
    rng = np.random.default_rng(seed)
    fit = train
    if fit_size is not None and fit_size < len(train):
        if fit_size < k:
            raise ValueError(f"k-means needs at least {k} points to fit {k} cells, fit_size is {fit_size}")
        fit = train[torch.from_numpy(rng.choice(len(train), fit_size, replace=False))]
    with warnings.catch_warnings():
        # An empty cluster during the iterations only warns; the empty cells are dropped below.
        warnings.simplefilter("ignore")
        centroids, _ = kmeans2(fit.double().numpy(), k, iter=iterations, minit="++", rng=rng)
    centroids = torch.from_numpy(centroids)
    cells = nearest_distances(train, centroids, chunk, device)[1]
    used = torch.unique(cells)
    centroids = centroids[used]
    renumber = torch.full((k,), -1, dtype=torch.int64)
    renumber[used] = torch.arange(len(used))
    return Cells(centroids, renumber[cells], k, seed, iterations, len(fit))


def cell_distances(points: torch.Tensor, point_cells: torch.Tensor, train: torch.Tensor, cells: Cells,
                   only: set[int] | None = None, chunk: int | None = None, device=None) -> torch.Tensor:
    """Each point's distance to the nearest training point of its own cell (float64 [N];
    NaN for points in cells outside `only`). `points` and `train` are checked features."""
    out = torch.full((len(points),), float("nan"), dtype=torch.float64)
    count = len(cells.centroids)
    by_cell = torch.argsort(point_cells).split(torch.bincount(point_cells, minlength=count).tolist())
    train_by_cell = torch.argsort(cells.train_cells).split(torch.bincount(cells.train_cells, minlength=count).tolist())
    for cell, (mine, theirs) in enumerate(zip(by_cell, train_by_cell)):
        if len(mine) and (only is None or cell in only):
            out[mine] = search(points[mine], train[theirs], 1, chunk, device)[0][:, 0]
    return out


@dataclass(frozen=True)
class CopyingReference:
    """What C_T needs of the training and test sets, built once."""

    train: torch.Tensor  # [M,D]
    cells: Cells
    test_cells: torch.Tensor  # int64 [n]
    test_distances: torch.Tensor  # float64 [n]: distance to the nearest training point of the same cell


def copying_reference(train, test, cells: Cells | None = None, chunk: int | None = None,
                      device=None) -> CopyingReference:
    """The cells (`fit_cells` with its defaults unless given) and the test points' cells
    and within-cell nearest-training distances."""
    train, test = features(train, "training"), features(test, "test")
    same_width(("training", train), ("test", test))
    cells = cells if cells is not None else fit_cells(train, chunk=chunk, device=device)
    if len(cells.train_cells) != len(train):
        raise ValueError(f"the cells hold {len(cells.train_cells)} training points, the training set has {len(train)}")
    test_cells = cells.assign(test, chunk, device)
    return CopyingReference(train, cells, test_cells, cell_distances(test, test_cells, train, cells,
                                                                     chunk=chunk, device=device))


@dataclass(frozen=True)
class CellScore:
    cell: int
    n_samples: int
    n_test: int
    z: float | None  # None where the cell is dropped
    dropped: str | None  # why, where it is

    def record(self) -> dict:
        return {"cell": self.cell, "n_samples": self.n_samples, "n_test": self.n_test, "z": self.z,
                "dropped": self.dropped}


@dataclass(frozen=True)
class DataCopying:
    c_t: float
    cells: tuple[CellScore, ...]
    tau_samples: int
    k: int
    seed: int
    iterations: int
    fit_size: int
    n_samples: int
    n_test: int

    @property
    def kept(self) -> tuple[int, ...]:
        return tuple(c.cell for c in self.cells if c.dropped is None)

    @property
    def dropped(self) -> dict[int, str]:
        return {c.cell: c.dropped for c in self.cells if c.dropped is not None}

    def record(self) -> dict:
        return {"c_t": self.c_t, "tau_samples": self.tau_samples, "k": self.k, "seed": self.seed,
                "iterations": self.iterations, "fit_size": self.fit_size, "n_samples": self.n_samples,
                "n_test": self.n_test, "cells_kept": len(self.kept), "cells_dropped": len(self.dropped),
                "cells": [c.record() for c in self.cells]}


def z_u(sample_distances: np.ndarray, test_distances: np.ndarray) -> float:
    """Meehan et al.'s Z_U: the Mann-Whitney U of the samples' distances against the test
    points' (U = #pairs with the sample farther, ties counting 1/2, as scipy counts the
    first sample's U), z-scored under the null that both come from one distribution, with
    the continuity correction of the one-sided test for copying (the authors' code):
    Z = (U - nm/2 + 1/2) / sqrt(nm(n+m+1)/12). Far below 0: samples nearer to the
    training set than unseen data."""
    m, n = len(sample_distances), len(test_distances)
    u = mannwhitneyu(sample_distances, test_distances, alternative="less", method="asymptotic").statistic
    return float((u - n * m / 2 + 0.5) / np.sqrt(n * m * (n + m + 1) / 12))


def data_copying(samples, reference: CopyingReference, tau_samples: int = TAU_SAMPLES,
                 chunk: int | None = None, device=None) -> DataCopying:
    """Meehan et al.'s C_T three-sample test of data copying.

    Each sample, and each held-out test point, is placed in its k-means cell of the
    training set, and measured by its distance to the nearest training point of that
    cell. Per cell, Z_U (`z_u`) compares the samples' distances with the test points'.
    A cell is kept when it holds more than `tau_samples` samples (Meehan et al.'s
    Q_m(cell) > tau with tau = 20/m) and at least one test point; C_T is the average of
    the kept cells' Z_U weighted by each cell's share of the test points. C_T far below 0
    means copying; far above 0, samples farther from the training set than unseen data
    (under-fitting); real unseen digits score about 0. Raises FigureAbsent when no cell
    is kept.
    """
    samples = features(samples, "generated", generated=True)
    same_width(("generated", samples), ("training", reference.train))
    cells = reference.cells
    count = len(cells.centroids)
    sample_cells = cells.assign(samples, chunk, device)
    n_samples = torch.bincount(sample_cells, minlength=count)
    n_test = torch.bincount(reference.test_cells, minlength=count)
    keep = {c for c in range(count) if n_samples[c] > tau_samples and n_test[c] > 0}
    distances = cell_distances(samples, sample_cells, reference.train, cells, only=keep, chunk=chunk, device=device)
    scores = []
    for c in range(count):
        m, n = int(n_samples[c]), int(n_test[c])
        if c in keep:
            z = z_u(distances[sample_cells == c].numpy(), reference.test_distances[reference.test_cells == c].numpy())
            scores.append(CellScore(c, m, n, z, None))
        else:
            why = f"{m} samples, not more than {tau_samples}" if m <= tau_samples else "no test points"
            scores.append(CellScore(c, m, n, None, why))
    kept = [s for s in scores if s.dropped is None]
    if not kept:
        raise FigureAbsent(f"C_T: no cell holds more than {tau_samples} of the {len(samples)} samples "
                           f"and a test point ({count} cells)")
    weights = np.array([s.n_test for s in kept], dtype=np.float64)
    c_t = float(np.dot(weights, [s.z for s in kept]) / weights.sum())
    return DataCopying(c_t, tuple(scores), tau_samples, cells.k, cells.seed, cells.iterations, cells.fit_size,
                       len(samples), len(reference.test_cells))
