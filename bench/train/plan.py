"""What a benchmark will run, checked before anything trains: the plan a command's settings
make (`plan_from`), its checks, the convergence rule it asks for, and each run's config.

A plan is a `TrainingBudget` (the budget and rule options, declared once in
bench/train/settings.py) with the chosen variants, seeds and device and where it writes:
`gan-bench run` makes one from its settings, a study's worker one per run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from bench.train import convergence
from bench.data.datasets import DATASETS, get_dataset
from bench.devices import device_slug, resolve_device
from bench.errors import BenchError
from bench.files import probe_writable
from bench.options import declared, values_of
from bench.presets import PRESETS, budget_label, generator_steps, images_per_step
from bench.train.protocol import RunConfig
from bench.train.settings import Convergence, RunSettings, TrainingBudget
from variants import Variant, pairings, select_variants


@dataclass(kw_only=True)
class RunPlan(TrainingBudget):
    variants: list[Variant]
    seeds: list[int]
    device: torch.device
    out: Path
    checkpoint_every: int | None = None
    data_dir: Path | None = None
    resume: bool = False
    force: bool = False
    compile: bool = False
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
    """The runs `gan-bench run`'s settings ask for (nothing is trained or written yet). Each
    option was checked when `settings` was made; here the rules that join them."""
    check_budget(settings)
    if (settings.arch is None) != (settings.loss is None):
        raise BenchError("--arch and --loss go together")
    spec = ",".join(pairings(settings.arch, settings.loss)) if settings.arch else settings.variants
    chosen = select_variants(spec, exclude=settings.exclude)
    seeds = list(range(settings.first_seed, settings.first_seed + settings.seeds))
    return RunPlan(**values_of(settings, TrainingBudget), variants=chosen, seeds=seeds,
                   device=resolve_device(settings.device), out=Path(settings.out),
                   checkpoint_every=settings.checkpoint_every, data_dir=settings.data_dir, resume=settings.resume,
                   force=settings.force, compile=settings.compile,
                   tensorboard=settings.tensorboard and Path(settings.tensorboard))


def check_plan(plan: RunPlan) -> None:
    """Refuse what only shows on this machine before any training or writing starts: the
    options themselves were checked where the plan was made."""
    for folder in (plan.runs_dir, plan.checkpoints_dir, *([plan.tensorboard] if plan.tensorboard else [])):
        probe_writable(folder)


def check_budget(budget: TrainingBudget) -> None:
    """The rules that join a budget's options, for a run's settings, a study's and a study's
    definition alike (each option's own limits are `check`ed where its object is made)."""
    if budget.steps is not None and budget.train_seconds is not None:
        raise BenchError("--steps and --train-seconds are two budgets; give one")
    check_convergence_options(budget)


# The options that shape the rule, by flag: the Rule's fields (bench/train/settings.py declares them).
RULE_OPTIONS = {spec.flags[0]: name for name, spec, _, _ in declared(Convergence) if name != "until_converged"}


def check_convergence_options(budget: TrainingBudget) -> None:
    given = [option for option, field_name in RULE_OPTIONS.items() if getattr(budget, field_name) is not None]
    if not budget.until_converged:
        if given:
            raise BenchError(f"{', '.join(given)} shape{'s' if len(given) == 1 else ''} --until-converged's "
                             "rule; add --until-converged")
        return
    for option, value in (("--steps", budget.steps), ("--train-seconds", budget.train_seconds)):
        if value is not None:
            raise BenchError(f"--until-converged and {option} are two budgets; give one")
    rule_of(budget, get_dataset(budget.dataset).train_size)  # refuses values that cannot work


def rule_of(budget: TrainingBudget, n_train: int) -> convergence.Rule | None:
    """The rule a budget (a plan, or a run's or study's settings) asks for, its defaults
    filled in; None for a fixed budget."""
    if not budget.until_converged:
        return None
    final_samples = get_dataset(budget.dataset).final_samples(PRESETS[budget.preset])
    return convergence.make_rule(n_train, final_samples,
                                 **{name: getattr(budget, name) for name in RULE_OPTIONS.values()})


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
