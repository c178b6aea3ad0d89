"""The one training protocol every variant runs under.

Budget: a preset gives it in epochs of real images seen by D (Lucic et al.'s unit:
20 epochs at batch 64), which becomes a number of generator updates, each made of
`n_critic` D updates on fresh real batches and one G update. `--steps` sets the
generator updates directly.

Seeds: `torch.manual_seed(seed)` fixes initialization, data order (on-device
permutations) and noise, so on a CPU one seed gives one record (timings aside).

The loop never waits for the device between log points: losses are summed on the
device and a non-finite loss is remembered there with its step.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from torchvision.utils import save_image

from bench.data import Batches
from bench.devices import synchronize
from variants import Variant

PROTOCOL_VERSION = 1
SAMPLE_SEED = 1234  # the fixed latent batch behind every sample grid
GRID_SIZE = 64


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    epochs: float | None = None  # budget in passes of D over the training set
    steps: int | None = None  # or in generator updates
    log_every: int = 50


PRESETS = {
    "tiny": Preset("tiny", "a few steps, for tests", steps=4, log_every=2),
    "quick": Preset("quick", "2 epochs of real images seen by D: all four variants in minutes on a 2-core CPU",
                    epochs=2, log_every=50),
    "paper": Preset("paper", "Lucic et al.'s MNIST budget: 20 epochs at batch 64", epochs=20, log_every=200),
}


def generator_steps(preset: Preset, variant: Variant, n_train: int, steps: int | None = None) -> int:
    if steps is not None:
        return steps
    if preset.steps is not None:
        return preset.steps
    images_per_step = variant.hparams.batch_size * variant.hparams.n_critic
    return max(1, math.ceil(preset.epochs * n_train / images_per_step))


@dataclass(frozen=True)
class RunConfig:
    variant: Variant
    seed: int
    preset: str
    steps: int  # generator updates
    log_every: int

    def describe(self) -> dict:
        """The full configuration as plain values (hashed into `config_hash`, seed aside)."""
        v = self.variant
        return {
            "protocol_version": PROTOCOL_VERSION,
            "variant": v.name, "arch": v.arch, "loss": v.loss,
            "hparams": asdict(v.hparams), "arch_options": dict(v.arch_options), "loss_options": dict(v.loss_options),
            "preset": self.preset, "steps": self.steps, "log_every": self.log_every,
        }


@dataclass
class GanState:
    """Everything that changes as a run trains (what a checkpoint must hold)."""

    G: torch.nn.Module
    D: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    batches: Batches
    step: int = 0


def adam(params, lr: float, betas, device: torch.device) -> torch.optim.Adam:
    # Fused Adam updates all parameters in one kernel (CUDA) or one loop (CPU).
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), fused=device.type in ("cuda", "cpu"))


def init_state(variant: Variant, train_images: torch.Tensor, device: torch.device, seed: int) -> GanState:
    torch.manual_seed(seed)
    G, D = variant.build(tuple(train_images.shape[1:]))
    G, D = G.to(device), D.to(device)
    hp = variant.hparams
    return GanState(
        G=G, D=D,
        opt_g=adam(G.parameters(), hp.lr_g, hp.betas, device),
        opt_d=adam(D.parameters(), hp.lr_d, hp.betas, device),
        batches=Batches(train_images.to(device), hp.batch_size),
    )


def train_step(variant: Variant, state: GanState) -> tuple[torch.Tensor, torch.Tensor]:
    """One generator update with its n_critic D updates; returns the last (d_loss, g_loss),
    detached and left on the device."""
    hp, G, D = variant.hparams, state.G, state.D
    device = state.batches.images.device
    for _ in range(hp.n_critic):
        real = state.batches.next()
        with torch.no_grad():
            fake = G(torch.randn(hp.batch_size, hp.z_dim, device=device))
        d_loss = variant.d_loss(D, real, fake)
        state.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        state.opt_d.step()
    # D's parameters need no gradient for G's update: freezing them skips that work.
    D.requires_grad_(False)
    g_loss = variant.g_loss(D, G(torch.randn(hp.batch_size, hp.z_dim, device=device)))
    state.opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    state.opt_g.step()
    D.requires_grad_(True)
    state.step += 1
    return d_loss.detach(), g_loss.detach()


@torch.no_grad()
def sample_grid(variant: Variant, G: torch.nn.Module, path: Path, device: torch.device) -> None:
    """Save G's images for a fixed latent batch (the same for every run and seed)."""
    z = torch.randn(GRID_SIZE, variant.hparams.z_dim, generator=torch.Generator().manual_seed(SAMPLE_SEED))
    was_training = G.training
    G.eval()
    images = G(z.to(device))
    G.train(was_training)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images.cpu(), path, nrow=8, normalize=True, value_range=(-1, 1))


def train(config: RunConfig, train_images: torch.Tensor, device: torch.device,
          on_log: Callable[[dict], None] | None = None) -> tuple[GanState, dict]:
    """Train one (variant, seed) and return its final state and its outcome: status,
    the loss curve at log points and training time."""
    variant = config.variant
    state = init_state(variant, train_images, device, config.seed)
    images_per_step = variant.hparams.batch_size * variant.hparams.n_critic
    loss_sum = torch.zeros(2, device=device)
    first_bad = torch.tensor(-1, device=device)  # step of the first non-finite loss, -1 if none
    curve, status, diverged_at = [], "ok", None
    synchronize(device)
    train_s, since_log, tick = 0.0, 0, time.perf_counter()
    while state.step < config.steps:
        losses = torch.stack(train_step(variant, state))
        loss_sum += losses
        first_bad = torch.where((first_bad < 0) & ~torch.isfinite(losses).all(), state.step, first_bad)
        since_log += 1
        if state.step % config.log_every and state.step < config.steps:
            continue
        synchronize(device)
        now = time.perf_counter()
        train_s += now - tick
        d_mean, g_mean = (loss_sum / since_log).tolist()
        point = {"step": state.step, "images_seen": state.step * images_per_step, "train_s": train_s,
                 "d_loss": d_mean, "g_loss": g_mean}
        loss_sum.zero_()
        since_log = 0
        if first_bad.item() >= 0:
            status, diverged_at = "diverged", int(first_bad.item())
            point.update(d_loss=None, g_loss=None)  # JSON has no NaN; the curve stops here
        curve.append(point)
        if on_log:
            on_log(point)
        if status == "diverged":
            break
        tick = time.perf_counter()
    return state, {"status": status, "diverged_at_step": diverged_at, "curve": curve, "train_s": train_s,
                   "steps_done": state.step, "images_seen": state.step * images_per_step}
