"""Sample quality inside a run: the cheap FID curve and the final evaluation.

Samples come from fixed latent seeds through `sample_uint8`, which never touches the
training RNG, so evaluating does not change what a run learns. The real set is the
dataset's reference set (MNIST: the 10,000 test digits; Stacked MNIST: 26,000 stacks of
test digits); its statistics are cached per feature network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from bench.data import assets
from bench.data.datasets import Dataset
from bench.errors import BenchError
from bench.presets import Preset
from bench.eval import CLASSIFIER_SHA256, fid_mnist, inception_metrics, inception_weights, mnist_metrics, sample_uint8
from bench.eval.classifier import FEATURES
from bench.eval.stacked import fid_stacked, stacked_metrics

CURVE_SEED = 10_000  # latents of the curve point at a step come from seed curve_seed(step)
FINAL_SEED = 20_000  # latents of the final evaluation (and of the best point's re-score)
# CURVE_SEED + step is FINAL_SEED at step 10,000: that one point takes a seed below every
# CURVE_SEED + step instead, so no curve point is scored on the final evaluation's latents.
# Every other step keeps its seed, and with it every published curve point (none is at 10,000).
MOVED_CURVE_SEED = CURVE_SEED - 1


def curve_seed(step: int) -> int:
    """The latent seed of the curve point at `step`: never FINAL_SEED, one seed per step."""
    seed = CURVE_SEED + step
    return MOVED_CURVE_SEED if seed == FINAL_SEED else seed


CPU_INCEPTION_REASON = ("skipped on CPU by the {preset} preset: Inception at 299x299 runs at about 4 images/s "
                        "on a 2-core CPU; use `gan-bench eval CHECKPOINT --inception-samples N` or a GPU")


@dataclass(frozen=True)
class Scoring:
    """How a dataset's samples are scored: (fake, real, device, cache_dir) -> figure(s)."""

    curve: Callable  # -> the dataset's fid_key alone, for the convergence curve
    final: Callable  # -> every figure of the final evaluation


SCORING = {
    "mnist": Scoring(curve=fid_mnist, final=mnist_metrics),
    "stacked-mnist": Scoring(curve=fid_stacked, final=stacked_metrics),
}


@dataclass
class Evaluator:
    z_dim: int
    preset: Preset
    dataset: Dataset
    reference_images: torch.Tensor  # uint8 [N,C,28,28] on the CPU: the dataset's reference set
    device: torch.device
    cache_dir: Path
    data_dir: Path | None = None
    inception_samples: int | None = None  # None: the preset's choice
    inception: dict = field(default_factory=dict)  # sha256 and source of the Inception weights used
    curve_samples: int | None = None  # None: the preset's eval_samples
    # The dataset's training images (uint8 [N,C,28,28]): the figures beyond FID measure how
    # near samples lie to them. None: those figures are absent.
    train_images: torch.Tensor | None = None
    nearest_pairs: torch.Tensor | None = None  # the last final evaluation's copy grid (sample, training image)*16
    # The copy rate in pixels, a second view: a 10,000 x 60,000 search in 784-d, about 20 s on
    # 2 cores, so `gan-bench score` computes it and a run's final evaluation does not.
    pixel_copies: bool = False

    @classmethod
    def for_run(cls, z_dim: int, preset: Preset, dataset: Dataset, device: torch.device, data_dir: Path | None,
                reference_images: torch.Tensor, **options) -> "Evaluator":
        """The evaluator of a run or of a saved generator: reference statistics are cached
        beside the data, in DATA_DIR/fid-cache, wherever the scoring happens."""
        return cls(z_dim, preset, dataset, reference_images, device,
                   cache_dir=Path(data_dir or assets.default_data_dir()) / "fid-cache", data_dir=data_dir, **options)

    def curve(self, G: torch.nn.Module, step: int) -> dict:
        fake = sample_uint8(G, self.z_dim, self.curve_samples or self.preset.eval_samples, self.device,
                            seed=curve_seed(step))
        score = SCORING[self.dataset.name].curve
        return {self.dataset.fid_key: score(fake, self.reference_images, self.device, self.cache_dir)}

    def final(self, G: torch.nn.Module, samples: int | None = None, inception: bool = True) -> tuple[dict, float]:
        """All quality figures of docs/figures.md (`inception=False`: all but Inception's);
        returns (metrics, seconds spent)."""
        began = time.perf_counter()
        n = samples or self.dataset.final_samples(self.preset)
        fake = sample_uint8(G, self.z_dim, n, self.device, seed=FINAL_SEED)
        return self.score(fake, inception), time.perf_counter() - began

    def score(self, fake: torch.Tensor, inception: bool = True) -> dict:
        """Every figure of the final evaluation for uint8 samples [N,C,28,28], wherever they came
        from: a run's generator, or `gan-bench score`'s arrays, images and plug-ins."""
        features: dict = {}  # the samples' classifier features, which MNIST's figures hand on
        extra = {"features_out": features} if self.dataset.name == "mnist" else {}
        metrics = SCORING[self.dataset.name].final(fake, self.reference_images, self.device, self.cache_dir, **extra)
        metrics["absent"] = {}
        self.beyond_fid(fake, features.get(FEATURES), metrics)
        n_inception, why_not = self.inception_plan()
        if n_inception and inception:
            try:
                path, info = inception_weights(self.data_dir, log=lambda _: None)
                self.inception = {"sha256": info["sha256"], "source": info.get("source")}
                extra = inception_metrics(fake[:n_inception], self.reference_images[:n_inception], self.device,
                                          self.cache_dir, path)
                metrics["absent"].update(extra.pop("absent", {}))
                # n_fake/n_real stay the MNIST metrics' counts; the Inception ones get their own key.
                metrics.update(fid_inception=extra["fid_inception"], n_inception=extra["n_fake"])
            except BenchError as error:  # unverified weights: no number, only the reason
                reason = f"Inception weights unavailable: {error}"
                metrics["absent"].update(fid_inception=reason, is_inception=reason)
        elif inception:
            metrics["absent"].update(fid_inception=why_not, is_inception=why_not)
        return metrics

    def beyond_fid(self, fake: torch.Tensor, fake_features: torch.Tensor | None, metrics: dict) -> None:
        """The figures beyond FID (bench/eval/beyond.py) into `metrics`, their details under
        metrics["beyond_fid"], or each absent with its reason."""
        from bench.eval.beyond import BEYOND_KEYS, beyond_figures, beyond_reference

        if self.dataset.name != "mnist":
            reason = f"not computed on {self.dataset.name}: the figures beyond FID are MNIST's so far"
            metrics["absent"].update({key: reason for key in BEYOND_KEYS})
            return
        if self.train_images is None:
            metrics["absent"].update({key: "no training images given to compare with" for key in BEYOND_KEYS})
            return
        reference = beyond_reference(self.train_images, self.reference_images, self.real_features("train"),
                                     self.real_features("real"), self.device, self.cache_dir)
        figures, details, absent = beyond_figures(fake, fake_features, reference, pixels=self.pixel_copies)
        if "nearest" in details:  # each sample beside its nearest training image, for the copy grid
            pairs = zip(details["nearest"]["sample"], details["nearest"]["train"])
            self.nearest_pairs = torch.stack([image for i, j in pairs
                                              for image in (fake[i].cpu(), self.train_images[j].cpu())])
        metrics.update(figures)
        metrics["absent"].update(absent)
        metrics["beyond_fid"] = details

    def real_features(self, which: str) -> torch.Tensor:
        """The classifier features of the training ("train") or reference ("real") images, cached
        in `cache_dir` beside the reference statistics."""
        from bench.eval.classifier import FEATURES, LOGITS
        from bench.eval.features import full_float32, reference_cache_name, reference_features
        from bench.eval.quality import MNIST_BATCH, _mnist_extractor, _options

        images = self.train_images if which == "train" else self.reference_images
        options = _options(self.device, self.cache_dir, MNIST_BATCH)
        name = reference_cache_name(CLASSIFIER_SHA256, images, self.device, prefix=which)
        with torch.random.fork_rng(devices=[]), full_float32():
            extractor = _mnist_extractor((FEATURES, LOGITS), options)
            return reference_features(extractor, images, MNIST_BATCH, self.cache_dir, name, (FEATURES,))[FEATURES]

    def inception_plan(self) -> tuple[int, str]:
        """How many samples fid_inception gets, and the reason recorded when none."""
        if self.inception_samples is not None:
            return self.inception_samples, "skipped: --inception-samples 0"
        if self.device.type == "cpu":  # a preset's Inception sample count is meant for GPUs
            return 0, CPU_INCEPTION_REASON.format(preset=self.preset.name)
        return self.preset.inception_samples, f"the {self.preset.name} preset asks for no Inception samples"

    def feature_nets(self) -> dict:
        return {"mnist_classifier_sha256": CLASSIFIER_SHA256, "inception_sha256": self.inception.get("sha256")}


def time_to_fid(curve: list[dict], threshold: float, fid_key: str = "fid_mnist") -> dict:
    """The first curve point whose FID (the dataset's `fid_key`) reaches the threshold
    (training seconds, step)."""
    for point in curve:
        if point.get(fid_key) is not None and point[fid_key] <= threshold:
            return {"threshold": threshold, "train_s": point["train_s"], "step": point["step"],
                    "images_seen": point["images_seen"]}
    return {"threshold": threshold, "train_s": None, "step": None, "images_seen": None}
