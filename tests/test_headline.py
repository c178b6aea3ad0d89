"""`gan-bench headline`: the converged table README.md and docs/published.md paste, printed
from the published sets' reports (tests/test_results_index.py holds the pages to it)."""

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from bench.cli import app
from bench.report.headline import HEADER, KEYS, headline_cells, recipe_check_notes

RESULTS = Path(__file__).resolve().parents[1] / "results"
CONVERGED = RESULTS / "cpu-intel-xeon-processor-avx512" / "converged"
QUICK = RESULTS / "cpu-amd-epyc-avx2"
runner = CliRunner()


def headline(*args):
    return runner.invoke(app, ["headline", str(CONVERGED), "--quick", str(QUICK), *args], terminal_width=60)


def test_markdown_is_the_header_then_a_row_per_variant():
    result = headline()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    cells = headline_cells(CONVERGED, QUICK)
    # Rows far wider than the terminal, each on one line, as the pages have them.
    assert lines[0] == HEADER and lines[1] == "|---" * len(KEYS) + "|"
    assert lines[2:2 + len(cells)] == ["| " + " | ".join(row) + " |" for row in cells]
    assert lines[2 + len(cells):] == ["", *recipe_check_notes(cells)]
    assert "[variants.md](docs/variants.md#" in result.output
    docs = headline("--links", "docs")
    assert "[variants.md](variants.md#" in docs.output and "docs/variants.md" not in docs.output


def test_json_names_each_cell():
    result = headline("--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    rows = out["rows"]
    assert [list(row) for row in rows] == [list(KEYS)] * len(rows)
    assert [list(row.values()) for row in rows] == headline_cells(CONVERGED, QUICK)
    assert out["notes"] == recipe_check_notes(headline_cells(CONVERGED, QUICK))


def test_a_recipe_tuned_on_the_published_seeds_is_marked_and_its_fresh_seeds_noted(tmp_path, monkeypatch):
    """BEGAN's recipe was chosen on the converged set's own seeds: its row says so, and the
    note gives its figure on fresh seeds from their set's report, once that is published."""
    from bench.report import headline as module

    cells = headline_cells(CONVERGED, QUICK)
    began = next(row for row in cells if row[0] == "began")
    assert began[3].endswith(module.IN_SAMPLE) and all(not row[3].endswith(module.IN_SAMPLE)
                                                       for row in cells if row[0] != "began")
    fresh = tmp_path / "fresh"
    monkeypatch.setitem(module.RECIPE_CHECKS, "began", (fresh, "a test CPU"))
    (note,) = recipe_check_notes(cells, root=tmp_path)
    assert "not published yet" in note
    fresh.mkdir()
    # A report of the fresh seeds: the converged set's own, its BEGAN row standing in for them.
    (fresh / "report.csv").write_text((CONVERGED / "report.csv").read_text())
    (note,) = recipe_check_notes(cells, root=tmp_path)
    row = module.read_report(CONVERGED / "report.csv").set_index("variant").loc["began"]
    assert f"last {module.mean_sd(row, 'fid_mnist', '{:.2f}')}, best point" in note
    assert f"({row['seeds_ok']}), same protocol, on a test CPU" in note and f"]({fresh.as_posix()}/report.md)" in note


def test_bad_input_is_one_error_line(tmp_path):
    half = tmp_path / "converged"  # the report without its pairs
    half.mkdir()
    shutil.copy(CONVERGED / "report.csv", half)
    for args in ([str(tmp_path / "absent")], [str(tmp_path)], [str(half)], [str(CONVERGED), "--links", "wiki"],
                 [str(CONVERGED), "--format", "csv"], [str(CONVERGED), "--quick", str(tmp_path / "absent")]):
        result = runner.invoke(app, ["headline", *args])
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("error:") and len(result.output.strip().splitlines()) == 1, result.output
    result = runner.invoke(app, ["headline", str(half)])
    assert "no report_pairs.csv in" in result.output
