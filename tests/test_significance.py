"""Which differences between variants the seeds can support, and intervals that stay inside
each figure's range: the pairwise tests, Holm's correction, the effect size, the budget caps."""

import math
from pathlib import Path

import pandas as pd
import pytest

from bench import report
from bench.report import headline, summary
from bench.report.loading import upgrade
from test_report import SLUG, make_record, write_record

REPO = Path(__file__).resolve().parents[1]
CONVERGED = REPO / "results/cpu-intel-xeon-processor-avx512/converged"


def fid_records(fids: dict[str, list[float]]) -> list[dict]:
    return [{**upgrade(make_record(variant, seed, fid=fid)), report.SOURCE_KEY: f"{variant}-{seed}.json"}  # as loaded
            for variant, values in fids.items() for seed, fid in enumerate(values)]


# --- Holm-Bonferroni ---------------------------------------------------------------------------

def test_holm_matches_a_hand_worked_example():
    # Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04, raised to the
    # 0.06 before it (a step-down adjustment never falls); back in the order given.
    assert summary.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # An untested pair stays NaN and does not count in m (m = 2 here); products above 1 stop at 1.
    adjusted = summary.holm([0.02, math.nan, 0.6, 0.7])
    assert adjusted[0] == pytest.approx(0.06) and math.isnan(adjusted[1]) and adjusted[2:] == [1.0, 1.0]
    assert summary.holm([]) == []


def test_the_pairwise_table_corrects_over_all_its_pairs():
    pairs = report.pairwise_fid(fid_records({"a": [10.0, 11.0, 12.0], "b": [10.5, 12.0, 13.0],
                                             "c": [30.0, 31.0, 33.0]}))
    assert len(pairs) == 3
    assert list(pairs["p_holm"]) == pytest.approx(summary.holm(list(pairs["p_value"])))
    assert (pairs["p_holm"] >= pairs["p_value"]).all() and (pairs["p_holm"] > pairs["p_value"]).any()
    assert list(pairs["significant"]) == [p < 0.05 for p in pairs["p_holm"]]
    # a and b overlap: no claim; both lie far below c.
    verdict = dict(zip(zip(pairs["variant_a"], pairs["variant_b"]), pairs["significant"]))
    assert verdict == {("a", "b"): False, ("a", "c"): True, ("b", "c"): True}


# --- the test and the effect size --------------------------------------------------------------

def test_the_probability_of_being_better_counts_ties_half_and_lower_fid_wins():
    pairs = report.pairwise_fid(fid_records({"a": [1.0, 3.0, 5.0], "b": [2.0, 4.0, 5.0]}))
    # a's seed below b's in 5 of the 9 pairs (1<2, 1<4, 1<5, 3<4, 3<5), one tie (5, 5): 5.5 / 9.
    assert pairs.iloc[0]["p_a_better"] == pytest.approx(5.5 / 9)


def test_from_six_seeds_the_exact_rank_test_takes_over_where_it_can_reject():
    x, y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
    test, _, p, smallest = summary.seed_test(x, y, n_pairs=1)
    # Complete separation is the most extreme of C(12, 6) = 924 splits, on either side: p = 2 / 924.
    assert test == "Mann-Whitney U (exact)" and p == pytest.approx(2 / 924) and smallest == pytest.approx(2 / 924)
    # With ties the same exact p comes from a permutation test of the mid-rank U.
    test, _, p, _ = summary.seed_test([1.0, 1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0, 10.0], n_pairs=1)
    assert test == "Mann-Whitney U, ties (exact permutation)" and p == pytest.approx(2 / 924)
    # 66 pairs (twelve variants): 66 x 2 / 924 = 0.14, so no rank test could survive Holm; Welch's t can.
    assert summary.seed_test(x, y, n_pairs=66)[0] == "Welch's t"
    assert summary.seed_test(x[:5], y[:5], n_pairs=1)[0] == "Welch's t"


def test_the_report_states_when_the_seeds_support_no_claim(tmp_path):
    # One seed each: nothing to test, and the report says so in one line rather than showing no table.
    for variant, fid in (("dcgan", 10.0), ("lsgan", 20.0)):
        write_record(tmp_path, make_record(variant, 0, fid=fid))
    built = report.build_report(tmp_path, out_dir=tmp_path / "out")
    notes = {title: note for title, note, _ in built.tables()}
    assert notes["Pairwise comparison of final fid_mnist"].startswith(
        "No claim of a difference is possible: a test needs 2 ok seeds a side, and dcgan, lsgan have fewer.")
    report.write_report(tmp_path, formats="md", out_dir=tmp_path / "out")
    assert "No claim of a difference is possible" in (tmp_path / "out" / "report.md").read_text()
    # Seeds with no spread at all on either side: no test.
    records = fid_records({"a": [10.0, 10.0], "b": [12.0, 12.0]})
    pairs = report.pairwise_fid(records)
    assert pairs.iloc[0]["test"].startswith("none") and not pairs.iloc[0]["significant"]
    assert summary.claims_note(records, pairs).startswith("No claim of a difference is possible: no pair has any spread")
    # Three seeds a side that Welch's t can separate: no such line.
    records = fid_records({"a": [10.0, 11.0, 12.0], "b": [20.0, 21.0, 23.0]})
    assert summary.claims_note(records, report.pairwise_fid(records)) is None


def test_the_pairs_are_written_for_scripts(tmp_path):
    for variant, fids in {"dcgan": [10.0, 12.0, 14.0], "lsgan": [20.0, 22.0, 27.0]}.items():
        for seed, fid in enumerate(fids):
            write_record(tmp_path, make_record(variant, seed, fid=fid))
    written = report.write_report(tmp_path, formats="md,csv", out_dir=tmp_path / "out")
    assert tmp_path / "out" / "report_pairs.csv" in written
    pairs = pd.read_csv(tmp_path / "out" / "report_pairs.csv", comment="#")
    assert list(pairs.columns) == report.summary.PAIR_COLUMNS
    assert pairs.iloc[0]["significant"] == True  # noqa: E712 (read back as numpy's bool)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| dcgan | lsgan | 3/3 | 12.00 | 23.00 | 1.00 | Welch's t | 0.0174 | 0.0174 | no floor | yes |" in md


# --- intervals inside every range --------------------------------------------------------------

def capped_record(variant, seed, g_steps, epochs, n_critic=1):
    record = make_record(variant, seed, fid=10.0 + seed)
    record["config"]["hparams"] = {"n_critic": n_critic}
    # An epoch budget plans a fifth of the G updates under n_critic 5 (each takes 5 batches).
    record["budget"].update(g_steps_planned=150 // n_critic, g_steps=g_steps, d_steps=g_steps * n_critic)
    record["convergence"] = {"status": "converged" if epochs < 20 else "capped", "epochs": epochs,
                             "g_steps": g_steps, "d_steps": g_steps * n_critic, "images": g_steps * 64,
                             "train_s": 1.5, "rule": {"max_epochs": 20.0, "patience": 3, "min_delta": 0.02,
                                                      "every_images": 60000, "curve_samples": 10000}}
    return record


def test_budget_intervals_stop_at_the_cap_and_say_so(tmp_path):
    for seed, (g_steps, epochs) in enumerate([(140, 19.0), (150, 20.0), (150, 20.0)]):
        write_record(tmp_path, capped_record("dcgan", seed, g_steps, epochs))
        write_record(tmp_path, capped_record("wgan", seed, g_steps // 5, epochs, n_critic=5))
    built = report.build_report(tmp_path, out_dir=tmp_path / "out")
    rows = built.summary.set_index("variant")
    dcgan, wgan = rows.loc["dcgan"], rows.loc["wgan"]
    # 19.67 ± 0.58 over 3 seeds: the t-interval's top, 21.1, is past the 20-epoch cap.
    assert dcgan["stop_epochs_ci_hi"] == 20.0 and dcgan["stop_epochs_ci_hi_clipped"]
    assert dcgan["stop_epochs_ci_lo"] < 19.0 and not dcgan["stop_epochs_ci_lo_clipped"]
    assert dcgan["g_steps_ci_hi"] == 150 and dcgan["g_steps_ci_hi_clipped"]
    assert dcgan["stop_d_steps_ci_hi"] == 150
    # Each variant its own cap: under n_critic 5 a fifth of the G updates, all the D updates.
    assert wgan["g_steps_ci_hi"] == 30 and wgan["d_steps_ci_hi"] == 150 and wgan["stop_g_steps_ci_hi"] == 30
    # The training seconds have no cap (a time budget overshoots to the next step boundary).
    assert not dcgan["stop_train_s_ci_hi_clipped"]
    tables = {title: table for title, _, table in built.tables()}
    assert tables["Convergence"].set_index("variant").loc["dcgan", "epochs at stop"] == "19.7 ± 0.6 [18.2, 20.0*]"
    assert tables["Systems"].set_index("variant").loc["wgan", "G updates"].endswith(", 30*]")
    notes = {title: note for title, note, _ in built.tables()}
    assert "marked *" in notes["Convergence"] and "marked *" in notes["Systems"]
    # A script sees the mark too.
    report.write_report(tmp_path, formats="csv", out_dir=tmp_path / "out")
    csv = pd.read_csv(tmp_path / "out" / "report.csv", comment="#").set_index("variant")
    assert csv.loc["dcgan", "stop_epochs_ci_hi_clipped"] == True  # noqa: E712
    assert csv.loc["dcgan", "fid_mnist_ci_hi_clipped"] == False  # noqa: E712


def test_a_record_without_a_cap_leaves_the_interval_open(tmp_path):
    for seed, g_steps in enumerate([100, 150, 150]):
        record = capped_record("dcgan", seed, g_steps, 20.0)
        record["budget"]["g_steps_planned"] = None  # a time budget plans no updates
        write_record(tmp_path, record)
    row = report.build_report(tmp_path, out_dir=tmp_path / "out").summary.iloc[0]
    assert row["g_steps_ci_hi"] > 150 and not row["g_steps_ci_hi_clipped"]


def test_a_negative_kid_estimate_is_shown_as_it_is(tmp_path):
    for seed, kid in enumerate([-0.002, -0.001, 0.0005]):
        record = make_record("dcgan", seed, fid=10.0 + seed)
        record["metrics"]["kid_mnist"] = kid
        write_record(tmp_path, record)
    built = report.build_report(tmp_path, out_dir=tmp_path / "out")
    row = built.summary.iloc[0]
    assert row["kid_mnist_mean"] == pytest.approx(-0.0025 / 3)
    # Not cut at 0, where the interval would lie above its own mean.
    assert row["kid_mnist_ci_lo"] < row["kid_mnist_mean"] < 0 < row["kid_mnist_ci_hi"]
    assert not row["kid_mnist_ci_lo_clipped"]
    cell = {title: table for title, _, table in built.tables()}["Quality"].iloc[0]["KID (MNIST) ↓"]
    assert cell.startswith("-0.0008 ± 0.0013 [-0.0040,")


def test_a_value_outside_the_declared_range_widens_it():
    # A figure declared at most 1 that a run recorded above 1: the interval keeps its own mean.
    out = report.seed_stats([0.9, 1.0, 1.2], lo=0.0, hi=1.0)
    assert out["ci_lo"] <= out["mean"] <= out["ci_hi"] == 1.2 and out["ci_hi_clipped"]


# --- the headline table ------------------------------------------------------------------------

def test_the_headline_marks_neighbours_from_the_reports_pairs():
    assert "| vs next row: p (Holm) / P(better) |" in headline.HEADER
    published = pd.read_csv(CONVERGED / "report_pairs.csv", comment="#")
    # The published pairs are the records' own: report_pairs.csv is not stale.
    records, _ = report.load_records(CONVERGED)
    fresh = report.pairwise_fid(records)
    pd.testing.assert_frame_equal(published, fresh, check_dtype=False, rtol=1e-12)
    rows = headline.headline_cells(CONVERGED, REPO / "results/cpu-amd-epyc-avx2")
    ranked = [cells[0] for cells in rows]
    table = pd.read_csv(CONVERGED / "report.csv", comment="#")
    trained = table[~table["variant"].str.startswith("external:")]  # the real-data row heads the report only
    assert ranked == list(trained.sort_values("fid_mnist_mean")["variant"])
    for cells, following in zip(rows, ranked[1:] + [None]):
        cell = cells[5]
        if following is None:
            assert cell == "–"
            continue
        pair = fresh[fresh["variant_a"].isin([cells[0], following]) & fresh["variant_b"].isin([cells[0], following])]
        (pair,) = pair.to_dict("records")
        better = pair["p_a_better"] if pair["variant_a"] == cells[0] else 1 - pair["p_a_better"]
        text = f"{report.format_number(pair['p_holm'], '{:.2g}')} / {report.format_number(better, '{:.2f}')}"
        assert cell == (f"**{text}** (differ)" if pair["significant"] else text), cells[0]


def test_the_report_command_writes_the_pairs_beside_the_tables(tmp_path):
    from typer.testing import CliRunner

    from bench.cli import app

    for variant, fids in {"dcgan": [10.0, 12.0], "lsgan": [20.0, 22.0]}.items():
        for seed, fid in enumerate(fids):
            write_record(tmp_path, make_record(variant, seed, fid=fid))
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "reports" / SLUG / "report_pairs.csv") in result.stdout.split()
