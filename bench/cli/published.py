"""`gan-bench curves` and `headline`: the figures the docs quote from published sets beyond
what a report tabulates (each run's curve; the converged headline table with its links)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from bench.cli.app import app, errors
from bench.cli.settings import takes
from bench.options import Checked, option

# The sets README.md's and docs/published.md's headline joins, from the repository's root.
PUBLISHED_CONVERGED = Path("results/cpu-intel-xeon-processor-avx512/converged")
PUBLISHED_QUICK = Path("results/cpu-amd-epyc-avx2")


@dataclass
class CurvesSettings(Checked):
    results: Path = option(..., "results", argument=True,
                           help="A results folder (every record under it), e.g. a published set.")
    variants: Optional[str] = option(None, "--variants", "-v",
                                     help="Only these variants (comma-separated names; default: all).")
    fmt: str = option("table", "--format", "-f", choices=("table", "json"),
                      help="table (a paragraph per run, for people) or json (for scripts).")


@dataclass
class HeadlineSettings(Checked):
    converged: Path = option(PUBLISHED_CONVERGED, "converged", argument=True,
                             help="The converged set (its report.csv and report_pairs.csv).")
    quick: Path = option(PUBLISHED_QUICK, "--quick", help="The quick preset's set whose fid_mnist goes beside "
                                                          "(its report.csv).")
    links: str = option("readme", "--links", choices=("readme", "docs"),
                        help="Where the rows go: readme (README.md: links into docs/) or docs (a page in docs/).")
    fmt: str = option("markdown", "--format", "-f", choices=("markdown", "json"),
                      help="markdown (the table the pages paste) or json (the cells, for scripts).")


@app.command()
@takes(CurvesSettings)
def curves(settings: CurvesSettings):
    """Each run's FID curve, stop and final figures, and BEGAN's k_t and M: what a report averages away."""
    from bench.report.curves import figures_text, folder_figures

    rows, warnings = folder_figures(settings.results, settings.variants)
    for warning in warnings:  # on stderr: stdout may be JSON for a script
        errors.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)
    # Verbatim through typer.echo: a curve is one long line, never wrapped or cut.
    typer.echo(json.dumps(rows, indent=1) if settings.fmt == "json" else "\n".join(figures_text(rows)))


@app.command()
@takes(HeadlineSettings)
def headline(settings: HeadlineSettings):
    """The converged headline table of README.md and docs/published.md, from the sets' reports."""
    from bench.report.headline import KEYS, headline_cells, markdown_table, recipe_check_notes

    cells = headline_cells(settings.converged, settings.quick, settings.links)
    notes = recipe_check_notes(cells, links=settings.links)
    if settings.fmt == "json":
        typer.echo(json.dumps({"rows": [dict(zip(KEYS, row)) for row in cells], "notes": notes}, indent=1,
                              ensure_ascii=False))
    else:
        typer.echo("\n".join(markdown_table(cells, notes)))
