"""`gan-bench report`: the run records of one device and preset, summarised per variant.

One row per variant: how many runs ended ok, diverged or failed, and for each figure
the mean, standard deviation and 95% t-interval over training seeds (docs/figures.md),
written as Markdown, CSV, LaTeX and HTML beside the plots. Every file
states the command that regenerates it.
"""

from __future__ import annotations

import html
import json
import math
import shlex
import statistics
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Callable

import pandas as pd
from scipy import stats

from bench import plots
from bench.datasets import get_dataset
from bench.errors import BenchError
from bench.records import READABLE_SCHEMAS

STATUSES = ("ok", "diverged", "failed")
FORMATS = ("md", "csv", "tex", "html")
SOURCE_KEY = "_source"  # added by load_records: the JSON file a record came from
CI_LEVEL = 0.95


# ---------------------------------------------------------------------------------------------
# Loading and validating records

def is_number(value) -> bool:
    # bool is an int to Python, but `true` is never a figure.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_str(value) -> bool:
    return isinstance(value, str)


def dig(record, *keys):
    """record[k1][k2]..., or None where a level is missing or not a dict."""
    for key in keys:
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return record


# (path, check, what it must be): the keys the report cannot do without.
REQUIRED = (
    (("run_id",), is_str, "a string"),
    (("variant",), is_str, "a string"),
    (("seed",), is_int, "an integer"),
    (("status",), lambda v: v in STATUSES, " or ".join(STATUSES)),
    (("config",), lambda v: isinstance(v, dict), "an object"),
    (("config", "protocol_version"), is_int, "an integer"),
    (("config", "preset"), is_str, "a string"),
    (("env",), lambda v: isinstance(v, dict), "an object"),
    (("env", "device_slug"), is_str, "a string"),
)

# Sections other agents' runs may leave out (failed runs, older records), but which must
# have the right shape when present so that the statistics below never meet a surprise.
OPTIONAL_SECTIONS = ("metrics", "systems", "time_to_fid", "feature_nets", "paths", "budget")
OPTIONAL_FIELDS = (
    (("diverged_at_step",), is_int, "an integer"),
    (("error",), is_str, "a string"),
    (("feature_nets", "mnist_classifier_sha256"), is_str, "a string"),
    (("feature_nets", "inception_sha256"), is_str, "a string"),
    (("paths", "samples"), is_str, "a string"),
    (("time_to_fid", "threshold"), is_number, "a number"),
    (("time_to_fid", "train_s"), is_number, "a number"),
    (("time_to_fid", "step"), is_number, "a number"),
)
CURVE_FIELDS = ("step", "images_seen", "train_s", "fid_mnist", "fid_stacked")


def record_problem(record) -> str | None:
    """Why a parsed JSON value is not a usable run record, or None if it is."""
    if not isinstance(record, dict):
        return f"not a JSON object but {type(record).__name__}"
    if "schema_version" not in record:
        return "missing key 'schema_version'"
    if not is_int(record["schema_version"]) or record["schema_version"] not in READABLE_SCHEMAS:
        return (f"schema_version {record['schema_version']!r}, this gan-bench reads "
                f"{' and '.join(map(str, READABLE_SCHEMAS))}")
    for keys, check, what in REQUIRED:
        value = dig(record, *keys)
        if value is None:
            return f"missing key '{'.'.join(keys)}'"
        if not check(value):
            return f"'{'.'.join(keys)}' must be {what}, got {value!r:.60}"
    for section in OPTIONAL_SECTIONS:
        if record.get(section) is not None and not isinstance(record[section], dict):
            return f"'{section}' must be an object"
    for keys, check, what in OPTIONAL_FIELDS:
        value = dig(record, *keys)
        if value is not None and not check(value):
            return f"'{'.'.join(keys)}' must be {what}, got {value!r:.60}"
    for section, names in (("metrics", metric_keys(QUALITY)), ("systems", metric_keys(SYSTEMS)),
                           ("budget", metric_keys(BUDGET))):
        for name in names:
            value = dig(record, section, name)
            if value is not None and not is_number(value):
                return f"'{section}.{name}' must be a number, got {value!r:.60}"
    curve = record.get("curve")
    if curve is not None:
        if not isinstance(curve, list) or not all(isinstance(p, dict) for p in curve):
            return "'curve' must be a list of objects"
        for point in curve:
            for name in CURVE_FIELDS:
                if point.get(name) is not None and not is_number(point[name]):
                    return f"curve point '{name}' must be a number, got {point[name]!r:.60}"
    return None


def record_files(results_dir: Path) -> list[Path]:
    """runs/**/*.json under a results directory, or the JSON files under any narrower one."""
    root = results_dir / "runs" if (results_dir / "runs").is_dir() else results_dir
    return sorted(p for p in root.rglob("*.json") if p.is_file() and not p.name.startswith("."))


def load_records(results_dir) -> tuple[list[dict], list[str]]:
    """Every valid record under `results_dir`, and one warning per file skipped.

    Each record gains SOURCE_KEY, the path of the file it came from, so that files
    written beside it (the sample grid) can be found.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise BenchError(f"no such results directory: {results_dir}")
    records, warnings, seen = [], [], {}
    for path in record_files(results_dir):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError, RecursionError) as error:  # ValueError covers bad JSON and bad UTF-8
            warnings.append(f"skipped {path}: unreadable JSON ({type(error).__name__}: {str(error)[:80]})")
            continue
        problem = record_problem(record)
        if problem is None and record["run_id"] in seen:
            problem = f"same run_id as {seen[record['run_id']]}"
        if problem:
            warnings.append(f"skipped {path}: {problem}")
            continue
        seen[record["run_id"]] = path
        records.append({**upgrade(record), SOURCE_KEY: str(path)})
    return records, warnings


def upgrade(record: dict) -> dict:
    """An older record as this report reads it. Schema 1's peak_mem_bytes was read after a
    window that held the fid_mnist curve's evaluations, so it is no training figure: left
    out rather than shown as one."""
    if record["schema_version"] == 1 and isinstance(record.get("systems"), dict):
        systems = {k: v for k, v in record["systems"].items() if k != "peak_mem_bytes"}
        return {**record, "systems": systems}
    return record


# ---------------------------------------------------------------------------------------------
# What may be compared with what

# Figures are only comparable on one device, one preset (budget and sample counts), one
# protocol and one pair of feature networks (FID on another classifier is another number).
COMPARABLE = {
    "dataset": lambda r: dataset_of(r),
    "device slug": lambda r: r["env"]["device_slug"],
    "preset": lambda r: r["config"]["preset"],
    "budget": lambda r: r["config"].get("budget"),  # epochs, generator steps or training seconds
    "protocol version": lambda r: r["config"]["protocol_version"],
    "MNIST classifier sha256": lambda r: dig(r, "feature_nets", "mnist_classifier_sha256"),
    "Inception sha256": lambda r: dig(r, "feature_nets", "inception_sha256"),
}


def dataset_of(record: dict) -> str:
    """The dataset a run trained on; records from before Stacked MNIST trained on MNIST."""
    return record["config"].get("dataset", "mnist")


def fid_key_of(records: list[dict]) -> str:
    """The FID the pairwise tests and the convergence plot use: the (one) dataset's."""
    return get_dataset(dataset_of(records[0])).fid_key if records else "fid_mnist"


def check_comparable(records: list[dict]) -> None:
    """Refuse to put records in one table that measure different things.

    A missing checksum (a failed run, an older record) conflicts with nothing.
    """
    for label, value_of in COMPARABLE.items():
        counts: dict = {}
        for record in records:
            value = value_of(record)
            if value is not None:
                counts[value] = counts.get(value, 0) + 1
        if len(counts) > 1:
            listed = ", ".join(f"{value} ({n} run{'s' if n > 1 else ''})" for value, n in sorted(counts.items(), key=str))
            hint = "e.g. RESULTS/runs/<device-slug>" if label == "device slug" else f"that holds one {label} only"
            raise BenchError(f"records mix {label}s: {listed}; report one set at a time by passing a narrower "
                             f"directory ({hint})")


def consistency_warnings(records: list[dict]) -> list[str]:
    """Things that do not make a table wrong but make a statistic mean less."""
    warnings = []
    for variant, runs in group_by_variant(records).items():
        hashes = {r.get("config_hash") for r in runs} - {None}
        if len(hashes) > 1:
            warnings.append(f"variant {variant} mixes {len(hashes)} configurations ({', '.join(sorted(hashes))}); "
                            "its statistics pool them")
        seeds = [r["seed"] for r in runs if r["status"] == "ok"]
        repeated = sorted({s for s in seeds if seeds.count(s) > 1})
        if repeated:
            warnings.append(f"variant {variant} has several ok runs of seed(s) {repeated}; each counts as a seed")
    return warnings


# ---------------------------------------------------------------------------------------------
# Statistics

@dataclass(frozen=True)
class Figure:
    key: str  # the key in the record's `metrics` or `systems`
    label: str
    fmt: str = "{:.3f}"
    scale: float = 1.0  # for display only (bytes to MiB); the CSV keeps the record's unit


# Each is a column when some ok run has it: a table of MNIST runs shows the MNIST figures, one
# of Stacked MNIST runs the Stacked MNIST figures.
QUALITY = (
    Figure("fid_mnist", "FID (MNIST) ↓", "{:.2f}"),
    Figure("kid_mnist", "KID (MNIST) ↓", "{:.4f}"),
    Figure("precision_mnist", "precision ↑"),
    Figure("recall_mnist", "recall ↑"),
    Figure("is_mnist", "IS (MNIST) ↑", "{:.2f}"),
    Figure("modes_covered", "modes ↑", "{:.1f}"),
    Figure("class_kl", "class KL ↓"),
    Figure("confidence", "confidence ↑"),
    Figure("fid_stacked", "FID (stacked) ↓", "{:.2f}"),
    Figure("stacked_modes", "modes of 1,000 ↑", "{:.1f}"),
    Figure("stacked_kl", "mode KL ↓"),
    Figure("digit_confidence", "digit confidence ↑"),
    Figure("fid_inception", "FID (Inception) ↓", "{:.2f}"),
)
SYSTEMS = (
    Figure("train_images_per_s", "images/s ↑", "{:.0f}"),
    Figure("step_ms_p50", "step p50 (ms) ↓", "{:.2f}"),
    Figure("peak_mem_bytes", "training peak memory (MiB) ↓", "{:.1f}", scale=1 / 2**20),
    Figure("eval_peak_mem_bytes", "evaluation peak memory (MiB)", "{:.1f}", scale=1 / 2**20),
    Figure("train_s", "train time (s)", "{:.1f}"),
)
# What each run's budget came to in every unit: under an epoch budget n_critic 5 means a
# fifth of the G updates, which a table must show next to the figures.
BUDGET = (
    Figure("g_steps", "G updates", "{:.0f}"),
    Figure("d_steps", "D updates", "{:.0f}"),
)


def metric_keys(figures) -> list[str]:
    return [f.key for f in figures]


def seed_stats(values: list[float]) -> dict:
    """Mean, standard deviation and 95% t-interval over training seeds.

    Non-finite values are left out (n says how many counted). With one seed there is no
    spread to estimate: std and interval are NaN (empty in the tables), never 0.
    """
    values = [float(v) for v in values if is_number(v) and math.isfinite(v)]
    n = len(values)
    out = {"n": n, "mean": math.nan, "std": math.nan, "ci_lo": math.nan, "ci_hi": math.nan}
    if n == 0:
        return out
    # statistics' exact summation: three equal values give std 0.0, not 1e-16.
    out["mean"] = statistics.fmean(values)
    if n >= 2:
        out["std"] = statistics.stdev(values)
        half = stats.t.ppf((1 + CI_LEVEL) / 2, df=n - 1) * out["std"] / math.sqrt(n)
        out["ci_lo"], out["ci_hi"] = out["mean"] - half, out["mean"] + half
    return out


def variant_label(record: dict) -> str:
    """The variant's name; a plug-in variant's also names its file and the file's sha256, so
    its rows never pass for a built-in variant's (nor for another version of the plug-in)."""
    source = record.get("config", {}).get("source", "builtin")
    if not isinstance(source, dict):
        return record["variant"]
    where = Path(source.get("file") or source.get("module") or "?").name
    return f"{record['variant']} (plug-in {where} {(source.get('sha256') or '')[:8]})".replace(" )", ")")


def group_by_variant(records: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for record in sorted(records, key=lambda r: (variant_label(r), r["seed"], r["run_id"])):
        groups.setdefault(variant_label(record), []).append(record)
    return groups


def present_figures(records: list[dict]) -> tuple[Figure, ...]:
    ok = [r for r in records if r["status"] == "ok"]
    return tuple(f for f in QUALITY if any(is_number(dig(r, "metrics", f.key)) for r in ok))


def summarise(records: list[dict]) -> pd.DataFrame:
    """One row per variant. Only ok runs enter the statistics; the others are counted."""
    quality = present_figures(records)
    rows = []
    for variant, runs in group_by_variant(records).items():
        ok = [r for r in runs if r["status"] == "ok"]
        row = {"variant": variant, **{f"n_{s}": sum(r["status"] == s for r in runs) for s in STATUSES},
               "seeds_ok": " ".join(str(r["seed"]) for r in ok)}
        for section, figures in (("metrics", quality), ("systems", SYSTEMS), ("budget", BUDGET)):
            for figure in figures:
                for stat, value in seed_stats([dig(r, section, figure.key) for r in ok]).items():
                    row[f"{figure.key}_{stat}"] = value
        row.update(time_to_fid_columns(ok))
        rows.append(row)
    return pd.DataFrame(rows)


def time_to_fid_columns(ok: list[dict]) -> dict:
    """Seconds to reach the FID threshold, over the seeds that reached it (reached says how many)."""
    reached = [dig(r, "time_to_fid", "train_s") for r in ok]
    reached = [s for s in reached if is_number(s)]
    thresholds = [dig(r, "time_to_fid", "threshold") for r in ok]
    threshold = next((t for t in thresholds if is_number(t)), math.nan)
    timing = seed_stats(reached)
    return {"time_to_fid_threshold": threshold, "time_to_fid_reached": len(reached),
            "time_to_fid_s_mean": timing["mean"], "time_to_fid_s_std": timing["std"]}


def pairwise_fid(records: list[dict]) -> pd.DataFrame:
    """Two-sided Mann-Whitney U on the final FID (the dataset's: fid_mnist, fid_stacked) for
    each pair of variants with >= 2 ok seeds each.

    With few seeds the test cannot reach small p-values at all (3 vs 3: p >= 0.1), so the
    smallest attainable p is shown beside each p. Not corrected for multiple comparisons.
    """
    fids, fid_key = {}, fid_key_of(records)
    for variant, runs in group_by_variant(records).items():
        values = [dig(r, "metrics", fid_key) for r in runs if r["status"] == "ok"]
        values = [float(v) for v in values if is_number(v) and math.isfinite(v)]
        if len(values) >= 2:
            fids[variant] = values
    rows = []
    for a, b in combinations(sorted(fids), 2):
        x, y = fids[a], fids[b]
        result = stats.mannwhitneyu(x, y, alternative="two-sided")
        rows.append({"variant_a": a, "variant_b": b, "n_a": len(x), "n_b": len(y),
                     "median_fid_a": float(pd.Series(x).median()), "median_fid_b": float(pd.Series(y).median()),
                     "u_statistic": float(result.statistic), "p_value": float(result.pvalue),
                     "min_attainable_p": min(1.0, 2 / math.comb(len(x) + len(y), len(x)))})
    return pd.DataFrame(rows, columns=["variant_a", "variant_b", "n_a", "n_b", "median_fid_a", "median_fid_b",
                                       "u_statistic", "p_value", "min_attainable_p"])


def problem_runs(records: list[dict]) -> pd.DataFrame:
    """The diverged and failed runs, one row each: marked, never dropped silently."""
    rows = []
    for r in sorted(records, key=lambda r: (r["variant"], r["seed"], r["run_id"])):
        if r["status"] != "ok":
            error = (r.get("error") or "").strip().splitlines()
            rows.append({"variant": r["variant"], "seed": r["seed"], "status": r["status"],
                         "diverged_at_step": r.get("diverged_at_step"),
                         "error": error[0][:120] if error else "", "run_id": r["run_id"]})
    return pd.DataFrame(rows, columns=["variant", "seed", "status", "diverged_at_step", "error", "run_id"])


# ---------------------------------------------------------------------------------------------
# Display tables: the same numbers, formatted for people

def format_number(value, fmt: str, scale: float = 1.0) -> str:
    return "" if not is_number(value) or not math.isfinite(value) else fmt.format(value * scale)


def format_figure(row, figure: Figure) -> str:
    """'mean ± std [ci_lo, ci_hi]'; just the mean with one seed; empty with none."""
    k, fmt, scale = figure.key, figure.fmt, figure.scale
    mean = format_number(row[f"{k}_mean"], fmt, scale)
    if not mean or row[f"{k}_n"] < 2:
        return mean
    std = format_number(row[f"{k}_std"], fmt, scale)
    lo, hi = format_number(row[f"{k}_ci_lo"], fmt, scale), format_number(row[f"{k}_ci_hi"], fmt, scale)
    return f"{mean} ± {std} [{lo}, {hi}]"


def runs_cell(row) -> str:
    return ", ".join(f"{row[f'n_{s}']} {s}" for s in STATUSES if row[f"n_{s}"] or s == "ok")


def quality_table(summary: pd.DataFrame, records: list[dict]) -> pd.DataFrame:
    figures = present_figures(records)
    table = pd.DataFrame({"variant": summary["variant"], "runs": summary.apply(runs_cell, axis=1)})
    for figure in figures:
        table[figure.label] = summary.apply(format_figure, axis=1, figure=figure)
    return drop_empty_columns(table)


def systems_table(summary: pd.DataFrame) -> pd.DataFrame:
    table = pd.DataFrame({"variant": summary["variant"]})
    for figure in BUDGET + SYSTEMS:
        table[figure.label] = summary.apply(format_figure, axis=1, figure=figure)
    threshold = summary["time_to_fid_threshold"].dropna()
    label = f"time to FID ≤ {threshold.iloc[0]:g} (s)" if len(threshold) else "time to FID (s)"
    table[label] = summary.apply(time_to_fid_cell, axis=1)
    return drop_empty_columns(table)


def time_to_fid_cell(row) -> str:
    """'mean ± std (k/n seeds)': averaged over the k seeds that reached the threshold, so no interval."""
    if not row["n_ok"] or not math.isfinite(row["time_to_fid_threshold"]):
        return ""  # no threshold recorded: the runs predate time_to_fid or measured none
    mean, std = format_number(row["time_to_fid_s_mean"], "{:.1f}"), format_number(row["time_to_fid_s_std"], "{:.1f}")
    spread = f"{mean} ± {std}" if std else mean
    return f"{spread} ({row['time_to_fid_reached']}/{row['n_ok']} seeds)".strip()


def pairs_table(pairs: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "A": pairs["variant_a"], "B": pairs["variant_b"],
        "n (A/B)": [f"{a}/{b}" for a, b in zip(pairs["n_a"], pairs["n_b"])],
        "median FID A": [format_number(v, "{:.2f}") for v in pairs["median_fid_a"]],
        "median FID B": [format_number(v, "{:.2f}") for v in pairs["median_fid_b"]],
        "U": [format_number(v, "{:g}") for v in pairs["u_statistic"]],
        "p (two-sided)": [format_number(v, "{:.3g}") for v in pairs["p_value"]],
        "smallest possible p": [format_number(v, "{:.3g}") for v in pairs["min_attainable_p"]],
    })


def problems_table(problems: pd.DataFrame) -> pd.DataFrame:
    table = problems.copy()
    table["diverged_at_step"] = [str(int(s)) if is_number(s) and math.isfinite(s) else "" for s in table["diverged_at_step"]]
    table["status"] = table["status"].str.upper()  # stands out in plain text too
    return table.astype(str)


def drop_empty_columns(table: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in table.columns if c in ("variant", "runs") or (table[c].astype(str) != "").any()]
    return table[keep]


# ---------------------------------------------------------------------------------------------
# The report and its writers

@dataclass
class Report:
    results_dir: Path
    out_dir: Path
    command: str
    records: list[dict]
    warnings: list[str]
    summary: pd.DataFrame
    pairs: pd.DataFrame
    problems: pd.DataFrame
    plots: list[Path] = field(default_factory=list)

    @property
    def first(self) -> dict:
        return self.records[0]

    def provenance(self) -> list[tuple[str, str]]:
        """What the figures were measured on, as (label, value) lines."""
        def distinct(*keys, missing="unknown"):
            return ", ".join(sorted({str(dig(r, *keys)) for r in self.records if dig(r, *keys) is not None})) or missing
        commits = sorted({f"{dig(r, 'env', 'git', 'commit') or 'unknown'}"[:10] + (" (dirty)" if dig(r, "env", "git", "dirty") else "")
                          for r in self.records})
        counts = ", ".join(f"{sum(r['status'] == s for r in self.records)} {s}" for s in STATUSES)
        return [
            ("dataset", ", ".join(sorted({dataset_of(r) for r in self.records}))),
            ("device", f"{distinct('env', 'device_name')} ({distinct('env', 'device_slug')})"),
            ("preset", distinct("config", "preset")),
            ("protocol version", distinct("config", "protocol_version")),
            ("MNIST classifier sha256", distinct("feature_nets", "mnist_classifier_sha256")),
            ("torch", distinct("env", "torch")),
            ("CUDA", distinct("env", "cuda", missing="none")),
            ("git commit", ", ".join(commits)),
            ("runs", f"{len(self.records)} ({counts})"),
        ]

    def tables(self) -> list[tuple[str, str, pd.DataFrame]]:
        """(title, note, table) in the order every human-readable format shows them."""
        tables = [
            ("Quality", "Mean ± standard deviation [95% t-interval] over training seeds; ok runs only. "
                        "↓ lower is better, ↑ higher is better.", quality_table(self.summary, self.records)),
            ("Systems", "Mean ± standard deviation [95% t-interval] over ok runs. Time to FID: mean over the "
                        "seeds that reached the threshold (how many in brackets).", systems_table(self.summary)),
        ]
        if len(self.pairs):
            tables.append((f"Pairwise comparison of final {fid_key_of(self.records)}",
                           "Two-sided Mann-Whitney U over training seeds (n per side shown), not corrected for "
                           "multiple comparisons. With few seeds the test cannot reach small p at all: the "
                           "smallest attainable p is shown.", pairs_table(self.pairs)))
        if len(self.problems):
            tables.append(("Diverged and failed runs", "Counted in the run totals above, left out of the statistics.",
                           problems_table(self.problems)))
        return tables


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub Markdown table. (pandas' to_markdown needs `tabulate`, which gan-bench does not depend on.)"""
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(c) for c in table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                 "±": r"$\pm$", "↓": r"$\downarrow$", "↑": r"$\uparrow$", "≤": r"$\leq$"}


def latex_escape(text) -> str:
    return "".join(LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def latex_table(table: pd.DataFrame) -> str:
    """A booktabs tabular. Written by hand: pandas' to_latex neither escapes by default nor works without jinja2."""
    lines = [r"\begin{tabular}{l" + "r" * (len(table.columns) - 1) + "}", r"\toprule",
             " & ".join(latex_escape(c) for c in table.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(latex_escape(v) for v in row) + r" \\" for row in table.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines)


def write_markdown(report: Report, path: Path) -> None:
    parts = [f"# gan-bench report: {report.first['env']['device_slug']}, preset {report.first['config']['preset']}",
             "", f"Regenerate with: `{report.command}`", ""]
    parts += [f"- {label}: {value}" for label, value in report.provenance()]
    for title, note, table in report.tables():
        parts += ["", f"## {title}", "", note, "", markdown_table(table)]
    if report.plots:
        parts += ["", "## Plots", ""]
        parts += [f"![{p.stem}]({p.name})" for p in report.plots]
    if report.warnings:
        parts += ["", "## Skipped records and warnings", ""] + [f"- {w}" for w in report.warnings]
    path.write_text("\n".join(parts) + "\n")


def write_csv(report: Report, path: Path) -> None:
    # One row per variant, every statistic as a number; read back with pd.read_csv(path, comment="#").
    with open(path, "w", newline="") as f:
        f.write(f"# Regenerate with: {report.command}\n")
        report.summary.to_csv(f, index=False)


def write_latex(report: Report, path: Path) -> None:
    parts = [f"% Regenerate with: {report.command}", "% Needs \\usepackage{booktabs}."]
    for title, note, table in report.tables():
        parts += ["", f"% {title}: {note}", latex_table(table)]
    path.write_text("\n".join(parts) + "\n")


def write_html(report: Report, path: Path) -> None:
    e = html.escape
    title = f"gan-bench report: {report.first['env']['device_slug']}, preset {report.first['config']['preset']}"
    parts = ["<!DOCTYPE html>", f"<!-- Regenerate with: {e(report.command)} -->",
             f'<html><head><meta charset="utf-8"><title>{e(title)}</title>',
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:.2em .5em}</style></head><body>",
             f"<h1>{e(title)}</h1>", f"<p>Regenerate with: <code>{e(report.command)}</code></p>", "<ul>"]
    parts += [f"<li>{e(label)}: {e(str(value))}</li>" for label, value in report.provenance()] + ["</ul>"]
    for title_, note, table in report.tables():
        parts += [f"<h2>{e(title_)}</h2>", f"<p>{e(note)}</p>", table.to_html(index=False, escape=True, border=0)]
    if report.plots:
        parts += ["<h2>Plots</h2>"] + [f'<p><img src="{e(p.name)}" alt="{e(p.stem)}"></p>' for p in report.plots]
    if report.warnings:
        parts += ["<h2>Skipped records and warnings</h2>", "<ul>"]
        parts += [f"<li>{e(w)}</li>" for w in report.warnings] + ["</ul>"]
    parts += ["</body></html>"]
    path.write_text("\n".join(parts) + "\n")


WRITERS: dict[str, Callable[[Report, Path], None]] = {
    "md": write_markdown, "csv": write_csv, "tex": write_latex, "html": write_html,
}
assert tuple(WRITERS) == FORMATS

# Each plot is skipped (returns False) when there is nothing to draw.
PLOTS: dict[str, Callable[[Report, Path], bool]] = {
    "convergence.png": lambda rep, path: plots.convergence(ok_curves(rep.records), path, rep.command,
                                                           fid_key_of(rep.records)),
    "samples.png": lambda rep, path: plots.sample_grids(first_sample_grids(rep.records), path, rep.command),
    "systems.png": lambda rep, path: plots.systems_bars(rep.summary, path, rep.command),
}


def ok_curves(records: list[dict]) -> dict[str, list[list[dict]]]:
    return {variant: [r.get("curve") or [] for r in runs if r["status"] == "ok"]
            for variant, runs in group_by_variant(records).items()}


def first_sample_grids(records: list[dict]) -> dict[str, Path]:
    """Each variant's sample grid from its first ok run (lowest seed) whose PNG exists."""
    grids = {}
    for variant, runs in group_by_variant(records).items():
        for r in runs:
            name = dig(r, "paths", "samples")
            if r["status"] == "ok" and name and (png := Path(r[SOURCE_KEY]).parent / name).is_file():
                grids[variant] = png
                break
    return grids


def parse_formats(spec) -> tuple[str, ...]:
    """'md,csv' or ('md', 'csv') -> ('md', 'csv'); an unknown name is a BenchError."""
    names = [s.strip().lower() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    names = list(dict.fromkeys(n for n in names if n))
    unknown = [n for n in names if n not in WRITERS]
    if unknown or not names:
        raise BenchError(f"unknown format {', '.join(map(repr, unknown)) or '(none given)'}; "
                         f"choose from {', '.join(FORMATS)}")
    return tuple(names)


def default_out_dir(results_dir: Path, slug: str) -> Path:
    """results/<device-slug>/, also when given results/runs or results/runs/<slug>."""
    if results_dir.name == slug and results_dir.parent.name == "runs":
        return results_dir.parent.parent / slug
    if results_dir.name == "runs":
        return results_dir.parent / slug
    return results_dir / slug


def regenerate_command(results_dir: Path, out_dir: Path, formats: tuple[str, ...]) -> str:
    command = f"gan-bench report {shlex.quote(str(results_dir))} --out {shlex.quote(str(out_dir))}"
    return command if formats == FORMATS else f"{command} --format {','.join(formats)}"


def build_report(results_dir, out_dir=None, command=None, formats=FORMATS,
                 warn: Callable[[str], None] | None = None) -> Report:
    results_dir = Path(results_dir)
    records, warnings = load_records(results_dir)
    for line in warnings:
        if warn:
            warn(line)
    if not records:
        skipped = f" ({len(warnings)} file(s) skipped)" if warnings else ""
        raise BenchError(f"no records in {results_dir}{skipped}")
    check_comparable(records)
    for line in consistency_warnings(records):
        warnings.append(line)
        if warn:
            warn(line)
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(results_dir, records[0]["env"]["device_slug"])
    summary = summarise(records)
    return Report(results_dir=results_dir, out_dir=out_dir,
                  command=command or regenerate_command(results_dir, out_dir, tuple(formats)),
                  records=records, warnings=warnings, summary=summary,
                  pairs=pairwise_fid(records), problems=problem_runs(records))


def write_report(results_dir, formats=FORMATS, out_dir=None, command=None,
                 warn: Callable[[str], None] | None = None) -> list[Path]:
    """Write report.<format> for each format and the plots; return the paths written.

    `warn` gets one line per skipped record or doubtful grouping as they are found.
    """
    formats = parse_formats(formats)
    report = build_report(results_dir, out_dir, command, formats, warn)
    report.out_dir.mkdir(parents=True, exist_ok=True)
    for name, draw in PLOTS.items():
        path = report.out_dir / name
        if draw(report, path):
            report.plots.append(path)
        else:
            path.unlink(missing_ok=True)  # a stale plot from an earlier report would mislead
    written = []
    for fmt in formats:
        path = report.out_dir / f"report.{fmt}"
        WRITERS[fmt](report, path)
        written.append(path)
    return written + report.plots
