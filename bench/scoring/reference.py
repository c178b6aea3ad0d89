"""Reference statistics to take away: the mean and covariance of an image set's MNIST-classifier
features in a .npz file that other code can read.

The keys `mu` and `sigma` (float64) are the ones pytorch-fid's `--save-stats` files use, so
its `calculate_frechet_distance` reads them as they are; beside them the file names what the
statistics are only comparable under: the feature network's sha256, the dataset, how many
images and a digest of their pixels, and the device type the features were computed on
(float32 kernels differ between a CPU and a GPU). A file whose network or dataset differs
from the scoring's is refused, never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.errors import BenchError

FORMAT = "gan-bench-fid-statistics"
FORMAT_VERSION = 1
FEATURE = "mnist-classifier-128"
STRING_KEYS = ("format", "feature", "network_sha256", "dataset", "images_digest", "device_type")


@dataclass
class Reference:
    mu: np.ndarray
    sigma: np.ndarray
    n: int
    network_sha256: str
    dataset: str
    images_digest: str
    device_type: str
    path: Path | None = None

    def describe(self) -> dict:
        """The record's `reference` section."""
        from bench.files import file_sha256

        return {"file": str(self.path) if self.path else None,
                "sha256": file_sha256(self.path) if self.path else None, "n": self.n, "dataset": self.dataset,
                "network_sha256": self.network_sha256, "images_digest": self.images_digest,
                "device_type": self.device_type}


def feature_statistics(features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """mu and sigma of features [N, D] as torch-fidelity computes them for FID (float64)."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    stats = fid_features_to_statistics(features.double())
    return stats["mu"], stats["sigma"]


def reference_of(images: torch.Tensor, dataset: str, device: torch.device) -> Reference:
    """The statistics of a uint8 image set on the MNIST classifier's 128-d features."""
    from bench.eval.classifier import CLASSIFIER_SHA256, FEATURES
    from bench.eval.quality import images_digest, mnist_features

    if dataset != "mnist":
        raise BenchError("reference statistics files hold MNIST-classifier features of MNIST-shaped images; "
                         f"{dataset} is scored against its own reference set only")
    mu, sigma = feature_statistics(mnist_features(images, device)[FEATURES])
    return Reference(mu, sigma, len(images), CLASSIFIER_SHA256, dataset, images_digest(images),
                     torch.device(device).type)


def write_reference(path: Path, reference: Reference) -> None:
    from bench.files import atomic_write
    import io

    buffer = io.BytesIO()
    np.savez(buffer, mu=reference.mu.astype(np.float64), sigma=reference.sigma.astype(np.float64),
             n=np.int64(reference.n), format=np.str_(FORMAT), format_version=np.int64(FORMAT_VERSION),
             feature=np.str_(FEATURE), network_sha256=np.str_(reference.network_sha256),
             dataset=np.str_(reference.dataset), images_digest=np.str_(reference.images_digest),
             device_type=np.str_(reference.device_type))
    atomic_write(path, buffer.getvalue())


def _string(data, key: str, path: Path) -> str:
    value = data[key]
    if value.dtype.kind != "U" or value.ndim != 0:
        raise BenchError(f"refused reference file {path}: '{key}' must be a string")
    return str(value)


def read_reference(path: Path) -> Reference:
    """A statistics file as data (no pickle), its shapes and labels checked."""
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise BenchError(f"{path} is not a readable .npz statistics file ({type(error).__name__})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise BenchError(f"{path} is a single array, not a statistics file (mu, sigma and their labels)")
    with data:
        keys = set(data.files)
        if not {"mu", "sigma"} <= keys:
            raise BenchError(f"refused reference file {path}: it has no mu and sigma")
        if "network_sha256" not in keys:
            raise BenchError(f"refused reference file {path}: it names no feature network (a pytorch-fid file holds "
                             "Inception statistics; gan-bench's are on its MNIST classifier: `gan-bench stats`)")
        missing = [k for k in (*STRING_KEYS, "n") if k not in keys]
        if missing:
            raise BenchError(f"refused reference file {path}: it lacks {', '.join(missing)}")
        try:
            labels = {key: _string(data, key, path) for key in STRING_KEYS}
            mu, sigma, n = data["mu"], data["sigma"], data["n"]
        except ValueError:  # an object array, refused by allow_pickle=False
            raise BenchError(f"refused reference file {path}: it holds pickled objects") from None
    if labels["format"] != FORMAT or labels["feature"] != FEATURE:
        raise BenchError(f"refused reference file {path}: format {labels['format']!r}, features {labels['feature']!r}; "
                         f"expected {FORMAT!r} on {FEATURE!r}")
    if (mu.dtype.kind != "f" or mu.ndim != 1 or sigma.dtype.kind != "f" or sigma.shape != (len(mu), len(mu))
            or not np.isfinite(mu).all() or not np.isfinite(sigma).all()):
        raise BenchError(f"refused reference file {path}: mu must be a finite vector and sigma a finite square "
                         f"matrix of its size, got {list(mu.shape)} and {list(sigma.shape)}")
    if n.dtype.kind not in "iu" or n.ndim != 0 or int(n) < 2:
        raise BenchError(f"refused reference file {path}: 'n' must be an image count of at least 2")
    return Reference(mu.astype(np.float64), sigma.astype(np.float64), int(n), labels["network_sha256"],
                     labels["dataset"], labels["images_digest"], labels["device_type"], path)


def check_reference(reference: Reference, dataset: str) -> None:
    """A reference usable for this scoring: the pinned classifier's features of this dataset."""
    from bench.eval.classifier import CLASSIFIER_SHA256, FEATURE_DIM

    if reference.network_sha256 != CLASSIFIER_SHA256:
        raise BenchError(f"refused reference file {reference.path}: its statistics come from another feature "
                         f"network (sha256 {reference.network_sha256[:16]}...); this gan-bench's MNIST classifier is "
                         f"{CLASSIFIER_SHA256[:16]}...")
    if reference.dataset != dataset:
        raise BenchError(f"refused reference file {reference.path}: it holds {reference.dataset} statistics, and "
                         f"these samples are scored as {dataset}")
    if len(reference.mu) != FEATURE_DIM:
        raise BenchError(f"refused reference file {reference.path}: {len(reference.mu)}-d statistics, the classifier's "
                         f"features are {FEATURE_DIM}-d")


def fid_against(features: torch.Tensor, reference: Reference) -> float:
    """FID of features [N, D] against a reference file's statistics (torch-fidelity's formula)."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    mu, sigma = feature_statistics(features)
    return fid_statistics_to_metric({"mu": mu, "sigma": sigma}, {"mu": reference.mu, "sigma": reference.sigma},
                                    False)[KEY_METRIC_FID]
