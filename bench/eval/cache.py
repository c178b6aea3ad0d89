"""The reference-statistics cache, read as data.

gan-bench's own reads (bench/eval/features.py: the MNIST classifier's real-set features,
FID statistics and k-NN distances) go through `load_checked`: the weights-only unpickler,
then a check of the item against what the feature network produces (shape, dtype,
finiteness); a file that fails is deleted and the caller recomputes it.

Where torch-fidelity still reads the cache itself (Inception, Stacked MNIST statistics),
its reader unpickles without torch's weights-only restriction: a damaged file would stop
an evaluation, a crafted one would run code. So before torch-fidelity is asked, every
file of the reference set's name is read here with the weights-only unpickler and checked
(features: a finite 2-d tensor; statistics: a finite mean and a square covariance); a file
that fails is deleted, and torch-fidelity recomputes it. While torch-fidelity runs, its
own loads are forced to weights-only as well.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch_fidelity.utils_torch import torch_atomic_save

# What torch-fidelity's statistics pickle into: numpy arrays of plain numbers.
_NUMPY_CORE = getattr(np, "_core", None) or np.core  # numpy 2 renamed it
NUMPY_GLOBALS = [_NUMPY_CORE.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.float64)),
                 type(np.dtype(np.float32))]


def read(path: Path):
    # Only the globals not yet allowed: leaving torch's safe_globals removes what it added,
    # which would strip them from an enclosing `weights_only_loads` that torch-fidelity reads under.
    allowed = torch.serialization.get_safe_globals()
    missing = [item for item in NUMPY_GLOBALS if item not in allowed]
    with warnings.catch_warnings(), torch.serialization.safe_globals(missing):
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


def features_fit(item, rows: int, like: torch.Tensor) -> bool:
    """A finite tensor [rows, D] of `like`'s dtype and width D."""
    return (isinstance(item, torch.Tensor) and item.dtype == like.dtype and item.dim() == 2
            and tuple(item.shape) == (rows, like.shape[1]) and finite_array(item, 2))


def statistics_fit(item, like: dict) -> bool:
    """FID statistics {mu [D], sigma [D, D]}, finite, of the shapes and dtypes of `like`'s."""
    return (usable(item) and all(isinstance(item[key], np.ndarray) and item[key].shape == like[key].shape
                                 and item[key].dtype == like[key].dtype for key in ("mu", "sigma")))


def load_checked(path: Path, fits: Callable[[object], bool]):
    """The item stored in `path` when it is plain data that `fits`; otherwise None, and a
    file that was there is deleted."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        item = read(path)
        good = fits(item)
    except Exception:  # torn, foreign or hostile: all recomputed alike
        good = False
    if good:
        return item
    path.unlink(missing_ok=True)
    return None


def checked_or_computed(path: Path, fits: Callable[[object], bool], compute: Callable[[], object]):
    """The item in `path` when it `fits` (`load_checked`), else `compute()`, stored there."""
    item = load_checked(path, fits)
    if item is None:
        item = compute()
        store(path, item)
    return item


def store(path: Path, item) -> None:
    """Write `item` to `path` whole or not at all (a reader never sees half a file)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch_atomic_save(item, str(path))


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
