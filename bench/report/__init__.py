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

from bench.report.display import Report, drop_empty_columns, format_figure, format_number, quality_table, systems_table
from bench.report.figures import BUDGET, QUALITY, STATUSES, SYSTEMS, Figure, metric_keys
from bench.report.loading import (
    SOURCE_KEY, STUDY_PHASES, dig, is_number, load_records, record_files, record_problem, study_problem, upgrade,
)
from bench.report.sets import FILTERS, RecordSet, parse_filters, select, split_sets
from bench.report.study import Study, best_configurations, bootstrap_band, build_study, configurations, expected_best
from bench.report.summary import (
    CI_LEVEL, COMPARABLE, check_comparable, consistency_warnings, dataset_of, fid_key_of, group_by_variant,
    pairwise_fid, present_figures, problem_runs, seed_stats, summarise, variant_label,
)
from bench.report.writers import (
    FORMATS, PLOTS, STUDY_CSVS, WRITERS, build_report, default_out_dir, latex_table, markdown_table, parse_formats,
    regenerate_command, write_report, write_reports,
)

__all__ = [
    "BUDGET", "CI_LEVEL", "COMPARABLE", "FILTERS", "FORMATS", "PLOTS", "QUALITY", "SOURCE_KEY", "STATUSES", "STUDY_CSVS",
    "STUDY_PHASES", "SYSTEMS", "WRITERS", "Figure", "RecordSet", "Report", "Study", "best_configurations", "bootstrap_band",
    "build_report", "build_study", "check_comparable", "configurations", "consistency_warnings", "dataset_of",
    "default_out_dir", "dig", "drop_empty_columns", "expected_best", "fid_key_of", "format_figure", "format_number",
    "group_by_variant", "is_number", "latex_table", "load_records", "markdown_table", "metric_keys", "pairwise_fid",
    "parse_filters", "parse_formats", "present_figures", "problem_runs", "quality_table", "record_files", "record_problem",
    "regenerate_command", "seed_stats", "select", "split_sets", "study_problem", "summarise", "systems_table", "upgrade", "variant_label",
    "write_report", "write_reports",
]
