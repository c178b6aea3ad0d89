"""`gan-bench report`: the run records of one dataset, device and preset, summarised per variant;
a folder that holds several such sets gets one report per set.

One row per variant: how many runs ended ok, diverged or failed, and for each figure
the mean, standard deviation and 95% t-interval over training seeds (docs/figures.md),
written as Markdown, CSV, LaTeX and HTML beside the plots. Every file states the command
that regenerates it.

The modules follow the data: `loading` (records in, validated) -> `summary` (what may be
compared, statistics over seeds) -> `sets` (the filters, and a folder's records split into
what may share a table) -> `display` (tables for people) -> `writers` (files and plots);
`figures` lists what the tables show, `study` what a hyperparameter study adds, `index` the
list of published sets (results/README.md).
"""

# What the command line and the tests reach through the package; everything else is imported
# from the module that defines it.
from bench.report.display import systems_table
from bench.report.loading import SOURCE_KEY, load_records
from bench.report.sets import parse_filters, split_sets
from bench.report.study import bootstrap_band, expected_best
from bench.report.summary import format_number, group_by_variant, pairwise_fid, seed_stats, summarise
from bench.report.writers import FORMATS, build_report, markdown_table, parse_formats, write_report, write_reports

__all__ = [
    "FORMATS", "SOURCE_KEY", "bootstrap_band", "build_report", "expected_best", "format_number", "group_by_variant",
    "load_records", "markdown_table", "pairwise_fid", "parse_filters", "parse_formats", "seed_stats", "split_sets",
    "summarise", "systems_table", "write_report", "write_reports",
]
