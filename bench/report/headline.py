"""The converged headline table of README.md and docs/published.md, made from the two reports
it joins: the converged set's (mean ± sd over seeds; the report adds the interval), its
pairwise tests between each row and the next (report_pairs.csv: Holm-adjusted p over all the
set's pairs, and the probability that a seed of the row's variant ends with a lower FID than
one of the next's), and the quick set's fid_mnist beside it. `gan-bench headline` prints it
(bench/cli/published.py); the pages paste its rows, and a test holds them to it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.errors import BenchError
from bench.report.display import EXTERNAL_PREFIX
from bench.report.summary import format_number

HEADER = ("| variant | seeds converged | epochs at stop | FID (MNIST), last ↓ | FID (MNIST), best point ↓ "
          "| vs next row: p (Holm) / P(better) | quick preset (2 epochs, AMD EPYC, 3 seeds) |")
# The JSON keys of the cells, in the header's order.
KEYS = ("variant", "seeds_converged", "epochs_at_stop", "fid_mnist_last", "fid_mnist_best", "vs_next",
        "quick_fid_mnist")
# The published quick set's BEGAN records trained the nets BEGAN had before its recipe was rebuilt.
QUICK_NOTES = {"began": " (its earlier nets; the recipe now: [variants.md]({docs}variants.md#began-the-autoencoder-d))"}
LINKS = {"readme": "docs/", "docs": ""}  # where the rows go -> what prefixes their links into docs/
# Recipes chosen on the very seeds the converged set publishes (docs/variants.md, "Choosing a
# recipe"), each with the set that trains it on fresh seeds: (that set, from the repository's
# root; the machine it ran on). Its row is marked, and a note under the table gives the fresh
# figure beside the in-sample one.
RECIPE_CHECKS = {"began": (Path("results/cpu-amd-epyc-avx2/began-recipe-check"), "a 2-core AMD EPYC (AVX2)")}
IN_SAMPLE = " ‡"


def read_report(path: Path) -> pd.DataFrame:
    if not path.is_file():
        folder = path.parent
        raise BenchError(f"no {path.name} in {folder}; write it with: gan-bench report {folder} --out {folder}")
    return pd.read_csv(path, skiprows=1)  # the first line names the command that wrote it


def mean_sd(row, key: str, fmt: str) -> str:
    value = format_number(row[f"{key}_mean"], fmt)
    return f"{value} ± {format_number(row[f'{key}_std'], fmt)}" if row[f"{key}_n"] > 1 else value


def versus_next(pairs: pd.DataFrame, name: str, following: str | None) -> str:
    """'p (Holm) / P(name beats following)', in bold where Holm's p is below the report's alpha."""
    if following is None:
        return "–"
    forward = pairs[(pairs["variant_a"] == name) & (pairs["variant_b"] == following)]
    backward = pairs[(pairs["variant_a"] == following) & (pairs["variant_b"] == name)]
    if len(forward):
        pair, better = forward.iloc[0], forward.iloc[0]["p_a_better"]
    elif len(backward):
        pair, better = backward.iloc[0], 1 - backward.iloc[0]["p_a_better"]
    else:
        return "not tested"
    cell = f"{format_number(pair['p_holm'], '{:.2g}')} / {format_number(better, '{:.2f}')}"
    return f"**{cell}** (differ)" if pair["significant"] else cell


def headline_cells(converged: Path, quick: Path, links: str = "readme") -> list[list[str]]:
    """One row of cells per variant of the converged set, lowest last FID first."""
    for folder in (converged, quick):
        if not folder.is_dir():
            raise BenchError(f"no such results directory: {folder}")
    if links not in LINKS:
        raise BenchError(f"unknown --links {links!r}; choose one of {', '.join(LINKS)}")
    docs = LINKS[links]
    report = read_report(converged / "report.csv").sort_values("fid_mnist_mean")
    report = report[~report["variant"].str.startswith(EXTERNAL_PREFIX)]  # real data and outside scores
    pairs = read_report(converged / "report_pairs.csv")
    beside = read_report(quick / "report.csv").set_index("variant")
    if report.empty:
        raise BenchError(f"{converged / 'report.csv'} has no rows: the set has no records")
    names = list(report["variant"])
    rows = []
    for position, (_, row) in enumerate(report.iterrows()):
        name = row["variant"]
        following = names[position + 1] if position + 1 < len(names) else None
        quick_cell = (mean_sd(beside.loc[name], "fid_mnist", "{:.2f}") + QUICK_NOTES.get(name, "").format(docs=docs)
                      if name in beside.index else "not in that set")
        mark = IN_SAMPLE if name in RECIPE_CHECKS else ""
        rows.append([name, f"{row['converged']}/{row['n_ok']}", mean_sd(row, "stop_epochs", "{:.1f}"),
                     mean_sd(row, "fid_mnist", "{:.2f}") + mark, mean_sd(row, "fid_mnist_best", "{:.2f}"),
                     versus_next(pairs, name, following), quick_cell])
    return rows


def recipe_check_notes(cells: list[list[str]], root: Path = Path("."), links: str = "readme") -> list[str]:
    """A line per marked row: the variant's figure on seeds its recipe was not chosen on,
    read from that set's report (or that the set is not published yet)."""
    notes = []
    for name in (row[0] for row in cells if row[0] in RECIPE_CHECKS):
        folder, machine = RECIPE_CHECKS[name]
        report = root / folder / "report.csv"
        rows = read_report(report).set_index("variant") if report.is_file() else None
        intro = (f"{IN_SAMPLE.strip()} {name}'s recipe was chosen on the seeds of this table, so its figures are "
                 "in-sample")
        if rows is None or name not in rows.index:
            notes.append(f"{intro}; its fresh seeds ({folder.as_posix()}) are not published yet.")
            continue
        fresh = rows.loc[name]
        link = folder.as_posix() if links == "readme" else f"../{folder.as_posix()}"
        notes.append(f"{intro}. On {fresh['fid_mnist_n']} fresh seeds ({fresh['seeds_ok']}), same protocol, "
                     f"on {machine}: last {mean_sd(fresh, 'fid_mnist', '{:.2f}')}, best point "
                     f"{mean_sd(fresh, 'fid_mnist_best', '{:.2f}')}, {fresh['converged']}/{fresh['n_ok']} "
                     f"converged ([report]({link}/report.md)).")
    return notes


def markdown_rows(cells: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(row) + " |" for row in cells]


def markdown_table(cells: list[list[str]], notes: list[str] = ()) -> list[str]:
    """The header, its rule and the rows, as the pages have them, then the notes."""
    return [HEADER, "|---" * len(KEYS) + "|", *markdown_rows(cells), *(["", *notes] if notes else [])]
