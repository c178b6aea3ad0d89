"""Writing a report: Markdown, CSV, LaTeX and HTML beside the plots, each stating the
command that regenerates it."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from bench.report import page, plots
from bench.errors import BenchError
from variants.losses import DIAGNOSTICS
from bench.report.commands import report_command
from bench.report.display import EXTERNAL_PREFIX, Report, trained_rows
from bench.report.loading import SOURCE_KEY, dig, load_records
from bench.report.sets import RecordSet, filter_flags, select, set_dirs, split_sets, with_real_data
from bench.report.study import build_study
from bench.report.summary import (
    check_comparable, consistency_warnings, dataset_of, fid_key_of, group_by_variant, pairwise_fid, problem_runs, summarise,
)

FORMATS = ("md", "csv", "tex", "html")


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub Markdown table. (pandas' to_markdown needs `tabulate`, which gan-bench does not depend on.)"""
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(c) for c in table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                 "±": r"$\pm$", "↓": r"$\downarrow$", "↑": r"$\uparrow$", "≤": r"$\leq$",
                 "∞": r"$\infty$"}


def latex_escape(text) -> str:
    return "".join(LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def latex_table(table: pd.DataFrame) -> str:
    """A booktabs tabular. Written by hand: pandas' to_latex neither escapes by default nor works without jinja2."""
    lines = [r"\begin{tabular}{l" + "r" * (len(table.columns) - 1) + "}", r"\toprule",
             " & ".join(latex_escape(c) for c in table.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(latex_escape(v) for v in row) + r" \\" for row in table.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines)


def report_title(report: Report) -> str:
    first = report.first
    study = f"study {report.study.name}, " if report.study else ""
    return (f"gan-bench report: {study}{dataset_of(first)} on {first['env']['device_slug']}, "
            f"preset {first['config']['preset']}")


def write_markdown(report: Report, path: Path) -> None:
    parts = [f"# {report_title(report)}",
             "", f"Regenerate with: `{report.command}`", ""]
    parts += [f"- {label}: {value}" for label, value in report.provenance()]
    sections, unplaced = report.sections()
    for section in sections:
        parts += ["", f"## {section.title}", "", section.note, "", markdown_table(section.table)]
        parts += [line for p in section.plots for line in ("", f"![{p.stem}]({p.name})")]
    if unplaced:
        parts += ["", "## Plots", ""]
        parts += [f"![{p.stem}]({p.name})" for p in unplaced]
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
    page.write_html(report, path, report_title(report))


WRITERS: dict[str, Callable[[Report, Path], None]] = {
    "md": write_markdown, "csv": write_csv, "tex": write_latex, "html": write_html,
}
assert tuple(WRITERS) == FORMATS

COPIES_TITLE = ("The 16 final samples nearest to a training digit, each (left) beside that digit (right): "
                "the first ok seed of each variant")

# Each plot is skipped (returns False) when there is nothing to draw.
PLOTS: dict[str, Callable[[Report, Path], bool]] = {
    "convergence.png": lambda rep, path: plots.convergence(ok_curves(rep.compared), path, rep.command,
                                                           fid_key_of(rep.compared)),
    "samples.png": lambda rep, path: plots.sample_grids(first_sample_grids(rep.compared), path, rep.command),
    "copies.png": lambda rep, path: plots.sample_grids(first_sample_grids(rep.compared, "copies"), path,
                                                       rep.command, COPIES_TITLE),
    "systems.png": lambda rep, path: plots.systems_bars(trained_rows(rep.summary), path, rep.command),
    "diagnostics.png": lambda rep, path: plots.diagnostics(ok_curves(rep.compared), DIAGNOSTICS, path, rep.command),
    "study_fid_distribution.png": lambda rep, path: rep.study is not None and plots.study_fid_distribution(
        rep.study.fids_by_variant(), path, rep.command, rep.study.fid_key),
    "study_expected_best.png": lambda rep, path: rep.study is not None and plots.study_expected_best(
        rep.study.curves, path, rep.command, rep.study.fid_key),
}

# A study's numbers in full, one file each, written with the csv format.
STUDY_CSVS: dict[str, Callable[[Report], pd.DataFrame]] = {
    "study_configurations.csv": lambda rep: rep.study.configurations,
    "study_expected_best.csv": lambda rep: rep.study.curves,
}


def write_study_csvs(report: Report) -> list[Path]:
    written = []
    for name, frame_of in STUDY_CSVS.items():
        path = report.out_dir / name
        if report.study is None:
            path.unlink(missing_ok=True)  # a stale study's numbers beside another report would mislead
            continue
        with open(path, "w", newline="") as f:
            f.write(f"# Regenerate with: {report.command}\n")
            frame_of(report).to_csv(f, index=False)
        written.append(path)
    return written


PAIRS_CSV = "report_pairs.csv"


def write_pairs_csv(report: Report) -> list[Path]:
    """The pairwise tests, one row per pair, every column a number or a name (the test, the
    Holm-adjusted p, `significant`, `p_a_better`): what a script reads instead of the tables."""
    path = report.out_dir / PAIRS_CSV
    if not len(report.pairs):
        path.unlink(missing_ok=True)  # a stale comparison beside another report would mislead
        return []
    with open(path, "w", newline="") as f:
        f.write(f"# Regenerate with: {report.command}\n")
        report.pairs.to_csv(f, index=False)
    return [path]


def ok_curves(records: list[dict]) -> dict[str, list[list[dict]]]:
    """Each trained variant's ok runs' curves (an external score has none)."""
    return {variant: [r.get("curve") or [] for r in runs if r["status"] == "ok"]
            for variant, runs in group_by_variant(records).items() if not variant.startswith(EXTERNAL_PREFIX)}


def first_sample_grids(records: list[dict], which: str = "samples") -> dict[str, Path]:
    """Each variant's grid `which` (a key of the records' `paths`: samples, or copies: the
    samples nearest to a training image beside it) from its first ok run (lowest seed) whose
    PNG exists."""
    grids = {}
    for variant, runs in group_by_variant(records).items():
        for r in runs:
            name = dig(r, "paths", which)
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


def records_root(results_dir: Path, slugs=()) -> Path:
    """The folder records belong to: RESULTS for RESULTS, RESULTS/runs and RESULTS/runs/<slug>
    (a slug of theirs: a folder that only happens to sit in one named runs is its own root)."""
    results_dir = Path(results_dir)
    if results_dir.parent.name == "runs" and results_dir.name in slugs:
        return results_dir.parent.parent
    return results_dir.parent if results_dir.name == "runs" else results_dir


def default_out_dir(results_dir: Path, slug: str) -> Path:
    """RESULTS/reports/<device-slug>/, also when given RESULTS/runs or RESULTS/runs/<slug>: a
    folder of its own that git ignores (results/**/reports/), so that a local report never
    lands on a published set's files (results/<device-slug>/ is one)."""
    return records_root(results_dir, {slug}) / "reports" / slug


def regenerate_command(results_dir: Path, out_dir: Path, formats: tuple[str, ...], filters=()) -> str:
    return report_command(results_dir, out_dir, filters, None if formats == FORMATS else ",".join(formats))


def load_checked(results_dir: Path, warn: Callable[[str], None] | None) -> tuple[list[dict], list[str]]:
    """The records under `results_dir` (at least one), each skipped file passed to `warn`."""
    records, warnings = load_records(results_dir)
    for line in warnings:
        if warn:
            warn(line)
    if not records:
        skipped = f" ({len(warnings)} file(s) skipped)" if warnings else ""
        raise BenchError(f"no records in {results_dir}{skipped}")
    return records, warnings


def assemble(records: list[dict], warnings: list[str], results_dir: Path, out_dir: Path, command: str,
             warn: Callable[[str], None] | None) -> Report:
    """The report of records that may share a table."""
    check_comparable(records)
    warnings = list(warnings)
    study = build_study(records)
    compared = study.rerun if study else records
    for line in consistency_warnings(compared):
        warnings.append(line)
        if warn:
            warn(line)
    return Report(results_dir=results_dir, out_dir=out_dir, command=command, records=records, warnings=warnings,
                  # A study not yet rerun has no seed statistics; its report.csv still reads back as a table.
                  summary=summarise(compared) if compared else pd.DataFrame(columns=["variant"]),
                  pairs=pairwise_fid(compared), problems=problem_runs(compared), study=study)


def build_report(results_dir, out_dir=None, command=None, formats=FORMATS,
                 warn: Callable[[str], None] | None = None) -> Report:
    """The report of every record under `results_dir`; records that may not share a table are
    refused (write_reports splits them into sets instead)."""
    results_dir = Path(results_dir)
    records, warnings = load_checked(results_dir, warn)
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(results_dir, records[0]["env"]["device_slug"])
    return assemble(records, warnings, results_dir, out_dir,
                    command or regenerate_command(results_dir, out_dir, tuple(formats)), warn)


def write_built(report: Report, formats: tuple[str, ...]) -> list[Path]:
    """Write report.<format> for each format (with csv, a study's own CSVs too) and the plots."""
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
    if "csv" in formats:
        written += write_pairs_csv(report) + write_study_csvs(report)
    return written + report.plots


def write_report(results_dir, formats=FORMATS, out_dir=None, command=None,
                 warn: Callable[[str], None] | None = None) -> list[Path]:
    """Write the report of one set of records; return the paths written.

    `warn` gets one line per skipped record or doubtful grouping as they are found.
    """
    formats = parse_formats(formats)
    return write_built(build_report(results_dir, out_dir, command, formats, warn), formats)


def write_reports(results_dir, formats=FORMATS, out_dir=None, filters: dict | None = None,
                  warn: Callable[[str], None] | None = None) -> list[tuple[RecordSet, list[Path]]]:
    """`gan-bench report`: the records under `results_dir` that `filters` pick (sets.FILTERS'
    names -> fnmatch patterns), one report per set they fall into; each set with the paths
    written for it.

    One set goes to `out_dir` (default RESULTS/reports/<device-slug>/). Several go to a folder
    each below it (sets.set_dirs), and each report's command names the filters that pick its
    set alone, so that it regenerates that report whatever else the folder comes to hold.
    """
    results_dir, formats, filters = Path(results_dir), parse_formats(formats), filters or {}
    records, warnings = load_checked(results_dir, warn)
    sets = with_real_data(split_sets(select(records, filters)))
    slugs = {r["env"]["device_slug"] for r in records}
    base = Path(out_dir) if out_dir is not None else records_root(results_dir, slugs) / "reports"
    written = []
    for record_set, folder in zip(sets, set_dirs(sets, base, by_device=out_dir is None)):
        picks = filter_flags(filters) if len(sets) == 1 else filter_flags(
            {k: v for k, v in filters.items() if k == "variants"}) + record_set.flags()
        command = regenerate_command(results_dir, folder, formats, picks)
        report = assemble(record_set.records, warnings, results_dir, folder, command, warn)
        written.append((record_set, write_built(report, formats)))
    return written
