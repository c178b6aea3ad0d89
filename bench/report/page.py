"""The HTML report: a page to browse. Each plot sits beside the table it illustrates, a click on
a column's header sorts the rows, and the page needs nothing outside its own folder: the style
and the script are inline, the plots are files beside it, and it asks no server for anything."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.report.display import Report, Section

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
nav ul { columns: 2; }
section.pair { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
section.pair > .table { overflow-x: auto; max-width: 100%; }
figure { margin: 0; flex: 1 1 420px; max-width: 760px; }
figure img { width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: .85em; color: #555; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
td, th { border: 1px solid #ccc; padding: .2em .5em; white-space: nowrap; }
th { background: #f2f2f2; cursor: pointer; user-select: none; }
th:focus { outline: 2px solid #48c; }
th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; }
tbody tr:nth-child(even) { background: #fafafa; }
p.note { max-width: 60em; }
"""

# Sorts a table by the clicked (or Enter-pressed) column, ascending first, then descending.
# Cells compare by their leading number where both have one ("21.60 ± 0.68 [20.9, 22.3]",
# "3 ok", "1,024", "∞"), as text otherwise; empty cells stay last in both directions.
SORT_SCRIPT = r"""
(function () {
  function key(cell) {
    var text = cell.textContent.trim();
    var m = text.replace(/,/g, "").match(/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?/i);
    return {text: text, num: m ? parseFloat(m[0]) : (text.charAt(0) === "\u221e" ? Infinity : NaN)};
  }
  function compare(a, b) {
    if (!isNaN(a.num) && !isNaN(b.num)) return a.num - b.num;
    return a.text.localeCompare(b.text);
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    headers.forEach(function (th, column) {
      th.tabIndex = 0;
      th.title = "Sort by " + th.textContent.trim();
      function sort() {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).map(function (row) {
          return {row: row, key: key(row.cells[column])};
        });
        rows.sort(function (r, s) {
          var empty = (r.key.text === "") - (s.key.text === "");
          if (empty) return empty;
          return ascending ? compare(r.key, s.key) : compare(s.key, r.key);
        });
        headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        rows.forEach(function (r) { body.appendChild(r.row); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
  });
})();
"""


def anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def figure_html(plot: Path) -> str:
    e = html.escape
    return (f'<figure><a href="{e(plot.name)}"><img src="{e(plot.name)}" alt="{e(plot.stem)}"></a>'
            f"<figcaption>{e(plot.name)}</figcaption></figure>")


def table_section_html(section: Section) -> list[str]:
    e = html.escape
    table = section.table.to_html(index=False, escape=True, border=0, classes="sortable")
    return [f'<p class="note">{e(section.note)}</p>', '<section class="pair">', f'<div class="table">{table}</div>',
            *(figure_html(p) for p in section.plots), "</section>"]


def write_html(report: Report, path: Path, title: str) -> None:
    e = html.escape
    sections, unplaced = report.sections()
    # (heading, its body) in page order; the contents list the same headings.
    bodies = [(s.title, table_section_html(s)) for s in sections]
    if unplaced:
        bodies.append(("Plots", ['<section class="pair">', *(figure_html(p) for p in unplaced), "</section>"]))
    if report.warnings:
        bodies.append(("Skipped records and warnings", ["<ul>", *(f"<li>{e(w)}</li>" for w in report.warnings), "</ul>"]))
    parts = ["<!DOCTYPE html>", f"<!-- Regenerate with: {e(report.command)} -->",
             '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             # An empty icon: without it the browser asks the server (or the disk) for favicon.ico.
             '<link rel="icon" href="data:,">',
             f"<title>{e(title)}</title><style>{STYLE}</style></head><body>",
             f"<h1>{e(title)}</h1>", f"<p>Regenerate with: <code>{e(report.command)}</code></p>", "<ul>"]
    parts += [f"<li>{e(label)}: {e(str(value))}</li>" for label, value in report.provenance()] + ["</ul>"]
    parts += ["<nav><p>Contents (click a column's header to sort its table):</p><ul>"]
    parts += [f'<li><a href="#{anchor(h)}">{e(h)}</a></li>' for h, _ in bodies] + ["</ul></nav>"]
    for heading, body in bodies:
        parts += [f'<h2 id="{anchor(heading)}">{e(heading)}</h2>', *body]
    parts += [f"<script>{SORT_SCRIPT}</script>", "</body></html>"]
    path.write_text("\n".join(parts) + "\n")
