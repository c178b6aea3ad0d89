"""`--dry-run` of `gan-bench run` and `gan-bench study`: the runs the command would start,
each with its estimated time (bench/estimate/costs.py) and where the estimate comes from,
and the total; for a study, also the wall time with as many runs at once as the CPUs
allow. Nothing is trained, and nothing is written."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console

from bench.data.datasets import get_dataset
from bench.devices import device_slug, resolve_device
from bench.errors import BenchError
from bench.estimate.costs import Measurements, Planned, estimate, makespan, plural
from bench.plugins import load_plugins
from bench.records import RERUN_BEST, config_hash
from bench.report.tables import Column, fixed, render
from bench.train.plan import RunPlan, check_budget, config_section, plan_from, run_config
from bench.train.settings import RunSettings

# The published sets of a device (results/<slug>/) are read wherever --out points.
PUBLISHED = Path("results")


@dataclass
class DryRun:
    command: str  # "run" or "study"
    slug: str
    rows: list[dict]
    workers: int = 1  # runs at once
    workers_note: str = ""  # where that number comes from
    recorded: int = 0  # a study's runs that already have a record (and will not start)
    folder: Path | None = None

    def totals(self) -> dict:
        known = [r for r in self.rows if r["total_s"] is not None]
        return {"runs": len(self.rows), "estimated": len(known),
                "train_s": sum(r["train_s"] for r in known), "eval_s": sum(r["eval_s"] for r in known),
                "total_s": sum(r["total_s"] for r in known), "workers": self.workers,
                "wall_s": makespan([r["total_s"] for r in known], self.workers),
                "upper_bound": any(r["at_most"] for r in known)}

    def payload(self) -> dict:
        return {"command": self.command, "device_slug": self.slug, "runs": self.rows, "total": self.totals(),
                "workers_note": self.workers_note, "already_recorded": self.recorded}


def run_dry_run(settings: RunSettings) -> DryRun:
    """The runs `gan-bench run` would start with these settings, estimated."""
    if settings.resume:
        raise BenchError("--dry-run lists every run the command would start; with --resume some would be skipped "
                         "or continued: give one of the two")
    load_plugins(settings.plugin)
    plan = plan_from(settings)
    check_budget(plan)
    threads = settings.threads or torch.get_num_threads()
    slug = device_slug(plan.device)
    measured = Measurements.gather([plan.out, PUBLISHED / slug], plan.device)
    n_train = get_dataset(plan.dataset).train_size
    rows = []
    for variant in plan.variants:
        for seed in plan.seeds:
            config = run_config(variant, seed, plan, n_train)
            key = f"{variant.name}-s{seed}-{config_hash(config_section(config))}"
            rows.append(estimate(Planned(config, key, threads, inception_samples(config, plan.device)), measured))
    return DryRun("run", slug, rows, folder=plan.runs_dir)


def study_dry_run(file: Path | None, flags: dict, rerun_best: bool, warn) -> DryRun:
    """The runs `gan-bench study` would start (those without a record in the study folder),
    estimated, and how many would run at once on this machine."""
    from bench.study.driver import runs_left
    from bench.study.engine import check_settings, task_device
    from bench.study.options import prepare
    from bench.study.plan import budget_fields

    definition, runs, engine, folder = prepare(file, flags, rerun_best, warn)
    check_settings(engine)
    device = resolve_device(task_device(engine))
    left, _ = runs_left(folder, definition, runs, warn)
    slug = device_slug(device)
    measured = Measurements.gather([folder, PUBLISHED / slug], device)
    threads = max(1, int(engine.cpus_per_run))  # what each Ray task sets (bench/study/engine.py)
    n_train = get_dataset(definition.dataset).train_size
    rows = []
    for run in left:
        plan = RunPlan(variants=[run.variant], seeds=[run.seed], device=device, out=folder,
                       **budget_fields(definition))
        config = run_config(run.variant, run.seed, plan, n_train)
        label = f"c{run.config_index}" + (" rerun-best" if run.phase == RERUN_BEST else "")
        rows.append(estimate(Planned(config, label, threads, inception_samples(config, device)), measured))
    workers, note = local_workers(engine.cpus_per_run, engine.gpus_per_run, engine.address)
    return DryRun("study", slug, rows, workers, note, len(runs) - len(left), folder)


def inception_samples(config, device: torch.device) -> int:
    """fid_inception's samples in the final evaluation: the preset's, on a GPU only (bench/eval/evaluation.py)."""
    return 0 if device.type == "cpu" else config.preset.inception_samples


def local_workers(cpus_per_run: float, gpus_per_run: float, address: str | None) -> tuple[int, str]:
    """How many runs a local Ray starts at once (bench/study/engine.py `check_resources`), and why."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    slots, note = int(cpus // cpus_per_run), f"this machine's {cpus} CPUs / --cpus-per-run {cpus_per_run:g}"
    if gpus_per_run > 0:
        gpus = torch.cuda.device_count()
        slots = min(slots, int(gpus // gpus_per_run))
        note += f", its {gpus} GPUs / --gpus-per-run {gpus_per_run:g}"
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        return max(slots, 1), note + f"; the Ray cluster at {address} may have more"
    if slots < 1:  # what the study itself would refuse
        raise BenchError(f"--cpus-per-run {cpus_per_run:g} and --gpus-per-run {gpus_per_run:g}: {note} leave no "
                         "room for one run")
    return slots, note


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds:,.0f} s ({seconds / 60:.1f} min)"
    return f"{seconds:,.0f} s ({seconds / 3600:.1f} h)"


COLUMNS = [
    Column("variant", "variant", essential=True), Column("seed", "seed", essential=True, justify="right"),
    Column("config", "config"), Column("budget", "budget"),
    Column("g_steps", "G steps", fixed(0), justify="right"),
    Column("train_s", "train s", fixed(0), True, "right"), Column("eval_s", "eval s", fixed(0), True, "right"),
    Column("total_s", "total s", fixed(0), True, "right"),
    Column("train_from", "train from", lambda v: v or "none", True),
    Column("eval_from", "eval from", lambda v: v or "none"),
]
DATA_COLUMNS = COLUMNS + [Column(key, key) for key in ("images", "at_most", "train_source", "eval_source")]


def show(dry: DryRun, fmt: str, console: Console) -> None:
    """The plan as a table with its totals and sources (for people), or JSON or CSV (for scripts)."""
    if fmt == "json":
        print(json.dumps(dry.payload(), indent=1))
        return
    if fmt == "csv":
        print(render(dry.rows, DATA_COLUMNS, "csv", console))
        return
    say = lambda line: console.print(line, highlight=False, markup=False, soft_wrap=True)  # noqa: E731
    if not dry.rows:
        say(f"Nothing to start: all {dry.recorded} runs have a record in {dry.folder}.")
        return
    render(dry.rows, COLUMNS, "table", console, title=f"gan-bench {dry.command} --dry-run: "
           f"{len(dry.rows)} runs on {dry.slug}" + (f" ({dry.recorded} more already recorded)" if dry.recorded else ""))
    total = dry.totals()
    missing = total["runs"] - total["estimated"]
    if total["estimated"]:
        counted = f" for the {total['estimated']} of {total['runs']} runs with an estimate" if missing else ""
        say(f"Estimated {duration(total['train_s'])} of training and {duration(total['eval_s'])} of evaluation: "
            f"{duration(total['total_s'])} in all{counted}, one run after another.")
        if dry.command == "study":
            say(f"With {total['workers']} runs at once ({dry.workers_note}): about {duration(total['wall_s'])} "
                "of wall time.")
        if total["upper_bound"]:
            say("Under --until-converged a run may stop early: its estimate is for its cap, an upper bound.")
        if missing:
            say(f"{plural(missing, 'run')} without an estimate: the totals leave "
                f"{'it' if missing == 1 else 'them'} out.")
    else:
        say("No estimate: this device has no earlier record or speed table for these runs.")
    say("Where each estimate comes from:")
    for variant, sources in dict.fromkeys((r["variant"], (r["train_source"], r["eval_source"])) for r in dry.rows):
        train, evaluation = sources
        say(f"  {variant}: training: {train}" + (f"; evaluation: {evaluation}" if evaluation else ""))
    say("Nothing was trained or written.")
