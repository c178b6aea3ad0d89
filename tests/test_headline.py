"""`gan-bench headline`: the converged table README.md and docs/published.md paste, printed
from the published sets' reports (tests/test_results_index.py holds the pages to it)."""

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from bench.cli import app
from bench.report.headline import HEADER, KEYS, headline_cells

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
    assert lines[2:] == ["| " + " | ".join(row) + " |" for row in cells]
    assert "[variants.md](docs/variants.md#" in result.output
    docs = headline("--links", "docs")
    assert "[variants.md](variants.md#" in docs.output and "docs/variants.md" not in docs.output


def test_json_names_each_cell():
    result = headline("--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [list(row) for row in rows] == [list(KEYS)] * len(rows)
    assert [list(row.values()) for row in rows] == headline_cells(CONVERGED, QUICK)


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
