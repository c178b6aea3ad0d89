"""Stacked MNIST figures (docs/figures.md): how many of the 1,000 modes a generator
produces, how far its mode histogram is from uniform, and FID on per-channel features.

Each channel of a stack is read by gan-bench's pinned MNIST classifier. The classifier
is registered with torch-fidelity a second time, as `gan-bench-stacked-mnist-classifier`,
whose features are the three channels' 128-d features side by side (384-d) and whose
logits are the three channels' 10 logits side by side (30); torch-fidelity computes
fid_stacked on the former, and the mode histogram comes from the latter.

Definitions as in VEEGAN and PacGAN: a sample's mode is the triple of its channels'
predicted digits; `stacked_modes` counts the distinct triples among the samples (26,000
in the protocol), `stacked_kl` is KL(generated mode histogram || uniform over 1,000) in
nats: 0 for a perfectly uniform generator, ln 1000 = 6.91 for one collapsed onto one stack.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.metric_fid import (
    KEY_METRIC_FID, fid_features_to_statistics, fid_featuresdict_to_statistics_cached, fid_statistics_to_metric,
)
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

from bench.data.datasets import STACK_DEPTH
from bench.eval import classifier
from bench.eval.classifier import NUM_CLASSES, load_classifier
from bench.eval.cache import trusted_reference
from bench.eval.quality import MNIST_BATCH, _extract, _options, full_float32, reference_cache_name

STACKED_EXTRACTOR = "gan-bench-stacked-mnist-classifier"
NUM_MODES = NUM_CLASSES ** STACK_DEPTH
STACKED_FEATURES = "384"
STACKED_LOGITS = "digit_logits"

STACKED_KEYS = ("fid_stacked", "stacked_modes", "stacked_kl", "digit_confidence", "n_fake", "n_real")


class FeatureExtractorStackedMnist(FeatureExtractorBase):
    """torch-fidelity's view of the classifier on stacks: uint8 [B,3,28,28] in, each channel
    read as one MNIST digit; [B,384] features and [B,30] logits out (channel 0's first)."""

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        path = feature_extractor_weights_path
        self.model = load_classifier("cpu") if path is None else load_classifier("cpu", path, sha256=None)

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != STACK_DEPTH:
            raise ValueError(f"Stacked MNIST features need [B,{STACK_DEPTH},28,28] images, got {tuple(x.shape)}")
        batch = x.shape[0]
        features, logits = self.model.features(x.reshape(batch * STACK_DEPTH, 1, *x.shape[2:]))
        # float64 for the FID means, as the MNIST extractor does.
        out = {STACKED_FEATURES: features.reshape(batch, -1).double(), STACKED_LOGITS: logits.reshape(batch, -1).double()}
        return tuple(out[name] for name in self.features_list)

    @staticmethod
    def get_provided_features_list():
        return STACKED_FEATURES, STACKED_LOGITS

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"fid": STACKED_FEATURES, "kid": STACKED_FEATURES, "prc": STACKED_FEATURES}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, STACK_DEPTH, 28, 28, dtype=torch.uint8)


if STACKED_EXTRACTOR not in FEATURE_EXTRACTORS_REGISTRY:
    register_feature_extractor(STACKED_EXTRACTOR, FeatureExtractorStackedMnist)


def _extractor(layers, options):
    from torch_fidelity.utils import create_feature_extractor

    with torch.random.fork_rng(devices=[]):
        return create_feature_extractor(STACKED_EXTRACTOR, list(layers), **options)


def mode_figures(digit_logits: torch.Tensor) -> dict:
    """stacked_modes, stacked_kl and digit_confidence (mean max softmax probability over
    every channel) from [N,30] per-channel logits."""
    logits = digit_logits.double().reshape(len(digit_logits), STACK_DEPTH, NUM_CLASSES)
    probs = logits.softmax(dim=2)
    digits = probs.argmax(dim=2)
    return {**histogram_figures(digits), "digit_confidence": float(probs.max(dim=2).values.mean())}


def histogram_figures(digits: torch.Tensor) -> dict:
    """stacked_modes and stacked_kl of digit triples [N,3] (predicted or true labels)."""
    from bench.data.datasets import mode_ids

    counts = torch.bincount(mode_ids(digits.long()), minlength=NUM_MODES).double()
    share = counts[counts > 0] / counts.sum()
    return {"stacked_modes": int((counts > 0).sum()),
            "stacked_kl": float((share * (share * NUM_MODES).log()).sum())}


def _reference_name(real_uint8: torch.Tensor, device: torch.device) -> str:
    return reference_cache_name(classifier.CLASSIFIER_SHA256, real_uint8, device, prefix="stacked")


def _fid(fake: dict, real_uint8: torch.Tensor, extractor, options: dict, device) -> float:
    name = _reference_name(real_uint8, device)
    with trusted_reference(options.get("cache_root"), name):
        real = _extract(extractor, real_uint8, options, name)
        real_stats = fid_featuresdict_to_statistics_cached(real, name, extractor, STACKED_FEATURES, **options)
    return fid_statistics_to_metric(fid_features_to_statistics(fake[STACKED_FEATURES]), real_stats,
                                    False)[KEY_METRIC_FID]


@full_float32()
def stacked_metrics(fake_uint8: torch.Tensor, real_uint8: torch.Tensor, device: torch.device,
                    cache_dir: Path | None) -> dict:
    """Every Stacked MNIST figure for one sample set; the real stacks' features are cached
    in `cache_dir` (None: no cache) under a name holding the classifier's sha256 and a
    digest of the stacks."""
    options = _options(device, cache_dir, MNIST_BATCH)
    extractor = _extractor((STACKED_FEATURES, STACKED_LOGITS), options)
    fake = _extract(extractor, fake_uint8, options)
    return {"fid_stacked": _fid(fake, real_uint8, extractor, options, device),
            **mode_figures(fake[STACKED_LOGITS]),
            "n_fake": len(fake_uint8), "n_real": len(real_uint8)}


@full_float32()
def fid_stacked(fake_uint8: torch.Tensor, real_uint8: torch.Tensor, device: torch.device,
                cache_dir: Path | None) -> float:
    """fid_stacked alone: the convergence curve's figure."""
    return stacked_metrics(fake_uint8, real_uint8, device, cache_dir)["fid_stacked"]
