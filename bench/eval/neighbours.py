"""Exact nearest-neighbour distances between feature sets, in chunks, for the figures
beyond FID (copies of the training set, density and coverage).

A search of 10,000 queries among 60,000 references is ~1e11 multiply-adds: only a
matrix product makes that fast, so every block is screened in float32 with
||a||^2 + ||b||^2 - 2ab (both sets centred on the reference mean first, which keeps the
norms, and so the cancellation error, small). The screen only picks candidates: their
distances are then recomputed directly in float64, and a rigorous bound on the float32
error decides whether any point outside the candidates could still be nearer (then that
row is searched again, exactly, among every point the bound admits). The distances
returned are therefore exact to float64 rounding, and an exact copy is at distance 0.
"""

from __future__ import annotations

import torch

from bench.eval.absent import at_least, features, same_width
from bench.eval.features import full_float32

# Elements of one float32 block of squared distances (128 MiB): rows per chunk = this / M.
BLOCK_ELEMENTS = 1 << 25
UNIT_ROUNDOFF = 2.0 ** -24  # float32
# The nearest-point search takes minima over groups of this many consecutive reference
# points (a contiguous reduction, ~10x cheaper than a top-k over each row), and looks into
# the groups it cannot rule out PAIRS_PER_PASS (row, group) pairs at a time.
GROUP = 64
PAIRS_PER_PASS = 1024


def error_coefficient(dim: int) -> float:
    """c such that the float32 screen's squared distance between centred points a, b is
    within c * (|a|^2 + |b|^2) of the exact one: a dot product of length D errs by at most
    D*u*|a||b| in any summation order, the norms by D*u*|a|^2, the sums and the float32
    rounding of the inputs by a few u more; c is twice that total, 4 (D + 4) u."""
    return 4.0 * (dim + 4) * UNIT_ROUNDOFF


def rows_per_chunk(m: int, chunk: int | None) -> int:
    if chunk is not None:
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1 row, got {chunk}")
        return chunk
    return max(1, BLOCK_ELEMENTS // max(m, 1))


class _Screen:
    """Both sets on the device, in float64 (for exact distances) and centred float32 (for
    the screen), with the norms and error bounds the screen needs."""

    def __init__(self, queries: torch.Tensor, reference: torch.Tensor, device):
        device = torch.device(device) if device is not None else reference.device
        self.q64 = queries.to(device, torch.float64)
        self.r64 = reference.to(device, torch.float64)
        centre = self.r64.mean(0)
        qc, rc = self.q64 - centre, self.r64 - centre
        self.q32, self.r32 = qc.float(), rc.float()
        self.qn32, self.rn32 = (self.q32 * self.q32).sum(1), (self.r32 * self.r32).sum(1)
        coefficient = error_coefficient(queries.shape[1])
        # Per query row: the bound for its worst reference point.
        self.margin = coefficient * ((qc * qc).sum(1) + (rc * rc).sum(1).max())

    def block(self, start: int, stop: int, query_norms: bool = True) -> torch.Tensor:
        """float32 squared distances of queries [start, stop) to every reference point
        (without each query's own norm where `query_norms` is False: a shift per row, which
        leaves the order of its entries as it is)."""
        block = torch.addmm(self.rn32[None, :], self.q32[start:stop], self.r32.T, beta=1.0, alpha=-2.0)
        return block.add_(self.qn32[start:stop, None]) if query_norms else block

    def exact_sq(self, rows: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Exact float64 squared distances of query `rows` [c] to reference `index` [c,j]."""
        return (self.q64[rows][:, None, :] - self.r64[index]).pow(2).sum(-1)


def smallest_distances(queries, reference, k: int = 1, chunk: int | None = None,
                       device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Each query's k smallest Euclidean distances to the reference points, ascending,
    and their indices: (float64 [N,k], int64 [N,k]), on the CPU.

    `queries` [N,D] and `reference` [M,D] (tensors or arrays) are searched `chunk` query
    rows at a time (default: blocks of ~128 MiB) on `device` (default: the reference's).
    Distances are exact to float64 rounding (module docstring); among points at equal
    distance the index is any of them.
    """
    q, r = features(queries, "query"), features(reference, "reference")
    same_width(("query", q), ("reference", r))
    at_least(r, k, "reference", f"{k} nearest neighbours")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return search(q, r, k, chunk, device)


@full_float32()
@torch.no_grad()
def search(q: torch.Tensor, r: torch.Tensor, k: int, chunk: int | None = None,
           device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`smallest_distances` on float tensors already checked (2-d, finite, equal widths,
    at least k reference points), for callers that search many small subsets of one
    checked set."""
    if k == 1 and len(r) >= GROUP * 16:
        return _nearest_by_groups(q, r, chunk, device)
    screen = _Screen(q, r, device)
    n, m = len(q), len(r)
    distances = torch.empty(n, k, dtype=torch.float64)
    indices = torch.empty(n, k, dtype=torch.int64)
    step = rows_per_chunk(m, chunk)
    for start in range(0, n, step):
        stop = min(start + step, n)
        block = screen.block(start, stop)
        # The k best of the screen, and the (k+1)-th as a bound on every other point.
        screened, candidates = torch.topk(block, min(k + 1, m), dim=1, largest=False, sorted=True)
        candidates = candidates[:, :k]
        rows = torch.arange(start, stop, device=block.device)
        exact = screen.exact_sq(rows, candidates)
        if m > k:
            # Every other point is at least screened[:, k] - margin away: a row where that
            # could still undercut its candidates' exact distances is decided again, on the
            # exact distances of every point the screen admits below that bound.
            bound = exact.max(1).values + screen.margin[start:stop]
            unsure = (screened[:, k] <= bound).nonzero().flatten()
            if len(unsure):
                admitted = block[unsure] <= bound[unsure, None]
                row, col = admitted.nonzero(as_tuple=True)
                again = torch.full(admitted.shape, float("inf"), dtype=torch.float64, device=block.device)
                again[row, col] = (screen.q64[rows[unsure][row]] - screen.r64[col]).pow(2).sum(1)
                exact[unsure], candidates[unsure] = torch.topk(again, k, dim=1, largest=False, sorted=True)
        exact, order = exact.sort(dim=1)
        distances[start:stop] = exact.sqrt().cpu()
        indices[start:stop] = candidates.gather(1, order).cpu()
    return distances, indices


def _nearest_by_groups(q: torch.Tensor, r: torch.Tensor, chunk: int | None, device) -> tuple[torch.Tensor, torch.Tensor]:
    """k = 1 without a top-k over every row (several times slower than a plain minimum):
    the screen's minimum over each group of GROUP consecutive reference points, then exact
    distances to the points, in the groups whose minimum is within twice the error bound
    of the row's, that are themselves within it. The nearest point's screened value is at
    most its exact distance plus the bound, which is at most the screened minimum plus
    twice the bound, so it is always among them."""
    screen = _Screen(q, r, device)
    n, m = len(q), len(r)
    groups = -(-m // GROUP)
    pad = groups * GROUP - m  # padding points at infinite distance fill the last group
    screen.r32 = torch.cat([screen.r32, screen.r32.new_zeros(pad, screen.r32.shape[1])])
    screen.rn32 = torch.cat([screen.rn32, screen.rn32.new_full((pad,), float("inf"))])
    distances = torch.empty(n, dtype=torch.float64)
    indices = torch.empty(n, dtype=torch.int64)
    step = rows_per_chunk(m, chunk)
    for start in range(0, n, step):
        stop = min(start + step, n)
        block = screen.block(start, stop, query_norms=False).view(stop - start, groups, GROUP)
        shift = screen.qn32[start:stop]
        minima = block.amin(2).add_(shift[:, None])
        bound = minima.amin(1).double() + 2 * screen.margin[start:stop]
        row, group = (minima <= bound[:, None]).nonzero(as_tuple=True)
        best = torch.full((stop - start,), float("inf"), dtype=torch.float64, device=block.device)
        best_index = torch.zeros(stop - start, dtype=torch.int64, device=block.device)
        for part in range(0, len(row), PAIRS_PER_PASS):
            pr, pg = row[part:part + PAIRS_PER_PASS], group[part:part + PAIRS_PER_PASS]
            pair, member = (block[pr, pg] + shift[pr, None] <= bound[pr, None]).nonzero(as_tuple=True)
            qrow, point = pr[pair], pg[pair] * GROUP + member
            value = (screen.q64[start + qrow] - screen.r64[point]).pow(2).sum(1)
            per_row = torch.full_like(best, float("inf")).scatter_reduce(0, qrow, value, "amin")
            winner = (value == per_row[qrow]) & (per_row < best)[qrow]
            best_index[qrow[winner]] = point[winner]
            best = torch.minimum(best, per_row)
        distances[start:stop] = best.sqrt().cpu()
        indices[start:stop] = best_index.cpu()
    return distances[:, None], indices[:, None]


def nearest_distances(queries, reference, chunk: int | None = None,
                      device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Each query's Euclidean distance to its nearest reference point, and that point's
    index: (float64 [N], int64 [N]), on the CPU. See `smallest_distances`."""
    distances, indices = smallest_distances(queries, reference, 1, chunk, device)
    return distances[:, 0], indices[:, 0]


def kth_neighbour_radii(points, k: int, chunk: int | None = None,
                        device: torch.device | str | None = None) -> torch.Tensor:
    """Each point's distance to its k-th nearest other point of the same set (float64 [N]).

    The point itself is the 0th neighbour: the radius is the (k+1)-th smallest distance
    with the point included, so a duplicate of a point counts as one of its neighbours
    (as the `prdc` package counts it).
    """
    points = features(points, "real")
    at_least(points, k + 1, "real", f"the {k}-th nearest neighbour radius")
    return smallest_distances(points, points, k + 1, chunk, device)[0][:, k]


@full_float32()
@torch.no_grad()
def within_radii(points, centres, radii, chunk: int | None = None,
                 device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Which points fall strictly inside which centres' balls: d(point_j, centre_i) < radii_i.

    Returns (per point, the number of balls it is inside: int64 [N]; per centre, whether
    any point is inside its ball: bool [M]), on the CPU. Pairs the float32 screen cannot
    decide (within its error bound of the radius) are decided on exact float64 distances.
    """
    p, c = features(points, "point"), features(centres, "centre")
    radii = torch.as_tensor(radii, dtype=torch.float64)
    same_width(("point", p), ("centre", c))
    if radii.shape != (len(c),):
        raise ValueError(f"radii must be [M] = [{len(c)}], got {tuple(radii.shape)}")
    screen = _Screen(p, c, device)
    radii = radii.to(screen.r64.device)
    # The ball's r^2 joins each centre's norm in the product's bias, and the point's norm
    # moves to the thresholds, so a block is compared as it comes out of the product. The
    # float32 bias |c|^2 - r^2 errs by a few u (|c|^2 + r^2) more than the screen.
    radii_sq, centre_sq = radii.pow(2), (screen.r64 - screen.r64.mean(0)).pow(2).sum(1)
    screen.rn32 = (centre_sq - radii_sq).float()
    bias_error = 4 * UNIT_ROUNDOFF * float((centre_sq + radii_sq).max()) if len(radii) else 0.0
    counts = torch.zeros(len(p), dtype=torch.int64)
    hit = torch.zeros(len(c), dtype=torch.bool, device=radii.device)
    step = rows_per_chunk(len(c), chunk)
    for start in range(0, len(p), step):
        stop = min(start + step, len(p))
        gap = screen.block(start, stop, query_norms=False)  # d^2 - r^2 - |point|^2
        margin = screen.margin[start:stop] + bias_error
        shift = screen.qn32[start:stop].double()
        inside = gap < (-margin - shift).float()[:, None]
        undecided = (gap <= (margin - shift).float()[:, None]) ^ inside
        row, col = undecided.nonzero(as_tuple=True)
        if len(row):
            exact = (screen.q64[start + row] - screen.r64[col]).pow(2).sum(1).sqrt()
            inside[row, col] = exact < radii[col]
        counts[start:stop] = inside.sum(1).cpu()
        hit |= inside.any(0)
    return counts, hit.cpu()
