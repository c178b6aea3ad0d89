"""Run a study's runs as Ray core tasks: one task per run, its record returned to the driver.

Why core tasks and not Ray Tune: Tune keeps its own experiment state and needs storage that
every node shares for it; here a run is already resumable by itself (its checkpoint) and a
study's state is just its records, which the driver writes into the study folder. So a
cluster needs a shared filesystem only for cross-node resume of checkpoints, never for results.

Fault tolerance: a task whose worker or node dies is rerun by Ray (`max_retries`) and resumes
from its latest checkpoint, if the new node can read the checkpoint directory. A task stopped
by a signal (it checkpoints first, then says so in its result) is resubmitted by the driver,
within the same retry budget. A run that diverges or raises is recorded as such by the runner
and the study goes on.
"""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError
from bench.study.plan import StudyDefinition, StudyRun, budget_fields

# A worker process serves many runs: the data set is loaded once per process, not per run.
_DATA: dict = {}
_PLUGINS: dict = {}  # "loaded": the plug-in specs this worker process has imported
CONNECT_TIMEOUT_S = 5.0


@dataclass
class EngineSettings:
    device: str = "auto"
    address: str | None = None
    cpus_per_run: float = 1
    gpus_per_run: float = 0
    checkpoint_dir: Path | None = None
    max_retries: int = 3
    data_dir: Path | None = None
    checkpoint_every: int | None = None
    plugins: tuple[str, ...] = ()  # file paths (absolute) or module names, loaded by every worker
    tensorboard: Path | None = None  # absolute: each worker logs its runs into a folder of it


@dataclass
class Tally:
    total: int
    done: int = 0  # records in the folder, earlier invocations included
    failed: int = 0
    failed_here: int = 0  # failed in this invocation: records or lost tasks
    started: float = field(default_factory=time.monotonic)
    finished_here: int = 0
    best: dict = field(default_factory=dict)  # variant -> (fid, config_index)
    errors: list = field(default_factory=list)

    def lost(self, label: str, why: str) -> None:
        """A run of this invocation that ended without a record (its task failed or was lost)."""
        self.failed += 1
        self.failed_here += 1
        self.errors.append(f"{label}: {why}")


def task_device(settings: EngineSettings) -> str:
    if settings.device == "auto":
        # Ray shows a task only the GPUs it reserved: without a reservation, the CPU.
        return "cuda" if settings.gpus_per_run > 0 else "cpu"
    if settings.device.startswith("cuda") and settings.gpus_per_run <= 0:
        raise BenchError(f"--device {settings.device} needs --gpus-per-run > 0: Ray shows a task only the "
                         "GPUs it reserves")
    return settings.device


def execute_run(run: StudyRun, definition: StudyDefinition, settings: EngineSettings, device: str,
                checkpoint_dir: str, threads: int) -> dict:
    """One run on a Ray worker, through the same `run_one` as `gan-bench run`; the record and
    its sample grid travel back to the driver, which writes them."""
    import torch

    from bench.data.datasets import DATASETS
    from bench.devices import resolve_device, use_device
    from bench.plugins import load_plugins
    from bench.train.protocol import Interrupted
    from bench.train.plan import RunPlan
    from bench.train.runner import run_one, signals_request_stop

    torch.set_num_threads(threads)
    if _PLUGINS.get("loaded") != settings.plugins:
        # The variant travels by value, but its architecture and loss are looked up by name:
        # the worker registers them as the driver did (entry points too).
        load_plugins(list(settings.plugins))
        _PLUGINS["loaded"] = settings.plugins
    target = resolve_device(device)
    key = (definition.dataset, str(settings.data_dir), str(target))
    if key not in _DATA:
        data = DATASETS[definition.dataset].load(settings.data_dir)
        data["train_images"] = data["train_images"].to(target)
        _DATA.clear()
        _DATA[key] = data
    with tempfile.TemporaryDirectory(prefix="gan-bench-run-") as scratch:
        plan = RunPlan(variants=[run.variant], seeds=[run.seed], device=target, out=Path(scratch),
                       **budget_fields(definition), checkpoint_every=settings.checkpoint_every,
                       data_dir=settings.data_dir, resume=True, checkpoint_dir=Path(checkpoint_dir),
                       tensorboard=settings.tensorboard,
                       record_extra={"study": run.section(definition)})
        plan.runs_dir.mkdir(parents=True, exist_ok=True)
        plan.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        # Ray runs a task on the worker's main thread, where a signal handler can be set: a
        # SIGTERM (node drain, preemption) or a cancel then checkpoints before the task ends.
        stops = signals_request_stop() if threading.current_thread() is threading.main_thread() else None
        try:
            with (stops or nullcontext(lambda: False)) as should_stop, use_device(target):
                record = run_one(run.variant, run.seed, plan, _DATA[key], None, should_stop)
        except Interrupted as stop:
            # Said in the result, not raised: the driver decides whether to resubmit it.
            return {"interrupted_at_step": stop.step}
        grid = plan.runs_dir / f"{record['run_id']}.png"
        return {"record": record, "grid": grid.read_bytes() if grid.exists() else None}


def run_checkpoint_dir(root: Path, definition: StudyDefinition, run: StudyRun) -> Path:
    """A folder per configuration and phase: two configurations that happen to share every
    value, or a rerun of the best one, never pick up each other's checkpoints."""
    return Path(root) / definition.id / f"{run.phase}-c{run.config_index}-{run.variant.name}"


# ---------------------------------------------------------------- connecting


def check_reachable(address: str) -> None:
    """Fail in seconds on an address nobody answers: ray.init would retry for minutes."""
    if address == "auto" or address.startswith("local"):
        return
    target = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise BenchError(f"--address {address!r} is not HOST:PORT (or ray://HOST:PORT)")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise BenchError(f"cannot reach a Ray cluster at {address} ({error.strerror or error}) within "
                         f"{CONNECT_TIMEOUT_S:g} s; start one with `ray start --head` or check --address") from None


def connect(address: str | None) -> None:
    import logging

    import ray

    address = address or os.environ.get("RAY_ADDRESS") or None
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False, "include_dashboard": False}
    try:
        if address:
            check_reachable(address)
            ray.init(address=address, **quiet)
        else:
            # A Ray of its own on this machine only: "local" starts a new instance even where another
            # one runs here (a bare ray.init() would join the latest `ray start`, somebody else's
            # cluster); no dashboard, nothing listening beyond the loopback address.
            ray.init(address="local", _node_ip_address="127.0.0.1", **quiet)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as error:
        ray.shutdown()
        raise BenchError(f"cannot start or reach Ray{f' at {address}' if address else ''}: "
                         f"{str(error).splitlines()[0] if str(error) else type(error).__name__}") from None


def check_resources(settings: EngineSettings) -> int:
    """Refuse a request no node can meet (Ray would queue it forever); return how many runs
    fit at once, for the display."""
    import ray

    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    most_cpus = max((n.get("CPU", 0) for n in nodes), default=0)
    most_gpus = max((n.get("GPU", 0) for n in nodes), default=0)
    if settings.cpus_per_run > most_cpus:
        raise BenchError(f"--cpus-per-run {settings.cpus_per_run:g}: no node of the cluster has that many CPUs "
                         f"(the largest has {most_cpus:g})")
    if settings.gpus_per_run > most_gpus:
        raise BenchError(f"--gpus-per-run {settings.gpus_per_run:g}: no node of the cluster has that many GPUs "
                         f"(the largest has {most_gpus:g})")
    slots = sum(int(n.get("CPU", 0) // settings.cpus_per_run) if settings.cpus_per_run > 0 else 1 for n in nodes)
    if settings.gpus_per_run > 0:
        slots = min(slots, sum(int(n.get("GPU", 0) // settings.gpus_per_run) for n in nodes))
    return max(slots, 1)


def check_settings(settings: EngineSettings) -> None:
    if settings.cpus_per_run <= 0:
        raise BenchError(f"--cpus-per-run must be positive, got {settings.cpus_per_run:g}")
    if settings.gpus_per_run < 0:
        raise BenchError(f"--gpus-per-run must be 0 or more, got {settings.gpus_per_run:g}")
    if settings.max_retries < 0:
        raise BenchError(f"--max-retries must be 0 or more, got {settings.max_retries}")
    if settings.checkpoint_every is not None and settings.checkpoint_every < 1:
        raise BenchError(f"--checkpoint-every must be a positive number, got {settings.checkpoint_every}")
    task_device(settings)


# ---------------------------------------------------------------- the driver


def run_tasks(runs: list[StudyRun], definition: StudyDefinition, settings: EngineSettings, write, tally: Tally,
              show, slots: int) -> None:
    """Submit every run, write each record as it arrives, resubmit runs a signal stopped.
    `write(result)` stores a finished run's record; `show(tally, running)` redraws."""
    import ray
    from ray.exceptions import RayError, RayTaskError, TaskCancelledError

    from bench.train.runner import signals_request_stop

    root = Path(settings.checkpoint_dir).resolve()
    threads = max(1, int(settings.cpus_per_run))
    remote = ray.remote(execute_run).options(num_cpus=settings.cpus_per_run, num_gpus=settings.gpus_per_run,
                                             max_retries=settings.max_retries)
    device = task_device(settings)
    attempts: dict[tuple, int] = {}

    def submit(run):
        attempts[run.key] = attempts.get(run.key, 0) + 1
        return remote.remote(run, definition, settings, device, str(run_checkpoint_dir(root, definition, run)),
                             threads)

    pending = {submit(run): run for run in runs}
    with signals_request_stop() as stop:
        while pending:
            show(tally, min(len(pending), slots))
            if stop.signum is not None:
                raise stop_tasks(pending, stop.signum)
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in ready:
                run = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except TaskCancelledError:
                    continue
                except RayTaskError as error:
                    tally.lost(run.label, first_line(error.as_instanceof_cause()))
                    continue
                except RayError as error:  # its worker or node died more often than max_retries
                    tally.lost(run.label, f"{type(error).__name__} after {settings.max_retries} retries")
                    continue
                if "interrupted_at_step" not in result:
                    write(result)
                elif stop.signum is None and attempts[run.key] <= settings.max_retries:
                    pending[submit(run)] = run  # a signal of its own stopped it at a checkpoint
                elif stop.signum is None:
                    tally.lost(run.label, f"stopped by a signal {attempts[run.key]} times")
        show(tally, 0)


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def stop_tasks(pending: dict, signum: int) -> BenchError:
    """Cancel every task: a running one gets an interrupt, checkpoints at its next step and
    ends; a queued one never starts. Then say how to go on."""
    import ray

    for ref in pending:
        ray.cancel(ref, force=False)
    deadline = time.monotonic() + 60
    waiting = list(pending)
    while waiting and time.monotonic() < deadline:
        _, waiting = ray.wait(waiting, num_returns=len(waiting), timeout=1)
    name = signal.Signals(signum).name
    return BenchError(f"interrupted by {name}: {len(pending)} run(s) stopped, running ones at a checkpoint; "
                      "run the same study command again to resume", exit_code=128 + signum)
