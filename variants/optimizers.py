"""Optimizers by name (`Hparams.optimizer`): name -> factory(params, lr, hparams, fused).

`fused` asks for torch's single-kernel implementation where torch has one for that
optimizer and device (Adam on CUDA and CPU); RMSprop has no fused form in torch, so it
takes the multi-tensor (foreach) path instead. The tutorial loop (bench/speed/yardstick.py)
asks for neither.
"""

from __future__ import annotations

from typing import Callable

import torch

OPTIMIZERS: dict[str, Callable] = {}


def register_optimizer(name: str):
    def add(factory):
        OPTIMIZERS[name] = factory
        return factory
    return add


@register_optimizer("adam")
def adam(params, lr: float, hparams, fused: bool) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=tuple(hparams.betas), **({"fused": True} if fused else {}))


@register_optimizer("rmsprop")
def rmsprop(params, lr: float, hparams, fused: bool) -> torch.optim.Optimizer:
    # PyTorch's defaults (alpha 0.99, eps 1e-8), as in the WGAN authors' own PyTorch code.
    return torch.optim.RMSprop(params, lr=lr, **({"foreach": True} if fused else {}))


def build_optimizer(params, lr: float, hparams, fused: bool) -> torch.optim.Optimizer:
    return OPTIMIZERS[hparams.optimizer](params, lr, hparams, fused)
