"""The one training protocol every variant runs under.

Budget: a preset gives it in epochs of real images seen by D (Lucic et al.'s unit:
20 epochs at batch 64), which becomes a number of generator updates, each made of
`n_critic` D updates on fresh real batches and one G update. `--steps` sets the
generator updates directly.

Seeds: `torch.manual_seed(seed)` fixes initialization, data order (on-device
permutations) and noise, so on a CPU one seed gives one record (timings aside).
Evaluation samples come from their own generators and never move the training RNG.

`--until-converged` (bench/train/convergence.py) ends a run when its FID curve stops improving,
with a cap; every run keeps the generator of its best curve point beside the last one.

The loop never waits for the device between log points: losses and the losses'
diagnostics are summed on the device and a non-finite loss is remembered there with its
step.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torchvision.utils import make_grid, save_image

from bench.train.checkpoints import save_checkpoint
from bench.train.convergence import CAPPED, CONVERGED, Rule, has_converged
from bench.data.loader import Batches
from bench.data.datasets import Dataset
from bench.devices import synchronize
from bench.presets import Preset, images_per_step
from bench.train.systems import MemoryProbe, StepTimer, percentile
from variants.variant import count_params
from variants import LOSSES, Variant
from variants.optimizers import build_optimizer

PROTOCOL_VERSION = 1
SAMPLE_SEED = 1234  # the fixed latent batch behind every sample grid
GRID_SIZE = 64


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
    rule: Rule | None = None  # --until-converged: `steps` is then the cap

    @property
    def images_per_step(self) -> int:
        return images_per_step(self.variant)

    @property
    def eval_every_images(self) -> int:
        """Real images between curve points: the convergence rule's spacing, else the preset's."""
        return self.rule.every_images if self.rule is not None else self.preset.eval_every_images

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
            "eval_every_images": self.eval_every_images,
            "eval_samples": self.rule.curve_samples if self.rule is not None else p.eval_samples,
            "final_samples": data.final_samples(p), "inception_samples": p.inception_samples,
            "fid_threshold": data.fid_threshold(p), "compiled": list(compiled_nets(v, self.compile)),
            # Only when set: a fixed-budget run's configuration, and so its hash, stays as it was.
            **({"convergence": self.rule.describe()} if self.rule is not None else {}),
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
    diag_sum: dict = field(default_factory=dict)  # the loss's diagnostics summed on the device since the last log point
    # The generator of the best curve point (its state_dict, BatchNorm statistics included)
    # and where it was: {"G", "step", "images_seen", "train_s", "fid"}.
    best: dict | None = None

    def state_dict(self) -> dict:
        return {
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "batches": self.batches.state_dict(), "step": self.step,
            "loss_sum": self.loss_sum, "since_log": self.since_log, "first_bad": self.first_bad,
            "curve": self.curve, "step_ms": self.step_ms,
            "train_s": self.train_s, "warmup_s": self.warmup_s, "eval_s": self.eval_s, "memory": self.memory,
            "loss_state": dict(self.loss_state), "diag_sum": dict(self.diag_sum), "best": self.best,
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
        self.diag_sum = {key: value.to(device) for key, value in state.get("diag_sum", {}).items()}
        self.best = state.get("best")
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
        diag = {}
        d_loss = variant.d_loss(D, real, fake, state.loss_state, diag)
        for name, value in diag.items():  # summed on the device: read at log points only
            total = state.diag_sum.get(name)
            state.diag_sum[name] = value.float().clone() if total is None else total.add_(value)
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
def grid_images(variant: Variant, G: torch.nn.Module, device: torch.device) -> torch.Tensor:
    """G's images, in [-1, 1] on the CPU, for a fixed latent batch (the same for every run
    and seed, drawn from its own generator: the training RNG does not move)."""
    z = torch.randn(GRID_SIZE, variant.hparams.z_dim, generator=torch.Generator().manual_seed(SAMPLE_SEED))
    was_training = G.training
    G.eval()
    images = G(z.to(device))
    G.train(was_training)
    return images.cpu()


def grid(images: torch.Tensor) -> torch.Tensor:
    """`grid_images` laid out 8 to a row as one [C, H, W] image in [0, 1]."""
    return make_grid(images, nrow=8, normalize=True, value_range=(-1, 1))


def sample_grid(variant: Variant, G: torch.nn.Module, path: Path, device: torch.device) -> None:
    """Save G's images for the fixed latent batch."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(grid(grid_images(variant, G, device)), path)


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
    every = config.eval_every_images
    if not every:
        return False
    return (step * config.images_per_step) // every > ((step - 1) * config.images_per_step) // every or last


def budget_spent(config: RunConfig, state: GanState, seconds_since_tick: float) -> bool:
    """Steps budgets end at their step; a time budget at the first step boundary at or past
    its training seconds (evaluation, checkpoints and the warm-up step never count); a
    convergence budget at its cap, or once its curve says learning has stopped."""
    if config.train_seconds is not None:
        return state.train_s + seconds_since_tick >= config.train_seconds
    return state.step >= config.steps or converged(config, state)


def converged(config: RunConfig, state: GanState) -> bool:
    return config.rule is not None and has_converged(state.curve, config.rule, config.dataset.fid_key)


def keep_if_best(config: RunConfig, state: GanState, point: dict) -> None:
    """Copy G (on its device) when this curve point has the lowest FID so far."""
    fid = point.get(config.dataset.fid_key)
    if fid is None or (state.best is not None and fid >= state.best["fid"]):
        return
    state.best = {"G": {k: v.detach().clone() for k, v in state.G.state_dict().items()},
                  "step": point["step"], "images_seen": point["images_seen"], "train_s": point["train_s"],
                  "fid": fid}


def read_diagnostics(state: GanState, d_steps: int) -> dict:
    """The diagnostics' means over the D steps since the last log point (a host sync: log
    points only); a non-finite mean is None, as JSON has no NaN."""
    if not state.diag_sum:
        return {}
    names = sorted(state.diag_sum)
    means = (torch.stack([state.diag_sum[n] for n in names]) / d_steps).tolist()
    for total in state.diag_sum.values():
        total.zero_()
    return {n: (m if math.isfinite(m) else None) for n, m in zip(names, means)}


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
            diagnostics = read_diagnostics(state, state.since_log * variant.hparams.n_critic)
            if diagnostics:
                point["diagnostics"] = diagnostics
            state.loss_sum.zero_()
            state.since_log = 0
            if state.first_bad.item() >= 0:
                status, diverged_at = "diverged", int(state.first_bad.item())
                point.update(d_loss=None, g_loss=None)  # JSON has no NaN; the curve stops here
            elif evaluating and hooks.evaluate is not None:
                began_eval = time.perf_counter()
                with memory.window("eval"):
                    point.update(hooks.evaluate(state.G, state.step))
                    keep_if_best(config, state, point)
                state.eval_s += time.perf_counter() - began_eval
            state.curve.append(point)
            last = last or converged(config, state)
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
    stopped = None
    if config.rule is not None and status == "ok":
        stopped = CONVERGED if converged(config, state) else CAPPED
    return {"status": status, "diverged_at_step": diverged_at, "curve": state.curve, "systems": systems,
            "steps_done": state.step, "images_seen": state.step * config.images_per_step, "stopped": stopped}
