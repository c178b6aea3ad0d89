"""Command-line tables that people and scripts can both read.

A table never cuts a name or a number: on a narrow terminal (or in a pipe, where rich
assumes 80 columns) it shows fewer columns instead, always keeping the essential ones,
and a cell that is still too wide folds onto the next line rather than ending in "…".
`--format json` and `--format csv` give every column, unformatted, for scripts.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Callable

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.errors import BenchError

FORMATS = ("table", "json", "csv")


@dataclass(frozen=True)
class Column:
    key: str  # the row's key, and the name in JSON and CSV
    header: str
    show: Callable[[object], str] = lambda value: "" if value is None else str(value)
    essential: bool = False  # always in the table, however narrow the terminal
    justify: str = "left"


def fixed(digits: int):
    """A column format: thousands separators and `digits` decimals; empty for a missing value."""
    return lambda x: "" if x is None else f"{x:,.{digits}f}"


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise BenchError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def build_table(rows: list[dict], columns: list[Column], title: str | None = None) -> Table:
    # Cells and titles hold names and paths from files and users, verbatim: not rich markup.
    table = Table(title=title and escape(title), title_justify="left")
    for column in columns:
        table.add_column(column.header, overflow="fold", justify=column.justify)
    for row in rows:
        table.add_row(*(escape(column.show(row.get(column.key))) for column in columns))
    return table


def fitting_columns(rows: list[dict], columns: list[Column], width: int) -> list[Column]:
    """The essential columns, then the others in order for as long as the table fits."""
    chosen = [c for c in columns if c.essential]
    console = Console(width=10_000)  # measures natural widths, without wrapping
    for column in columns:
        if column.essential:
            continue
        trial = [c for c in columns if c in chosen or c is column]
        if console.measure(build_table(rows, trial)).maximum <= width:
            chosen = trial
    return chosen


def render(rows: list[dict], columns: list[Column], fmt: str, console: Console, title: str | None = None) -> str | None:
    """JSON or CSV text (returned, for the caller to print verbatim), or the table printed on `console`."""
    if fmt == "json":
        return json.dumps([{c.key: row.get(c.key) for c in columns} for row in rows], indent=1)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=[c.key for c in columns], lineterminator="\n")
        writer.writeheader()
        writer.writerows({c.key: row.get(c.key) for c in columns} for row in rows)
        return out.getvalue().rstrip("\n")
    console.print(build_table(rows, fitting_columns(rows, columns, console.width), title))
    return None
