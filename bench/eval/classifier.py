"""gan-bench's fixed MNIST classifier: the feature network behind fid_mnist, kid_mnist,
precision/recall_mnist (its 128-d penultimate layer) and is_mnist, modes_covered,
class_kl, confidence (its 10 logits).

Figures computed on it are comparable only across the same weights, so the weights
ship with the code (`mnist_classifier.pt`, ~0.5 MB) and are pinned by sha256: a
changed file is refused, never silently used. `gan-bench train-classifier` retrains
them deterministically (`train_classifier`) and prints the new sha256 to pin.

The network is also registered with torch-fidelity as a feature extractor
(`FEATURE_EXTRACTOR`), so torch-fidelity, not this project, computes the statistics.
"""

from __future__ import annotations

import io
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

from bench.errors import BenchError
from bench.files import file_sha256

CLASSIFIER_PATH = Path(__file__).with_name("mnist_classifier.pt")
# train_classifier(seed=0, epochs=4): 99.55% test accuracy
CLASSIFIER_SHA256 = "589dccb8d329e1204f4efe50f1a63e725df80b0b2ed2b532b984e011adf5e55d"
FEATURE_DIM = 128
NUM_CLASSES = 10

# torch-fidelity names: the extractor and the two layers it provides.
FEATURE_EXTRACTOR = "gan-bench-mnist-classifier"
FEATURES = "128"
LOGITS = "logits"

# The usual MNIST pixel statistics; only a fixed affine map of the input.
MEAN, STD = 0.1307, 0.3081


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2),
    )


class MnistClassifier(nn.Module):
    """Three conv blocks (28 -> 14 -> 7 -> 3), a 128-d feature layer, 10 logits.

    Small on purpose: 131k parameters (0.5 MB), a few minutes to train on a 2-core
    CPU, about 1,600 images/s to evaluate there (2 threads of an AMD EPYC), and >= 99.3% test accuracy.
    """

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            _block(1, 32), _block(32, 64), _block(64, 64),
            nn.Flatten(), nn.Linear(64 * 3 * 3, FEATURE_DIM, bias=False), nn.BatchNorm1d(FEATURE_DIM), nn.ReLU(),
        )
        self.head = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    @staticmethod
    def prepare(images: torch.Tensor) -> torch.Tensor:
        """uint8 [B,1,28,28] or [B,3,28,28] (grey tiled, as torch-fidelity passes it:
        the first channel is used) -> normalized float [B,1,28,28]."""
        if images.dtype != torch.uint8:
            raise ValueError(f"the MNIST classifier expects uint8 images, got {images.dtype}")
        if images.dim() != 4 or images.shape[1] not in (1, 3) or tuple(images.shape[2:]) != (28, 28):
            raise ValueError(f"the MNIST classifier expects [B,1|3,28,28] images, got {tuple(images.shape)}")
        return (images[:, :1].float() / 255.0 - MEAN) / STD

    def features_from_float(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return features, self.head(features)

    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(penultimate features [B,128], logits [B,10]) of uint8 images."""
        return self.features_from_float(self.prepare(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)[1]


# ---------------------------------------------------------------- weights file

def classifier_bytes(model: MnistClassifier) -> bytes:
    """The weights file's content: the state dict (float32, CPU), serialized in memory
    because torch.save names its zip records after the file, so a file-backed save would
    make the sha256 depend on the file name."""
    state = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def load_classifier(device: torch.device | str = "cpu", path: Path = CLASSIFIER_PATH,
                    sha256: str | None = CLASSIFIER_SHA256) -> MnistClassifier:
    """The pinned classifier in eval mode on `device`. A file whose sha256 differs from
    the pinned one is refused: metrics on other weights are not comparable."""
    path = Path(path)
    if not path.exists():
        raise BenchError(f"{path} is missing; `gan-bench train-classifier` regenerates it")
    if sha256 is not None and file_sha256(path) != sha256:
        raise BenchError(
            f"{path} does not match its pinned sha256 {sha256[:16]}... (changed or corrupt); "
            "`gan-bench train-classifier` regenerates it"
        )
    with torch.random.fork_rng(devices=[]):  # the throwaway random init must not move the global RNG
        model = MnistClassifier()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(device).eval().requires_grad_(False)


# ---------------------------------------------------------------- training

def _shift(x: torch.Tensor, generator: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random translation by up to `max_shift` pixels per image (zero fill): the only
    augmentation, enough to get past 99.3% in a few epochs."""
    b = x.shape[0]
    padded = F.pad(x, (max_shift,) * 4)
    dx = torch.randint(0, 2 * max_shift + 1, (b,), generator=generator)
    dy = torch.randint(0, 2 * max_shift + 1, (b,), generator=generator)
    rows = (dy[:, None] + torch.arange(28)[None, :])  # [B,28]
    cols = (dx[:, None] + torch.arange(28)[None, :])
    index = torch.arange(b)[:, None, None]
    return padded[:, 0][index, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


@torch.no_grad()
def accuracy(model: MnistClassifier, images: torch.Tensor, labels: torch.Tensor, batch: int = 1000) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(images), batch):
        logits = model(images[start:start + batch])
        correct += (logits.argmax(1) == labels[start:start + batch]).sum().item()
    return correct / len(images)


def train_classifier(seed: int = 0, epochs: int = 4, batch_size: int = 128, lr: float = 3e-3,
                     data_dir: Path | None = None, log=print) -> tuple[MnistClassifier, float]:
    """Train on the 60,000 MNIST training images (CPU, fixed seed, Adam with a cosine
    schedule) and return (model, test accuracy). Runs on the CPU so the same seed
    gives the same weights on every machine (bitwise with the same torch and thread
    count); the caller pins the sha256 of `classifier_bytes`.

    The global RNG is left as it was: all randomness comes from generators seeded here.
    """
    from bench.data import assets

    mnist = assets.load_mnist(data_dir)
    train_x, train_y = mnist["train_images"], mnist["train_labels"]
    test_x, test_y = mnist["test_images"], mnist["test_labels"]
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # parameter initialization
        model = MnistClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = len(train_x) // batch_size
    total = epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train_x), generator=generator)
        running = 0.0
        for step in range(steps_per_epoch):
            index = order[step * batch_size:(step + 1) * batch_size]
            x = _shift(model.prepare(train_x[index]), generator)
            loss = F.cross_entropy(model.features_from_float(x)[1], train_y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            running += loss.item()
        test_accuracy = accuracy(model, test_x, test_y)
        log(f"epoch {epoch + 1}/{epochs}: loss {running / steps_per_epoch:.4f}, "
            f"test accuracy {test_accuracy:.4f} ({time.perf_counter() - start:.0f}s)")
    model.eval().requires_grad_(False)
    return model, test_accuracy


# ---------------------------------------------------------------- torch-fidelity

class FeatureExtractorMnistClassifier(FeatureExtractorBase):
    """torch-fidelity's view of the classifier: uint8 [B,3,H,W] (or [B,1,H,W]) in,
    the 128-d features (fid, kid, prc) and the logits (isc) out.

    `feature_extractor_weights_path` may name another weights file (for experiments);
    it is then loaded unchecked, and `CLASSIFIER_SHA256` no longer describes the figures.
    """

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        if feature_extractor_weights_path is None:
            self.model = load_classifier("cpu")
        else:
            self.model = load_classifier("cpu", feature_extractor_weights_path, sha256=None)

    def forward(self, x):
        features, logits = self.model.features(x)
        # float64 out: torch-fidelity takes the FID means in the features' dtype, and
        # fid_mnist (~0.3 for real vs real) is a small difference of traces in the
        # hundreds, so float32 means alone would cost ~1e-5 of it.
        out = {FEATURES: features.double(), LOGITS: logits.double()}
        return tuple(out[name] for name in self.features_list)

    @staticmethod
    def get_provided_features_list():
        return FEATURES, LOGITS

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": LOGITS, "fid": FEATURES, "kid": FEATURES, "prc": FEATURES}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, 28, 28, dtype=torch.uint8)


# Guarded: importing this module twice (reloads in tests) must not re-register.
if FEATURE_EXTRACTOR not in FEATURE_EXTRACTORS_REGISTRY:
    register_feature_extractor(FEATURE_EXTRACTOR, FeatureExtractorMnistClassifier)
