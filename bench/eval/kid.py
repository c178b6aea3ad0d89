"""KID (Bińkowski et al. 2018) as torch-fidelity computes it, with the real set's part cached.

torch-fidelity's `kid_features_to_metric` draws, in each of `kid_subsets` rounds, a subset of
the generated features and then one of the real features from a single
`RandomState(rng_seed)`, and takes the unbiased MMD² of the two under the cubic kernel
k(x, y) = (x·y / d + 1)³; KID is the mean over rounds, its spread their standard deviation.

Each round's sum over the real subset's own pairs depends only on the real features, the
seed and the two set sizes (they fix the draws), so it is computed once and cached beside the
real set's features (bench/eval/features.py `reference_kid_part`): a third of the work of
every later call. Every other operation is torch-fidelity's, in its order and dtype, so the
figures are equal to its, not close (tests/test_kid.py). That includes numpy's `** 3`,
although two multiplications would be ten times faster: they round differently, and KID is
a small difference of sums near 1, so a last-bit change per kernel entry moves a KID of
1e-3 by 1e-5 of itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch_fidelity.helpers import get_kwarg
from torch_fidelity.metric_kid import kernel_poly


@dataclass(frozen=True)
class Draw:
    """What fixes the rounds' subsets: the set sizes, the subset size, the rounds and the seed."""
    n_fake: int
    n_real: int
    size: int
    subsets: int
    seed: int

    def name(self) -> str:
        return f"kid-nf{self.n_fake}-nr{self.n_real}-m{self.size}-r{self.subsets}-seed{self.seed}"


def draw_of(n_fake: int, n_real: int, size: int, options: dict) -> Draw:
    kernel = (get_kwarg("kid_kernel", options), get_kwarg("kid_kernel_poly_degree", options),
              get_kwarg("kid_kernel_poly_gamma", options), get_kwarg("kid_kernel_poly_coef0", options))
    if kernel != ("poly", 3, None, 1):
        raise ValueError(f"gan-bench computes KID with torch-fidelity's default kernel only, got {kernel}")
    if min(n_fake, n_real) < size or size < 2:
        raise ValueError(f"KID subsets of {size} need at least {size} samples per side, got {n_fake} and {n_real}")
    return Draw(n_fake, n_real, size, get_kwarg("kid_subsets", options), get_kwarg("rng_seed", options))


def subset_indices(draw: Draw) -> list[tuple[np.ndarray, np.ndarray]]:
    """(generated rows, real rows) of each round, drawn in torch-fidelity's order."""
    rng = np.random.RandomState(draw.seed)
    return [(rng.choice(draw.n_fake, draw.size, replace=False), rng.choice(draw.n_real, draw.size, replace=False))
            for _ in range(draw.subsets)]


def kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """torch-fidelity's cubic kernel, (x·y / d + 1)³, with its default options (`draw_of` holds to them)."""
    return kernel_poly(x, y, kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1)


def off_diagonal_sum(k: np.ndarray):
    """Σ_{i≠j} k_ij, summed as torch-fidelity's `mmd2` sums it."""
    return (k.sum(axis=1) - np.diagonal(k)).sum()


def real_part(real: torch.Tensor, draw: Draw) -> torch.Tensor:
    """Each round's off-diagonal kernel sum over its real subset [subsets] (the features' dtype)."""
    features = real.cpu().numpy()
    sums = [off_diagonal_sum(kernel(features[rows], features[rows])) for _, rows in subset_indices(draw)]
    return torch.from_numpy(np.array(sums, dtype=features.dtype))


def kid(fake: torch.Tensor, real: torch.Tensor, draw: Draw, real_sums: torch.Tensor | None = None
        ) -> tuple[float, float]:
    """KID's mean and standard deviation over the draw's rounds; `real_sums` from `real_part`
    (computed here when not given)."""
    if fake.dtype != real.dtype or fake.shape[1] != real.shape[1] or (len(fake), len(real)) != (draw.n_fake,
                                                                                                 draw.n_real):
        raise ValueError(f"KID features do not fit the draw: {tuple(fake.shape)} {fake.dtype}, "
                         f"{tuple(real.shape)} {real.dtype}, {draw}")
    if real_sums is None:
        real_sums = real_part(real, draw)
    fake_np, real_np, yy = fake.cpu().numpy(), real.cpu().numpy(), real_sums.numpy()
    m = draw.size
    mmds = np.zeros(draw.subsets)
    for i, (fake_rows, real_rows) in enumerate(subset_indices(draw)):
        f1, f2 = fake_np[fake_rows], real_np[real_rows]
        xx = off_diagonal_sum(kernel(f1, f1))
        xy = kernel(f1, f2).sum(axis=0).sum()
        mmds[i] = (xx + yy[i]) / (m * (m - 1)) - 2 * xy / (m * m)
    return float(np.mean(mmds)), float(np.std(mmds))
