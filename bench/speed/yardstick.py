"""The yardstick: the training loop people copy from tutorials (PyTorch-GAN, the
PyTorch DCGAN tutorial), run on gan-bench's own nets, losses, hyperparameters and
batch size, so that a speed ratio against it measures the loop, not the model.

What makes it the tutorial loop (docs/speed.md), kept on purpose:
- `torchvision.datasets.MNIST` with PIL transforms (ToTensor, Normalize) behind a
  `DataLoader(shuffle=True, drop_last=True)` with its default `num_workers=0`;
- every batch copied to the device with `.to(device)`;
- noise drawn on the CPU and copied to the device;
- `torch.optim.Adam` with its defaults (not fused) and `optimizer.zero_grad()`;
- `fake = G(z)` with autograd recording, then `fake.detach()` for D, and no freezing
  of D during G's update (its gradients are computed, then cleared next D step);
- `.item()` on both losses and a print every step (a host sync on CUDA).

Each step does the same arithmetic as `bench.train.protocol.train_step`: `n_critic` D
updates, each on a fresh real batch and fresh noise, then one G update on fresh
noise. The same seed gives the same initial weights as `init_state`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from bench.data import assets
from variants import Variant
from variants.optimizers import build_optimizer


def mnist_dataset(data_dir: Path | None = None) -> datasets.MNIST:
    """The tutorial's dataset: PIL images through ToTensor and Normalize to [-1, 1],
    read from the raw files `gan-bench fetch` wrote (`<data_dir>/MNIST/raw`)."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    return datasets.MNIST(str(data_dir or assets.default_data_dir()), train=True, download=False,
                          transform=transform)


class Yardstick:
    """The tutorial loop, one generator update per `step()`, so it can be timed step by
    step like the fast path."""

    def __init__(self, variant: Variant, device: torch.device, data_dir: Path | None = None, seed: int = 0,
                 print_fn: Callable[[str], None] = print, num_workers: int = 0,
                 dataset: datasets.MNIST | None = None):
        # `dataset` lets a caller load MNIST first (the memory probe measures what comes after).
        torch.manual_seed(seed)  # before build, as init_state does: same initial weights
        self.variant, self.device, self.print_fn = variant, device, print_fn
        hp = variant.hparams
        G, D = variant.build((1, 28, 28))
        self.G, self.D = G.to(device), D.to(device)
        # What tutorials write: the optimizer's defaults, i.e. not fused (Adam: foreach on CUDA,
        # a loop on CPU; RMSprop for WGAN, as its tutorials use).
        self.opt_g = build_optimizer(self.G.parameters(), hp.lr_g, hp, fused=False)
        self.opt_d = build_optimizer(self.D.parameters(), hp.lr_d, hp, fused=False)
        self.loss_state = variant.new_loss_state(device)
        dataset = mnist_dataset(data_dir) if dataset is None else dataset
        self.loader = DataLoader(dataset, batch_size=hp.batch_size, shuffle=True, drop_last=True,
                                 num_workers=num_workers)
        self.batches = iter(self.loader)
        self.epoch, self.batch_index, self.steps_done = 0, 0, 0

    def next_batch(self) -> torch.Tensor:
        # The tutorial's `for epoch ...: for i, (imgs, _) in enumerate(dataloader)`, unrolled.
        try:
            images, _ = next(self.batches)
        except StopIteration:
            self.epoch += 1
            self.batch_index = 0
            self.batches = iter(self.loader)
            images, _ = next(self.batches)
        self.batch_index += 1
        return images.to(self.device)

    def noise(self) -> torch.Tensor:
        hp = self.variant.hparams
        return torch.randn(hp.batch_size, hp.z_dim).to(self.device)

    def step(self) -> tuple[float, float]:
        """One generator update with its n_critic D updates; returns (d_loss, g_loss) as floats."""
        variant, G, D = self.variant, self.G, self.D
        for _ in range(variant.hparams.n_critic):
            real = self.next_batch()
            fake = G(self.noise())
            self.opt_d.zero_grad()
            d_loss = variant.d_loss(D, real, fake.detach(), self.loss_state)
            d_loss.backward()
            self.opt_d.step()
            variant.after_d_step(D, self.loss_state)
        self.opt_g.zero_grad()
        g_loss = variant.g_loss(D, G(self.noise()), real)
        g_loss.backward()
        self.opt_g.step()
        self.steps_done += 1
        d_value, g_value = d_loss.item(), g_loss.item()
        self.print_fn(f"[Epoch {self.epoch}] [Batch {self.batch_index}/{len(self.loader)}] "
                      f"[D loss: {d_value:f}] [G loss: {g_value:f}]")
        return d_value, g_value
