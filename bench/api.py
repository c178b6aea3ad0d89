"""gan-bench from Python: records as a pandas DataFrame, the report's statistics over seeds,
and runs trained through the same code as `gan-bench run` (docs/api.md).

    import bench
    runs = bench.load_runs("results/cpu-amd-epyc-avx2/runs")
    bench.summarize(runs)[["variant", "fid_mnist_mean", "fid_mnist_ci_lo", "fid_mnist_ci_hi"]]

A top-level facade, like the command line: it sits above every layer it calls, and no
module of gan-bench imports it."""

from __future__ import annotations

import difflib
import warnings
from pathlib import Path

import pandas as pd

from bench.errors import BenchError
from bench.options import base_type, declared, type_problem
from bench.report.figures import BEYOND, BUDGET, CONVERGENCE, QUALITY, SYSTEMS, best_figure
from bench.report.loading import SOURCE_KEY, load_records
from bench.report.summary import figure_stats, status_counts
from bench.train.settings import RunSettings

# The record's sections that become columns, flattened (`metrics.fid_mnist`); the curve and
# the loss history stay in the record (its `path`).
SECTIONS = ("config", "budget", "metrics", "systems", "convergence", "best", "study", "time_to_fid", "env",
            "feature_nets")
TOP = ("run_id", "variant", "seed", "status", "config_hash", "diverged_at_step", "error", "started_at", "finished_at")


def load_runs(path) -> pd.DataFrame:
    """One row per run record under `path` (searched recursively, as `gan-bench report` does),
    its sections flattened into dotted columns (`config.preset`, `metrics.fid_mnist`,
    `systems.train_s`, `convergence.status`, `study.config_index`) and `path`, the record's
    file. A file that is no usable record is skipped with a warning naming it, the report's."""
    records, skipped = load_records(Path(path))
    for line in skipped:
        warnings.warn(line, stacklevel=2)
    rows = []
    for record in records:
        row = {key: record.get(key) for key in TOP}
        row["path"] = record[SOURCE_KEY]
        for section in SECTIONS:
            if isinstance(record.get(section), dict):
                row[section] = record[section]
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=[*TOP, "path"])
    return pd.json_normalize(rows)


# The report's figures by column, with the values each can take (seed_stats clips an interval to them).
FIGURES = {f"{section}.{figure.key}": figure for section, figures in (
    ("metrics", QUALITY + BEYOND + tuple(map(best_figure, QUALITY + BEYOND))), ("systems", SYSTEMS), ("budget", BUDGET),
    ("convergence", CONVERGENCE)) for figure in figures}


def summary_name(column: str) -> str:
    """A figure's name in the summary, as in the report's CSV: `fid_mnist`, `train_s`, `stop_epochs`."""
    section, _, key = column.partition(".")
    if section in ("metrics", "systems", "budget"):
        return key
    return f"stop_{key}" if section == "convergence" else column


def figure_column(df: pd.DataFrame, name: str) -> str:
    if name in df.columns:
        return name
    for section in ("metrics", "systems", "budget"):
        if f"{section}.{name}" in df.columns:
            return f"{section}.{name}"
    close = difflib.get_close_matches(name, list(df.columns), n=3)
    raise KeyError(f"no column {name!r}" + (f"; did you mean {', '.join(close)}?" if close else ""))


def summarize(df: pd.DataFrame, by="variant", figures=None) -> pd.DataFrame:
    """The report's statistics over seeds, computed by its own `seed_stats`: per group of `by`
    (a column or a list of them), the runs per status and, over the ok runs, each figure's
    `_n`, `_mean`, `_std`, `_ci_lo` and `_ci_hi` (95 % t-interval, clipped to the values the
    figure can take). `figures`: columns (`metrics.fid_mnist`, `systems.train_s`) or metric
    names (`fid_mnist`); default: the report's quality figures the runs have."""
    by = [by] if isinstance(by, str) else list(by)
    missing = [column for column in by if column not in df.columns]
    if missing:
        raise KeyError(f"no column {', '.join(map(repr, missing))} to group by")
    ok = df[df["status"] == "ok"]
    if figures is None:
        columns = [c for c in FIGURES if c.startswith("metrics.") and c in df.columns
                   and pd.to_numeric(ok[c], errors="coerce").notna().any()]
    else:
        columns = [figure_column(df, name) for name in ([figures] if isinstance(figures, str) else figures)]
    figures = [(summary_name(column), column, FIGURES.get(column)) for column in columns]
    rows = []
    for key, group in df.groupby(by, sort=True, dropna=False):
        # to_dict: Python numbers, which seed_stats counts (a numpy integer is no `int` to it).
        runs = group.to_dict("records")
        ok = [run for run in runs if run["status"] == "ok"]
        rows.append({**dict(zip(by, key)), **status_counts(runs),
                     **figure_stats(ok, figures, lambda run, column: run.get(column))})
    return pd.DataFrame(rows)


# `gan-bench run`'s options by field name; the output format is the command line's own.
RUN_OPTIONS = {name: (spec, kind) for name, spec, kind, _ in declared(RunSettings) if name != "fmt"}
# Options a list may be given for, as in a study file: the command line's comma lists.
LISTS = ("variants", "exclude", "arch", "loss")


def run(**options) -> list[dict]:
    """Train as `gan-bench run` does, with its options as keywords (`variants`, `preset`,
    `seeds`, `out`, `steps`, `device`, ...; bench/train/settings.py), and return the records
    written (under `out`/runs/<device-slug>/). With `dry_run=True` nothing is trained: the
    rows of `gan-bench run --dry-run --format json`, one per run, come back instead."""
    settings = settings_of(options)
    if settings.dry_run:
        from bench.estimate.dry_run import run_dry_run

        return run_dry_run(settings).rows
    return train(settings)


def settings_of(options: dict) -> RunSettings:
    """RunSettings from keywords: an unknown name is a TypeError (with the closest option), a
    value of the wrong type a BenchError in the words a study file gets; the limits are
    checked as the command line's are, when the RunSettings is made."""
    unknown = [name for name in options if name not in RUN_OPTIONS]
    if unknown:
        hints = [f"{name!r}" + (f" (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(
            name, list(RUN_OPTIONS), n=1)) else "") for name in unknown]
        raise TypeError(f"bench.run() got unknown option {', '.join(hints)}; its options: {', '.join(RUN_OPTIONS)}")
    values = {}
    for name, value in options.items():
        spec, kind = RUN_OPTIONS[name]
        value = str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value
        reason = None if value is None else type_problem(spec, kind, value)
        if reason is not None:
            raise BenchError(reason.replace(spec.key, name, 1))
        if name in LISTS and isinstance(value, list):
            value = ",".join(value)
        elif name == "plugin" and isinstance(value, str):
            value = [value]
        elif base_type(kind) is Path and value is not None:
            value = Path(value)
        values[name] = value
    return RunSettings(**values)


def train(settings: RunSettings) -> list[dict]:
    import torch

    from bench.plugins import load_plugins
    from bench.train.plan import plan_from
    from bench.train.runner import run_benchmark

    load_plugins(settings.plugin)
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    plan = plan_from(settings)
    records = run_benchmark(plan)
    for path in plan.skipped:
        warnings.warn(f"skipped (finished, use force=True to recompute): {path}", stacklevel=3)
    return records
