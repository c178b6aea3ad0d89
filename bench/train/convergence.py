"""A budget that ends when learning ends: the stopping rule of `--until-converged`.

A curve point comes every `every_images` real images seen by D, scored on `curve_samples`
generated samples (default: as many as the final evaluation's, not the preset's 2,000: a
2,000-sample FID's noise is as large as a 2 % step late in training). Training stops when
the best curve FID has not improved by at least `min_delta` (relative) over the last
`patience` points, or at the cap of `max_epochs` epochs. The rule reads the curve alone,
and the curve is in every checkpoint, so a resumed run stops where an uninterrupted one does.

The defaults (one epoch per point on the final sample count, 2 %, 3 points, 20 epochs)
were chosen against the measured noise of a curve FID: docs/convergence.md and
tools/curve_noise.py.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from bench.errors import BenchError

CONVERGED, CAPPED = "converged", "capped"
DEFAULT_MIN_DELTA = 0.02
DEFAULT_PATIENCE = 3
DEFAULT_MAX_EPOCHS = 20.0  # Lucic et al.'s MNIST budget, the paper preset's


@dataclass(frozen=True)
class Rule:
    every_images: int  # real images seen by D between curve points
    min_delta: float = DEFAULT_MIN_DELTA  # relative improvement of the best FID that counts
    patience: int = DEFAULT_PATIENCE  # curve points without such an improvement before stopping
    max_epochs: float = DEFAULT_MAX_EPOCHS  # the cap, in passes over the training set
    curve_samples: int = 10_000  # generated samples per curve point

    def describe(self) -> dict:
        return asdict(self)

    def label(self) -> str:
        """The budget's label: runs compare only under one rule."""
        return (f"until converged ({self.min_delta:.0%} over {self.patience} points of {self.every_images} images, "
                f"{self.curve_samples} samples each; cap {self.max_epochs:g} epochs)")


def make_rule(n_train: int, final_samples: int = 10_000, **given) -> Rule:
    """The rule from the fields given (None: not given), refusing values that cannot work.
    What is not given is the Rule's default, but for the two that depend on the run: a point
    per epoch, scored on the final evaluation's sample count."""
    chosen = {name: value for name, value in given.items() if value is not None}
    rule = Rule(**{"every_images": n_train, "curve_samples": final_samples, **chosen})
    check_rule(rule, n_train)
    return rule


def check_rule(rule: Rule, n_train: int) -> None:
    if not (isinstance(rule.patience, int) and rule.patience >= 1):
        raise BenchError(f"--patience must be a positive whole number of curve points, got {rule.patience}")
    if not (math.isfinite(rule.min_delta) and 0 < rule.min_delta < 1):
        raise BenchError(f"--min-delta is a relative improvement between 0 and 1 (0.02 = 2 %), got {rule.min_delta}")
    if not rule.every_images > 0:
        raise BenchError(f"--curve-every must be a positive number of images, got {rule.every_images}")
    if not rule.curve_samples >= 2:
        raise BenchError(f"--curve-samples must be at least 2 (an FID needs a covariance), got {rule.curve_samples}")
    if not (math.isfinite(rule.max_epochs) and rule.max_epochs * n_train >= rule.every_images):
        raise BenchError(f"--max-epochs {rule.max_epochs:g} ({rule.max_epochs * n_train:,.0f} images) is below one "
                         f"curve point ({rule.every_images:,} images): the rule could never look at the curve")


def cap_steps(rule: Rule, n_train: int, images_per_step: int) -> int:
    """The generator updates at the cap."""
    return max(1, math.ceil(rule.max_epochs * n_train / images_per_step))


def curve_fids(curve: list[dict], fid_key: str) -> list[float]:
    return [p[fid_key] for p in curve if p.get(fid_key) is not None]


def has_converged(curve: list[dict], rule: Rule, fid_key: str) -> bool:
    """True when none of the last `patience` curve FIDs is at least `min_delta` (relative)
    below the best FID before them."""
    fids = curve_fids(curve, fid_key)
    if len(fids) <= rule.patience:
        return False
    best_before = min(fids[:-rule.patience])
    return min(fids[-rule.patience:]) > best_before * (1 - rule.min_delta)


def section(rule: Rule, stopped: str, budget: dict, n_train: int, train_s: float | None) -> dict:
    """The record's `convergence` section: why the run stopped (converged, capped, or the
    run's own status when it did not end ok) and what it had had by then."""
    return {"status": stopped, "rule": rule.describe(), "epochs": budget["images_seen"] / n_train,
            "images": budget["images_seen"], "g_steps": budget["g_steps"], "d_steps": budget["d_steps"],
            "train_s": train_s}
