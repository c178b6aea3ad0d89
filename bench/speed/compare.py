"""Speed as a ratio to the yardstick (the tutorial loop), measured side by side.

For each variant and batch size the fast path (`bench.train.protocol.train_step`) and the
yardstick (`bench.speed.yardstick.Yardstick`) are built in one process and timed
alternately, fast then yardstick, repeat after repeat, after a warm-up of both. Load
from other processes shifts both sides of a pair alike, so the per-repeat ratio is
steadier than either rate, and its median is the figure we publish (docs/speed.md). The
device is synchronized at repeat boundaries only, never inside.

Units: images/s counts real images consumed by D (batch * n_critic per generator
update), as `train_images_per_s` does in run records.

Peak memory is measured for each side alone, in a fresh subprocess that loads MNIST
into host memory, then builds that side and trains it for a few steps:
- CUDA: `torch.cuda.max_memory_allocated` after `reset_peak_memory_stats` (the fast
  path's device copy of the data counts; the yardstick's data stays on the host);
- CPU: growth of the peak resident set (VmHWM, reset through /proc/self/clear_refs)
  over the resident set once the data is loaded. Where the peak cannot be reset
  (not Linux) it falls back to `ru_maxrss`, a process-lifetime maximum, and says so
  in `peak_mem_kind`: that figure can only under-count the growth.
Both sides' figures include one-off runtime costs paged in on first use (kernel
libraries, allocator caches), so compare them with each other, not with parameter sizes.
Measuring in the timing process would be wrong both ways: the two sides' resident
state overlaps there, and ru_maxrss never goes down.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from bench.data import assets
from bench.devices import device_slug, resolve_device, synchronize, use_device
from bench.errors import BenchError
from bench.files import atomic_write
from bench.presets import images_per_step
from bench.train.protocol import init_state, train_step
from bench.train.systems import MemoryProbe
from bench.report.tables import Column, fixed
from bench.records import SCHEMA_VERSION, environment, write_json_atomic
from bench.speed.yardstick import Yardstick, mnist_dataset
from variants import Variant

SIDES = ("fast", "yardstick")
PROBE_STEPS = 3  # the peak is reached by the first step that allocates Adam's state; 3 to be sure


# ---------------------------------------------------------------- input

def parse_batch_sizes(spec: str) -> list[int]:
    """'64' or '64,128' -> [64, 128]."""
    try:
        sizes = [int(part) for part in spec.split(",") if part.strip()]
    except ValueError:
        raise BenchError(f"--batch-sizes must be whole numbers separated by commas, got {spec!r}") from None
    if not sizes:
        raise BenchError("--batch-sizes names no batch size")
    return sizes


def check_settings(batch_sizes, repeats: int, steps_per_repeat: int, warmup: int, n_train: int = 60_000) -> None:
    for size in batch_sizes:
        if not 0 < size <= n_train:
            raise BenchError(f"batch size must be between 1 and {n_train}, got {size}")
    if repeats < 1:
        raise BenchError(f"--repeats must be at least 1, got {repeats}")
    if steps_per_repeat < 1:
        raise BenchError(f"--steps must be at least 1, got {steps_per_repeat}")
    if warmup < 0:
        raise BenchError(f"--warmup must be 0 or more, got {warmup}")


# ---------------------------------------------------------------- timing

def timed(step: Callable[[], object], n_steps: int, device: torch.device) -> float:
    """Seconds for `n_steps` calls of `step`, synchronized at both ends only."""
    synchronize(device)
    tick = time.perf_counter()
    for _ in range(n_steps):
        step()
    synchronize(device)
    return time.perf_counter() - tick


def measure_pair(variant: Variant, device: torch.device, train_images: torch.Tensor, dataset, repeats: int,
                 steps_per_repeat: int, warmup: int, seed: int = 0) -> list[dict]:
    """Time the fast path and the yardstick alternately; one row per repeat."""
    hp = variant.hparams
    state = init_state(variant, train_images, device, seed)
    last = {}

    def fast_step():
        last["fast"] = train_step(variant, state)

    # The yardstick's per-step print goes to a line-buffered null file: the formatting
    # and the write call are paid, as on a terminal, without flooding the user's screen.
    with open(os.devnull, "w", buffering=1) as sink:
        yardstick = Yardstick(variant, device, seed=seed, print_fn=lambda line: print(line, file=sink),
                              dataset=dataset)

        def yardstick_step():
            last["yardstick"] = yardstick.step()

        for _ in range(warmup):
            fast_step()
            yardstick_step()
        images = images_per_step(variant) * steps_per_repeat
        rows = []
        for repeat in range(repeats):
            fast_s = timed(fast_step, steps_per_repeat, device)
            yardstick_s = timed(yardstick_step, steps_per_repeat, device)
            rows.append({
                "variant": variant.name, "batch_size": hp.batch_size, "n_critic": hp.n_critic, "repeat": repeat,
                "steps": steps_per_repeat, "images": images, "fast_s": fast_s, "yardstick_s": yardstick_s,
                "fast_images_per_s": images / fast_s, "yardstick_images_per_s": images / yardstick_s,
                "ratio": (images / fast_s) / (images / yardstick_s),
                # Read after the clock stopped: a diverged side would not be a fair timing.
                "fast_finite": bool(torch.isfinite(torch.stack(last["fast"])).all()),
                "yardstick_finite": all(map(math.isfinite, last["yardstick"])),
            })
    state = yardstick = None  # the closures hold them: free the nets before emptying the cache
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


# ---------------------------------------------------------------- memory (in a fresh process)

def probe_memory_here(variant: Variant, side: str, device: torch.device, data_dir: Path | None,
                      steps: int = PROBE_STEPS, seed: int = 0) -> dict:
    """Peak memory of one side, in this process: call it in a fresh one (`probe_memory`)."""
    if side == "fast":
        data = assets.load_mnist(data_dir)["train_images"]
    else:
        data = mnist_dataset(data_dir)
    if device.type == "cuda":
        torch.cuda.init()
    probe = MemoryProbe(device)  # after the data is loaded: its bytes are not the loop's
    if side == "fast":
        state = init_state(variant, data, device, seed)
        step = lambda: train_step(variant, state)  # noqa: E731
    else:
        yardstick = Yardstick(variant, device, seed=seed, print_fn=lambda line: None, dataset=data)
        step = yardstick.step
    for _ in range(steps):
        step()
    synchronize(device)
    return probe.peak()


def probe_memory(variant: Variant, side: str, device: torch.device, data_dir: Path | None,
                 steps: int = PROBE_STEPS, seed: int = 0) -> dict:
    """`probe_memory_here` in a fresh Python process with this process's thread count."""
    job = {"variant": variant, "side": side, "device": str(device), "data_dir": data_dir, "steps": steps,
           "seed": seed, "threads": torch.get_num_threads()}
    result = subprocess.run([sys.executable, "-m", "bench.speed.compare"], input=pickle.dumps(job), capture_output=True)
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-1:]
        return {"peak_mem_bytes": None, "peak_mem_reserved_bytes": None, "peak_mem_kind": f"probe failed: {tail}"}
    return json.loads(result.stdout.decode().strip().splitlines()[-1])


def _probe_main() -> None:
    job = pickle.load(sys.stdin.buffer)
    torch.set_num_threads(job["threads"])
    device = torch.device(job["device"])
    with use_device(device):
        figures = probe_memory_here(job["variant"], job["side"], device, job["data_dir"], job["steps"], job["seed"])
    print(json.dumps(figures))


# ---------------------------------------------------------------- the comparison

def measure_speed(variants: list[Variant], device: torch.device, batch_sizes=(64,), repeats: int = 5,
                  steps_per_repeat: int = 20, warmup: int = 3, seed: int = 0, data_dir: Path | None = None,
                  memory: bool = True, log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """One row per (variant, batch size, repeat): seconds, images/s of each side and their
    ratio (fast / yardstick), plus each side's peak memory (the same on every repeat of a
    pair; None with `memory=False`). `summarize` turns it into one row per pair."""
    check_settings(batch_sizes, repeats, steps_per_repeat, warmup)
    train_images = assets.load_mnist(data_dir)["train_images"]
    dataset = mnist_dataset(data_dir)  # loaded once, shared by every yardstick
    rows = []
    for variant in variants:
        for batch_size in batch_sizes:
            sized = variant.with_hparams(batch_size=batch_size)
            pair = measure_pair(sized, device, train_images, dataset, repeats, steps_per_repeat, warmup, seed)
            mem = {}
            for side in SIDES:
                figures = (probe_memory(sized, side, device, data_dir, seed=seed) if memory
                           else {"peak_mem_bytes": None, "peak_mem_reserved_bytes": None, "peak_mem_kind": None})
                mem.update({f"{side}_{key}": value for key, value in figures.items()})
            rows += [{**row, **mem} for row in pair]
            if log:
                ratios = sorted(row["ratio"] for row in pair)
                log(f"{sized.name} batch {batch_size}: ratio {ratios[len(ratios) // 2]:.2f}x "
                    f"(min {ratios[0]:.2f}, max {ratios[-1]:.2f}) over {repeats} repeats")
    return pd.DataFrame(rows)


def summarize(repeats: pd.DataFrame) -> pd.DataFrame:
    """One row per (variant, batch size): medians over repeats, the ratio's spread and memory."""
    groups = repeats.groupby(["variant", "batch_size"], sort=False)
    summary = groups.agg(
        n_critic=("n_critic", "first"), repeats=("repeat", "count"), steps_per_repeat=("steps", "first"),
        fast_images_per_s=("fast_images_per_s", "median"),
        yardstick_images_per_s=("yardstick_images_per_s", "median"),
        ratio_median=("ratio", "median"), ratio_min=("ratio", "min"), ratio_max=("ratio", "max"),
        fast_s_median=("fast_s", "median"), yardstick_s_median=("yardstick_s", "median"),
        fast_peak_mem_bytes=("fast_peak_mem_bytes", "first"),
        yardstick_peak_mem_bytes=("yardstick_peak_mem_bytes", "first"),
        peak_mem_kind=("fast_peak_mem_kind", "first"),
    ).reset_index()
    # One step: a generator update with its n_critic D updates (the record's step_ms).
    summary["fast_step_ms"] = summary.pop("fast_s_median") * 1000 / summary["steps_per_repeat"]
    summary["yardstick_step_ms"] = summary.pop("yardstick_s_median") * 1000 / summary["steps_per_repeat"]
    return summary


def mib(value) -> str:
    return "" if value is None or pd.isna(value) else f"{value / 2**20:,.1f}"


# Short headers so the essential columns fit 80 columns; `--format json` or `csv` carries
# every column, under its full name, for scripts.
SPEED_COLUMNS = [
    Column("variant", "variant", essential=True), Column("batch_size", "batch", essential=True, justify="right"),
    Column("fast_images_per_s", "fast img/s", fixed(0), True, "right"),
    Column("yardstick_images_per_s", "yardstick img/s", fixed(0), True, "right"),
    Column("ratio_median", "ratio", lambda x: f"{x:.2f}x", True, "right"),
    Column("ratio_min", "min", fixed(2), justify="right"), Column("ratio_max", "max", fixed(2), justify="right"),
    Column("fast_peak_mem_bytes", "fast MiB", mib, justify="right"),
    Column("yardstick_peak_mem_bytes", "yardstick MiB", mib, justify="right"),
    Column("fast_step_ms", "fast step ms", fixed(1), justify="right"),
    Column("yardstick_step_ms", "yardstick step ms", fixed(1), justify="right"),
    Column("n_critic", "n_critic", justify="right"), Column("repeats", "repeats", justify="right"),
    Column("steps_per_repeat", "steps", justify="right"), Column("peak_mem_kind", "memory measured as"),
]
SPEED_TITLE = "fast path vs the tutorial loop (ratio: median over repeats, min and max; MiB: peak memory)"


# ---------------------------------------------------------------- the command

def frame_records(frame: pd.DataFrame) -> list[dict]:
    # Through pandas' JSON writer: numpy scalars become plain numbers and NaN becomes null.
    return json.loads(frame.to_json(orient="records"))


def speed_dir(out: Path, device: torch.device) -> Path:
    return Path(out) / "speed" / device_slug(device)


def write_speed(folder: Path, repeats: pd.DataFrame, summary: pd.DataFrame, settings: dict, command: str,
                device: torch.device) -> list[Path]:
    """speed.json (everything), speed.csv (the summary) and speed_repeats.csv, each atomic."""
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "schema_version": SCHEMA_VERSION, "kind": "speed", "command": command,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "env": environment(device), "settings": settings,
        "summary": frame_records(summary), "repeats": frame_records(repeats),
    }
    paths = [folder / "speed.json", folder / "speed.csv", folder / "speed_repeats.csv"]
    write_json_atomic(paths[0], record)
    atomic_write(paths[1], summary.to_csv(index=False))
    atomic_write(paths[2], repeats.to_csv(index=False))
    return paths


def run_speed(variants: list[Variant], device_spec: str, batch_sizes_spec: str, repeats: int, steps: int,
              warmup: int, threads: int | None, memory: bool, out: Path, data_dir: Path | None,
              variants_spec: str = "all", log: Callable[[str], None] | None = None
              ) -> tuple[pd.DataFrame, list[Path]]:
    """`gan-bench speed`: measure, write, and return the summary and the files written."""
    batch_sizes = parse_batch_sizes(batch_sizes_spec)
    check_settings(batch_sizes, repeats, steps, warmup)
    if threads is not None:
        if threads < 1:
            raise BenchError(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)  # fewer threads than cores: steadier CPU figures (docs/speed.md)
    device = resolve_device(device_spec)
    argv = ["gan-bench", "speed", "--variants", variants_spec, "--device", device_spec,
            "--batch-sizes", ",".join(map(str, batch_sizes)), "--repeats", str(repeats), "--steps", str(steps),
            "--warmup", str(warmup), "--out", str(out)]
    argv += ["--threads", str(threads)] if threads is not None else []
    argv += [] if memory else ["--no-memory"]
    argv += ["--data-dir", str(data_dir)] if data_dir is not None else []
    with use_device(device):
        repeats_frame = measure_speed(variants, device, batch_sizes, repeats, steps, warmup, data_dir=data_dir,
                                      memory=memory, log=log)
    summary = summarize(repeats_frame)
    settings = {"variants": [v.name for v in variants], "batch_sizes": batch_sizes, "repeats": repeats,
                "steps_per_repeat": steps, "warmup": warmup, "threads": torch.get_num_threads(),
                "threads_pinned": threads is not None, "memory": memory, "seed": 0,
                "images_counted": "real images consumed by D: batch * n_critic per generator update",
                "ratio": "fast images/s / yardstick images/s, per repeat; published figure: the median"}
    paths = write_speed(speed_dir(out, device), repeats_frame, summary, settings, shlex.join(argv), device)
    return summary, paths


if __name__ == "__main__":
    _probe_main()
