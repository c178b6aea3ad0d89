"""The `gan-bench` command lines a report prints, read off what its records say: the one that
regenerates the report, and the ones that train or score its runs again. Each is shell-quoted
(shlex.join), so that it can be pasted into a shell as printed."""

from __future__ import annotations

import shlex

# The dataset a command trains or scores when it names none: such commands leave --dataset out.
DEFAULT_DATASET = "mnist"


def command_line(*args) -> str:
    """`gan-bench ARGS`, shell-quoted."""
    return shlex.join(["gan-bench", *map(str, args)])


def dataset_flags(dataset: str) -> list[str]:
    """`--dataset NAME` for a run or score of `dataset`, nothing for the default one."""
    return ["--dataset", dataset] if dataset != DEFAULT_DATASET else []


def report_command(results_dir, out_dir, filters=(), formats: str | None = None) -> str:
    """The `gan-bench report` command that reads `results_dir` and writes to `out_dir`;
    `formats` (comma-separated) where the report is not written in every format."""
    return command_line("report", results_dir, *filters, "--out", out_dir,
                        *(["--format", formats] if formats else []))
