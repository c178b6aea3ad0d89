"""What a benchmark will run, checked before anything trains: the plan a command's settings
make (`plan_from`), its checks, the convergence rule it asks for, and each run's config."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from bench.train import convergence
from bench.data.datasets import DATASETS, get_dataset
from bench.devices import device_slug, resolve_device
from bench.errors import BenchError
from bench.files import probe_writable
from bench.options import check, declared, problem
from bench.presets import PRESETS, budget_label, generator_steps, images_per_step
from bench.train.protocol import RunConfig
from bench.train.settings import Budget, Convergence, RunSettings
from variants import Variant, pairings, select_variants


@dataclass
class RunPlan:
    variants: list[Variant]
    seeds: list[int]
    preset: str
    device: torch.device
    out: Path
    dataset: str = "mnist"
    steps: int | None = None
    train_seconds: float | None = None
    checkpoint_every: int | None = None
    data_dir: Path | None = None
    resume: bool = False
    force: bool = False
    compile: bool = False
    # --until-converged, with the rule's options (None: its defaults; see bench/train/convergence.py).
    until_converged: bool = False
    curve_every: int | None = None
    min_delta: float | None = None
    patience: int | None = None
    max_epochs: float | None = None
    curve_samples: int | None = None
    # A study keeps each configuration's checkpoints apart and may put them where every node
    # of a cluster reaches them; a plain run keeps them under `out`.
    checkpoint_dir: Path | None = None
    tensorboard: Path | None = None  # --tensorboard: each run logs into a folder of it named by its run id
    record_extra: dict = field(default_factory=dict)  # top-level sections added to each record (a study's)
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)

    @property
    def runs_dir(self) -> Path:
        return Path(self.out) / "runs" / device_slug(self.device)

    @property
    def checkpoints_dir(self) -> Path:
        root = Path(self.checkpoint_dir) if self.checkpoint_dir is not None else Path(self.out) / "checkpoints"
        return root / device_slug(self.device)


def plan_from(settings: RunSettings) -> RunPlan:
    """The runs `gan-bench run`'s settings ask for (nothing is trained or written yet)."""
    check(settings)  # the limits and choices the command line's options check too
    if (settings.arch is None) != (settings.loss is None):
        raise BenchError("--arch and --loss go together")
    spec = ",".join(pairings(settings.arch, settings.loss)) if settings.arch else settings.variants
    chosen = select_variants(spec, exclude=settings.exclude)
    seeds = list(range(settings.first_seed, settings.first_seed + settings.seeds))
    return RunPlan(variants=chosen, seeds=seeds, preset=settings.preset,
                   dataset=settings.dataset, device=resolve_device(settings.device), out=Path(settings.out),
                   steps=settings.steps, train_seconds=settings.train_seconds,
                   checkpoint_every=settings.checkpoint_every, data_dir=settings.data_dir, resume=settings.resume,
                   force=settings.force, compile=settings.compile, until_converged=settings.until_converged,
                   curve_every=settings.curve_every, min_delta=settings.min_delta, patience=settings.patience,
                   max_epochs=settings.max_epochs, curve_samples=settings.curve_samples,
                   tensorboard=settings.tensorboard and Path(settings.tensorboard))


def check_plan(plan: RunPlan) -> None:
    """Refuse bad input before any training or writing starts."""
    check_budget(plan)
    if plan.checkpoint_every is not None and plan.checkpoint_every < 1:
        raise BenchError(f"--checkpoint-every must be at least 1, got {plan.checkpoint_every}")
    if not plan.seeds or min(plan.seeds) < 0:
        raise BenchError("--seeds must be at least 1")
    for folder in (plan.runs_dir, plan.checkpoints_dir, *([plan.tensorboard] if plan.tensorboard else [])):
        probe_writable(folder)


def check_budget(plan: RunPlan) -> None:
    """What a run and a study both check of a budget: each option within its declared
    limits and choices, then the rules that join them."""
    for name, spec, _, _ in (*declared(Budget), *declared(Convergence)):
        reason = problem(spec, getattr(plan, name))
        if reason is not None:
            raise BenchError(reason)
    if plan.steps is not None and plan.train_seconds is not None:
        raise BenchError("--steps and --train-seconds are two budgets; give one")
    check_convergence_options(plan)


# The options that shape the rule, by flag (their declaration: bench/train/settings.py).
RULE_OPTIONS = {spec.flags[0]: name for name, spec, _, _ in declared(Convergence) if name != "until_converged"}


def check_convergence_options(plan: RunPlan) -> None:
    given = [option for option, field_name in RULE_OPTIONS.items() if getattr(plan, field_name) is not None]
    if not plan.until_converged:
        if given:
            raise BenchError(f"{', '.join(given)} shape{'s' if len(given) == 1 else ''} --until-converged's "
                             "rule; add --until-converged")
        return
    for option, value in (("--steps", plan.steps), ("--train-seconds", plan.train_seconds)):
        if value is not None:
            raise BenchError(f"--until-converged and {option} are two budgets; give one")
    rule_of(plan, get_dataset(plan.dataset).train_size)  # refuses values that cannot work


def rule_of(plan: RunPlan, n_train: int) -> convergence.Rule | None:
    if not plan.until_converged:
        return None
    final_samples = get_dataset(plan.dataset).final_samples(PRESETS[plan.preset])
    return convergence.make_rule(n_train, plan.curve_every, plan.min_delta, plan.patience, plan.max_epochs,
                                 plan.curve_samples, final_samples)


def run_config(variant: Variant, seed: int, plan: RunPlan, n_train: int) -> RunConfig:
    """What `run_one` trains `variant` under: its budget in generator steps (the cap under
    --until-converged), its cadence and the budget's label. A dry run estimates from it too."""
    preset = PRESETS[plan.preset]
    rule = rule_of(plan, n_train)
    return RunConfig(variant, seed, preset, DATASETS[plan.dataset],
                     convergence.cap_steps(rule, n_train, images_per_step(variant)) if rule else
                     generator_steps(preset, variant, n_train, plan.steps, plan.train_seconds),
                     plan.checkpoint_every or preset.checkpoint_every, plan.compile, plan.train_seconds,
                     rule.label() if rule else budget_label(preset, plan.steps, plan.train_seconds), rule)


def config_section(config: RunConfig) -> dict:
    """The record's `config`, hashed into the run's key: the configuration and where the
    variant came from ("builtin", or a plug-in's module, file and sha256)."""
    return {**config.describe(), "source": config.variant.source}
