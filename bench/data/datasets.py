"""The datasets a run trains on, and what each is scored by (docs/datasets.md).

- `mnist`: the 60,000 MNIST training digits, scored against the 10,000 test digits.
- `stacked-mnist`: PacGAN's Stacked MNIST (Lin et al. 2018, after VEEGAN and Unrolled
  GAN): each image is 3 x 28 x 28, channel k an MNIST digit drawn uniformly at random, so
  the data has 10^3 = 1,000 modes (one per triple of digits). 128,000 training stacks are
  drawn from the 60,000 training digits; the reference stacks for the figures are drawn
  the same way from the 10,000 test digits, so no test digit is ever trained on.

Stacks are built from verified MNIST with numpy's legacy `RandomState`, whose stream
numpy guarantees never to change, and the built arrays are checked against pinned
sha256s like MNIST itself: every machine trains and scores on the same stacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from bench.data import assets
from bench.errors import BenchError
from variants.registry import Registry


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    shape: tuple[int, int, int]  # one image, [C, H, W]
    load: Callable[[Path | None], dict]  # data_dir -> {"train_images", "reference_images", "sha256"}
    fid_key: str  # the FID the convergence curve, time_to_fid and the report's tests use
    # From a preset: the generated samples of a final evaluation, and the FID time_to_fid waits for.
    final_samples: Callable[[object], int]
    fid_threshold: Callable[[object], float]
    train_size: int = 60_000  # training images: one epoch, the convergence rule's default curve spacing


# ---------------------------------------------------------------- Stacked MNIST

STACKED_TRAIN = 128_000  # PacGAN's training set size
STACKED_REFERENCE = 26_000  # as many as are generated for the mode count
STACK_DEPTH = 3
STACK_SEEDS = {"train": 0, "reference": 1}  # numpy RandomState seeds of the digit draws

# sha256 of the built uint8 arrays ([N,3,28,28] images, [N,3] int64 digit labels, C order).
STACKED_SHA256 = {
    "train_images": "f814d3ab655e8014e9a61489f9c19e495bd34185f04861590364b5551f3cdde1",
    "train_labels": "fd2fa97c7755a83f82fa690e2bf57c08add044abc29971de7c056282890ead49",
    "reference_images": "1cf34be7a88de890e824429c1f5713cb3382526459a0e5909a9ad7c0c03557c8",
    "reference_labels": "5877ece6942cdf453e75afaad2696e578009f0d386663112a82e404a90c20fe0",
}


def stack_digits(images: np.ndarray, labels: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` stacks of STACK_DEPTH digits drawn uniformly (with replacement) from
    `images` [N,28,28]: images [count,3,28,28] uint8 and digit labels [count,3] int64."""
    # RandomState's randint stream is frozen by numpy's compatibility policy; dtype pinned
    # because its default integer width differs between platforms.
    index = np.random.RandomState(seed).randint(0, len(images), size=(count, STACK_DEPTH), dtype=np.int64)
    return images[index], labels[index].astype(np.int64)


def mode_ids(digit_labels: torch.Tensor) -> torch.Tensor:
    """Digit triples [N,3] -> mode numbers 0..999 (d0 * 100 + d1 * 10 + d2)."""
    return (digit_labels * torch.tensor([100, 10, 1], device=digit_labels.device)).sum(dim=1)


def build_stacked(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    train = stack_digits(arrays["train_images"], arrays["train_labels"], STACKED_TRAIN, STACK_SEEDS["train"])
    reference = stack_digits(arrays["test_images"], arrays["test_labels"], STACKED_REFERENCE,
                             STACK_SEEDS["reference"])
    return {"train_images": train[0], "train_labels": train[1],
            "reference_images": reference[0], "reference_labels": reference[1]}


def load_stacked_mnist(data_dir: Path | None = None) -> dict:
    stacks = build_stacked(assets.fetch_mnist(data_dir))
    for key, array in stacks.items():
        if assets.array_sha256(array) != STACKED_SHA256[key]:
            raise BenchError(f"Stacked MNIST {key} does not match its pinned sha256: this numpy draws other "
                             "stacks than the published ones, so its figures would not be comparable")
    tensors = {key: torch.from_numpy(array) for key, array in stacks.items()}
    return {**tensors, "sha256": dict(STACKED_SHA256)}


def load_plain_mnist(data_dir: Path | None = None) -> dict:
    mnist = assets.load_mnist(data_dir)
    return {"train_images": mnist["train_images"], "train_labels": mnist["train_labels"],
            "reference_images": mnist["test_images"], "reference_labels": mnist["test_labels"],
            "sha256": dict(assets.MNIST_SHA256)}


DATASETS: Registry[Dataset] = Registry("dataset")
for _dataset in (
    Dataset("mnist", "MNIST: 60,000 training digits, scored against the 10,000 test digits",
            (1, 28, 28), load_plain_mnist, "fid_mnist", lambda preset: preset.final_samples,
            lambda preset: preset.fid_threshold),
    Dataset("stacked-mnist", "Stacked MNIST (PacGAN): 128,000 stacks of 3 training digits, 1,000 modes; scored "
                             "against 26,000 stacks of test digits",
            (STACK_DEPTH, 28, 28), load_stacked_mnist, "fid_stacked", lambda preset: preset.stacked_samples,
            lambda preset: preset.stacked_fid_threshold, train_size=STACKED_TRAIN),
):
    DATASETS.register(_dataset.name, _dataset)


def get_dataset(name: str) -> Dataset:
    """The dataset of that name; an unknown one is a `variants.RegistryError` with close matches."""
    return DATASETS.get(name)
