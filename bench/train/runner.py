"""Run a benchmark: every (variant, seed) under the one protocol, one record each.

A run's key is `<variant>-s<seed>-<config-hash>`; its id adds the start time and a
random suffix, so two runs never share a file. With `--resume`, a key that already
has a finished record is skipped and a key with a checkpoint but no record continues
from that checkpoint.
"""

from __future__ import annotations

import signal
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bench.data import assets
from bench.train import convergence
from bench.train.checkpoints import load_checkpoint, restore_state
from bench.data.datasets import DATASETS, get_dataset
from bench.devices import device_slug, resolve_device, use_device
from bench.errors import BenchError
from bench.eval.evaluation import Evaluator, time_to_fid
from bench.files import probe_writable
from bench.options import check, declared, problem
from bench.presets import PRESETS, budget_label, generator_steps
from bench.train.protocol import Hooks, Interrupted, RunConfig, init_state, sample_grid, train, train_step
from bench.train.settings import Budget, Convergence, RunSettings
from bench.train.systems import MemoryProbe
from bench.records import SCHEMA_VERSION, config_hash, environment, load_record, new_run_id, write_json_atomic
from variants import Variant, pairings, select_variants

EXIT_DIVERGED = 3
EXIT_FAILED = 4
FINISHED = ("ok", "diverged")


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
    return RunPlan(variants=chosen, seeds=list(range(settings.seeds)), preset=settings.preset,
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


def progress_bar() -> Progress:
    # On stderr: stdout carries the closing summary, which a script may parse (--format json).
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"), TimeRemainingColumn(), console=Console(stderr=True),
    )


# The signals that ask a run to stop: Ctrl-C, and SIGTERM, which `timeout`, batch
# schedulers, container stops and distributed engines send before they kill.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Polled by the loop after every step: true once a stop signal has arrived.
    `signum` is the first signal received (the exit code is 128 + signum)."""

    def __init__(self):
        self.signum: int | None = None

    def __call__(self) -> bool:
        return self.signum is not None


@contextmanager
def signals_request_stop():
    """While training, SIGINT or SIGTERM asks the loop to checkpoint and stop at the next
    step boundary instead of killing it mid-update; a second signal stops at once."""
    request = StopRequest()

    def handler(signum, frame):
        if request.signum is not None:
            raise KeyboardInterrupt
        request.signum = signum

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield request
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def finished_record(plan: RunPlan, key: str) -> Path | None:
    for path in sorted(plan.runs_dir.glob(f"{key}-*.json")):
        try:
            record = load_record(path)
            if isinstance(record, dict) and record.get("status") in FINISHED:
                return path
        except (OSError, ValueError):
            continue  # a malformed record does not count as finished
    return None


def unfinished_checkpoint(plan: RunPlan, key: str) -> Path | None:
    candidates = [p for p in plan.checkpoints_dir.glob(f"{key}-*.pt")
                  if not (plan.runs_dir / f"{p.stem}.json").exists()]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def prime_libraries(variant: Variant, train_images: torch.Tensor, device: torch.device) -> None:
    """One throwaway training step before the memory baseline, so that what the libraries
    set up once per process (kernel code, thread pools, allocator arenas) is not counted as
    the memory of whichever run happens to come first."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        train_step(variant, init_state(variant, train_images, device, seed=0))


def run_config(variant: Variant, seed: int, plan: RunPlan, n_train: int) -> RunConfig:
    """What `run_one` trains `variant` under: its budget in generator steps (the cap under
    --until-converged), its cadence and the budget's label. A dry run estimates from it too."""
    preset = PRESETS[plan.preset]
    rule = rule_of(plan, n_train)
    images_per_step = variant.hparams.batch_size * variant.hparams.n_critic
    return RunConfig(variant, seed, preset, DATASETS[plan.dataset],
                     convergence.cap_steps(rule, n_train, images_per_step) if rule else
                     generator_steps(preset, variant, n_train, plan.steps, plan.train_seconds),
                     plan.checkpoint_every or preset.checkpoint_every, plan.compile, plan.train_seconds,
                     rule.label() if rule else budget_label(preset, plan.steps, plan.train_seconds), rule)


def config_section(config: RunConfig) -> dict:
    """The record's `config`, hashed into the run's key: the configuration and where the
    variant came from ("builtin", or a plug-in's module, file and sha256)."""
    return {**config.describe(), "source": config.variant.source}


def run_one(variant: Variant, seed: int, plan: RunPlan, data: dict, progress: Progress | None,
            should_stop) -> dict | None:
    train_images, dataset = data["train_images"], DATASETS[plan.dataset]
    preset = PRESETS[plan.preset]
    config = run_config(variant, seed, plan, len(train_images))
    rule = config.rule
    described = config_section(config)
    cfg_hash = config_hash(described)
    key = f"{variant.name}-s{seed}-{cfg_hash}"

    prime_libraries(variant, train_images, plan.device)
    memory = MemoryProbe(plan.device)  # before the nets exist: their parameters count as training memory
    state = init_state(variant, train_images, plan.device, seed, compile=plan.compile)
    run_id, history = new_run_id(variant.name, seed, cfg_hash), []
    if plan.resume and not plan.force:
        done = finished_record(plan, key)
        if done is not None:
            plan.skipped.append(done)
            return None
        saved = unfinished_checkpoint(plan, key)
        if saved is not None:
            payload = load_checkpoint(saved)
            if payload.get("config_hash") != cfg_hash:
                raise BenchError(f"checkpoint {saved} belongs to another configuration; delete it or use --force")
            restore_state(state, payload, saved)
            run_id, history = payload["run_id"], payload["history"] + [{"resumed_at_step": state.step}]

    # The bar counts generator steps, or training seconds under a time budget.
    by_time = config.train_seconds is not None
    task = progress.add_task(f"{variant.name} s{seed}", total=config.train_seconds if by_time else config.steps,
                             completed=state.train_s if by_time else state.step, stats="") if progress else None

    board = open_board(plan, run_id, variant, state, config.images_per_step) if plan.tensorboard else None

    def on_log(point):
        if board is not None:
            with memory.window("tensorboard"):
                board.log(point, state.G)
        if progress is not None:
            rate = point["images_seen"] / max(point["train_s"], 1e-9)
            losses = "diverged" if point["d_loss"] is None else f"D {point['d_loss']:.3f}  G {point['g_loss']:.3f}"
            progress.update(task, completed=min(point["train_s"], config.train_seconds) if by_time else point["step"],
                            stats=f"{rate:,.0f} img/s  {losses}")

    evaluator = Evaluator.for_run(variant.hparams.z_dim, preset, dataset, plan.device, plan.data_dir,
                                  data["reference_images"], curve_samples=rule.curve_samples if rule else None)
    hooks = Hooks(on_log=on_log, evaluate=evaluator.curve, checkpoint_path=plan.checkpoints_dir / f"{run_id}.pt",
                  checkpoint_meta={"run_id": run_id, "config_hash": cfg_hash, "config": described,
                                   "history": history},
                  should_stop=should_stop)
    record = {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "variant": variant.name, "seed": seed,
        "config": described, "config_hash": cfg_hash, "env": environment(plan.device),
        "data": {"dataset": dataset.name, "mnist_sha256": assets.MNIST_SHA256, "sha256": data["sha256"]},
        "history": history, **plan.record_extra,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    tick = time.perf_counter()
    try:
        outcome = train(config, state, plan.device, hooks, memory)
        sample_grid(variant, state.G, plan.runs_dir / f"{run_id}.png", plan.device)
        metrics = {}
        if outcome["status"] == "ok":
            if progress is not None:
                progress.update(task, stats="final evaluation")
            with memory.window("eval"):
                metrics, eval_s = evaluator.final(state.G)
                best, best_eval_s = score_best(variant, state, evaluator, metrics)
            outcome["systems"]["eval_s"] += eval_s + best_eval_s
            metrics.update(best.pop("metrics", {}))
            record["best"] = best or None
            outcome["systems"]["eval_peak_mem_bytes"] = memory.peaks["eval"]
        record.update(status=outcome["status"], diverged_at_step=outcome["diverged_at_step"], error=None,
                      curve=outcome["curve"], systems=outcome["systems"], metrics=metrics,
                      feature_nets=evaluator.feature_nets(),
                      time_to_fid=time_to_fid(outcome["curve"], dataset.fid_threshold(preset), dataset.fid_key),
                      budget=budget_counts(config, outcome["steps_done"]),
                      paths={"samples": f"{run_id}.png", "checkpoint": str(hooks.checkpoint_path)})
        if config.rule is not None:
            record["convergence"] = convergence.section(
                config.rule, outcome["stopped"] or outcome["status"], record["budget"], len(train_images),
                outcome["systems"]["train_s"])
    except (Interrupted, BenchError, KeyboardInterrupt):
        if board is not None:
            board.close()  # what it wrote stays: a resumed run goes on from its checkpoint's step
        raise
    except Exception as error:  # one broken run must not take the others down
        record.update(status="failed", diverged_at_step=None, error=f"{type(error).__name__}: {error}",
                      traceback=traceback.format_exc(), curve=[],
                      budget=budget_counts(config, state.step),
                      systems={}, paths={}, metrics={}, feature_nets=evaluator.feature_nets())
    if board is not None:
        record["paths"]["tensorboard"] = str(board.folder)
    record["systems"]["wall_s"] = time.perf_counter() - tick
    record["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path = plan.runs_dir / f"{run_id}.json"
    try:
        write_json_atomic(path, record)
    except OSError as error:
        raise BenchError(f"could not write record {path}: {error.strerror or error}; "
                         "records already written are intact") from None
    plan.written.append(path)
    if board is not None:
        board.finish(record)
    if progress is not None:
        progress.update(task, stats=f"{record['status']}")
    return record


def open_board(plan: RunPlan, run_id: str, variant: Variant, state, images_per_step: int):
    """The run's TensorBoard log, `--tensorboard`/<run id>; a resumed run goes on in the same folder."""
    from bench.train.board import Board  # tensorboard's import costs runs without --tensorboard nothing

    return Board(Path(plan.tensorboard) / run_id, variant, plan.device, images_per_step, resumed_at=state.step,
                 previous=state.curve[-1] if state.curve else None)


# Figures of the final evaluation that are not scored again for the best generator: counts,
# spreads over subsets, and Inception (minutes on a CPU).
NOT_RESCORED = ("n_fake", "n_real", "n_inception", "fid_inception", "absent")


def score_best(variant: Variant, state, evaluator: Evaluator, last_metrics: dict) -> tuple[dict, float]:
    """The generator of the best curve point, scored on the same fresh samples (the same
    latents) as the last one: the curve picked it on its own samples, so re-scoring it
    avoids reporting the selection's optimistic score. Returns the record's `best` section
    (with `metrics`: each figure as `<name>_best`) and the seconds spent."""
    if state.best is None:
        return {}, 0.0
    where = {k: state.best[k] for k in ("step", "images_seen", "train_s")} | {"curve_fid": state.best["fid"]}
    if state.best["step"] == state.step:  # the last generator is the best one: same samples, same figures
        metrics, seconds = last_metrics, 0.0
    else:
        # A fresh G with the best weights; building draws initial weights, so the run's RNG is set aside.
        with torch.random.fork_rng(devices=[evaluator.device] if evaluator.device.type == "cuda" else []):
            G = variant.build(tuple(evaluator.reference_images.shape[1:]))[0].to(evaluator.device)
        G.load_state_dict(state.best["G"])
        metrics, seconds = evaluator.final(G, inception=False)
    rescored = {f"{k}_best": v for k, v in metrics.items()
                if k not in NOT_RESCORED and not k.endswith("_std") and isinstance(v, (int, float))}
    return {**where, "same_as_last": state.best["step"] == state.step, "metrics": rescored}, seconds


def budget_counts(config: RunConfig, g_steps_done: int) -> dict:
    """What a run got, in every unit, so a table can show how an equal budget in one unit
    (e.g. epochs) shares out in the others (n_critic 5: a fifth of the G updates)."""
    n_critic = config.variant.hparams.n_critic
    return {"label": config.budget, "g_steps_planned": config.steps, "train_seconds_planned": config.train_seconds,
            "g_steps": g_steps_done, "d_steps": g_steps_done * n_critic,
            "images_seen": g_steps_done * config.images_per_step}


def run_benchmark(plan: RunPlan, progress: Progress | None = None) -> list[dict]:
    check_plan(plan)
    data = DATASETS[plan.dataset].load(plan.data_dir)
    # On the device once for all runs, before any run's memory baseline: the data set is not a variant's cost.
    data["train_images"] = data["train_images"].to(plan.device)
    records = []
    with signals_request_stop() as should_stop, use_device(plan.device):
        try:
            for variant in plan.variants:
                for seed in plan.seeds:
                    record = run_one(variant, seed, plan, data, progress, should_stop)
                    if record is not None:
                        records.append(record)
        except Interrupted as stop:
            stop.signum = should_stop.signum
            raise
    return records


def exit_code(records: list[dict]) -> int:
    statuses = {r["status"] for r in records}
    return EXIT_FAILED if "failed" in statuses else EXIT_DIVERGED if "diverged" in statuses else 0
