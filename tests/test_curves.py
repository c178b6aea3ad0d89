"""`gan-bench curves`: each run's curve and stop, as its record has them (the per-seed
figures docs/variants.md and docs/published.md quote)."""

import json
from pathlib import Path

from typer.testing import CliRunner

from bench.cli import app
from bench.report.curves import run_figures
from test_report import make_record, write_record

CONVERGED = Path(__file__).resolve().parents[1] / "results" / "cpu-intel-xeon-processor-avx512" / "converged"
runner = CliRunner()


def test_each_published_seed_is_as_its_record_has_it():
    record = json.loads(next((CONVERGED / "runs").rglob("began-s0-*.json")).read_text())
    figures = run_figures(record)
    fids = [p for p in record["curve"] if p.get("fid_mnist") is not None]
    assert figures["curve"] == [(p["step"], round(p["fid_mnist"], 1)) for p in fids]
    assert figures["fid_mnist"] == round(record["metrics"]["fid_mnist"], 2)
    assert figures["stop"] == record["convergence"]["status"]
    logged = [p["diagnostics"]["k"] for p in record["curve"] if "k" in p.get("diagnostics", {})]
    assert figures["k_above_0"] == f"{sum(k > 0 for k in logged)} of {len(logged)} log points"
    assert len(logged) > len(fids) > 0
    dcgan = json.loads(next((CONVERGED / "runs").rglob("dcgan-s0-*.json")).read_text())
    assert "k_above_0" not in run_figures(dcgan)


def test_the_command_prints_every_run_whole(tmp_path):
    record = make_record("dcgan", 0, fid=12.0)
    # A curve longer than any terminal: the line holds every point, unwrapped.
    record["curve"] = [{"step": step, "fid_mnist": 100.0 - step / 100} for step in range(0, 5000, 50)]
    write_record(tmp_path, record)
    write_record(tmp_path, make_record("lsgan", 0, fid=20.0))
    result = runner.invoke(app, ["curves", str(tmp_path)], terminal_width=60)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "dcgan seed 0: fixed budget; fid_mnist 12.0 (best point None), modes 10"
    assert lines[1] == f"  curve: {run_figures(record)['curve']}"
    assert any(line.startswith("lsgan seed 0:") for line in lines)


def test_json_is_the_figures_of_the_chosen_variants(tmp_path):
    write_record(tmp_path, make_record("dcgan", 0, fid=12.0))
    write_record(tmp_path, make_record("dcgan", 1, fid=14.0))
    write_record(tmp_path, make_record("lsgan", 0, fid=20.0))
    result = runner.invoke(app, ["curves", str(tmp_path), "--variants", "dcgan", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(row["variant"], row["seed"], row["fid_mnist"]) for row in rows] == [("dcgan", 0, 12.0),
                                                                                 ("dcgan", 1, 14.0)]


def test_bad_input_is_one_error_line(tmp_path):
    for args in (["curves", str(tmp_path / "absent")], ["curves", str(tmp_path)],
                 ["curves", str(tmp_path), "--format", "csv"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, args
        assert result.output.startswith("error:") and len(result.output.strip().splitlines()) == 1, result.output
    write_record(tmp_path, make_record("dcgan", 0, fid=12.0))
    result = runner.invoke(app, ["curves", str(tmp_path), "--variants", "wgan"])
    assert result.exit_code == 2 and result.output.startswith("error: no run records of wgan")
