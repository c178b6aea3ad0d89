"""`gan-bench compare-machines`: how far the same seeds land apart on two machines,
next to how far different seeds land apart on one.

Training a GAN amplifies last-bit differences between float kernels, so a seed trained on
another CPU model (or GPU) ends at another FID. This puts a number on that spread, so
nobody mistakes it for the seed-to-seed spread, or the other way round.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from bench.errors import BenchError
from bench.report import dig, load_records, seed_stats

# Runs pair up across machines by variant name, seed, preset and budget (the generator
# steps it came to, or the training seconds).
PAIR_KEYS = ("variant", "seed")
CONFIG_KEYS = ("preset", "steps", "train_seconds")


def pair_key(record: dict) -> tuple:
    config = record["config"]
    return (*(record[k] for k in PAIR_KEYS), *(repr(config.get(k)) for k in CONFIG_KEYS))


def ok_by_key(results_dir: Path, warn=None) -> tuple[dict, str]:
    records, warnings = load_records(results_dir)
    for line in warnings:
        if warn:
            warn(line)
    ok = [r for r in records if r["status"] == "ok" and dig(r, "metrics", "fid_mnist") is not None]
    machines = sorted({r["env"].get("device_name") or r["env"]["device_slug"] for r in ok})
    if len(machines) != 1:
        raise BenchError(f"{results_dir} holds runs from {len(machines)} machines ({', '.join(machines) or 'none'}); "
                         "pass a folder with one machine's runs")
    return {pair_key(r): r for r in ok}, machines[0]


def seed_std(values: list[float]) -> float | None:
    """The report's seed statistics; None rather than NaN with one seed (JSON has no NaN)."""
    std = seed_stats(values)["std"]
    return None if std != std else std


def compare_machines(dir_a: Path, dir_b: Path, warn=None) -> tuple[list[dict], str, str]:
    """One row per variant with seed-matched runs on both machines; `warn` gets a line per
    record skipped."""
    runs_a, machine_a = ok_by_key(Path(dir_a), warn)
    runs_b, machine_b = ok_by_key(Path(dir_b), warn)
    shared = sorted(set(runs_a) & set(runs_b))
    if not shared:
        raise BenchError("no seed-matched runs: the two folders share no (variant, seed, configuration)")
    rows = []
    for variant in sorted({key[0] for key in shared}):
        keys = [key for key in shared if key[0] == variant]
        fid_a = [runs_a[k]["metrics"]["fid_mnist"] for k in keys]
        fid_b = [runs_b[k]["metrics"]["fid_mnist"] for k in keys]
        rows.append({
            "variant": variant, "seeds": " ".join(str(k[1]) for k in keys),
            "fid_mnist_a": statistics.fmean(fid_a), "fid_mnist_b": statistics.fmean(fid_b),
            "same_seed_abs_diff": statistics.fmean(abs(a - b) for a, b in zip(fid_a, fid_b)),
            "seed_std_a": seed_std(fid_a), "seed_std_b": seed_std(fid_b),
            "identical_metrics": sum(runs_a[k]["metrics"] == runs_b[k]["metrics"] for k in keys),
        })
    return rows, machine_a, machine_b
