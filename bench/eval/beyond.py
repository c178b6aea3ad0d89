"""The figures beyond FID at a final evaluation (docs/figures.md, "Beyond FID"): copies of
the training set (the copy rate on classifier features and on pixels, Meehan et al.'s C_T),
density and coverage, and FID-infinity.

Everything that depends only on the real sets (the training and test features, the test
points' distances to the training set, the k-means cells, the real k-NN balls, the test
statistics) is built once per process and data, in `beyond_reference`, and reused by every
final evaluation after it. A figure the samples cannot give (too few for the cells or the
neighbourhoods, features that are not finite) is absent with its reason, never a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.eval.absent import FigureAbsent
from bench.eval.copies import (
    CopyReference, CopyingReference, copy_reference, copying_reference, data_copying, pixel_features,
)
from bench.eval.density import RealNeighbourhoods, density_coverage, real_neighbourhoods
from bench.eval.fid_infinity import fid_infinity, reference_statistics
from bench.eval.neighbours import nearest_distances

BEYOND_KEYS = ("copy_rate_mnist", "copy_rate_pixels", "ct_mnist", "density_mnist", "coverage_mnist",
               "fid_mnist_inf")
NEAREST_SHOWN = 16  # samples shown beside their nearest training image


@dataclass(frozen=True)
class BeyondReference:
    copies: CopyReference  # classifier features
    pixels: CopyReference  # pixel vectors
    copying: CopyingReference  # C_T's cells, on classifier features
    neighbourhoods: RealNeighbourhoods  # the test set's k-NN balls, for density and coverage
    statistics: dict  # the test set's FID statistics, for FID-infinity


_MEMO: dict[str, BeyondReference] = {}
# What the cache file holds: the searches over the real sets, the part that costs (a 10,000 x
# 60,000 nearest-neighbour search in pixels, k-means); the features come from their own cache.
CACHED = {"copy_test_distances": torch.float64, "pixel_test_distances": torch.float64,
          "centroids": torch.float64, "train_cells": torch.int64, "test_cells": torch.int64,
          "cell_test_distances": torch.float64, "radii": torch.float64, "cells_fit": torch.int64}


def cache_name(train_uint8: torch.Tensor, test_uint8: torch.Tensor, device) -> str:
    from bench.eval.classifier import CLASSIFIER_SHA256
    from bench.eval.features import images_digest

    return (f"beyond-net{CLASSIFIER_SHA256[:16]}-train{len(train_uint8)}-{images_digest(train_uint8)[:16]}"
            f"-test{len(test_uint8)}-{images_digest(test_uint8)[:16]}-{torch.device(device).type}")


def fits(item, n_train: int, n_test: int, dim: int) -> bool:
    """A cached searches file: exactly CACHED's tensors, of their dtypes and shapes, finite."""
    if not isinstance(item, dict) or set(item) != set(CACHED):
        return False
    if not all(isinstance(v, torch.Tensor) and v.dtype == CACHED[k] for k, v in item.items()):
        return False
    shapes = {"copy_test_distances": (n_test,), "pixel_test_distances": (n_test,), "train_cells": (n_train,),
              "test_cells": (n_test,), "cell_test_distances": (n_test,), "radii": (n_test,), "cells_fit": (4,)}
    cells = item["centroids"]
    return (all(tuple(item[k].shape) == shape for k, shape in shapes.items()) and cells.dim() == 2
            and cells.shape[1] == dim and 0 < len(cells) and all(bool(torch.isfinite(v.double()).all())
                                                                 for v in item.values())
            and bool((item["train_cells"] >= 0).all() and (item["train_cells"] < len(cells)).all())
            and bool((item["test_cells"] >= 0).all() and (item["test_cells"] < len(cells)).all()))


def build(train: torch.Tensor, test: torch.Tensor, train_uint8, test_uint8) -> BeyondReference:
    pixels = (pixel_features(train_uint8.cpu()), pixel_features(test_uint8.cpu()))
    return BeyondReference(copies=copy_reference(train, test), pixels=copy_reference(*pixels),
                           copying=copying_reference(train, test), neighbourhoods=real_neighbourhoods(test),
                           statistics=reference_statistics(test))


def from_cache(item: dict, train: torch.Tensor, test: torch.Tensor, train_uint8) -> BeyondReference:
    from bench.eval.copies import COPY_PERCENTILE, Cells
    from bench.eval.density import NEAREST_K

    def threshold(distances):
        return float(np.percentile(distances.numpy(), COPY_PERCENTILE))

    k, seed, iterations, fit_size = (int(v) for v in item["cells_fit"])
    cells = Cells(item["centroids"], item["train_cells"], k, seed, iterations, fit_size)
    return BeyondReference(
        copies=CopyReference(train, item["copy_test_distances"], COPY_PERCENTILE, threshold(item["copy_test_distances"])),
        pixels=CopyReference(pixel_features(train_uint8.cpu()), item["pixel_test_distances"], COPY_PERCENTILE,
                             threshold(item["pixel_test_distances"])),
        copying=CopyingReference(train, cells, item["test_cells"], item["cell_test_distances"]),
        neighbourhoods=RealNeighbourhoods(test, item["radii"], NEAREST_K), statistics=reference_statistics(test))


def to_cache(reference: BeyondReference) -> dict:
    cells = reference.copying.cells
    return {"copy_test_distances": reference.copies.test_distances, "pixel_test_distances": reference.pixels.test_distances,
            "centroids": cells.centroids, "train_cells": cells.train_cells, "test_cells": reference.copying.test_cells,
            "cell_test_distances": reference.copying.test_distances, "radii": reference.neighbourhoods.radii,
            "cells_fit": torch.tensor([cells.k, cells.seed, cells.iterations, cells.fit_size], dtype=torch.int64)}


def beyond_reference(train_uint8: torch.Tensor, test_uint8: torch.Tensor, train: torch.Tensor, test: torch.Tensor,
                     device, cache_dir=None) -> BeyondReference:
    """The real sets' part of every figure here, from features of the training and test images:
    once per process, and from `cache_dir` (data, checked before use) where an earlier process
    left it."""
    from bench.eval import cache

    name = cache_name(train_uint8, test_uint8, device)
    if name not in _MEMO:
        train, test = train.float(), test.float()
        path = None if cache_dir is None else Path(cache_dir) / f"{name}.pt"
        item = None if path is None else cache.load_checked(
            path, lambda x: fits(x, len(train), len(test), train.shape[1]))
        reference = build(train, test, train_uint8, test_uint8) if item is None else from_cache(
            item, train, test, train_uint8)
        if path is not None and item is None:
            cache.store(path, to_cache(reference))
        _MEMO.clear()  # one real set at a time: a process scores against one dataset
        _MEMO[name] = reference
    return _MEMO[name]


def nearest_copies(fake_uint8: torch.Tensor, reference: CopyReference, fake: torch.Tensor) -> tuple[float, dict]:
    """The copy rate on features, and the samples nearest to a training image (for the report's grid)."""
    distances, indices = nearest_distances(fake, reference.train)
    order = torch.argsort(distances)[:NEAREST_SHOWN]
    nearest = {"sample": order.tolist(), "train": indices[order].tolist(), "distance": distances[order].tolist()}
    return float((distances < reference.threshold).double().mean()), nearest


PIXELS_SKIPPED = ("not computed at a run's final evaluation (a 784-d search over the 60,000 training images, about "
                  "20 s on 2 cores); `gan-bench score` computes it")


def beyond_figures(fake_uint8: torch.Tensor, fake: torch.Tensor, reference: BeyondReference,
                   pixels: bool = True) -> tuple[dict, dict, dict]:
    """(figures, details for the record's `beyond_fid` section, absent figure -> reason);
    `pixels=False` leaves the pixel view's copy rate absent."""
    from bench.eval.copies import copy_rate

    figures, details, absent = {}, {}, {}

    def attempt(keys: tuple[str, ...], compute):
        try:
            compute()
        except FigureAbsent as why:
            absent.update({key: why.reason for key in keys})

    def copies():
        figures["copy_rate_mnist"], details["nearest"] = nearest_copies(fake_uint8, reference.copies, fake)
        details["copy_threshold_mnist"] = reference.copies.threshold

    def pixel_view():
        rate = copy_rate(pixel_features(fake_uint8.cpu()), reference.pixels)
        figures["copy_rate_pixels"], details["copy_threshold_pixels"] = rate.copy_rate, rate.threshold

    def copying():
        test = data_copying(fake, reference.copying)
        figures["ct_mnist"] = test.c_t
        details["ct"] = {k: v for k, v in test.record().items() if k != "cells"}

    def density():
        result = density_coverage(fake, reference.neighbourhoods)
        figures["density_mnist"], figures["coverage_mnist"] = result.density, result.coverage

    def infinity():
        result = fid_infinity(fake, reference.statistics)
        figures["fid_mnist_inf"] = result.fid_inf
        details["fid_inf"] = result.record()

    if not bool(torch.isfinite(fake).all()):
        reason = "the generated features are not finite (NaN or inf): the generator diverged"
        return {}, {}, {key: reason for key in BEYOND_KEYS}
    attempt(("copy_rate_mnist",), copies)
    if pixels:
        attempt(("copy_rate_pixels",), pixel_view)
    else:
        absent["copy_rate_pixels"] = PIXELS_SKIPPED
    attempt(("ct_mnist",), copying)
    attempt(("density_mnist", "coverage_mnist"), density)
    attempt(("fid_mnist_inf",), infinity)
    return figures, details, absent
