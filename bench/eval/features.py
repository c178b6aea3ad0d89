"""Features of an image set under a feature network, and the cache of the real set's
(docs/figures.md): its features, FID statistics and k-NN distances.

Extraction feeds whole batches to a torch-fidelity feature extractor (the module
torch-fidelity itself would run), so the features are those torch-fidelity extracts,
without its one-image-at-a-time Dataset path. On a CPU the batches are smaller than on a
GPU: the classifier's activations for 500 digits (50 MB a layer) do not stay in the
caches, for 100 they do (about 40% less CPU time on an AMD EPYC), and on that CPU the
features are bit for bit those of batches of 500 (tests/test_metric_agreement.py holds
them to 1e-6 of torch-fidelity's everywhere).

Everything that depends only on the real set is cached in `cache_dir` under the name of
`reference_cache_name`, in torch-fidelity's file names (a cache that torch-fidelity wrote
is read as it stands). Each file is read as data (bench/eval/cache.py: weights-only, then
its shape, dtype and finiteness checked against what the network produces); a file that
fails is deleted and recomputed.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from pathlib import Path

import torch
from torch_fidelity.metric_fid import fid_features_to_statistics

from bench.eval import cache, kid
from bench.eval.precision_recall import neighbour_distances

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
CPU_BATCH = 100  # items per forward pass on a CPU; a GPU takes the caller's batch size


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


# ---------------------------------------------------------------- names

def images_digest(images: torch.Tensor) -> str:
    data = images.detach().cpu().contiguous()
    digest = hashlib.sha256(str((tuple(data.shape), str(data.dtype))).encode())
    digest.update(data.numpy().tobytes())
    return digest.hexdigest()


def reference_cache_name(network_sha256: str, real_uint8: torch.Tensor, device: torch.device,
                         prefix: str = "real") -> str:
    """The cache name of a real set under one feature network: the network's sha256, the
    number of real images, a digest of their pixels, and the device type and precision the
    features were computed in (float32 kernels differ between a CPU and a GPU, so statistics
    from one are never reused by the other)."""
    return (f"{prefix}-net{network_sha256[:16]}-n{len(real_uint8)}-img{images_digest(real_uint8)[:16]}"
            f"-{torch.device(device).type}-fp32{FEATURE_PRECISION}")


def cache_file(cache_dir: Path, name: str, extractor, kind: str, layer: str) -> Path:
    """torch-fidelity's file name for `kind` ('features', 'stat-fid') of one layer."""
    return Path(cache_dir) / f"{name}-{extractor.get_name()}-{kind}-{layer}.pt"


# ---------------------------------------------------------------- extraction

def check_images(images: torch.Tensor) -> None:
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected uint8 images [N,1|3,H,W], got {images.dtype} {tuple(images.shape)}")


def _device(extractor) -> torch.device:
    return next(iter(extractor.parameters())).device


@torch.no_grad()
def extract(extractor, images: torch.Tensor, batch_size: int) -> dict:
    """{layer: features [N, D]} on the CPU, for every layer the extractor was built with:
    what torch-fidelity's extraction returns, from whole batches of `images` (the classifier
    reads a grey image's one channel where torch-fidelity tiles it to three)."""
    check_images(images)
    device = _device(extractor)
    if device.type == "cpu":
        batch_size = CPU_BATCH
    parts = {layer: [] for layer in extractor.get_requested_features_list()}
    for batch in images.split(batch_size):
        out = extractor.convert_features_tuple_to_dict(extractor(batch.to(device)))
        for layer, value in out.items():
            parts[layer].append(value.cpu())
    return {layer: torch.cat(values) for layer, values in parts.items()}


# ---------------------------------------------------------------- the real set, cached

def _layout(extractor, images: torch.Tensor) -> dict:
    """{layer: features of one image}: the dtype and width every cached file must have."""
    return extract(extractor, images[:1], 1)


def reference_features(extractor, images: torch.Tensor, batch_size: int, cache_dir: Path | None, name: str,
                       layers=None) -> dict:
    """The real set's features of `layers` (default: every layer of the extractor), from
    the cache when every one is there and sound, otherwise extracted and cached (all layers)."""
    layers = tuple(layers or extractor.get_requested_features_list())
    if cache_dir is None:
        return extract(extractor, images, batch_size)
    layout = _layout(extractor, images)
    found = {}
    for layer in layers:
        found[layer] = cache.load_checked(cache_file(cache_dir, name, extractor, "features", layer),
                                          lambda item, like=layout[layer]: cache.features_fit(item, len(images), like))
    if all(item is not None for item in found.values()):
        return found
    features = extract(extractor, images, batch_size)
    for layer, value in features.items():
        cache.store(cache_file(cache_dir, name, extractor, "features", layer), value)
    return features


def reference_statistics(extractor, layer: str, images: torch.Tensor, batch_size: int, cache_dir: Path | None,
                         name: str, features: torch.Tensor | None = None) -> dict:
    """FID statistics {mu, sigma} of the real set's `layer` (torch-fidelity's), from the cache,
    else from `features` (the real set's, when the caller has them) or the cached or extracted features."""
    if cache_dir is None:
        return fid_features_to_statistics(features if features is not None else extract(
            extractor, images, batch_size)[layer])
    probe = _layout(extractor, images)[layer]
    like = fid_features_to_statistics(torch.zeros(2, probe.shape[1], dtype=probe.dtype))

    def compute():
        real = features if features is not None else reference_features(
            extractor, images, batch_size, cache_dir, name, (layer,))[layer]
        return fid_features_to_statistics(real)

    return cache.checked_or_computed(cache_file(cache_dir, name, extractor, "stat-fid", layer),
                                     lambda item: cache.statistics_fit(item, like), compute)


def reference_radii(features: torch.Tensor, k: int, batch_size: int, cache_dir: Path | None, name: str,
                    extractor, layer: str) -> torch.Tensor:
    """Each real point's distance to its k-th nearest real neighbour [N], the radius of
    its ball in precision's test, as torch-fidelity computes it from these `features`.
    Cached as the k + 1 smallest distances of each point (itself included)."""
    if cache_dir is None:
        return neighbour_distances(features, k, batch_size)[:, k]
    like = torch.zeros(1, k + 1, dtype=features.dtype)
    distances = cache.checked_or_computed(
        cache_file(cache_dir, name, extractor, "prc-neighbours", layer),
        lambda item: cache.features_fit(item, len(features), like) and bool((item >= 0).all()),
        lambda: neighbour_distances(features, k, batch_size))
    return distances[:, k]


def reference_kid_part(features: torch.Tensor, draw: kid.Draw, cache_dir: Path | None, name: str,
                       extractor, layer: str) -> torch.Tensor:
    """KID's real-set part for one draw of subsets (bench/eval/kid.py): each round's kernel
    sum over its real subset, cached under the draw's name."""
    if cache_dir is None:
        return kid.real_part(features, draw)
    return cache.checked_or_computed(
        cache_file(cache_dir, name, extractor, draw.name(), layer),
        lambda item: (isinstance(item, torch.Tensor) and item.dtype == features.dtype
                      and tuple(item.shape) == (draw.subsets,) and cache.finite_array(item, 1)),
        lambda: kid.real_part(features, draw))
