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
from bench.report.summary import format_number

HEADER = ("| variant | seeds converged | epochs at stop | FID (MNIST), last ↓ | FID (MNIST), best point ↓ "
          "| vs next row: p (Holm) / P(better) | quick preset (2 epochs, AMD EPYC, 3 seeds) |")
# The JSON keys of the cells, in the header's order.
KEYS = ("variant", "seeds_converged", "epochs_at_stop", "fid_mnist_last", "fid_mnist_best", "vs_next",
        "quick_fid_mnist")
# The published quick set's BEGAN records trained the nets BEGAN had before its recipe was rebuilt.
QUICK_NOTES = {"began": " (its earlier nets; the recipe now: [variants.md]({docs}variants.md#began-the-autoencoder-d))"}
LINKS = {"readme": "docs/", "docs": ""}  # where the rows go -> what prefixes their links into docs/


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
        rows.append([name, f"{row['converged']}/{row['n_ok']}", mean_sd(row, "stop_epochs", "{:.1f}"),
                     mean_sd(row, "fid_mnist", "{:.2f}"), mean_sd(row, "fid_mnist_best", "{:.2f}"),
                     versus_next(pairs, name, following), quick_cell])
    return rows


def markdown_rows(cells: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(row) + " |" for row in cells]


def markdown_table(cells: list[list[str]]) -> list[str]:
    """The header, its rule and the rows, as the pages have them."""
    return [HEADER, "|---" * len(KEYS) + "|", *markdown_rows(cells)]
