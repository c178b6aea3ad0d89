"""`gan-bench report` on a folder that holds several sets: the filters, a report per set, and
the sequence a newcomer runs (a tiny test, then another preset, then the printed command)."""

import re
import shlex
from dataclasses import replace

import pandas as pd
import pytest
from typer.testing import CliRunner

from bench import report
from bench.cli import app
from bench.errors import BenchError
from test_report import FIDS, SLUG, make_record, write_record

runner = CliRunner()


def other(variant, seed, fid, tag, **change):
    """A record of another set, with a run id (and file name) of its own."""
    record = make_record(variant, seed, fid=fid, **change)
    record["run_id"] += f"-{tag}"
    record["config_hash"] += f"-{tag}"  # the preset and budget are part of the configuration
    record["paths"]["samples"] = f"{record['run_id']}.png"
    return record


@pytest.fixture
def mixed(tmp_path):
    """The fixture set of test_report (quick, 150 generator steps), plus a tiny run, a paper run
    of the same variants and a quick run on another device."""
    root = tmp_path / "results"
    for variant, fids in FIDS.items():
        for seed, fid in enumerate(fids):
            write_record(root, make_record(variant, seed, fid=fid))
    write_record(root, other("dcgan", 0, 90.0, "tiny", preset="tiny", budget="4 generator steps"))
    write_record(root, other("dcgan", 0, 5.0, "paper", preset="paper", budget="20 epochs"))
    write_record(root, other("lsgan", 0, 6.0, "paper", preset="paper", budget="20 epochs"))
    write_record(root, other("dcgan", 0, 11.0, "gpu", slug="cuda-test-gpu"))
    return root


def csv_of(folder):
    return pd.read_csv(folder / "report.csv", comment="#").set_index("variant")


def test_each_set_gets_its_own_report_and_no_table_mixes_two(mixed):
    written = report.write_reports(mixed, formats="csv")
    folders = {(s.device, s.name): paths[0].parent for s, paths in written}
    base = mixed / "reports"
    # The device with three sets: a folder each below its own; the device with one: its own folder.
    assert folders == {
        (SLUG, "mnist-quick-150-generator-steps"): base / SLUG / "mnist-quick-150-generator-steps",
        (SLUG, "mnist-tiny-4-generator-steps"): base / SLUG / "mnist-tiny-4-generator-steps",
        (SLUG, "mnist-paper-20-epochs"): base / SLUG / "mnist-paper-20-epochs",
        ("cuda-test-gpu", "mnist-quick-150-generator-steps"): base / "cuda-test-gpu",
    }
    folders = {name: folder for (device, name), folder in folders.items() if device == SLUG}
    quick = csv_of(folders["mnist-quick-150-generator-steps"])
    assert quick.loc["dcgan", "fid_mnist_mean"] == pytest.approx(12.0) and quick.loc["dcgan", "n_ok"] == 3
    paper = csv_of(folders["mnist-paper-20-epochs"])
    assert list(paper.index) == ["dcgan", "lsgan"] and paper.loc["dcgan", "fid_mnist_mean"] == 5.0
    assert list(csv_of(folders["mnist-tiny-4-generator-steps"])["fid_mnist_mean"]) == [90.0]
    assert list(csv_of(base / "cuda-test-gpu")["fid_mnist_mean"]) == [11.0]


def test_each_reports_command_picks_its_set_alone_and_regenerates_it(mixed, tmp_path):
    written = {s.name: paths[0] for s, paths in report.write_reports(mixed, formats="csv") if s.device == SLUG}
    csv = written["mnist-paper-20-epochs"]
    command = csv.read_text().splitlines()[0].removeprefix("# Regenerate with: ")
    assert "--preset paper" in command and "--budget 20-epochs" in command and f"--device {SLUG}" in command
    before = csv.read_text()
    csv.unlink()
    args = shlex.split(command)
    assert args[:2] == ["gan-bench", "report"]
    result = runner.invoke(app, args[1:])
    assert result.exit_code == 0, result.output
    assert result.stdout.split()[0] == str(csv) and csv.read_text() == before


@pytest.mark.parametrize("flags, variants, fid", [
    (["--preset", "paper"], ["dcgan", "lsgan"], 5.0),
    (["--preset", "pap*", "--variants", "ls*"], ["lsgan"], 6.0),
    (["--device", "cuda-*"], ["dcgan"], 11.0),
    (["--budget", "4 generator steps"], ["dcgan"], 90.0),
    (["--budget", "4-generator-steps"], ["dcgan"], 90.0),
    (["--preset", "quick", "--device", SLUG, "--variants", "dcgan,vanilla"], ["dcgan", "vanilla"], 12.0),
])
def test_filters_pick_one_set_and_write_it_where_asked(mixed, tmp_path, flags, variants, fid):
    out = tmp_path / "out"
    result = runner.invoke(app, ["report", str(mixed), *flags, "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.split()[0] == str(out / "report.csv") and "sets in" not in result.stderr
    table = csv_of(out)
    assert list(table.index) == variants and table["fid_mnist_mean"].iloc[0] == fid
    command = (out / "report.csv").read_text().splitlines()[0]
    assert all(shlex.join(pair) in command for pair in zip(flags[::2], flags[1::2]))


def test_a_filter_that_matches_nothing_says_what_there_is(mixed):
    result = runner.invoke(app, ["report", str(mixed), "--preset", "pacgan"])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line == "error: no record matches --preset pacgan (presets here: paper, quick, tiny)"


def test_several_sets_are_listed_on_stderr_and_stdout_lists_files_only(mixed):
    result = runner.invoke(app, ["report", str(mixed), "--format", "md"])
    assert result.exit_code == 0, result.output
    assert all(line.endswith("report.md") or line.endswith(".png") for line in result.stdout.split())
    assert len([p for p in result.stdout.split() if p.endswith("report.md")]) == 4
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"4 sets in {mixed}, a report each")
    assert any("mnist, tiny preset, 4 generator steps on cpu-test-cpu (1 run)" in line for line in lines[1:])


def test_a_study_beside_ordinary_runs_is_a_set_of_its_own(tmp_path):
    root = tmp_path / "results"
    write_record(root, make_record("dcgan", 0, fid=10.0))
    study = {**other("dcgan", 0, 8.0, "study"),
             "study": {"id": "abc", "name": "t", "space": "defaults", "config_index": 0, "params": {},
                       "phase": "search"}}
    write_record(root, study)
    names = [s.name for s, _ in report.write_reports(root, formats="csv")]
    assert names == ["mnist-quick-150-generator-steps", "mnist-quick-150-generator-steps-study-abc"]
    out = tmp_path / "ordinary"
    result = runner.invoke(app, ["report", str(root), "--study", "none", "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert list(csv_of(out)["fid_mnist_mean"]) == [10.0]


def test_a_run_without_checksums_joins_the_set_it_agrees_with(tmp_path):
    root = tmp_path / "results"
    for seed in range(2):
        write_record(root, make_record("dcgan", seed, fid=10.0 + seed))
    failed = make_record("dcgan", 2, status="failed")
    failed["feature_nets"] = {"mnist_classifier_sha256": None, "inception_sha256": None}
    write_record(root, failed)
    (one,) = report.split_sets(report.load_records(root)[0])
    assert len(one.records) == 3


def test_a_record_without_a_budget_label_has_its_presets_budget(tmp_path):
    """Records from before budgets were labelled ran their preset's: they never join a set of
    --until-converged runs of that preset, and --budget picks them by that label."""
    root = tmp_path / "results"
    old = make_record("dcgan", 0, fid=20.0)
    del old["config"]["budget"], old["budget"]["label"]
    write_record(root, old)
    write_record(root, other("dcgan", 0, 8.0, "converged", budget="until converged (cap 20 epochs)"))
    sets = report.split_sets(report.load_records(root)[0])
    assert [(s.key["budget"], len(s.records)) for s in sets] == [("2 epochs", 1), ("until converged (cap 20 epochs)", 1)]
    out = tmp_path / "old"
    result = runner.invoke(app, ["report", str(root), "--budget", "2-epochs", "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert list(csv_of(out)["fid_mnist_mean"]) == [20.0]


def test_the_default_folder_is_beside_the_records(tmp_path):
    """RESULTS, RESULTS/runs and RESULTS/runs/<slug> report into RESULTS/reports/<slug>; a results
    folder that merely sits in a folder named runs keeps its reports inside itself."""
    root = tmp_path / "results"
    write_record(root, make_record("dcgan", 0, fid=10.0))
    for given in (root, root / "runs", root / "runs" / SLUG):
        ((_, paths),) = report.write_reports(given, formats="md")
        assert paths[0] == root / "reports" / SLUG / "report.md"
    mine = tmp_path / "runs" / "mine"
    write_record(mine, make_record("dcgan", 0, fid=10.0))
    ((_, paths),) = report.write_reports(mine, formats="md")
    assert paths[0] == mine / "reports" / SLUG / "report.md"


def test_the_library_still_refuses_to_mix(mixed):
    with pytest.raises(BenchError, match="records mix"):
        report.write_report(mixed)


def test_bad_filters_are_one_line_errors(mixed):
    result = runner.invoke(app, ["report", str(mixed), "--variants", " , "])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --variants names nothing; give a name or an fnmatch pattern"


# --- the sequence a newcomer runs --------------------------------------------------------------

@pytest.mark.slow
def test_a_tiny_run_then_another_preset_then_the_printed_command(mnist_dir, tmp_path, monkeypatch):
    """`gan-bench run --preset tiny`, then `make run`'s `gan-bench run --variants vanilla,dcgan
    --preset quick` into the same default folder, then the `gan-bench report` line that run
    printed. The quick preset is cut to a few steps (its name, and so the set, unchanged) to
    keep the test short."""
    from bench.presets import PRESETS

    before = PRESETS.snapshot()  # presets are a read-only registry: replace quick as its own source would
    PRESETS.register("quick", replace(PRESETS["tiny"], name="quick", steps=6), source=PRESETS.source("quick"))
    try:
        newcomer_sequence(mnist_dir, tmp_path, monkeypatch)
    finally:
        PRESETS.restore(before)


def newcomer_sequence(mnist_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = ["--device", "cpu", "--data-dir", str(mnist_dir)]
    first = runner.invoke(app, ["run", "--variants", "vanilla", "--preset", "tiny", *data])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["run", "--variants", "vanilla,dcgan", "--preset", "quick", *data])
    assert second.exit_code == 0, second.output
    (printed,) = re.findall(r"gan-bench report \S+", second.stdout)
    assert printed == "gan-bench report results"

    result = runner.invoke(app, shlex.split(printed)[1:])
    assert result.exit_code == 0, result.output
    reports = sorted(tmp_path.glob("results/reports/*/*/report.csv"))
    assert [p.parent.name for p in reports] == ["mnist-quick-6-generator-steps", "mnist-tiny-4-generator-steps"]
    quick, tiny = (pd.read_csv(p, comment="#") for p in reports)
    assert list(quick["variant"]) == ["dcgan", "vanilla"] and list(tiny["variant"]) == ["vanilla"]
    assert (quick["n_ok"] == 1).all() and (tiny["n_ok"] == 1).all()
