"""The Python API: records as a DataFrame, the report's statistics, and runs from Python."""

import json
import math
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bench
from bench.data import assets
from bench.errors import BenchError
from bench.report import build_report
from bench.report.loading import record_files

pytestmark = pytest.mark.xdist_group("test_api")

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "results/cpu-amd-epyc-avx2/runs"  # the published quick set: 11 variants x 3 seeds


@pytest.fixture(scope="module")
def published_runs():
    return bench.load_runs(PUBLISHED)


def test_import_bench_loads_neither_torch_nor_pandas():
    code = "import sys, bench; print(sorted({'torch', 'pandas'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
    assert callable(bench.load_runs) and callable(bench.summarize) and callable(bench.run)


def test_load_runs_gives_one_row_per_record_with_flattened_sections(published_runs):
    files = record_files(PUBLISHED)
    assert len(published_runs) == len(files) == 33
    assert published_runs["run_id"].is_unique
    assert set(published_runs["path"]) == {str(f) for f in files}
    for column in ("variant", "seed", "status", "config.preset", "config.dataset", "config.hparams.lr_g",
                   "budget.g_steps", "metrics.fid_mnist", "systems.train_s", "env.device_slug"):
        assert column in published_runs.columns, column
    dcgan = published_runs[(published_runs["variant"] == "dcgan") & (published_runs["seed"] == 0)].iloc[0]
    record = json.loads(Path(dcgan["path"]).read_text())
    assert dcgan["metrics.fid_mnist"] == record["metrics"]["fid_mnist"]
    assert dcgan["systems.train_s"] == record["systems"]["train_s"]
    assert dcgan["config.preset"] == "quick" and dcgan["config.dataset"] == "mnist"  # older records name no dataset


def test_load_runs_skips_a_malformed_file_with_the_reports_warning(tmp_path):
    folder = tmp_path / "runs" / "cpu-amd-epyc-avx2"
    folder.mkdir(parents=True)
    for path in sorted(PUBLISHED.glob("*/dcgan-*.json")):
        shutil.copy(path, folder)
    (folder / "broken.json").write_text('{"run_id": ')
    with pytest.warns(UserWarning, match=r"skipped .*broken\.json: unreadable JSON"):
        runs = bench.load_runs(tmp_path)
    assert len(runs) == 3 and set(runs["variant"]) == {"dcgan"}


def test_load_runs_of_a_missing_folder_is_a_bench_error(tmp_path):
    with pytest.raises(BenchError, match="no such results directory"):
        bench.load_runs(tmp_path / "nowhere")


@pytest.mark.parametrize("folder", [PUBLISHED, ROOT / "results/cpu-intel-xeon-processor-avx512/converged",
                                    ROOT / "results/cpu-amd-epyc-avx2/stacked-mnist"])
def test_summarize_gives_the_reports_numbers(folder):
    report = build_report(folder).summary
    runs = bench.load_runs(folder)
    figures = [c for c in runs.columns if c in bench.api.FIGURES]
    ours = bench.summarize(runs, figures=figures)
    shared = [c for c in report.columns if c in ours.columns]
    assert {"variant", "n_ok", "n_diverged", "train_s_ci_hi", "g_steps_mean"} <= set(shared)
    assert any(c.endswith("fid_mnist_mean") or c.endswith("fid_stacked_mean") for c in shared)
    assert len(shared) > 50
    pd.testing.assert_frame_equal(ours[shared], report[shared], check_dtype=False, rtol=0, atol=0)


def test_summarize_defaults_to_the_quality_figures_and_groups_by_any_column(published_runs):
    summary = bench.summarize(published_runs)
    assert list(summary["variant"]) == sorted(published_runs["variant"].unique())
    assert {"fid_mnist_mean", "kid_mnist_ci_lo", "precision_mnist_std", "modes_covered_n"} <= set(summary.columns)
    assert not any(c.startswith("train_s") for c in summary.columns)  # systems only when asked for

    by_device = bench.summarize(published_runs, by=["variant", "env.device_slug"], figures=["systems.train_s"])
    assert list(by_device.columns[:2]) == ["variant", "env.device_slug"]
    began = published_runs[published_runs["variant"] == "began"]["systems.train_s"]
    assert math.isclose(by_device.loc[by_device["variant"] == "began", "train_s_mean"].item(), began.mean())


def test_summarize_names_an_unknown_column(published_runs):
    with pytest.raises(KeyError, match="did you mean metrics.fid_mnist"):
        bench.summarize(published_runs, figures=["metrics.fid_mnsit"])
    with pytest.raises(KeyError, match="'arch'"):
        bench.summarize(published_runs, by="arch")


def test_the_example_reproduces_the_published_fid_means(capsys):
    namespace = runpy.run_path(str(ROOT / "examples/analyse_results.py"))
    both = namespace["main"](PUBLISHED, ROOT / "results/cpu-amd-epyc-avx2/report.csv")
    assert len(both) == 11
    assert "fid_mnist means of all 11 variants equal" in capsys.readouterr().out


@pytest.mark.parametrize("options, error, words", [
    ({"preseet": "tiny"}, TypeError, "unknown option 'preseet' (did you mean 'preset'?)"),
    ({"fmt": "json"}, TypeError, "unknown option 'fmt'"),
    ({"seeds": "3"}, BenchError, "seeds must be an integer, got str"),
    ({"steps": 0, "out": "x"}, BenchError, "--steps must be at least 1, got 0"),
    ({"preset": "huge"}, BenchError, "unknown preset 'huge'"),
])
def test_run_refuses_bad_options_before_training(options, error, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error) as raised:
        bench.run(**options)
    assert words in str(raised.value)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def synthetic_mnist(tmp_path, monkeypatch):
    """A data directory laid out as `gan-bench fetch` leaves it, with random digit-shaped
    images, pinned as MNIST for the test: the run trains and scores on it as on MNIST."""
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (512, 28, 28), dtype=np.uint8),
              "train_labels": rng.integers(0, 10, 512, dtype=np.uint8),
              "test_images": rng.integers(0, 256, (600, 28, 28), dtype=np.uint8),
              "test_labels": rng.integers(0, 10, 600, dtype=np.uint8)}
    folder = tmp_path / "data"
    for key, name in assets.RAW_FILES.items():
        assets.write_idx(assets.raw_dir(folder) / name, arrays[key])
    monkeypatch.setattr(assets, "MNIST_SHA256", {k: assets.array_sha256(a) for k, a in assets.read_raw(folder).items()})
    return folder


def test_run_trains_through_the_runner_and_returns_the_records_it_wrote(synthetic_mnist, tmp_path):
    records = bench.run(variants=["vanilla"], preset="tiny", device="cpu", out=tmp_path / "out",
                        data_dir=synthetic_mnist)
    written = sorted((tmp_path / "out").glob("runs/*/*.json"))
    assert [(r["variant"], r["seed"]) for r in records] == [("vanilla", 0)] and len(written) == 1
    assert {r["status"] for r in records} == {"ok"}
    assert records[0]["budget"]["g_steps"] == 4  # the tiny preset's budget
    on_disk = {json.loads(p.read_text())["run_id"]: json.loads(p.read_text()) for p in written}
    for record in records:
        assert on_disk[record["run_id"]]["metrics"]["fid_mnist"] == record["metrics"]["fid_mnist"]
    # and they read back as a DataFrame
    assert set(bench.load_runs(tmp_path / "out")["run_id"]) == set(on_disk)
