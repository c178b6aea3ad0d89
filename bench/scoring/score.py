"""`gan-bench score`: a run's final evaluation for samples from anywhere, written as a record.

The figures are the final evaluation's own (`Evaluator.score`): the same feature network,
the same reference set, the same code. What differs between two scores is then only the
samples, provided both have the same N: FID and its relatives depend on the sample count,
so every figure is written with its N, and a figure the samples are too few for is absent
with the reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.devices import use_device
from bench.files import file_sha256
from bench.scoring.inputs import Samples

# The fewest samples each figure is defined for: FID's covariance of the 128-d (Stacked MNIST:
# 384-d) features is singular at N <= D; precision/recall take 3 nearest neighbours; IS splits
# the samples in 10 parts of at least 2.
NEEDS = {
    "fid_mnist": (129, "FID needs more samples than the 128 feature dimensions (a full-rank covariance)"),
    "fid_stacked": (385, "FID needs more samples than the 384 feature dimensions (a full-rank covariance)"),
    "precision_mnist": (4, "precision needs more samples than its k = 3 neighbours"),
    "recall_mnist": (4, "recall needs more samples than its k = 3 neighbours"),
    "is_mnist": (20, "IS needs 10 splits of at least 2 samples"),
    "is_mnist_std": (20, "IS needs 10 splits of at least 2 samples"),
}
# Below this many samples the whole MNIST evaluation cannot run; only the class histogram can.
FULL_EVALUATION = max(n for n, _ in NEEDS.values() if n < 129)


@dataclass
class Scored:
    metrics: dict  # figures, `absent` (figure -> reason), n_fake and n_real
    seconds: float
    beyond_fid: dict | None = None  # the figures beyond FID's details (the record's `beyond_fid`)


def evaluator_for(dataset, device: torch.device, data_dir: Path | None, inception_samples: int):
    from bench.eval.evaluation import Evaluator
    from bench.presets import PRESETS

    data = dataset.load(data_dir)
    # The preset only sets what a run would sample; score is told N and the Inception count itself.
    return Evaluator.for_run(64, PRESETS["quick"], dataset, device, data_dir, data["reference_images"],
                             inception_samples=inception_samples, train_images=data["train_images"],
                             pixel_copies=True)


def class_only(images: torch.Tensor, device: torch.device) -> dict:
    """The class-histogram figures of a handful of samples (too few for the rest)."""
    from bench.eval.classifier import LOGITS
    from bench.eval.quality import class_figures, mnist_features

    return {**class_figures(mnist_features(images, device)[LOGITS]), "n_fake": len(images)}


def score_samples(samples: Samples, dataset, device: torch.device, data_dir: Path | None,
                  reference=None, inception_samples: int = 0) -> Scored:
    """Every figure of the final evaluation for `samples`, with FID against `reference` (a
    statistics file) instead of the dataset's reference set when one is given."""
    began = time.perf_counter()
    images, n = samples.images, len(samples.images)
    evaluator = evaluator_for(dataset, device, data_dir, inception_samples)
    with use_device(device):
        if dataset.name == "mnist" and n < FULL_EVALUATION:
            metrics = {**class_only(images, device), "n_real": len(evaluator.reference_images), "absent": {}}
            metrics["absent"].update({k: f"{why} (N = {n})" for k, (_, why) in NEEDS.items() if k.endswith("_mnist")
                                      or k == "is_mnist_std"})
            for key in ("kid_mnist", "kid_mnist_std"):
                metrics["absent"][key] = f"KID is computed with the full evaluation (N >= {FULL_EVALUATION})"
            metrics["absent"].update(fid_inception="skipped: too few samples", is_inception="skipped: too few samples")
        else:
            metrics = evaluator.score(images)
        if reference is not None and dataset.fid_key in metrics:
            from bench.eval.classifier import FEATURES
            from bench.eval.quality import mnist_features
            from bench.scoring.reference import fid_against

            metrics[dataset.fid_key] = fid_against(mnist_features(images, device)[FEATURES], reference)
            metrics["n_real"] = reference.n
    for key, (least, why) in NEEDS.items():
        if key in metrics and n < least:
            metrics.pop(key)
            metrics["absent"][key] = f"{why} (N = {n})"
    if "n_inception" in metrics:
        metrics["absent"].pop("fid_inception", None)
    details = metrics.pop("beyond_fid", None)
    return Scored(metrics, time.perf_counter() - began, details)


def sample_generator(gen, n: int | None, seed: int | None, device: torch.device) -> tuple[Samples, int]:
    """A generator file's samples on the final evaluation's latents (or `seed`'s), N by
    default its run's final count (a preset this gan-bench lacks: the quick preset's 10,000)."""
    from bench.data.datasets import get_dataset
    from bench.eval.evaluation import FINAL_SEED
    from bench.eval.quality import sample_uint8
    from bench.presets import PRESETS

    dataset = get_dataset(gen.dataset)
    count = n or dataset.final_samples(PRESETS.get(gen.config["preset"], PRESETS["quick"]))
    seed = FINAL_SEED if seed is None else seed
    G = gen.build(dataset.shape, device)
    with use_device(device):
        images = sample_uint8(G, gen.variant.hparams.z_dim, count, device, seed=seed)
    source = {"kind": "generator", "name": gen.path.name, "bytes": gen.path.stat().st_size,
              "sha256": file_sha256(gen.path), "run_id": gen.run_id, "which": gen.which, "step": gen.step,
              "variant": gen.config["variant"], "seed": seed}
    return Samples(images, source), count
