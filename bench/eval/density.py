"""Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for
Generative Models"), on any features (docs/figures.md, "Beyond FID").

Both count generated points inside the real points' k-nearest-neighbour balls. The real
balls depend only on the real set: `real_neighbourhoods` builds them once, and
`density_coverage` reuses them for every sample set. The definitions, strict
inequalities included, are those of the authors' `prdc` package, which the tests hold
these figures to.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.eval.absent import at_least, features, same_width
from bench.eval.neighbours import kth_neighbour_radii, within_radii

NEAREST_K = 5  # Naeem et al.'s k


@dataclass(frozen=True)
class RealNeighbourhoods:
    real: torch.Tensor  # [M,D]
    radii: torch.Tensor  # float64 [M]: each real point's distance to its k-th nearest other real point
    k: int


def real_neighbourhoods(real, k: int = NEAREST_K, chunk: int | None = None, device=None) -> RealNeighbourhoods:
    """The real points' k-NN balls. Needs more than k real points."""
    real = features(real, "real")
    return RealNeighbourhoods(real, kth_neighbour_radii(real, k, chunk, device), k)


@dataclass(frozen=True)
class DensityCoverage:
    density: float
    coverage: float
    k: int
    n_fake: int
    n_real: int

    def record(self) -> dict:
        return {"density": self.density, "coverage": self.coverage, "k": self.k,
                "n_fake": self.n_fake, "n_real": self.n_real}


def density_coverage(fake, real: RealNeighbourhoods, chunk: int | None = None, device=None) -> DensityCoverage:
    """density = (1 / kN) * sum over fakes j and reals i of [d(fake_j, real_i) < r_i];
    coverage = (1 / M) * sum over reals i of [min_j d(fake_j, real_i) < r_i], with r_i
    the k-NN radius of real point i.

    Density is about 1 for fakes distributed as the reals, above 1 where fakes crowd
    into dense real regions, below where they fall outside the real balls; coverage is
    the share of real points with a fake in their ball (about 1 - 2^-k = 0.97 for fakes
    distributed as the reals and as many of them; it drops when modes are missed).
    """
    fake = features(fake, "generated", generated=True)
    same_width(("generated", fake), ("real", real.real))
    at_least(fake, 1, "generated", "density and coverage")
    counts, covered = within_radii(fake, real.real, real.radii, chunk, device)
    return DensityCoverage(float(counts.sum()) / (real.k * len(fake)), float(covered.double().mean()),
                           real.k, len(fake), len(real.real))
