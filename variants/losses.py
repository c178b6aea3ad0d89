"""GAN losses: each is a (d_loss, g_loss) pair over a discriminator's outputs.

`d_loss(D, real, fake, **options)` includes any regularizer; `fake` arrives detached.
`g_loss(D, fake, real)` is minimized by the generator; `real` is the last real batch
D trained on (a relativistic loss compares against it; the others ignore it).

A loss may also declare:
- `d_output`: what D must return ("logit": one value per image; "image": an
  autoencoder's reconstruction), checked against the architecture's;
- `init_state(device)`: per-run state (a dict of device tensors, e.g. BEGAN's k_t),
  passed to `d_loss` as `state=` and to `after_d_step`, saved in checkpoints;
- `after_d_step(D, state, **options)`: run after each D optimizer step (WGAN's
  weight clipping, BEGAN's k_t update), under `torch.no_grad()`;
- `diagnostics`: the names of what its `d_loss` reports through `diag=` (a dict it fills
  with detached device tensors: the critic's gap, D's mean probabilities, a penalty's
  value, BEGAN's k_t and M). The loop sums them on the device and averages them at log
  points, so reporting them costs no host sync; they are read off the forward passes the
  loss makes anyway, so they change nothing the run computes.

D(x) below is D's raw output, sigma the logistic function, E the batch mean; the
formulas are written with softplus: -log sigma(t) = softplus(-t) and
-log(1 - sigma(t)) = softplus(t), exact and stable for large |t|. A packed D (PacGAN,
`variants.archs.Packed`) gives one value per pack of images, so there E is the mean over
packs, and the gradient penalties treat a pack as one sample (see below).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from variants.archs import D_OUTPUTS, check_packable
from variants.registry import Registry, RegistryError
from variants.options import option_names
from variants.provenance import caller_source


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
    d_output: str = "logit"
    init_state: Callable[[torch.device], dict] | None = None
    after_d_step: Callable | None = None
    diagnostics: tuple[str, ...] = ()


# What each diagnostic is, for the report's panels and the docs.
DIAGNOSTICS = {
    "d_real": "mean sigma(D(x)): D's probability that a real image is real",
    "d_fake": "mean sigma(D(G(z))): D's probability that a fake image is real",
    "ra_real": "mean sigma(D(x) - E D(G(z))): RaGAN's probability that a real image is more realistic than the "
               "average fake",
    "ra_fake": "mean sigma(D(G(z)) - E D(x)): RaGAN's probability that a fake image is more realistic than the "
               "average real one",
    "critic_gap": "E D(x) - E D(G(z)): the gap between D's mean outputs on real and fake images (an estimate of "
                  "the Wasserstein-1 distance only for a 1-Lipschitz critic trained with the Wasserstein loss)",
    "gradient_penalty": "E (||grad D(x_hat)||_2 - 1)^2 at WGAN-GP's or DRAGAN's points, before its weight",
    "r1_penalty": "E ||grad_x D(x)||^2 on real images, before gamma / 2",
    "k": "BEGAN's k_t, the weight of the fake reconstruction loss in D's loss",
    "M": "BEGAN's convergence measure L(x) + |gamma L(x) - L(G(z))|",
}


def note(diag: dict | None, **values: torch.Tensor) -> None:
    """Put detached diagnostics into `diag` (None: nobody asked)."""
    if diag is not None:
        diag.update({name: value.detach() for name, value in values.items()})


def probabilities(diag: dict | None, d_real: torch.Tensor, d_fake: torch.Tensor) -> None:
    if diag is not None:
        note(diag, d_real=torch.sigmoid(d_real.detach()).mean(), d_fake=torch.sigmoid(d_fake.detach()).mean())


def critic_gap(diag: dict | None, d_real: torch.Tensor, d_fake: torch.Tensor) -> None:
    if diag is not None:
        note(diag, critic_gap=d_real.detach().mean() - d_fake.detach().mean())


LOSSES: Registry[Loss] = Registry("loss")

# What `Variant` passes a loss's functions itself: D and the two batches to `d_loss` and
# D and the state to `after_d_step` by position, the state and the diagnostics to `d_loss`
# by name. Their other parameters are the loss's options, each going only to the function
# that names it (BEGAN's gamma to `d_loss`, its lambda_k to `after_d_step`).
D_LOSS_ARGS, AFTER_D_STEP_ARGS, D_LOSS_KEYWORDS = 3, 2, ("state", "diag")


def loss_option_names(name: str) -> frozenset[str] | None:
    """The options loss `name` takes (None: one of its functions takes **kwargs, so any)."""
    loss = LOSSES[name]
    names = [option_names(loss.d_loss, D_LOSS_ARGS, D_LOSS_KEYWORDS)]
    if loss.after_d_step is not None:
        names.append(option_names(loss.after_d_step, AFTER_D_STEP_ARGS))
    return None if None in names else frozenset().union(*names)


def register_loss(loss: Loss) -> Loss:
    if loss.d_output not in D_OUTPUTS:
        raise RegistryError(f"loss {loss.name!r}: d_output must be one of {', '.join(D_OUTPUTS)}, "
                            f"got {loss.d_output!r}")
    return LOSSES.register(loss.name, loss, source=caller_source())


def ns_d_loss(D, real, fake, diag=None):
    """The BCE of D's logits: real images labelled 1, fakes 0."""
    d_real, d_fake = D(real), D(fake)
    probabilities(diag, d_real, d_fake)
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


LOGIT = ("d_real", "d_fake")


# Non-saturating loss (Goodfellow et al. 2014): the BCE of the logits.
register_loss(Loss(
    name="ns",
    d_loss=ns_d_loss,
    g_loss=lambda D, fake, real: F.softplus(-D(fake)).mean(),
    paper="Goodfellow et al. 2014, Generative Adversarial Nets",
    diagnostics=LOGIT,
))

# Minimax (Goodfellow et al. 2014; Lucic et al.'s "MM GAN"): D as ns; G minimizes
# E log(1 - sigma(D(G(z)))) = -E softplus(D(G(z))), which saturates when D is confident.
register_loss(Loss(
    name="mm",
    d_loss=ns_d_loss,
    g_loss=lambda D, fake, real: -F.softplus(D(fake)).mean(),
    paper="Goodfellow et al. 2014, Generative Adversarial Nets (minimax loss)",
    diagnostics=LOGIT,
))

def ls_d_loss(D, real, fake, diag=None):
    d_real, d_fake = D(real), D(fake)
    critic_gap(diag, d_real, d_fake)
    return 0.5 * (d_real - 1).square().mean() + 0.5 * d_fake.square().mean()


# Least squares with a=0, b=c=1 (Mao et al. 2017, eq. 2), halves as in the paper.
register_loss(Loss(
    name="ls",
    d_loss=ls_d_loss,
    g_loss=lambda D, fake, real: 0.5 * (D(fake) - 1).square().mean(),
    paper="Mao et al. 2017, Least Squares Generative Adversarial Networks",
    diagnostics=("critic_gap",),
))


# ---------------------------------------------------------------- gradient penalties

# The penalties work per sample of D, the unit D gives one value for: an image, or a pack
# of images for a packed D (PacGAN, Lin et al. 2018; `variants.archs.Packed`). For a pack
# the gradient norm is over the whole pack, the input D judged, and the random weights
# that place a penalty point between two samples are drawn once per pack, so the point lies
# on the segment between a real pack and a fake pack. With pack 1 both are per image, and
# the random draws are those of the per-image code, in the same order.

def input_gradient(D, points: torch.Tensor) -> torch.Tensor:
    """grad_x D(x) at `points`, one row per sample of D (image, or pack of images), with
    create_graph so a penalty on it trains D."""
    points = points.detach().requires_grad_(True)
    judged = D(points)
    (grad,) = torch.autograd.grad(judged.sum(), points, create_graph=True)
    return grad.reshape(judged.size(0), -1)


def unit_gradient_penalty(D, points: torch.Tensor) -> torch.Tensor:
    """E (||grad D(x)||_2 - 1)^2 over D's samples at `points`."""
    return (input_gradient(D, points).norm(dim=1) - 1).square().mean()


def pack_size(D) -> int:
    """How many images D judges together (`variants.archs.Packed`); 1 for any other D."""
    return getattr(D, "pack", 1)


def per_sample_weights(D, batch: torch.Tensor) -> torch.Tensor:
    """U[0, 1] weights, one per sample of D (per pack for a packed D), repeated over the
    images of a pack and broadcastable against `batch`."""
    pack = pack_size(D)
    check_packable(batch.size(0), pack)
    weights = torch.rand((batch.size(0) // pack,) + (1,) * (batch.dim() - 1), device=batch.device)
    return weights if pack == 1 else weights.repeat_interleave(pack, dim=0)


def gradient_penalty(D, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Gulrajani et al. 2017: at random points between real and fake images (packs)."""
    eps = per_sample_weights(D, real)
    return unit_gradient_penalty(D, torch.lerp(fake, real, eps))


def dragan_penalty(D, real: torch.Tensor) -> torch.Tensor:
    """Kodali et al. 2017, as compare_gan's DRAGAN (compare_gan/src/gans/DRAGAN.py):
    x_p = x + 0.5 std(x) u, with std over the whole real batch (population std, as numpy's)
    and u ~ U[0, 1] per pixel; x_hat = x + a (x_p - x), a ~ U[0, 1] per sample (per pack)."""
    perturbed = real + 0.5 * real.std(correction=0) * torch.rand_like(real)
    a = per_sample_weights(D, real)
    return unit_gradient_penalty(D, torch.lerp(real, perturbed, a))


def r1_penalty(D, real: torch.Tensor) -> torch.Tensor:
    """Mescheder et al. 2018: E ||grad_x D(x)||^2 on real data (the norm over a whole pack)."""
    return input_gradient(D, real).square().sum(dim=1).mean()


def wgan_gp_d_loss(D, real, fake, gp_weight: float = 10.0, diag=None):
    # D(fake) first, as always: the order of D's calls is the order of its random draws.
    d_fake, d_real = D(fake), D(real)
    penalty = gradient_penalty(D, real, fake)
    critic_gap(diag, d_real, d_fake)
    note(diag, gradient_penalty=penalty)
    return d_fake.mean() - d_real.mean() + gp_weight * penalty


def dragan_d_loss(D, real, fake, gp_weight: float = 10.0, diag=None):
    ns, penalty = ns_d_loss(D, real, fake, diag), dragan_penalty(D, real)
    note(diag, gradient_penalty=penalty)
    return ns + gp_weight * penalty


def r1_d_loss(D, real, fake, gamma: float = 10.0, diag=None):
    ns, penalty = ns_d_loss(D, real, fake, diag), r1_penalty(D, real)
    note(diag, r1_penalty=penalty)
    return ns + gamma / 2 * penalty


register_loss(Loss(
    name="wgan-gp",
    d_loss=wgan_gp_d_loss,
    g_loss=lambda D, fake, real: -D(fake).mean(),
    paper="Gulrajani et al. 2017, Improved Training of Wasserstein GANs",
    double_backward=True,
    diagnostics=("critic_gap", "gradient_penalty"),
))

register_loss(Loss(
    name="dragan",
    d_loss=dragan_d_loss,
    g_loss=lambda D, fake, real: F.softplus(-D(fake)).mean(),
    paper="Kodali et al. 2017, On Convergence and Stability of GANs (DRAGAN)",
    double_backward=True,
    diagnostics=LOGIT + ("gradient_penalty",),
))

register_loss(Loss(
    name="r1",
    d_loss=r1_d_loss,
    g_loss=lambda D, fake, real: F.softplus(-D(fake)).mean(),
    paper="Mescheder et al. 2018, Which Training Methods for GANs do actually Converge?",
    double_backward=True,
    diagnostics=LOGIT + ("r1_penalty",),
))


# ---------------------------------------------------------------- WGAN (weight clipping)

@torch.no_grad()
def clip_weights(D, state, clip: float = 0.01):
    """Arjovsky et al. 2017: every parameter of the critic into [-c, c] after its step."""
    for parameter in D.parameters():
        parameter.clamp_(-clip, clip)


def wgan_d_loss(D, real, fake, diag=None):
    d_fake, d_real = D(fake), D(real)
    critic_gap(diag, d_real, d_fake)
    return d_fake.mean() - d_real.mean()


register_loss(Loss(
    name="wgan",
    d_loss=wgan_d_loss,
    g_loss=lambda D, fake, real: -D(fake).mean(),
    paper="Arjovsky et al. 2017, Wasserstein GAN",
    after_d_step=clip_weights,
    diagnostics=("critic_gap",),
))


# ---------------------------------------------------------------- hinge (SNGAN)

def hinge_d_loss(D, real, fake, diag=None):
    d_real, d_fake = D(real), D(fake)
    critic_gap(diag, d_real, d_fake)
    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


register_loss(Loss(
    name="hinge",
    d_loss=hinge_d_loss,
    g_loss=lambda D, fake, real: -D(fake).mean(),
    paper="Miyato et al. 2018, Spectral Normalization for Generative Adversarial Networks (hinge loss)",
    diagnostics=("critic_gap",),
))


# ---------------------------------------------------------------- relativistic average (RaGAN)

def relativistic(D, real, fake, diag=None) -> tuple[torch.Tensor, torch.Tensor]:
    """C_r = D(x) - E D(G(z)) and C_f = D(G(z)) - E D(x)."""
    d_real, d_fake = D(real), D(fake)
    c_real, c_fake = d_real - d_fake.mean(), d_fake - d_real.mean()
    # Only these differences enter the losses, so D's raw outputs may drift by any constant
    # and sigma(D(x)) says nothing: the diagnostics are the probabilities the loss sees.
    if diag is not None:
        note(diag, ra_real=torch.sigmoid(c_real.detach()).mean(), ra_fake=torch.sigmoid(c_fake.detach()).mean())
    return c_real, c_fake


def ragan_d_loss(D, real, fake, diag=None):
    c_real, c_fake = relativistic(D, real, fake, diag)
    return F.softplus(-c_real).mean() + F.softplus(c_fake).mean()


def ragan_g_loss(D, fake, real):
    c_real, c_fake = relativistic(D, real, fake)
    return F.softplus(-c_fake).mean() + F.softplus(c_real).mean()


register_loss(Loss(
    name="ragan",
    d_loss=ragan_d_loss,
    g_loss=ragan_g_loss,
    paper="Jolicoeur-Martineau 2018, The relativistic discriminator: a key element missing from standard GAN",
    diagnostics=("ra_real", "ra_fake"),
))


# ---------------------------------------------------------------- BEGAN

def reconstruction_error(D, images: torch.Tensor) -> torch.Tensor:
    """L(v) = E |v - AE(v)|, the L1 error of D's reconstruction."""
    return (images - D(images)).abs().mean()


def began_init_state(device: torch.device) -> dict:
    return {"k": torch.zeros((), device=device),  # k_0 = 0
            "balance": torch.zeros((), device=device),  # gamma L(x) - L(G(z)) of the last D step
            "convergence": torch.zeros((), device=device)}  # M = L(x) + |gamma L(x) - L(G(z))|


def began_d_loss(D, real, fake, state, gamma: float = 0.5, diag=None):
    loss_real, loss_fake = reconstruction_error(D, real), reconstruction_error(D, fake)
    balance = (gamma * loss_real - loss_fake).detach()
    state["balance"], state["convergence"] = balance, loss_real.detach() + balance.abs()
    # k_t as this step used it (the update comes after the step: a copy, not the live tensor).
    note(diag, k=state["k"].clone(), M=state["convergence"])
    return loss_real - state["k"] * loss_fake


@torch.no_grad()
def began_update_k(D, state, lambda_k: float = 0.001):
    """k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1), from the L values of the
    D step just taken; in place, on the device (no host sync)."""
    state["k"].add_(lambda_k * state["balance"]).clamp_(0.0, 1.0)


register_loss(Loss(
    name="began",
    d_loss=began_d_loss,
    g_loss=lambda D, fake, real: reconstruction_error(D, fake),
    paper="Berthelot et al. 2017, BEGAN: Boundary Equilibrium Generative Adversarial Networks",
    d_output="image",
    init_state=began_init_state,
    after_d_step=began_update_k,
    diagnostics=("k", "M"),
))
