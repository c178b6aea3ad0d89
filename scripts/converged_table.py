"""The converged headline table of README.md and docs/published.md, printed from the two
reports it joins: the converged set's (mean ± sd over seeds; the report adds the interval),
its pairwise tests between each row and the next (report_pairs.csv: Holm-adjusted p over all
the set's pairs, and the probability that a seed of the row's variant ends with a lower FID
than one of the next's), and the quick set's fid_mnist beside it.

    python scripts/converged_table.py                 # rows with README.md's links
    python scripts/converged_table.py --links docs    # rows with docs/published.md's links
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from bench.report.summary import format_number

ROOT = Path(__file__).resolve().parents[1]
CONVERGED = ROOT / "results/cpu-intel-xeon-processor-avx512/converged/report.csv"
PAIRS = CONVERGED.with_name("report_pairs.csv")
QUICK = ROOT / "results/cpu-amd-epyc-avx2/report.csv"
HEADER = ("| variant | seeds converged | epochs at stop | FID (MNIST), last ↓ | FID (MNIST), best point ↓ "
          "| vs next row: p (Holm) / P(better) | quick preset (2 epochs, AMD EPYC, 3 seeds) |")
COLUMNS = 7
# The quick set's BEGAN records trained the nets BEGAN had before its recipe was rebuilt.
QUICK_NOTES = {"began": " (its earlier nets; the recipe now: [variants.md]({docs}variants.md#began-the-autoencoder-d))"}


def mean_sd(row, key: str, fmt: str) -> str:
    value = format_number(row[f"{key}_mean"], fmt)
    return f"{value} ± {format_number(row[f'{key}_std'], fmt)}" if row[f"{key}_n"] > 1 else value


def read_report(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, skiprows=1)  # the first line names the command that wrote it


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


def table_rows(docs: str = "docs/") -> list[str]:
    """One markdown row per variant, lowest last FID first; `docs` prefixes the links."""
    converged = read_report(CONVERGED).sort_values("fid_mnist_mean")
    pairs = read_report(PAIRS)
    quick = read_report(QUICK).set_index("variant")
    names = list(converged["variant"])
    rows = []
    for position, (_, row) in enumerate(converged.iterrows()):
        name = row["variant"]
        beside = (mean_sd(quick.loc[name], "fid_mnist", "{:.2f}") + QUICK_NOTES.get(name, "").format(docs=docs)
                  if name in quick.index else "not in that set")
        cells = [name, f"{row['converged']}/{row['n_ok']}", mean_sd(row, "stop_epochs", "{:.1f}"),
                 mean_sd(row, "fid_mnist", "{:.2f}"), mean_sd(row, "fid_mnist_best", "{:.2f}"),
                 versus_next(pairs, name, names[position + 1] if position + 1 < len(names) else None), beside]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--links", choices=("readme", "docs"), default="readme",
                        help="where the rows go: README.md (links into docs/) or a page in docs/")
    args = parser.parse_args()
    print(HEADER)
    print("|---" * COLUMNS + "|")
    print("\n".join(table_rows("docs/" if args.links == "readme" else "")))


if __name__ == "__main__":
    main()
