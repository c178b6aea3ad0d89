"""results/README.md is generated (`gan-bench index`), and every command's default output lands
where git ignores it, never on a published set."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.report.index import render_index
from test_report import make_record, write_record

REPO = Path(__file__).resolve().parents[1]
SLUG = "cpu-test-cpu-avx2"  # the identity a record of today names: the model and torch's CPU capability


def record_here(*args, **kwargs) -> dict:
    """A run record as today's gan-bench writes it on the test CPU, capability included."""
    record = make_record(*args, slug=SLUG, **kwargs)
    record["env"]["cpu_capability"] = "AVX2"
    return record
runner = CliRunner()


def speed_record(ratios: dict[str, float], command="gan-bench speed --variants all --device cpu --out results/x"):
    return {"schema_version": 3, "kind": "speed", "command": command,
            "env": {"device_slug": SLUG, "device_name": "Test CPU", "device_type": "cpu", "cpu_capability": "AVX2"},
            "settings": {"variants": list(ratios), "batch_sizes": [64], "repeats": 5, "steps_per_repeat": 20,
                         "threads": 1},
            "summary": [{"variant": v, "batch_size": 64, "ratio_median": r} for v, r in ratios.items()],
            "repeats": []}


def write_speed(folder: Path, record: dict) -> None:
    folder.mkdir(parents=True)
    (folder / "speed.json").write_text(json.dumps(record))


@pytest.fixture
def published(tmp_path):
    """results/<slug>/ as `make publish-runs` leaves it (2 variants x 3 seeds on the quick
    preset's budget), a set with a budget of its own that no target makes, a speed set, and
    the local output of `make run` and of a default `gan-bench speed`, which are not published."""
    root = tmp_path / "results"
    for seed in range(3):
        write_record(root / SLUG, record_here("dcgan", seed, fid=10.0 + 2 * seed, budget="2 epochs"))
        write_record(root / SLUG, record_here("lsgan", seed, fid=20.0 + 3 * seed, budget="2 epochs"))
    write_record(root / SLUG / "short", record_here("vanilla", 0, fid=80.0))  # 150 generator steps
    (root / SLUG / "report.md").write_text("# a report\n")
    write_speed(root / SLUG / "speed" / SLUG, speed_record({"dcgan": 1.2, "lsgan": 1.5, "vanilla": 2.0}))
    write_record(root, record_here("dcgan", 0, fid=99.0, budget="2 epochs"))  # results/runs/: local
    write_speed(root / "speed" / SLUG, speed_record({"dcgan": 9.0}))  # results/speed/: local
    return root


def test_the_index_lists_each_published_set_with_its_command_and_headline(published):
    text = render_index(published)
    rows = [line for line in text.splitlines() if line.startswith("| [")]
    assert rows == [
        f"| [results/{SLUG}]({SLUG}/report.md) | Test CPU (cpu-test-cpu-avx2) | mnist | quick | 2 epochs | 2 × 3 "
        "| fid_mnist mean: best dcgan 12.00, worst lsgan 23.00 |",
        f"| [results/{SLUG}/short]({SLUG}/short) | Test CPU (cpu-test-cpu-avx2) | mnist | quick | 150 generator steps "
        "| 1 × 1 "
        "| fid_mnist mean: best vanilla 80.00, worst vanilla 80.00 |",
        f"| [results/{SLUG}/speed/{SLUG}]({SLUG}/speed/{SLUG}/speed.json) | Test CPU (cpu-test-cpu-avx2) | mnist | - "
        "| 5 repeats of 20 generator updates, 1 thread | 3 variants "
        "| batch 64: median speed-up 1.50x over 3 variants (1.20x dcgan to 2.00x vanilla) |",
    ]
    sections = {part.splitlines()[0]: part for part in text.split("\n### ")[1:]}
    made = sections[f"results/{SLUG}"]
    assert f"`make publish-runs DEVICE=cpu PRESET=quick SEEDS=3`, run on Test CPU (device slug {SLUG})" in made
    assert f"gan-bench run --variants dcgan,lsgan --seeds 3 --preset quick --device cpu --out results/{SLUG}\n" in made
    assert f"gan-bench report results/{SLUG} --out results/{SLUG}\n" in made
    assert "this set has 2, the variants of the commands above" in made  # the target trains every variant
    short = sections[f"results/{SLUG}/short"]
    assert "No Makefile target writes this folder." in short  # publish-runs gives no --steps
    assert "gan-bench run --variants vanilla --seeds 1 --preset quick --steps 150 --device cpu" in short
    speed = sections[f"results/{SLUG}/speed/{SLUG}"]
    assert "`make publish-speed DEVICE=cpu`" in speed
    # Its own command, writing where the set is now (the record says results/x, where it was made).
    assert f"gan-bench speed --variants dcgan,lsgan,vanilla --device cpu --out results/{SLUG}" in speed
    assert "99.00" not in text and "9.00x" not in text  # results/runs and results/speed are local output


def test_check_passes_on_a_fresh_index_and_fails_in_one_line_on_a_stale_one(published):
    result = runner.invoke(app, ["index", str(published), "--check"])
    assert result.exit_code == 1 and result.stderr.strip().splitlines() == [
        f"error: {published / 'README.md'} is missing: run `gan-bench index {published}` and commit it"]

    result = runner.invoke(app, ["index", str(published)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(published / "README.md")
    assert runner.invoke(app, ["index", str(published), "--check"]).exit_code == 0

    write_record(published / SLUG, record_here("dcgan", 3, fid=50.0, budget="2 epochs"))  # a new seed
    result = runner.invoke(app, ["index", str(published), "--check"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"error: {published / 'README.md'} is out of date: run "
                                     f"`gan-bench index {published}` and commit it")


def test_the_committed_results_readme_is_what_the_records_give():
    result = runner.invoke(app, ["index", str(REPO / "results"), "--check"])
    assert result.exit_code == 0, result.output
    text = (REPO / "results" / "README.md").read_text()
    for folder in ("cpu-amd-epyc-avx2", "cpu-amd-epyc-avx2/stacked-mnist", "cpu-amd-epyc-avx2/study-lucic-narrow",
                   "cpu-intel-xeon-processor-avx512/converged", "cpu-amd-epyc-avx2/speed/cpu-amd-epyc-avx2"):
        assert f"\n### results/{folder}\n" in text, folder


# --- default outputs are ignored by git ----------------------------------------------------------

def needs_git() -> None:
    if shutil.which("git") is None or subprocess.run(["git", "-C", str(REPO), "rev-parse"],
                                                     capture_output=True).returncode:
        pytest.skip("not a git checkout: no .gitignore to check against")


def git_check_ignore(paths) -> set[str]:
    """Those of the paths (relative to the repository root) that .gitignore's patterns match,
    whether git tracks them or not."""
    completed = subprocess.run(["git", "-C", str(REPO), "check-ignore", "--no-index", "--stdin"],
                               input="\n".join(map(str, paths)), capture_output=True, text=True)
    assert completed.returncode in (0, 1), completed.stderr  # 1: none of them is ignored
    return set(completed.stdout.split())


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.mark.slow
def test_a_default_speed_run_writes_only_where_git_ignores(mnist_dir, tmp_path, monkeypatch):
    needs_git()
    monkeypatch.chdir(tmp_path)  # the default --out is relative: results/ of wherever it runs
    result = runner.invoke(app, ["speed", "--variants", "vanilla", "--device", "cpu", "--batch-sizes", "4",
                                 "--repeats", "1", "--steps", "1", "--warmup", "0", "--threads", "1", "--no-memory",
                                 "--data-dir", str(mnist_dir)])
    assert result.exit_code == 0, result.output
    written = files_under(tmp_path)
    assert written and all(path.startswith("results/speed/") for path in written)
    assert git_check_ignore(written) == set(written)


def test_a_default_report_writes_only_where_git_ignores(tmp_path, monkeypatch):
    needs_git()
    monkeypatch.chdir(tmp_path)
    for seed in range(2):
        write_record(Path("results"), record_here("dcgan", seed, fid=10.0 + seed))
    before = set(files_under(tmp_path))
    for args in (["report", "results"], ["report", "results/runs"], ["report", f"results/runs/{SLUG}"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    written = sorted(set(files_under(tmp_path)) - before)
    assert written and all(path.startswith(f"results/reports/{SLUG}/") for path in written)
    assert git_check_ignore(written + sorted(before)) == set(written) | before  # runs/ too: `make run`'s


def test_published_sets_are_not_ignored():
    needs_git()
    published = ["results/README.md", "results/cpu-amd-epyc-avx2/report.md",
                 "results/cpu-amd-epyc-avx2/speed/cpu-amd-epyc-avx2/speed.json",
                 "results/cpu-amd-epyc-avx2/runs/cpu-amd-epyc-avx2/x.json",
                 "results/cpu-amd-epyc-avx2/study-lucic-narrow/report.md"]
    assert git_check_ignore(published) == set()


def converged_table(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| variant | seeds converged |"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    return lines[start + 2:end]


@pytest.mark.parametrize("page, links", [("README.md", "docs/"), ("docs/published.md", "")])
def test_the_converged_headline_is_its_reports_figures(page, links):
    # The headline table is printed by `gan-bench headline` from the published reports; a
    # record added without pasting the new rows would leave the page quoting figures no
    # command prints.
    import pandas as pd

    from bench.report.headline import IN_SAMPLE, headline_cells, markdown_rows, recipe_check_notes
    from bench.report.summary import format_number

    rows = converged_table(REPO / page)
    cells = headline_cells(REPO / "results/cpu-intel-xeon-processor-avx512/converged",
                           REPO / "results/cpu-amd-epyc-avx2", "readme" if links else "docs")
    assert rows == markdown_rows(cells)
    for note in recipe_check_notes(cells, REPO, "readme" if links else "docs"):
        assert note in (REPO / page).read_text().splitlines(), note
    rows = [row.replace(IN_SAMPLE, "") for row in rows]  # the mark of an in-sample recipe, noted below the table
    # The script's cells are the report's own figures, not a second computation of them.
    report = pd.read_csv(REPO / "results/cpu-intel-xeon-processor-avx512/converged/report.csv", skiprows=1)
    report = report[~report["variant"].str.startswith("external:")]  # the real-data row heads the report only
    table = {cells[0]: cells[1:5] for cells in ([c.strip() for c in row.strip("|").split("|")] for row in rows)}
    assert set(table) == set(report["variant"])
    for _, row in report.iterrows():
        std = lambda key, fmt: f" ± {format_number(row[f'{key}_std'], fmt)}" if row[f"{key}_n"] > 1 else ""  # noqa: E731
        assert table[row["variant"]] == [f"{row['converged']}/{row['n_ok']}",
                                         format_number(row["stop_epochs_mean"], "{:.1f}") + std("stop_epochs", "{:.1f}"),
                                         format_number(row["fid_mnist_mean"], "{:.2f}") + std("fid_mnist", "{:.2f}"),
                                         format_number(row["fid_mnist_best_mean"], "{:.2f}")
                                         + std("fid_mnist_best", "{:.2f}")], row["variant"]
