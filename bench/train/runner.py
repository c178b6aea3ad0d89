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
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bench.data import assets
from bench.train import convergence
from bench.train.checkpoints import load_checkpoint, restore_state
from bench.train.plan import RunPlan, check_plan, config_section, run_config
from bench.data.datasets import DATASETS
from bench.devices import device_slug, use_device
from bench.errors import BenchError
from bench.eval.evaluation import Evaluator, time_to_fid
from bench.presets import PRESETS
from bench.train.protocol import Hooks, Interrupted, RunConfig, init_state, sample_grid, train, train_step
from bench.train.systems import MemoryProbe
from bench.records import SCHEMA_VERSION, config_hash, environment, load_record, new_run_id, write_json_atomic
from variants import Variant

EXIT_DIVERGED = 3
EXIT_FAILED = 4
FINISHED = ("ok", "diverged")


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
            # Another capability runs other kernels: the resumed run would be neither machine's record.
            here = device_slug(plan.device)
            if payload.get("device_slug", here) != here:
                raise BenchError(f"checkpoint {saved} was written on {payload['device_slug']}, this machine is {here}; "
                                 "resume it there, or delete it or use --force to start the run over here")
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
                                  data["reference_images"], curve_samples=rule.curve_samples if rule else None,
                                  train_images=data["train_images"])
    hooks = Hooks(on_log=on_log, evaluate=evaluator.curve, checkpoint_path=plan.checkpoints_dir / f"{run_id}.pt",
                  checkpoint_meta={"run_id": run_id, "config_hash": cfg_hash, "config": described,
                                   "device_slug": device_slug(plan.device), "history": history},
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
                record["beyond_fid"] = metrics.pop("beyond_fid", None)
                save_copy_grid(evaluator, plan.runs_dir / f"{run_id}.copies.png")
                best, best_eval_s = score_best(variant, state, evaluator, metrics)
            outcome["systems"]["eval_s"] += eval_s + best_eval_s
            metrics.update(best.pop("metrics", {}))
            record["best"] = best or None
            outcome["systems"]["eval_peak_mem_bytes"] = memory.peaks["eval"]
            record["generators"] = keep_generators(plan.runs_dir, run_id, state, described)
        record.update(status=outcome["status"], diverged_at_step=outcome["diverged_at_step"], error=None,
                      curve=outcome["curve"], systems=outcome["systems"], metrics=metrics,
                      feature_nets=evaluator.feature_nets(),
                      time_to_fid=time_to_fid(outcome["curve"], dataset.fid_threshold(preset), dataset.fid_key),
                      budget=budget_counts(config, outcome["steps_done"]),
                      paths={"samples": f"{run_id}.png", "checkpoint": str(hooks.checkpoint_path),
                             **({"copies": f"{run_id}.copies.png"} if evaluator.nearest_pairs is not None else {})})
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


def save_copy_grid(evaluator: Evaluator, path: Path) -> None:
    """The final samples nearest to a training image, each beside that image (two columns a pair)."""
    from torchvision.utils import save_image

    if evaluator.nearest_pairs is not None:
        save_image(evaluator.nearest_pairs.float() / 255.0, path, nrow=8, padding=2, pad_value=0.5)


def keep_generators(runs_dir: Path, run_id: str, state, config: dict) -> dict:
    """The run's last generator, and its best curve point's where that differs, as data-only
    files beside the record (bench/generators.py): the record's `generators` section."""
    from bench.generators import BEST, LAST, generator_path, save_generator

    kept = {LAST: save_generator(generator_path(runs_dir, run_id, LAST), state.G.state_dict(), run_id, LAST,
                                 state.step, config)}
    if state.best is not None and state.best["step"] != state.step:
        kept[BEST] = save_generator(generator_path(runs_dir, run_id, BEST), state.best["G"], run_id, BEST,
                                    int(state.best["step"]), config)
    return kept


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
