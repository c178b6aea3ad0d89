"""The one MNIST loader every variant trains on.

The whole training set lives on the run's device as uint8 (47 MB), each epoch is a
permutation drawn on that device from the seeded global generator, and a batch is
scaled to [-1, 1] only when it is taken. No DataLoader, no worker processes, no
host-to-device copies inside the training loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1], the range every generator produces."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255], the inverse of `to_unit_range` (clamped)."""
    return images.add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


@dataclass
class Batches:
    """An endless stream of shuffled training batches; the last partial batch of an
    epoch is dropped so every step sees `batch_size` images.

    `epoch` and `position` are the stream's whole state beside the RNG, so a
    checkpoint can restore it exactly.
    """

    images: torch.Tensor  # uint8 [N, C, H, W], on the run's device
    batch_size: int
    epoch: int = 0
    position: int = 0
    order: torch.Tensor | None = None

    def __post_init__(self):
        if not 0 < self.batch_size <= len(self.images):
            raise ValueError(f"batch size {self.batch_size} must be between 1 and {len(self.images)}")

    def next(self) -> torch.Tensor:
        if self.order is None or self.position + self.batch_size > len(self.images):
            if self.order is not None:
                self.epoch += 1
            self.order = torch.randperm(len(self.images), device=self.images.device)
            self.position = 0
        index = self.order[self.position: self.position + self.batch_size]
        self.position += self.batch_size
        return to_unit_range(self.images[index])

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "order": self.order}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = state["epoch"], state["position"]
        self.order = None if state["order"] is None else state["order"].to(self.images.device)
