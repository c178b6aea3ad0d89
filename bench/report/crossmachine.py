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
from bench.report.loading import dig, load_records, recipe_hash
from bench.report.summary import seed_stats

# Runs pair up across machines by recipe (the configuration's hash: variant, preset, budget,
# hyperparameters and protocol, as loading.recipe_hash reads older records) and seed.


def pair_key(record: dict) -> tuple:
    return (recipe_hash(record), record["seed"])


def machine_of(record: dict) -> str:
    """'AMD EPYC (cpu-amd-epyc-avx2)': the model and the identity (env.device_slug, which the
    loader derives from the capability a record names), so that two machines of one model
    name but another CPU capability are two machines."""
    env = record["env"]
    return f"{env['device_name']} ({env['device_slug']})" if env.get("device_name") else env["device_slug"]


def ok_by_key(results_dir: Path, warn=None) -> tuple[dict, str]:
    records, warnings = load_records(results_dir)
    for line in warnings:
        if warn:
            warn(line)
    ok = [r for r in records if r["status"] == "ok" and dig(r, "metrics", "fid_mnist") is not None]
    machines = sorted({machine_of(r) for r in ok})
    if len(machines) != 1:
        raise BenchError(f"{results_dir} holds runs from {len(machines)} machines ({', '.join(machines) or 'none'}); "
                         "pass a folder with one machine's runs")
    return {pair_key(r): r for r in ok}, machines[0]


def seed_std(values: list[float]) -> float | None:
    """The report's seed statistics; None rather than NaN with one seed (JSON has no NaN)."""
    std = seed_stats(values)["std"]
    return None if std != std else std


def recipes_of(runs: dict) -> str:
    named = sorted({(r["variant"], key[0]) for key, r in runs.items()})
    return ", ".join(f"{variant} {digest[:8]}" for variant, digest in named) or "none"


def compare_machines(dir_a: Path, dir_b: Path, warn=None) -> tuple[list[dict], str, str]:
    """One row per recipe with seed-matched runs on both machines (the variant's name, and its
    configuration hash where the variant has several); `warn` gets a line per record skipped."""
    runs_a, machine_a = ok_by_key(Path(dir_a), warn)
    runs_b, machine_b = ok_by_key(Path(dir_b), warn)
    shared = sorted(set(runs_a) & set(runs_b), key=lambda k: (runs_a[k]["variant"], k))
    if not shared:
        raise BenchError("no seed-matched runs: the two folders share no (configuration, seed); recipes of A: "
                         f"{recipes_of(runs_a)}; of B: {recipes_of(runs_b)}")
    recipes = list(dict.fromkeys(key[0] for key in shared))
    names = [runs_a[next(k for k in shared if k[0] == digest)]["variant"] for digest in recipes]
    rows = []
    for digest, variant in zip(recipes, names):
        keys = [key for key in shared if key[0] == digest]
        fid_a = [runs_a[k]["metrics"]["fid_mnist"] for k in keys]
        fid_b = [runs_b[k]["metrics"]["fid_mnist"] for k in keys]
        rows.append({
            "variant": variant if names.count(variant) == 1 else f"{variant} (config {digest[:8]})",
            "config_hash": digest, "seeds": " ".join(str(k[1]) for k in keys),
            "fid_mnist_a": statistics.fmean(fid_a), "fid_mnist_b": statistics.fmean(fid_b),
            "same_seed_abs_diff": statistics.fmean(abs(a - b) for a, b in zip(fid_a, fid_b)),
            "seed_std_a": seed_std(fid_a), "seed_std_b": seed_std(fid_b),
            "identical_metrics": sum(runs_a[k]["metrics"] == runs_b[k]["metrics"] for k in keys),
        })
    return rows, machine_a, machine_b
