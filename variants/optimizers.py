"""Optimizers by name (`Hparams.optimizer`): name -> factory(params, lr, hparams, fused).

`fused` asks for torch's single-kernel implementation where torch has one for that
optimizer and device (Adam on CUDA and CPU); RMSprop has no fused form in torch, so it
takes the multi-tensor (foreach) path instead. The tutorial loop (bench/speed/yardstick.py)
asks for neither.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from variants.registry import Registry
from variants.provenance import caller_source

OPTIMIZERS: Registry[Callable] = Registry("optimizer")


def register_optimizer(name: str):
    """A decorator: `@register_optimizer("name")` over a factory adds it to OPTIMIZERS; a
    name another module registered is refused, not replaced."""
    source = caller_source()

    def add(factory):
        return OPTIMIZERS.register(name, factory, source=source)
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
