"""`gan-bench curves` and `headline`: the figures the docs quote from published sets beyond
what a report tabulates (each run's curve; the converged headline table with its links)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from bench.cli.app import app, clean_errors, errors
from bench.errors import BenchError

CURVE_FORMATS = ("table", "json")
# The sets README.md's and docs/published.md's headline joins, from the repository's root.
PUBLISHED_CONVERGED = Path("results/cpu-intel-xeon-processor-avx512/converged")
PUBLISHED_QUICK = Path("results/cpu-amd-epyc-avx2")
HEADLINE_FORMATS = ("markdown", "json")


def check_choice(option: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise BenchError(f"unknown {option} {value!r}; choose one of {', '.join(choices)}")
    return value


@app.command()
@clean_errors
def curves(
    results: Path = typer.Argument(..., help="A results folder (every record under it), e.g. a published set."),
    variants: Optional[str] = typer.Option(None, "--variants", "-v", help="Only these variants (comma-separated "
                                                                          "names; default: all)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table (a paragraph per run, for people) or json "
                                                            "(for scripts)."),
):
    """Each run's FID curve, stop and final figures, and BEGAN's k_t and M: what a report averages away."""
    from bench.report.curves import figures_text, folder_figures

    check_choice("--format", fmt, CURVE_FORMATS)
    rows, warnings = folder_figures(results, variants)
    for warning in warnings:  # on stderr: stdout may be JSON for a script
        errors.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)
    # Verbatim through typer.echo: a curve is one long line, never wrapped or cut.
    typer.echo(json.dumps(rows, indent=1) if fmt == "json" else "\n".join(figures_text(rows)))


@app.command()
@clean_errors
def headline(
    converged: Path = typer.Argument(PUBLISHED_CONVERGED, help="The converged set (its report.csv and "
                                                               "report_pairs.csv)."),
    quick: Path = typer.Option(PUBLISHED_QUICK, "--quick", help="The quick preset's set whose fid_mnist goes "
                                                                "beside (its report.csv)."),
    links: str = typer.Option("readme", "--links", help="Where the rows go: readme (README.md: links into docs/) "
                                                        "or docs (a page in docs/)."),
    fmt: str = typer.Option("markdown", "--format", "-f", help="markdown (the table the pages paste) or json "
                                                               "(the cells, for scripts)."),
):
    """The converged headline table of README.md and docs/published.md, from the sets' reports."""
    from bench.report.headline import KEYS, headline_cells, markdown_table

    check_choice("--format", fmt, HEADLINE_FORMATS)
    cells = headline_cells(converged, quick, links)
    if fmt == "json":
        typer.echo(json.dumps([dict(zip(KEYS, row)) for row in cells], indent=1, ensure_ascii=False))
    else:
        typer.echo("\n".join(markdown_table(cells)))
