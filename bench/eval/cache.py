"""The reference-statistics cache, read as data.

torch-fidelity keeps the real set's features and FID statistics as .pt files in the cache
folder and its own reader unpickles them without torch's weights-only restriction: a
damaged file would stop an evaluation, a crafted one would run code. So before torch-fidelity is asked, every file
of the reference set's name is read here with the weights-only unpickler and checked
(features: a finite 2-d tensor; statistics: a finite mean and a square covariance); a file
that fails is deleted, and torch-fidelity recomputes it. While torch-fidelity runs, its
own loads are forced to weights-only as well.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

# What torch-fidelity's statistics pickle into: numpy arrays of plain numbers.
_NUMPY_CORE = getattr(np, "_core", None) or np.core  # numpy 2 renamed it
NUMPY_GLOBALS = [_NUMPY_CORE.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.float64)),
                 type(np.dtype(np.float32))]


def read(path: Path):
    with warnings.catch_warnings(), torch.serialization.safe_globals(NUMPY_GLOBALS):
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True)


def finite_array(value, dims: int) -> bool:
    if isinstance(value, torch.Tensor):
        value = value.detach().numpy() if value.is_floating_point() else None
    return (isinstance(value, np.ndarray) and value.ndim == dims and value.dtype.kind == "f" and value.size > 0
            and bool(np.isfinite(value).all()))


def usable(item) -> bool:
    """Features [N, D], or FID statistics {mu [D], sigma [D, D]}."""
    if isinstance(item, dict):
        mu, sigma = item.get("mu"), item.get("sigma")
        return (set(item) == {"mu", "sigma"} and finite_array(mu, 1) and finite_array(sigma, 2)
                and sigma.shape == (len(mu), len(mu)))
    return isinstance(item, torch.Tensor) and finite_array(item, 2)


def vet(cache_dir: Path | None, name: str) -> list[Path]:
    """Delete every cached file of `name` that is not plain, usable data; return those deleted."""
    if cache_dir is None or not Path(cache_dir).is_dir():
        return []
    dropped = []
    for path in sorted(Path(cache_dir).glob(f"{name}-*.pt")):
        try:
            good = usable(read(path))
        except Exception:  # torn, foreign or hostile: all recomputed alike
            good = False
        if not good:
            path.unlink(missing_ok=True)
            dropped.append(path)
    return dropped


@contextmanager
def weights_only_loads():
    """torch.load reads weights-only inside, whatever its caller asked (torch's own switch)."""
    saved = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        with torch.serialization.safe_globals(NUMPY_GLOBALS):
            yield
    finally:
        if saved is None:
            os.environ.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
        else:
            os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = saved


@contextmanager
def trusted_reference(cache_dir: Path | None, name: str):
    """Around a torch-fidelity call that reads the reference set `name` from `cache_dir`."""
    vet(cache_dir, name)
    with weights_only_loads():
        yield
