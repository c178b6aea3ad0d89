"""Run a benchmark: every (variant, seed) under the one protocol, one record each."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bench import assets
from bench.devices import device_slug
from bench.errors import BenchError
from bench.protocol import PRESETS, RunConfig, generator_steps, sample_grid, train
from bench.records import SCHEMA_VERSION, config_hash, environment, new_run_id, write_json_atomic
from variants import Variant

EXIT_DIVERGED = 3
EXIT_FAILED = 4


@dataclass
class RunPlan:
    variants: list[Variant]
    seeds: list[int]
    preset: str
    device: torch.device
    out: Path
    steps: int | None = None
    data_dir: Path | None = None
    written: list[Path] = field(default_factory=list)


def check_plan(plan: RunPlan) -> None:
    if plan.preset not in PRESETS:
        raise BenchError(f"unknown preset {plan.preset!r}; choose one of {', '.join(PRESETS)}")
    if plan.steps is not None and plan.steps <= 0:
        raise BenchError(f"--steps must be a positive number, got {plan.steps}")
    if not plan.seeds:
        raise BenchError("--seeds must be at least 1")


def runs_dir(out: Path, device: torch.device) -> Path:
    return Path(out) / "runs" / device_slug(device)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"), TimeRemainingColumn(),
    )


def run_one(variant: Variant, seed: int, plan: RunPlan, train_images: torch.Tensor, progress: Progress | None) -> dict:
    preset = PRESETS[plan.preset]
    config = RunConfig(variant, seed, plan.preset, generator_steps(preset, variant, len(train_images), plan.steps),
                       preset.log_every)
    described = config.describe()
    cfg_hash = config_hash(described)
    run_id = new_run_id(variant.name, seed, cfg_hash)
    folder = runs_dir(plan.out, plan.device)
    task = progress.add_task(f"{variant.name} s{seed}", total=config.steps, stats="") if progress else None

    def on_log(point):
        if progress is not None:
            rate = point["images_seen"] / max(point["train_s"], 1e-9)
            stats = f"{rate:,.0f} img/s  D {point['d_loss'] or float('nan'):.3f}  G {point['g_loss'] or float('nan'):.3f}"
            progress.update(task, completed=point["step"], stats=stats)

    started, tick = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), time.perf_counter()
    record = {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "variant": variant.name, "seed": seed,
        "config": described, "config_hash": cfg_hash, "env": environment(plan.device),
        "data": {"mnist_sha256": assets.MNIST_SHA256}, "started_at": started,
    }
    try:
        state, outcome = train(config, train_images, plan.device, on_log)
        sample_grid(variant, state.G, folder / f"{run_id}.png", plan.device)
        record.update(status=outcome["status"], diverged_at_step=outcome["diverged_at_step"], error=None,
                      curve=outcome["curve"],
                      budget={"g_steps": config.steps, "steps_done": outcome["steps_done"],
                              "images_seen": outcome["images_seen"]},
                      systems={"train_s": outcome["train_s"],
                               "train_images_per_s": outcome["images_seen"] / max(outcome["train_s"], 1e-9)},
                      paths={"samples": f"{run_id}.png"})
    except Exception as error:  # one broken run must not take the others down
        record.update(status="failed", diverged_at_step=None, error=f"{type(error).__name__}: {error}",
                      traceback=traceback.format_exc(), curve=[], budget={"g_steps": config.steps},
                      systems={}, paths={})
    record["systems"]["wall_s"] = time.perf_counter() - tick
    record["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path = folder / f"{run_id}.json"
    write_json_atomic(path, record)
    plan.written.append(path)
    if progress is not None:
        progress.update(task, stats=f"{record['status']}  -> {path}")
    return record


def run_benchmark(plan: RunPlan, progress: Progress | None = None) -> list[dict]:
    check_plan(plan)
    train_images = assets.load_mnist(plan.data_dir)["train_images"]
    return [run_one(variant, seed, plan, train_images, progress) for variant in plan.variants for seed in plan.seeds]


def exit_code(records: list[dict]) -> int:
    statuses = {r["status"] for r in records}
    return EXIT_FAILED if "failed" in statuses else EXIT_DIVERGED if "diverged" in statuses else 0
