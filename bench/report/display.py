"""The report's tables for people: the same numbers as the CSV, formatted, and the
Report that holds them with their provenance."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
import pandas as pd

from bench.report.commands import command_line, dataset_flags
from bench.report.figures import (
    BEYOND, BUDGET, CLIPPED_MARK, CLIPPED_NOTE, CONVERGENCE, QUALITY, STATUSES, SYSTEMS, Figure,
)
from bench.report.loading import dig, is_number
from bench.report.study import Study
from bench.report.summary import (
    ALPHA, best_figures, claims_note, dataset_of, fid_key_of, format_number, is_real_data, present_figures,
)


def format_figure(row, figure: Figure, prefix: str = "") -> str:
    """'mean ± std [ci_lo, ci_hi]', a bound cut at the figure's range marked (`20.0*`); just the
    mean with one seed; empty with none."""
    k, fmt, scale = prefix + figure.key, figure.fmt, figure.scale
    mean = format_number(row[f"{k}_mean"], fmt, scale)
    if not mean or row[f"{k}_n"] < 2:
        return mean
    std = format_number(row[f"{k}_std"], fmt, scale)
    lo, hi = (format_number(row[f"{k}_ci_{end}"], fmt, scale) + (CLIPPED_MARK if was_clipped(row, f"{k}_ci_{end}") else "")
              for end in ("lo", "hi"))
    return f"{mean} ± {std} [{lo}, {hi}]"


BEYOND_NOTE = ("What FID misses, on the last generator (docs/figures.md, Beyond FID): the copy rate (share of "
               "samples nearer to a training digit than 99 % of unseen test digits are; 0.01 for unseen real "
               "data, 1 for copies), C_T (Meehan et al. 2020: below 0 copying, near 0 like unseen data, above 0 "
               "under-fitting), density and coverage (Naeem et al. 2020, k = 5: about 1 and 0.97 for real data) "
               "and FID∞ (Chong & Forsyth 2020: FID without its 1/N bias). The row of real data is 10,000 training "
               "digits: what a generator that returns its training set scores (copy rate 1, C_T far below 0). "
               "Mean ± standard deviation [95% t-interval] over training seeds.")
EXTERNAL_PREFIX = "external:"  # the variant name of a `gan-bench score` record


def was_clipped(row, bound: str) -> bool:
    """Whether seed_stats cut this interval bound at the figure's range (a summary from before
    the flag has none)."""
    flag = row.get(f"{bound}_clipped", False)
    return bool(pd.notna(flag) and flag)


def trained_rows(table: pd.DataFrame) -> pd.DataFrame:
    """A training table without the external scores' rows, which have nothing to put in it."""
    return table[~table["variant"].astype(str).str.startswith(EXTERNAL_PREFIX)].reset_index(drop=True)


def score_command(record: dict) -> str:
    """The `gan-bench score` command that made an external record (run beside its input)."""
    source, config = record.get("input") or {}, record["config"]
    args = [source.get("name", "INPUT")] if source.get("kind") != "plugin" else ["--plugin", source.get("name")]
    args += ["--samples", config.get("samples")]
    args += ["--range", ",".join(f"{v:g}" for v in config["range"])] if config.get("range") else []
    args += dataset_flags(config["dataset"])
    args += ["--seed", source["seed"]] if source.get("kind") in ("generator", "plugin") else []
    return command_line("score", *args, "--name", record["variant"][len(EXTERNAL_PREFIX):])


def external_lines(records: list[dict]) -> list[tuple[str, str]]:
    """Each external score beside the trained runs, with the command that made it."""
    return [(f"external score {r['variant']}", f"{r['input'].get('kind')} {r['input'].get('name')}, sha256 "
             f"{str(r['input'].get('sha256'))[:16]}...: `{score_command(r)}`")
            for r in records if r.get("kind") == "external" and isinstance(r.get("input"), dict)]


def runs_cell(row) -> str:
    return ", ".join(f"{row[f'n_{s}']} {s}" for s in STATUSES if row[f"n_{s}"] or s == "ok")


def quality_table(summary: pd.DataFrame, records: list[dict], group=None) -> pd.DataFrame:
    """The quality figures (`group`: BEYOND for the figures beyond FID) of each row."""
    group = QUALITY if group is None else group
    figures = [f for f in present_figures(records) if f in group]
    table = pd.DataFrame({"variant": summary["variant"], "runs": summary.apply(runs_cell, axis=1)})
    for figure in figures:
        table[figure.label] = summary.apply(format_figure, axis=1, figure=figure)
    return drop_empty_columns(table)


def best_table(summary: pd.DataFrame, records: list[dict]) -> pd.DataFrame:
    """The generator of each run's best curve point, scored again on the final samples."""
    table = pd.DataFrame({"variant": summary["variant"], "runs": summary.apply(runs_cell, axis=1)})
    for figure in best_figures(records):
        table[figure.label] = summary.apply(format_figure, axis=1, figure=figure)
    return drop_empty_columns(table)


def convergence_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Where runs under --until-converged stopped, and why."""
    table = pd.DataFrame({"variant": summary["variant"],
                          "converged": [f"{c}/{n}" for c, n in zip(summary["converged"], summary["n_ok"])]})
    for figure in CONVERGENCE:
        table[figure.label] = summary.apply(format_figure, axis=1, figure=figure, prefix="stop_")
    table["epochs at best point"] = [format_number(v, "{:.1f}") for v in summary["best_epochs_mean"]]
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
        "mean FID A": [format_number(v, "{:.2f}") for v in pairs["mean_fid_a"]],
        "mean FID B": [format_number(v, "{:.2f}") for v in pairs["mean_fid_b"]],
        "P(A better)": [format_number(v, "{:.2f}") for v in pairs["p_a_better"]],
        "test": pairs["test"],
        "p": [format_number(v, "{:.3g}") for v in pairs["p_value"]],
        "p (Holm)": [format_number(v, "{:.3g}") for v in pairs["p_holm"]],
        "smallest possible p": ["no floor" if v == 0 else format_number(v, "{:.3g}") for v in pairs["min_attainable_p"]],
        f"differ (Holm p < {ALPHA:g})": ["yes" if s else "no" for s in pairs["significant"]],
    }).astype(str)


PAIRS_NOTE = ("Two-sided tests of the final FID over training seeds (n per side shown): Welch's t-test, or from "
              "6 seeds a side the exact Mann-Whitney U (with ties, its exact permutation test) where its smallest "
              "possible p survives the correction. p (Holm): adjusted for all the pairs of this table (Holm-Bonferroni). "
              "P(A better): the chance that a seed of A ends with a lower FID than a seed of B, ties counting half "
              "(the Mann-Whitney effect size; 0.5: no tendency).")


def problems_table(problems: pd.DataFrame) -> pd.DataFrame:
    table = problems.copy()
    table["diverged_at_step"] = [str(int(s)) if is_number(s) and math.isfinite(s) else "" for s in table["diverged_at_step"]]
    table["status"] = table["status"].str.upper()  # stands out in plain text too
    return table.astype(str)


# The table each plot illustrates, in order of preference: a table's title, or the end of a
# study's rerun title ("Best configurations rerun: Quality"). The Markdown and HTML reports
# show a plot right after the first of its tables the report has.
PLOT_PLACES = {
    "convergence.png": ("Quality",),
    "samples.png": ("Quality",),
    "copies.png": ("Beyond FID",),
    "diagnostics.png": ("Convergence", "Quality"),
    "systems.png": ("Systems",),
    "study_fid_distribution.png": ("Best configuration per variant",),
    "study_expected_best.png": ("Expected best FID after k configurations",),
}


@dataclass
class Section:
    title: str
    note: str
    table: pd.DataFrame
    plots: list[Path] = field(default_factory=list)


def titled(title: str, place: str) -> bool:
    return title == place or title.endswith(f": {place}")


def drop_empty_columns(table: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in table.columns if c in ("variant", "runs") or (table[c].astype(str) != "").any()]
    return table[keep]


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
    study: Study | None = None

    @property
    def first(self) -> dict:
        """The first trained run (an external score has no preset to name the report by)."""
        return next((r for r in self.records if r.get("kind") != "external"), self.records[0])

    @property
    def trained(self) -> list[dict]:
        return [r for r in self.records if r.get("kind") != "external"] or self.records

    @property
    def compared(self) -> list[dict]:
        """The runs the seed statistics are over: a study's search configurations are no
        seeds of one another, so of a study only its best configurations rerun."""
        return self.study.rerun if self.study else self.records

    def provenance(self) -> list[tuple[str, str]]:
        """What the figures were measured on, as (label, value) lines."""
        def distinct(*keys, missing="unknown", records=None):
            records = self.records if records is None else records
            return ", ".join(sorted({str(dig(r, *keys)) for r in records if dig(r, *keys) is not None})) or missing

        # The real-data row is the dataset's, made once on some machine: it has its own line below.
        measured = [r for r in self.records if not is_real_data(r)]
        commits = sorted({f"{dig(r, 'env', 'git', 'commit') or 'unknown'}"[:10]
                          + (" (dirty)" if dig(r, "env", "git", "dirty") else "") for r in measured})
        counts = ", ".join(f"{sum(r['status'] == s for r in measured)} {s}" for s in STATUSES)
        return [
            ("dataset", ", ".join(sorted({dataset_of(r) for r in self.records}))),
            ("device", f"{distinct('env', 'device_name', records=measured)} "
                       f"({distinct('env', 'device_slug', records=measured)})"),
            ("preset", distinct("config", "preset", records=self.trained)),
            ("budget", distinct("config", "budget", records=self.trained)),
            ("protocol version", distinct("config", "protocol_version", records=self.trained)),
            ("MNIST classifier sha256", distinct("feature_nets", "mnist_classifier_sha256")),
            ("torch", distinct("env", "torch", records=measured)),
            ("CUDA", distinct("env", "cuda", missing="none", records=measured)),
            ("git commit", ", ".join(commits)),
            ("runs", f"{len(measured)} ({counts})"),
        ] + external_lines(self.records) + (self.study.provenance() if self.study else [])

    def tables(self) -> list[tuple[str, str, pd.DataFrame]]:
        """(title, note, table) in the order every human-readable format shows them."""
        if self.study:
            rerun = [(f"Best configurations rerun: {title}", note, table) for title, note, table in self.seed_tables()]
            return self.study.tables() + rerun
        return self.seed_tables()

    def sections(self) -> tuple[list[Section], list[Path]]:
        """The tables with the plots that illustrate them, and the plots no table of this
        report illustrates (shown after the tables)."""
        sections = [Section(title, note, table) for title, note, table in self.tables()]
        unplaced = []
        for plot in self.plots:
            places = PLOT_PLACES.get(plot.name, ())
            home = next((s for place in places for s in sections if titled(s.title, place)), None)
            if home is None:
                unplaced.append(plot)
            else:
                home.plots.append(plot)
        return sections, unplaced

    def seed_tables(self) -> list[tuple[str, str, pd.DataFrame]]:
        if not self.compared:
            return []
        tables = [
            ("Quality", "The last generator of each run. Mean ± standard deviation [95% t-interval] over training "
                        f"seeds; ok runs only. ↓ lower is better, ↑ higher is better. {CLIPPED_NOTE}",
             quality_table(self.summary, self.compared)),
        ]
        beyond = quality_table(self.summary, self.compared, BEYOND)
        # Real data alone is no comparison: records from before these figures have none.
        if any(f in BEYOND for f in present_figures([r for r in self.compared if not is_real_data(r)])):
            tables.append(("Beyond FID", BEYOND_NOTE, beyond))
        best = trained_rows(best_table(self.summary, self.compared))
        if len(best.columns) > 2:
            tables.append(("Quality at the best curve point",
                           "The generator of each run's lowest curve FID (picked on the curve's own samples), scored "
                           "again on the same fresh samples as the last one, so the pick's luck is not in the "
                           f"figure. Mean ± standard deviation [95% t-interval] over training seeds. {CLIPPED_NOTE}",
                           best))
        if self.summary.get("stop_epochs_n", pd.Series(dtype=float)).fillna(0).any():
            tables.append(("Convergence", "Runs under --until-converged: how many stopped because the curve "
                                          "stopped improving (the others reached the cap), and where they stopped. "
                                          f"Mean ± standard deviation [95% t-interval] over ok runs. {CLIPPED_NOTE}",
                           trained_rows(convergence_table(self.summary))))
        tables.append(("Systems", "Mean ± standard deviation [95% t-interval] over ok runs. Time to FID: mean over the "
                                  f"seeds that reached the threshold (how many in brackets). {CLIPPED_NOTE}",
                       trained_rows(systems_table(self.summary))))
        claims = claims_note(self.compared, self.pairs)
        if len(self.pairs) or claims:
            tables.append((f"Pairwise comparison of final {fid_key_of(self.compared)}",
                           f"{claims} {PAIRS_NOTE}" if claims else PAIRS_NOTE, pairs_table(self.pairs)))
        if len(self.problems):
            tables.append(("Diverged and failed runs", "Counted in the run totals above, left out of the statistics.",
                           problems_table(self.problems)))
        return tables
