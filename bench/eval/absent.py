"""Why a figure beyond FID is absent, and the checks that decide it.

A figure that cannot be computed from what it was given (too few samples for its cells or
neighbourhoods, features that are not finite because the generator diverged) is a status
of the run, not a number: the functions raise `FigureAbsent` with the reason, the caller
records it under `metrics.absent`, and a command that does not catch it prints the reason
as one `error:` line (it is a BenchError).
"""

from __future__ import annotations

import numpy as np
import torch

from bench.errors import BenchError

NON_FINITE = "the {name} features are not finite (NaN or inf): the generator diverged"
NON_FINITE_REFERENCE = "the {name} features are not finite (NaN or inf)"
TOO_FEW = "{figure} needs at least {needed} {name} points, got {got}"


class FigureAbsent(BenchError):
    """The figure cannot be computed from this input; `reason` says why, for the record."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def features(x, name: str, generated: bool = False) -> torch.Tensor:
    """`x` ([N,D] tensor or array) as a float tensor, refused unless it is 2-d and finite.

    Non-finite generated features mean the generator diverged; non-finite reference
    features mean the reference set is broken. Both are a FigureAbsent, with different
    reasons.
    """
    x = torch.as_tensor(x) if isinstance(x, (torch.Tensor, np.ndarray)) else torch.as_tensor(np.asarray(x))
    if x.dim() != 2:
        raise ValueError(f"the {name} features must be [N,D], got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.double()
    if not bool(torch.isfinite(x).all()):
        raise FigureAbsent((NON_FINITE if generated else NON_FINITE_REFERENCE).format(name=name))
    return x


def at_least(x: torch.Tensor, needed: int, name: str, figure: str) -> None:
    if len(x) < needed:
        raise FigureAbsent(TOO_FEW.format(figure=figure, needed=needed, name=name, got=len(x)))


def same_width(*pairs: tuple[str, torch.Tensor]) -> None:
    widths = {name: x.shape[1] for name, x in pairs}
    if len(set(widths.values())) > 1:
        raise ValueError(f"feature widths differ: {widths}")
