"""The report of a hyperparameter study on hand-made records: the expected best FID after k
configurations, the best configuration per variant, the rerun-best tables, refusals, plots."""

import json
import math
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench import report
from bench.errors import BenchError
from test_report import make_record

SLUG = "cpu-test-cpu"
STUDY_ID = "0123456789ab"
INF = math.inf

# variant -> final fid_mnist per configuration (None: the configuration's run failed).
SEARCH = {"dcgan": [30.0, 12.5, 20.0, None, 45.0], "lsgan": [25.0, 40.0, 22.0]}


def params_of(index):
    return {"lr": 0.0001234 * (index + 1), "beta1": 0.5, "loss": "ns", "spectral_norm": index % 2 == 1}


def make_study_record(variant, config_index, seed=0, status="ok", fid=None, phase="search", study_id=STUDY_ID,
                      params=None, **kwargs):
    record = make_record(variant, seed, status=status, fid=fid, **kwargs)
    record["run_id"] = f"{variant}-c{config_index}-s{seed}-{phase}-{status}-{study_id}"
    if record["paths"].get("samples"):
        record["paths"]["samples"] = f"{record['run_id']}.png"
    params = params_of(config_index) if params is None else params
    record["config"]["hparams"] = dict(params)
    record["config_hash"] = f"{variant}-config-{config_index}"
    record["study"] = {"id": study_id, "name": "lucic-small", "space": "lucic2018-wide",
                       "config_index": config_index, "params": params, "phase": phase}
    return record


def write_record(results, record):
    folder = results / "runs" / record["env"]["device_slug"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record['run_id']}.json"
    path.write_text(json.dumps(record))
    if record["paths"].get("samples"):
        Image.effect_noise((62, 62), 60).save(folder / record["paths"]["samples"])
    return path


def write_search(root, search=SEARCH, **kwargs):
    for variant, fids in search.items():
        for index, fid in enumerate(fids):
            status = "ok" if fid is not None else "failed"
            write_record(root, make_study_record(variant, index, status=status, fid=fid, **kwargs))
    return root


@pytest.fixture
def study(tmp_path):
    """The search above, then each variant's best configuration rerun over 3 seeds."""
    root = write_search(tmp_path / "results")
    for variant, index, fids in (("dcgan", 1, [12.0, 13.0, 14.0]), ("lsgan", 2, [21.0, 22.0, 26.0])):
        for seed, fid in enumerate(fids):
            write_record(root, make_study_record(variant, index, seed=seed, fid=fid, phase="rerun-best"))
    return root


def brute_force(fids, k):
    return float(np.mean([min(subset) for subset in combinations(fids, k)]))


def table(built, title):
    return next(t for name, _, t in built.tables() if name == title)


# --- the expected best FID after k configurations ---------------------------------------------

@pytest.mark.parametrize("fids", [
    list(np.random.RandomState(1).uniform(5, 80, size=6)),
    [10.0, 10.0, 3.0, 7.0, 7.0, 50.0],  # ties
    [4.0],
])
def test_expected_best_is_the_mean_minimum_over_every_k_subset(fids):
    curve = report.expected_best(fids)
    assert len(curve) == len(fids)
    for k in range(1, len(fids) + 1):
        assert curve[k - 1] == pytest.approx(brute_force(fids, k), rel=1e-12)


def test_expected_best_by_hand():
    curve = report.expected_best([4.0, 1.0, 3.0, 2.0])
    # k = 1: the mean; k = 2: the six pairs' minima 1 1 1 2 2 3; k = 3: 1 1 1 2; k = n: the minimum.
    assert list(curve) == pytest.approx([2.5, 10 / 6, 5 / 4, 1.0])


def test_a_failed_configuration_is_a_draw_that_found_nothing():
    fids = [1.0, INF, 3.0, INF]
    curve = report.expected_best(fids)
    # Two failures: one or two draws can both be failures, three cannot.
    assert curve[0] == INF and curve[1] == INF
    assert curve[2] == pytest.approx(brute_force(fids, 3)) and curve[3] == 1.0
    assert list(report.expected_best([INF, INF])) == [INF, INF]
    assert not np.isnan(report.bootstrap_band(fids)).any()


def test_the_bootstrap_band_contains_the_curve_and_is_reproducible():
    fids = list(np.random.RandomState(2).lognormal(3, 0.5, size=12))
    curve = report.expected_best(fids)
    lo, hi = report.bootstrap_band(fids)
    assert (lo <= curve + 1e-9).all() and (curve <= hi + 1e-9).all() and (lo < hi)[:-1].all()
    again = report.bootstrap_band(fids)
    assert (again[0] == lo).all() and (again[1] == hi).all()
    assert not (report.bootstrap_band(fids, seed=1)[1] == hi).all()  # the seed, not chance, makes it repeat


# --- the search phase --------------------------------------------------------------------------

def test_the_best_configuration_has_the_lowest_fid_and_shows_its_hyperparameters(study):
    built = report.build_report(study)
    best = table(built, "Best configuration per variant").set_index("variant")
    assert best.loc["dcgan", "best config"] == "1" and best.loc["dcgan", "best fid_mnist ↓"] == "12.50"
    assert best.loc["dcgan", "hyperparameters"] == "lr=0.000247 beta1=0.5 loss=ns spectral_norm=true"
    assert (best.loc["dcgan", "configurations"], best.loc["dcgan", "ok"]) == ("5", "4")
    assert best.loc["dcgan", "median fid_mnist"] == "25.00"  # of 12.5, 20, 30, 45; the failure has none
    assert best.loc["lsgan", "best config"] == "2" and best.loc["lsgan", "best fid_mnist ↓"] == "22.00"
    every = table(built, "Every configuration")
    assert len(every) == 8
    failed = every[(every["variant"] == "dcgan") & (every["config"] == "3")].iloc[0]
    assert failed["status"] == "FAILED" and failed["fid_mnist"] == ""


def test_several_seeds_of_one_configuration_are_one_draw_at_their_mean(tmp_path):
    root = tmp_path / "results"
    for seed, fid in enumerate([10.0, 14.0]):
        write_record(root, make_study_record("dcgan", 0, seed=seed, fid=fid))
    write_record(root, make_study_record("dcgan", 0, seed=2, status="diverged"))
    write_record(root, make_study_record("dcgan", 1, fid=20.0))
    configs = report.build_report(root).study.configurations.set_index("config_index")
    assert configs.loc[0, "fid"] == 12.0 and (configs.loc[0, "runs"], configs.loc[0, "ok"]) == (3, 2)
    assert list(report.build_report(root).study.curves["expected_best"]) == [16.0, 12.0]


def test_the_expected_best_table_and_csv(study):
    paths = report.write_report(study)
    out = study / "reports" / SLUG
    assert {"study_configurations.csv", "study_expected_best.csv"} <= {p.name for p in paths}
    curves = pd.read_csv(out / "study_expected_best.csv", comment="#")
    assert list(curves.columns) == ["variant", "k", "expected_best", "band_lo", "band_hi"]
    dcgan = curves[curves["variant"] == "dcgan"]
    assert list(dcgan["k"]) == [1, 2, 3, 4, 5]
    assert dcgan["expected_best"].iloc[0] == INF  # one draw may be the failed configuration
    assert list(dcgan["expected_best"].iloc[1:]) == pytest.approx(
        [brute_force([30.0, 12.5, 20.0, INF, 45.0], k) for k in (2, 3, 4, 5)])
    configs = pd.read_csv(out / "study_configurations.csv", comment="#")
    assert len(configs) == 8 and configs["fid"].isna().sum() == 1
    md = (out / "report.md").read_text()
    assert "## Expected best FID after k configurations" in md and "| dcgan | 1 | ∞ |" in md
    tex = "\n".join(line for line in (out / "report.tex").read_text().splitlines() if not line.startswith("%"))
    assert "∞" not in tex and r"$\infty$" in tex


# --- the rerun-best phase and the files --------------------------------------------------------

def test_rerun_best_runs_get_the_ordinary_seed_statistics(study):
    built = report.build_report(study)
    summary = built.summary.set_index("variant")
    assert summary.loc["dcgan", "fid_mnist_n"] == 3 and summary.loc["dcgan", "fid_mnist_mean"] == pytest.approx(13.0)
    assert summary.loc["lsgan", "fid_mnist_mean"] == pytest.approx(23.0) and summary.loc["dcgan", "n_ok"] == 3
    assert len(built.pairs) == 1 and built.pairs.iloc[0]["n_a"] == 3
    titles = [title for title, _, _ in built.tables()]
    assert titles == ["Best configuration per variant", "Expected best FID after k configurations",
                      "Every configuration", "Best configurations rerun: Quality", "Best configurations rerun: Systems",
                      "Best configurations rerun: Pairwise comparison of final fid_mnist"]
    assert not any("mixes" in w for w in built.warnings)  # the search's many configurations are no seeds


def test_every_file_names_its_command_and_the_study(study):
    paths = report.write_report(study)
    out = study / "reports" / SLUG
    names = {p.name for p in paths}
    assert {"study_fid_distribution.png", "study_expected_best.png", "convergence.png"} <= names
    command = f"gan-bench report {study} --out {out}"
    for name in ("report.md", "report.csv", "report.tex", "report.html", "study_configurations.csv",
                 "study_expected_best.csv"):
        assert command in (out / name).read_text(), name
    md = (out / "report.md").read_text()
    assert f"- study: lucic-small (id {STUDY_ID})" in md and "- search space: lucic2018-wide" in md
    assert "lucic-small" in (out / "report.html").read_text()
    for name in ("study_fid_distribution.png", "study_expected_best.png"):
        assert (out / name).stat().st_size > 10_000
        with Image.open(out / name) as image:
            assert command in image.info.get("Description", "")
        assert f"![{Path(name).stem}]({name})" in md


def test_a_search_without_any_fid_draws_no_study_plot_and_removes_stale_ones(study, tmp_path):
    out = tmp_path / "out"
    report.write_report(study, out_dir=out)
    assert (out / "study_expected_best.png").exists()
    failed = write_search(tmp_path / "failed", {"dcgan": [None, None]}, study_id="ba9876543210")
    paths = report.write_report(failed, out_dir=out)
    assert not any(p.suffix == ".png" for p in paths)
    assert not (out / "study_expected_best.png").exists() and not (out / "study_fid_distribution.png").exists()
    assert "| dcgan | 2 | 0 |  |  |  |  |" in (out / "report.md").read_text()
    assert list(pd.read_csv(out / "report.csv", comment="#").columns) == ["variant"]  # nothing rerun yet


def test_an_ordinary_results_folder_gets_exactly_the_ordinary_files(study, tmp_path):
    out = tmp_path / "out"
    report.write_report(study, out_dir=out)  # stale study files the ordinary report must not leave
    root = tmp_path / "ordinary"
    for variant, fids in (("dcgan", [10.0, 12.0]), ("lsgan", [20.0, 22.0])):
        for seed, fid in enumerate(fids):
            write_record(root, make_record(variant, seed, fid=fid))
    paths = report.write_report(root, out_dir=out)
    assert [p.name for p in paths] == ["report.md", "report.csv", "report.tex", "report.html", "report_pairs.csv",
                                       "convergence.png", "samples.png", "systems.png"]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)
    md = (out / "report.md").read_text()
    assert "study" not in md.lower() and "## Quality" in md and "configurations" not in md


# --- refusals and skips ------------------------------------------------------------------------

def test_two_studies_are_not_mixed(study):
    write_record(study, make_study_record("dcgan", 0, fid=9.0, study_id="ffffffffffff"))
    with pytest.raises(BenchError) as error:
        report.write_report(study)
    message = str(error.value)
    assert message.startswith("records mix study ids: ") and "ffffffffffff (1 run)" in message
    assert f"{STUDY_ID} (14 runs)" in message and "\n" not in message


def test_study_runs_and_ordinary_runs_are_not_mixed(study):
    write_record(study, make_record("dcgan", 7, fid=9.0))
    with pytest.raises(BenchError) as error:
        report.write_report(study)
    assert str(error.value).startswith("records mix study runs (14) and ordinary runs (1)")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("change, problem", [
    ({"study": "lucic"}, "'study' must be an object"),
    ({"id": None}, "'study.id' must be a non-empty string"),
    ({"config_index": -1}, "'study.config_index' must be a non-negative integer"),
    ({"config_index": True}, "'study.config_index' must be a non-negative integer"),
    ({"params": {"lr": [0.1]}}, "'study.params' must be an object of numbers, strings and booleans"),
    ({"phase": "final"}, "'study.phase' must be search or rerun-best"),
    ({"space": None, "drop": "space"}, "missing key 'study.space'"),
])
def test_a_malformed_study_section_is_skipped_with_a_warning_naming_the_file(study, change, problem):
    record = make_study_record("dcgan", 9, fid=5.0)
    if "study" in change:
        record["study"] = change["study"]
    elif "drop" in change:
        del record["study"][change["drop"]]
    else:
        record["study"].update(change)
    path = write_record(study, record)
    records, warnings = report.load_records(study)
    assert len(records) == 14 and len(warnings) == 1 and warnings[0].startswith(f"skipped {path}: {problem}")


def test_a_schema_3_study_record_is_read_where_the_schema_is_readable(tmp_path, monkeypatch):
    monkeypatch.setattr("bench.report.loading.READABLE_SCHEMAS", (1, 2, 3))
    record = make_study_record("dcgan", 0, fid=5.0)
    record["schema_version"] = 3
    write_record(tmp_path, record)
    records, warnings = report.load_records(tmp_path)
    assert warnings == [] and records[0]["study"]["phase"] == "search"
