"""The one training protocol every variant runs under.

Budget: a preset gives it in epochs of real images seen by D (Lucic et al.'s unit:
20 epochs at batch 64), which becomes a number of generator updates, each made of
`n_critic` D updates on fresh real batches and one G update. `--steps` sets the
generator updates directly.

Seeds: `torch.manual_seed(seed)` fixes initialization, data order (on-device
permutations) and noise, so on a CPU one seed gives one record (timings aside).
Evaluation samples come from their own generators and never move the training RNG.

The loop never waits for the device between log points: losses are summed on the
device and a non-finite loss is remembered there with its step.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torchvision.utils import save_image

from bench.checkpoints import save_checkpoint
from bench.data import Batches
from bench.datasets import Dataset
from bench.devices import synchronize
from bench.systems import MemoryProbe, StepTimer, count_params, percentile
from variants import LOSSES, Variant
from variants.optimizers import build_optimizer

PROTOCOL_VERSION = 1
SAMPLE_SEED = 1234  # the fixed latent batch behind every sample grid
GRID_SIZE = 64


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    epochs: float | None = None  # budget in passes of D over the training set
    steps: int | None = None  # or in generator updates
    log_every: int = 50  # generator steps between loss points
    checkpoint_every: int = 250  # generator steps between checkpoints
    eval_every_images: int = 0  # real images seen by D between fid_mnist curve points (0: none)
    eval_samples: int = 2000  # generated samples per curve point
    final_samples: int = 10000  # generated samples for the final MNIST metrics
    stacked_samples: int = 26000  # generated samples for the final Stacked MNIST metrics (PacGAN's count)
    inception_samples: int = 0  # generated samples for fid_inception (0: skipped)
    fid_threshold: float = 30.0  # fid_mnist that time_to_fid waits for
    # fid_stacked's: three times fid_mnist's, since the stacks' three channels are independent
    # digits, their 384-d features have a block-diagonal covariance and the FID of the stacks
    # is close to the sum of three per-channel FIDs.
    stacked_fid_threshold: float = 90.0


PRESETS = {
    "tiny": Preset("tiny", "a few steps, for tests", steps=4, log_every=2, checkpoint_every=2,
                   eval_every_images=128, eval_samples=200, final_samples=500, stacked_samples=500),
    # time_to_fid waits for fid_mnist 30 here: dcgan ends its 2 epochs near 21, so 10 (the
    # paper preset's threshold) would never be reached on a CPU budget.
    "quick": Preset("quick", "2 epochs of real images seen by D: all four variants in minutes on a 2-core CPU",
                    epochs=2, log_every=50, checkpoint_every=250, eval_every_images=20_000, fid_threshold=30.0),
    # Stacked MNIST's CPU budget: an epoch of its 128,000 stacks is 2,000 D steps, so `quick`'s two
    # epochs would take the whole zoo hours on 2 cores.
    "one-epoch": Preset("one-epoch", "1 epoch of real images seen by D: Stacked MNIST on a 2-core CPU",
                        epochs=1, log_every=50, checkpoint_every=250, eval_every_images=32_000,
                        fid_threshold=30.0),
    "paper": Preset("paper", "Lucic et al.'s MNIST budget: 20 epochs at batch 64", epochs=20, log_every=200,
                    checkpoint_every=2000, eval_every_images=60_000, inception_samples=10000, fid_threshold=10.0,
                    stacked_fid_threshold=30.0),
    # PacGAN's Stacked MNIST budget (its VEEGAN setup: 50 epochs at batch 64, i.e. 100,000 D
    # steps over 128,000 stacks); a curve point per epoch. Meant for a GPU.
    "pacgan": Preset("pacgan", "PacGAN's Stacked MNIST budget: 50 epochs at batch 64 (for --dataset stacked-mnist)",
                     epochs=50, log_every=500, checkpoint_every=5000, eval_every_images=128_000,
                     inception_samples=0, fid_threshold=10.0, stacked_fid_threshold=30.0),
}


def generator_steps(preset: Preset, variant: Variant, n_train: int, steps: int | None = None,
                    train_seconds: float | None = None) -> int | None:
    """The generator updates a run gets; None under a training-time budget."""
    if train_seconds is not None:
        return None
    if steps is not None:
        return steps
    if preset.steps is not None:
        return preset.steps
    images_per_step = variant.hparams.batch_size * variant.hparams.n_critic
    return max(1, math.ceil(preset.epochs * n_train / images_per_step))


def budget_label(preset: Preset, steps: int | None = None, train_seconds: float | None = None) -> str:
    """A run's budget in its own unit. Runs compare fairly only under one budget, so the
    label goes into the config and the report refuses to mix labels in one table.

    - epochs of real images seen by D (the presets; Lucic et al.'s unit): equal data, but a
      variant with n_critic 5 gets a fifth of the generator updates;
    - generator steps (`--steps`): equal G updates;
    - training seconds (`--train-seconds`): equal compute time on one machine.
    """
    if train_seconds is not None:
        return f"{train_seconds:g} training seconds"
    if steps is not None or preset.steps is not None:
        return f"{steps if steps is not None else preset.steps} generator steps"
    return f"{preset.epochs:g} epochs"


@dataclass(frozen=True)
class RunConfig:
    variant: Variant
    seed: int
    preset: Preset
    dataset: Dataset
    steps: int | None  # generator updates; None under a training-time budget
    checkpoint_every: int
    compile: bool = False
    train_seconds: float | None = None  # training time budget (evaluation and warm-up excluded)
    budget: str = ""  # budget_label(...)

    @property
    def images_per_step(self) -> int:
        return self.variant.hparams.batch_size * self.variant.hparams.n_critic

    def describe(self) -> dict:
        """The full configuration as plain values (hashed into `config_hash`, seed aside).
        Checkpoint cadence is left out: it does not change the result."""
        v, p, data = self.variant, self.preset, self.dataset
        return {
            "protocol_version": PROTOCOL_VERSION, "dataset": data.name,
            "variant": v.name, "arch": v.arch, "loss": v.loss,
            "hparams": asdict(v.hparams), "arch_options": dict(v.arch_options), "loss_options": dict(v.loss_options),
            "preset": p.name, "budget": self.budget, "steps": self.steps, "train_seconds": self.train_seconds,
            "log_every": p.log_every,
            "eval_every_images": p.eval_every_images, "eval_samples": p.eval_samples,
            "final_samples": data.final_samples(p), "inception_samples": p.inception_samples,
            "fid_threshold": data.fid_threshold(p), "compiled": list(compiled_nets(v, self.compile)),
        }


@dataclass
class GanState:
    """Everything that changes as a run trains: what a checkpoint holds."""

    G: torch.nn.Module
    D: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    batches: Batches
    step: int = 0
    # Loop bookkeeping, kept here so a run resumed mid-way ends with the same record.
    loss_sum: torch.Tensor | None = None  # (d, g) summed on the device since the last log point
    since_log: int = 0
    first_bad: torch.Tensor | None = None  # step of the first non-finite loss, -1 if none
    curve: list = field(default_factory=list)
    step_ms: list = field(default_factory=list)
    train_s: float = 0.0
    warmup_s: float = 0.0
    eval_s: float = 0.0
    memory: dict = field(default_factory=dict)  # MemoryProbe.state_dict(): peaks before a resume
    loss_state: dict = field(default_factory=dict)  # the loss's per-run tensors (BEGAN's k_t), on the device

    def state_dict(self) -> dict:
        return {
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "batches": self.batches.state_dict(), "step": self.step,
            "loss_sum": self.loss_sum, "since_log": self.since_log, "first_bad": self.first_bad,
            "curve": self.curve, "step_ms": self.step_ms,
            "train_s": self.train_s, "warmup_s": self.warmup_s, "eval_s": self.eval_s, "memory": self.memory,
            "loss_state": dict(self.loss_state),
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }

    def load_state_dict(self, state: dict) -> None:
        device = self.batches.images.device
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.batches.load_state_dict(state["batches"])
        self.step, self.since_log = state["step"], state["since_log"]
        self.loss_sum, self.first_bad = state["loss_sum"].to(device), state["first_bad"].to(device)
        self.curve, self.step_ms = state["curve"], state["step_ms"]
        self.train_s, self.warmup_s, self.eval_s = state["train_s"], state["warmup_s"], state["eval_s"]
        self.memory = state.get("memory", {})
        # Checkpoints from before losses had state hold none: the fresh state stays.
        for key, value in state.get("loss_state", {}).items():
            self.loss_state[key] = value.to(device)
        torch.set_rng_state(state["rng_cpu"])
        if state["rng_cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])


def optimizer(params, lr: float, hparams, device: torch.device) -> torch.optim.Optimizer:
    """The variant's optimizer (`Hparams.optimizer`, from the registry in
    variants/optimizers.py), fused where torch has a fused form for this device."""
    return build_optimizer(params, lr, hparams, fused=device.type in ("cuda", "cpu"))


def compiled_nets(variant: Variant, compile: bool) -> tuple[str, ...]:
    """Which nets `--compile` compiles: each on its own (chained compiled modules, D(G(z)),
    are a known trouble spot), and never a D whose loss needs a double backward."""
    if not compile:
        return ()
    return ("G",) if LOSSES[variant.loss].double_backward else ("G", "D")


def init_state(variant: Variant, train_images: torch.Tensor, device: torch.device, seed: int,
               compile: bool = False) -> GanState:
    torch.manual_seed(seed)
    G, D = variant.build(tuple(train_images.shape[1:]))
    G, D = G.to(device), D.to(device)
    for net in compiled_nets(variant, compile):
        # Module.compile keeps the state_dict keys, so checkpoints load either way.
        {"G": G, "D": D}[net].compile()
    hp = variant.hparams
    return GanState(
        G=G, D=D,
        opt_g=optimizer(G.parameters(), hp.lr_g, hp, device),
        opt_d=optimizer(D.parameters(), hp.lr_d, hp, device),
        batches=Batches(train_images.to(device), hp.batch_size),
        loss_sum=torch.zeros(2, device=device),
        first_bad=torch.tensor(-1, device=device),
        loss_state=variant.new_loss_state(device),
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
        d_loss = variant.d_loss(D, real, fake, state.loss_state)
        state.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        state.opt_d.step()
        variant.after_d_step(D, state.loss_state)  # e.g. WGAN's weight clipping, BEGAN's k_t
    # D's parameters need no gradient for G's update: freezing them skips that work.
    D.requires_grad_(False)
    # The G loss sees the last real batch D trained on (a relativistic loss compares with
    # it): no extra batch is drawn, so the data stream is the same for every loss.
    g_loss = variant.g_loss(D, G(torch.randn(hp.batch_size, hp.z_dim, device=device)), real)
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


class Interrupted(Exception):
    """A stop signal during a run: a checkpoint was written at a step boundary.
    `signum` is filled in by whoever installed the signal handler."""

    def __init__(self, step: int, checkpoint: Path | None, signum: int | None = None):
        super().__init__(f"interrupted at step {step}")
        self.step, self.checkpoint, self.signum = step, checkpoint, signum


@dataclass
class Hooks:
    """What the caller plugs into the loop; all optional."""

    on_log: Callable[[dict], None] | None = None  # each curve point, as it is made
    evaluate: Callable[[torch.nn.Module, int], dict] | None = None  # (G, step) -> curve metrics
    checkpoint_path: Path | None = None
    checkpoint_meta: dict = field(default_factory=dict)  # stored beside the state (run id, config)
    should_stop: Callable[[], bool] = lambda: False  # polled after every step (SIGINT, SIGTERM)


def is_eval_step(config: RunConfig, step: int, last: bool) -> bool:
    every = config.preset.eval_every_images
    if not every:
        return False
    return (step * config.images_per_step) // every > ((step - 1) * config.images_per_step) // every or last


def budget_spent(config: RunConfig, state: GanState, seconds_since_tick: float) -> bool:
    """Steps budgets end at their step; a time budget at the first step boundary at or past
    its training seconds (evaluation, checkpoints and the warm-up step never count)."""
    if config.train_seconds is not None:
        return state.train_s + seconds_since_tick >= config.train_seconds
    return state.step >= config.steps


def train(config: RunConfig, state: GanState, device: torch.device, hooks: Hooks = Hooks(),
          memory: MemoryProbe | None = None) -> dict:
    """Train `state` (fresh or restored from a checkpoint) to the end of the budget and
    return the outcome: status, curve and systems figures.

    `memory` (made before the nets were built, so they count) measures the training steps;
    curve evaluations and checkpoint writes get windows of their own."""
    variant, preset = config.variant, config.preset
    timer, memory = StepTimer(device), memory or MemoryProbe(device)
    memory.load_state_dict(state.memory)

    def checkpoint():
        """Wait for the device, bank the timings so far, save (checkpoint writing is not training)."""
        synchronize(device)
        state.train_s += time.perf_counter() - tick
        state.step_ms.extend(timer.drain())
        with memory.window("checkpoint"):
            state.memory = memory.state_dict()
            if hooks.checkpoint_path is not None:
                save_checkpoint(hooks.checkpoint_path, {**hooks.checkpoint_meta, "state": state.state_dict()})

    status, diverged_at = "ok", None
    synchronize(device)
    tick = time.perf_counter()
    last = budget_spent(config, state, 0.0)
    while not last:
        begun = timer.start()
        losses = torch.stack(train_step(variant, state))
        timer.stop(begun)
        if state.step == 1:  # the first step pays for lazy initialization: kept apart
            synchronize(device)
            state.warmup_s = time.perf_counter() - tick
            timer.drain()
            tick = time.perf_counter()
        state.loss_sum += losses
        state.first_bad = torch.where((state.first_bad < 0) & ~torch.isfinite(losses).all(),
                                      state.step, state.first_bad)
        state.since_log += 1
        last = budget_spent(config, state, time.perf_counter() - tick)
        evaluating = is_eval_step(config, state.step, last)
        if evaluating or state.step % preset.log_every == 0 or last:
            synchronize(device)
            state.train_s += time.perf_counter() - tick
            d_mean, g_mean = (state.loss_sum / state.since_log).tolist()
            point = {"step": state.step, "images_seen": state.step * config.images_per_step,
                     "train_s": state.train_s, "d_loss": d_mean, "g_loss": g_mean}
            state.loss_sum.zero_()
            state.since_log = 0
            if state.first_bad.item() >= 0:
                status, diverged_at = "diverged", int(state.first_bad.item())
                point.update(d_loss=None, g_loss=None)  # JSON has no NaN; the curve stops here
            elif evaluating and hooks.evaluate is not None:
                began_eval = time.perf_counter()
                with memory.window("eval"):
                    point.update(hooks.evaluate(state.G, state.step))
                state.eval_s += time.perf_counter() - began_eval
            state.curve.append(point)
            if hooks.on_log:
                hooks.on_log(point)
            tick = time.perf_counter()
            if status == "diverged":
                break
        stopping = hooks.should_stop()
        if stopping or (state.step % config.checkpoint_every == 0 and not last):
            checkpoint()
            if stopping:
                raise Interrupted(state.step, hooks.checkpoint_path)
            tick = time.perf_counter()
    checkpoint()
    steps_timed = len(state.step_ms)
    systems = {
        "train_s": state.train_s, "warmup_s": state.warmup_s, "eval_s": state.eval_s,
        "train_images_per_s": steps_timed * config.images_per_step / state.train_s if state.train_s else None,
        "g_steps_per_s": steps_timed / state.train_s if state.train_s else None,
        "step_ms_p50": percentile(state.step_ms, 50), "step_ms_p95": percentile(state.step_ms, 95),
        "params_g": count_params(state.G), "params_d": count_params(state.D),
        **memory.peak(),
        "eval_peak_mem_bytes": memory.peaks.get("eval"),  # the curve's evaluations; the caller adds the final one
    }
    return {"status": status, "diverged_at_step": diverged_at, "curve": state.curve, "systems": systems,
            "steps_done": state.step, "images_seen": state.step * config.images_per_step}
