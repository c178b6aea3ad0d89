"""The command lines a report prints, and the dataset an older record is read as."""

import shlex

from bench.report.commands import command_line, dataset_flags, report_command
from bench.report.loading import upgrade
from bench.report.summary import dataset_of


def test_a_command_line_pastes_into_a_shell_as_printed():
    line = command_line("report", "my results", "--out", "out dir")
    assert line == "gan-bench report 'my results' --out 'out dir'"
    assert shlex.split(line) == ["gan-bench", "report", "my results", "--out", "out dir"]


def test_the_default_dataset_goes_unsaid():
    assert dataset_flags("mnist") == []
    assert dataset_flags("stacked-mnist") == ["--dataset", "stacked-mnist"]


def test_a_report_command_names_its_filters_and_formats_where_given():
    assert report_command("results/x", "results/x") == "gan-bench report results/x --out results/x"
    assert (report_command("results", "out", ["--preset", "quick"], "md,csv")
            == "gan-bench report results --preset quick --out out --format md,csv")


def test_a_record_from_before_stacked_mnist_is_read_as_mnist():
    old = {"schema_version": 2, "config": {"preset": "quick"},
           "env": {"device_slug": "cpu-test", "device_name": "Test CPU"}}
    assert dataset_of(upgrade(old)) == "mnist"
    assert "dataset" not in old["config"]  # the record as read stays as written
    stacked = {**old, "config": {"preset": "quick", "dataset": "stacked-mnist"}}
    assert dataset_of(upgrade(stacked)) == "stacked-mnist"
