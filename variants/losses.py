"""GAN losses: each is a (d_loss, g_loss) pair over a discriminator's raw outputs.

`d_loss(D, real, fake, **options)` includes any regularizer; `fake` arrives detached.
`g_loss(D, fake)` is minimized by the generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Loss:
    name: str
    d_loss: Callable
    g_loss: Callable
    paper: str
    # The D loss differentiates through D's input gradient (a gradient penalty). torch.compile's
    # aot_autograd cannot take that double backward (an error in torch 2.14, a silently dropped
    # penalty gradient in older releases), so such a D always runs eagerly.
    double_backward: bool = False


LOSSES: dict[str, Loss] = {}


def register_loss(loss: Loss) -> Loss:
    LOSSES[loss.name] = loss
    return loss


# Non-saturating loss (Goodfellow et al. 2014): the BCE of the logits, written with
# softplus, which is BCE-with-logits exactly and stable for large logits.
register_loss(Loss(
    name="ns",
    d_loss=lambda D, real, fake: F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean(),
    g_loss=lambda D, fake: F.softplus(-D(fake)).mean(),
    paper="Goodfellow et al. 2014, Generative Adversarial Nets",
))

# Least squares with a=0, b=c=1 (Mao et al. 2017, eq. 2), halves as in the paper.
register_loss(Loss(
    name="ls",
    d_loss=lambda D, real, fake: 0.5 * (D(real) - 1).square().mean() + 0.5 * D(fake).square().mean(),
    g_loss=lambda D, fake: 0.5 * (D(fake) - 1).square().mean(),
    paper="Mao et al. 2017, Least Squares Generative Adversarial Networks",
))


def gradient_penalty(D, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Gulrajani et al. 2017: (||grad D(x_hat)||_2 - 1)^2 at random points between
    real and fake images; create_graph so the penalty itself trains D."""
    eps = torch.rand((real.size(0),) + (1,) * (real.dim() - 1), device=real.device)
    x_hat = torch.lerp(fake, real, eps).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).square().mean()


def wgan_gp_d_loss(D, real, fake, gp_weight: float = 10.0):
    return D(fake).mean() - D(real).mean() + gp_weight * gradient_penalty(D, real, fake)


register_loss(Loss(
    name="wgan-gp",
    d_loss=wgan_gp_d_loss,
    g_loss=lambda D, fake: -D(fake).mean(),
    paper="Gulrajani et al. 2017, Improved Training of Wasserstein GANs",
    double_backward=True,
))
