"""Architectures: each builder maps (data_shape, z_dim, width, options) to (G, D).

G maps z [B, z_dim] to images in [-1, 1] of `data_shape`; D maps images to one
logit (or critic value) per image. Losses live in `losses.py`, so any architecture
can be paired with any loss.
"""

from __future__ import annotations

import math
from typing import Callable

from torch import nn

ARCHS: dict[str, Callable] = {}


def register_arch(name: str):
    def add(builder):
        ARCHS[name] = builder
        return builder
    return add


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: weights from N(0, 0.02); BatchNorm scales from N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


@register_arch("mlp")
def build_mlp(data_shape, z_dim: int, width: int = 256, **_):
    """Fully connected G and D in the manner of Goodfellow et al. 2014 (ReLU and
    LeakyReLU instead of maxout, as in the PyTorch-GAN tutorial)."""
    pixels = math.prod(data_shape)
    G = nn.Sequential(
        nn.Linear(z_dim, width), nn.LeakyReLU(0.2),
        nn.Linear(width, 2 * width), nn.LeakyReLU(0.2),
        nn.Linear(2 * width, 4 * width), nn.LeakyReLU(0.2),
        nn.Linear(4 * width, pixels), nn.Tanh(),
        nn.Unflatten(1, tuple(data_shape)),
    )
    D = nn.Sequential(
        nn.Flatten(),
        nn.Linear(pixels, 2 * width), nn.LeakyReLU(0.2),
        nn.Linear(2 * width, width), nn.LeakyReLU(0.2),
        nn.Linear(width, 1),
    )
    return G, D


@register_arch("dcgan")
def build_dcgan(data_shape, z_dim: int, width: int = 64, d_norm: str = "batch", **_):
    """DCGAN-style nets for 28x28 images (InfoGAN's MNIST layout, as in compare_gan):
    G: FC -> 2w x 7 x 7 -> deconv w x 14 x 14 -> deconv C x 28 x 28, BatchNorm + ReLU, tanh;
    D: conv w /2 -> conv 2w /2 -> FC 1, LeakyReLU 0.2, BatchNorm (or none: a WGAN-GP
    critic must not normalize across the batch) in the second block."""
    channels, height, width_px = data_shape
    if height % 4 or width_px % 4:
        raise ValueError(f"dcgan needs image sides divisible by 4, got {height}x{width_px}")
    h, w = height // 4, width_px // 4
    norms = {"batch": nn.BatchNorm2d, "none": lambda _: nn.Identity()}
    G = nn.Sequential(
        nn.Linear(z_dim, 2 * width * h * w), nn.BatchNorm1d(2 * width * h * w), nn.ReLU(),
        nn.Unflatten(1, (2 * width, h, w)),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, 2, 1), norms[d_norm](2 * width), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(2 * width * h * w, 1),
    )
    G.apply(dcgan_init)
    D.apply(dcgan_init)
    return G, D
