"""The figures beyond FID inside gan-bench: every run's final evaluation, `gan-bench score`,
the record, the report's Beyond FID table and the copy grid (small synthetic set; the
calibration on real MNIST is tests/test_beyond.py's)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.eval.beyond import BEYOND_KEYS, PIXELS_SKIPPED

pytestmark = pytest.mark.xdist_group("test_beyond_evaluation")

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, list(map(str, args)))


@pytest.fixture(scope="module")
def tiny_runs(small_mnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("beyond-runs")
    with small_mnist.pinned() as data_dir:
        result = cli("run", "--variants", "dcgan,vanilla", "--preset", "tiny", "--device", "cpu", "--out", out,
                     "--data-dir", data_dir)
    assert result.exit_code == 0, result.output
    return out, [json.loads(p.read_text()) for p in sorted(out.glob("runs/*/*.json"))]


def test_every_final_evaluation_has_each_figure_or_its_reason(tiny_runs):
    out, records = tiny_runs
    for record in records:
        metrics = record["metrics"]
        for key in BEYOND_KEYS:
            assert (key in metrics) != (key in metrics["absent"]), key
        assert 0 <= metrics["copy_rate_mnist"] <= 1 and 0 <= metrics["coverage_mnist"] <= 1
        assert isinstance(metrics["ct_mnist"], float) and metrics["density_mnist"] >= 0
        # 500 samples: too few for FID-infinity's line from 2,000; the pixel view is score's.
        assert "more than 2000 samples" in metrics["absent"]["fid_mnist_inf"]
        assert metrics["absent"]["copy_rate_pixels"] == PIXELS_SKIPPED
        section = record["beyond_fid"]
        assert section["ct"]["k"] == 50 and section["ct"]["tau_samples"] == 20
        assert len(section["nearest"]["sample"]) == 16 and sorted(section["nearest"]["distance"]) == \
            section["nearest"]["distance"]
        assert (out / "runs" / record["env"]["device_slug"] / record["paths"]["copies"]).is_file()


def test_the_html_report_shows_each_variants_copy_grid_beside_the_beyond_fid_table(tiny_runs, tmp_path):
    out, records = tiny_runs
    result = cli("report", out, "--out", tmp_path, "--format", "html,md")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "copies.png").is_file()
    page = (tmp_path / "report.html").read_text()
    beyond = page.split('<h2 id="beyond-fid">')[1].split("<h2")[0]
    assert '<img src="copies.png"' in beyond
    assert "copies.png" not in page.split('<h2 id="beyond-fid">')[0]
    assert "copies.png" in (tmp_path / "report.md").read_text().split("## Beyond FID\n")[1].split("\n## ")[0]
    # Without the runs' grids there is no plot, and no stale one is left behind.
    grids = [out / "runs" / r["env"]["device_slug"] / r["paths"]["copies"] for r in records]
    for grid in grids:
        grid.rename(tmp_path / f"{grid.name}.bak")
    try:
        assert cli("report", out, "--out", tmp_path, "--format", "html").exit_code == 0
        assert not (tmp_path / "copies.png").exists()
    finally:
        for grid in grids:
            (tmp_path / f"{grid.name}.bak").rename(grid)


def test_the_report_has_a_beyond_fid_table(tiny_runs, tmp_path):
    out, records = tiny_runs
    result = cli("report", out, "--out", tmp_path, "--format", "md,csv")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "report.md").read_text()
    beyond = text.split("## Beyond FID\n")[1].split("\n## ")[0]
    assert "| dcgan |" in beyond and "copy rate" in beyond and "C_T" in beyond
    quality = text.split("## Quality\n")[1].split("\n## ")[0]
    assert "copy rate" not in quality
    import pandas as pd

    table = pd.read_csv(tmp_path / "report.csv", comment="#")
    assert {"copy_rate_mnist_mean", "ct_mnist_mean", "coverage_mnist_mean"} <= set(table.columns)


def score(*args):
    result = cli("score", *args, "--device", "cpu", "--format", "json", "--no-record")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout[result.stdout.index("["):result.stdout.rindex("]") + 1])
    return {row["figure"]: row["value"] for row in rows}


def test_training_images_read_as_copies_and_test_images_as_unseen(small_mnist_dir, tmp_path):
    """The yardstick's calibration: the training set itself is all copies, in both views; the
    held-out images are copied no more than the threshold lets 1 % of them be."""
    from bench.data import assets

    mnist = assets.load_mnist(small_mnist_dir)
    np.save(tmp_path / "train.npy", mnist["train_images"].numpy())
    np.save(tmp_path / "test.npy", mnist["test_images"].numpy())
    train = score(tmp_path / "train.npy", "--data-dir", small_mnist_dir)
    assert train["copy_rate_mnist"] == 1.0 and train["copy_rate_pixels"] == 1.0
    test = score(tmp_path / "test.npy", "--data-dir", small_mnist_dir)
    assert test["copy_rate_mnist"] <= 0.011 and test["copy_rate_pixels"] <= 0.011
    assert test["coverage_mnist"] == 1.0  # each test point lies inside its own ball


def test_every_table_at_the_real_data_count_starts_with_the_real_data_row(tiny_runs, small_mnist, tmp_path,
                                                                          monkeypatch):
    """The real-data score of the same dataset, classifier and N heads the quality tables."""
    from bench.report import sets

    out, records = tiny_runs
    n = records[0]["metrics"]["n_fake"]
    with small_mnist.pinned() as data_dir:
        result = cli("score", "mnist:train", "--samples", n, "--name", "real-data", "--device", "cpu",
                     "--data-dir", data_dir, "--out", tmp_path / "real")
    assert result.exit_code == 0, result.output
    (made,) = (tmp_path / "real").glob("runs/*/*.json")
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    # Made on another machine than the runs: real data's figures head the tables of any machine.
    real = json.loads(made.read_text())
    real["env"]["device_slug"] = "cpu-other-machine-avx512"
    (shipped / "real-data-mnist-test.json").write_text(json.dumps(real))
    monkeypatch.setattr(sets, "REAL_DATA_DIR", shipped)
    result = cli("report", out, "--out", tmp_path / "report", "--format", "md")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "report" / "report.md").read_text()
    for title in ("Quality", "Beyond FID"):
        rows = [line for line in text.split(f"## {title}\n")[1].split("\n## ")[0].splitlines()
                if line.startswith("| ") and not line.startswith("| variant")]
        assert rows[0].startswith("| external:real-data |") and len(rows) == 3, rows
    assert "gan-bench score mnist:train --samples" in text
    monkeypatch.setattr(sets, "REAL_DATA_DIR", tmp_path / "none")
    result = cli("report", out, "--out", tmp_path / "plain", "--format", "md")
    assert "real-data" not in (tmp_path / "plain" / "report.md").read_text()
