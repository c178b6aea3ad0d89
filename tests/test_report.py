"""`gan-bench report` on hand-made records: formats, statistics, refusals, plots, CLI."""

import copy
import json
import math
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from bench import report
from bench.cli import app
from bench.errors import BenchError
from bench.report.loading import upgrade

SLUG = "cpu-test-cpu"
CLASSIFIER = "c" * 64
T_975_DF2 = 4.302652729911275  # Student t, 97.5th percentile, 2 degrees of freedom (from tables)

# variant -> final fid_mnist per ok seed; the first set is the one the statistics test checks.
FIDS = {"dcgan": [10.0, 12.0, 14.0], "lsgan": [20.0, 22.0, 27.0], "vanilla": [30.0]}


def make_record(variant, seed, status="ok", fid=None, slug=SLUG, preset="quick", classifier=CLASSIFIER,
                budget="150 generator steps"):
    run_id = f"{variant}-s{seed}-abc123-{status}"
    record = {
        "schema_version": 2, "run_id": run_id, "variant": variant, "seed": seed, "status": status,
        "diverged_at_step": 120 if status == "diverged" else None,
        "error": "RuntimeError: CUDA out of memory\nTraceback..." if status == "failed" else None,
        "config": {"protocol_version": 1, "variant": variant, "arch": "dcgan", "loss": "ns", "hparams": {},
                   "arch_options": {}, "loss_options": {}, "preset": preset, "budget": budget, "steps": 150,
                   "log_every": 50},
        "config_hash": f"{variant}-hash",
        "env": {"device_type": "cpu", "device_name": "Test CPU", "device_slug": slug, "torch": "2.9.0",
                "cuda": None, "git": {"commit": "0123456789abcdef", "dirty": False}},
        "data": {"mnist_sha256": {"train_images": "x"}},
        "feature_nets": {"mnist_classifier_sha256": classifier, "inception_sha256": None},
        "budget": {"label": "150 generator steps", "g_steps_planned": 150, "train_seconds_planned": None,
                   "g_steps": 150, "d_steps": 150, "images_seen": 9600},
        "curve": [], "metrics": {}, "time_to_fid": {"threshold": 25.0, "train_s": None, "step": None},
        "systems": {"wall_s": 3.0}, "paths": {},
        "started_at": "2025-01-01T00:00:00Z", "finished_at": "2025-01-01T00:01:00Z",
    }
    if status == "ok":
        speed = 1 + 0.1 * seed
        record["curve"] = [{"step": s, "images_seen": s * 64, "train_s": s * 0.01 * speed, "d_loss": 0.5,
                            "g_loss": 1.0, **({"fid_mnist": fid + (150 - s) / 5} if s % 50 == 0 else {})}
                           for s in (25, 50, 75, 100, 125, 150)]
        record["metrics"] = {"fid_mnist": fid, "kid_mnist": fid / 1000, "kid_mnist_std": 0.001,
                             "precision_mnist": 0.8, "recall_mnist": 0.7 + seed / 100, "is_mnist": 9.0,
                             "is_mnist_std": 0.1, "modes_covered": 10, "class_kl": 0.01, "confidence": 0.95,
                             "n_fake": 10000, "n_real": 10000, "absent": {"is_inception": "no logits layer"}}
        record["time_to_fid"] = {"threshold": 25.0, "train_s": 1.0 + seed if fid < 25 else None,
                                 "step": 100 if fid < 25 else None}
        record["systems"] = {"train_s": 1.5 * speed, "train_images_per_s": 6400 / speed, "g_steps_per_s": 100.0,
                             "step_ms_p50": 10.0 * speed, "step_ms_p95": 12.0, "peak_mem_bytes": 2**20 * (50 + seed),
                             "warmup_s": 0.1, "eval_s": 2.0, "params_g": 1000, "params_d": 1000, "wall_s": 5.0}
        record["paths"] = {"samples": f"{run_id}.png"}
    return record


def write_record(results, record, png=True):
    folder = results / "runs" / record["env"]["device_slug"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record['run_id']}.json"
    path.write_text(json.dumps(record))
    if png and record["paths"].get("samples"):
        shade = (record["seed"] * 40 + len(record["variant"]) * 20) % 256
        image = Image.effect_noise((62, 62), 60).point(lambda v: (v + shade) % 256)
        image.save(folder / record["paths"]["samples"])
    return path


@pytest.fixture
def results(tmp_path):
    """3 variants: dcgan and lsgan with 3 ok seeds, vanilla with 1; one diverged and one failed run."""
    root = tmp_path / "results"
    for variant, fids in FIDS.items():
        for seed, fid in enumerate(fids):
            write_record(root, make_record(variant, seed, fid=fid))
    write_record(root, make_record("lsgan", 3, status="diverged"))
    write_record(root, make_record("vanilla", 1, status="failed"))
    return root


def row_of(summary, variant):
    return summary.set_index("variant").loc[variant]


# --- statistics --------------------------------------------------------------------------------

def test_mean_std_and_t_interval_over_seeds_match_a_hand_computation(results):
    records, warnings = report.load_records(results)
    assert warnings == [] and len(records) == 9
    dcgan = row_of(report.summarise(records), "dcgan")
    # 10, 12, 14: mean 12, sample std 2, half-width t(0.975, 2) * 2 / sqrt(3)
    half = T_975_DF2 * 2 / math.sqrt(3)
    assert dcgan["fid_mnist_n"] == 3
    assert dcgan["fid_mnist_mean"] == pytest.approx(12.0)
    assert dcgan["fid_mnist_std"] == pytest.approx(2.0)
    assert (dcgan["fid_mnist_ci_lo"], dcgan["fid_mnist_ci_hi"]) == (pytest.approx(12 - half), pytest.approx(12 + half))
    assert dcgan["recall_mnist_mean"] == pytest.approx(0.71)
    assert dcgan["time_to_fid_reached"] == 3 and dcgan["time_to_fid_s_mean"] == pytest.approx(2.0)


def test_only_ok_runs_enter_the_statistics_and_the_others_are_counted(results):
    summary = report.summarise(report.load_records(results)[0])
    lsgan, vanilla = row_of(summary, "lsgan"), row_of(summary, "vanilla")
    assert (lsgan["n_ok"], lsgan["n_diverged"], lsgan["n_failed"]) == (3, 1, 0)
    assert lsgan["fid_mnist_mean"] == pytest.approx(23.0) and lsgan["fid_mnist_n"] == 3
    assert (vanilla["n_ok"], vanilla["n_diverged"], vanilla["n_failed"]) == (1, 0, 1)
    # One seed: a mean, but no spread and no interval (empty, never 0).
    assert vanilla["fid_mnist_mean"] == 30.0
    assert all(math.isnan(vanilla[f"fid_mnist_{s}"]) for s in ("std", "ci_lo", "ci_hi"))


def test_a_variant_without_ok_runs_still_gets_a_row():
    records = [{**upgrade(make_record("wgan-gp", 0, status="failed")), report.SOURCE_KEY: "x.json"}]  # as loaded
    row = row_of(report.summarise(records), "wgan-gp")
    assert row["n_failed"] == 1 and row["n_ok"] == 0 and math.isnan(row["fid_mnist_mean"])


def test_pairwise_tests_need_two_seeds_a_side_and_can_reject_at_three(results):
    pairs = report.pairwise_fid(report.load_records(results)[0])
    assert list(zip(pairs["variant_a"], pairs["variant_b"])) == [("dcgan", "lsgan")]  # vanilla has one seed
    pair = pairs.iloc[0]
    assert (pair["n_a"], pair["n_b"], pair["test"]) == (3, 3, "Welch's t")
    # 10 12 14 against 20 22 27: t = -11 / sqrt(4/3 + 13/3) = -4.62 on 3.12 Welch degrees of freedom,
    # p = 0.0174, below the 0.1 a rank test's 3 seeds a side can never go under.
    assert pair["statistic"] == pytest.approx(-11 / math.sqrt(17 / 3))
    assert pair["p_value"] == pytest.approx(0.0174, abs=1e-4) and pair["min_attainable_p"] == 0.0
    assert pair["p_holm"] == pair["p_value"] and pair["significant"]  # one pair: nothing to correct for
    assert pair["p_a_better"] == 1.0  # every dcgan seed ends with a lower FID than every lsgan seed


# --- output formats ----------------------------------------------------------------------------

class Tables(HTMLParser):
    """Counts <table>s and their body rows (pandas.read_html needs lxml or bs4, not installed)."""

    def __init__(self):
        super().__init__()
        self.rows, self.in_body, self.images = [], False, []

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.rows.append(0)
        elif tag == "tbody":
            self.in_body = True
        elif tag == "tr" and self.in_body:
            self.rows[-1] += 1
        elif tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_endtag(self, tag):
        if tag == "tbody":
            self.in_body = False


def markdown_tables(text):
    """Row counts (header and rule excluded) of each pipe table in a Markdown text."""
    tables, current = [], None
    for line in text.splitlines():
        if line.startswith("|"):
            current = -2 if current is None else current + 1
        elif current is not None:
            tables.append(current + 1)
            current = None
    return tables + ([current + 1] if current is not None else [])


def test_every_format_is_written_parses_back_and_names_its_command(results):
    paths = report.write_report(results)
    out = results / "reports" / SLUG  # the default: RESULTS/reports/<device-slug>/
    names = {p.name for p in paths}
    assert {"report.md", "report.csv", "report.tex", "report.html"} <= names
    assert all(p.parent == out for p in paths)
    command = f"gan-bench report {results} --out {out}"
    for fmt in report.FORMATS:
        assert command in (out / f"report.{fmt}").read_text(), fmt

    csv = pd.read_csv(out / "report.csv", comment="#")
    assert list(csv["variant"]) == ["dcgan", "lsgan", "vanilla"]
    assert csv.set_index("variant").loc["dcgan", "fid_mnist_mean"] == pytest.approx(12.0)
    assert math.isnan(csv.set_index("variant").loc["vanilla", "fid_mnist_std"])  # written empty
    assert "fid_inception_mean" not in csv  # absent from every record, so no column

    parser = Tables()
    parser.feed((out / "report.html").read_text())
    # quality, systems (one row per variant), pairs (one), problem runs (two)
    assert parser.rows == [3, 3, 1, 2]
    assert set(parser.images) == {"convergence.png", "samples.png", "systems.png"}

    tex = (out / "report.tex").read_text()
    assert tex.count(r"\begin{tabular}") == 4 == tex.count(r"\end{tabular}")
    quality = tex.split(r"\midrule")[1].split(r"\bottomrule")[0]
    assert quality.count(r"\\") == 3 and "wgan" not in quality
    body = "\n".join(line for line in tex.splitlines() if not line.startswith("%"))
    assert "±" not in body and "_" not in body.replace(r"\_", "") and r"$\pm$" in body  # escaped for LaTeX

    md = (out / "report.md").read_text()
    assert markdown_tables(md) == [3, 3, 1, 2]
    assert "![convergence](convergence.png)" in md and "![samples](samples.png)" in md
    assert "12.00 ± 2.00 [" in md and "| vanilla | 1 ok, 1 failed | 30.00 |" in md


def test_diverged_and_failed_runs_are_marked_in_their_own_table(results):
    report.write_report(results, formats=("md", "html"))
    md = (results / "reports" / SLUG / "report.md").read_text()
    problems = md.split("## Diverged and failed runs")[1]
    assert "| lsgan | 3 | DIVERGED | 120 |" in problems
    assert "| vanilla | 1 | FAILED |  | RuntimeError: CUDA out of memory |" in problems
    assert "3 ok, 1 diverged" in md
    assert "DIVERGED" in (results / "reports" / SLUG / "report.html").read_text()


def test_the_command_and_out_dir_can_be_given(results, tmp_path):
    out = tmp_path / "elsewhere"
    paths = report.write_report(results, formats=["csv"], out_dir=out, command="make report")
    assert paths[0] == out / "report.csv" and not (out / "report.md").exists()
    assert (out / "report.csv").read_text().startswith("# Regenerate with: make report\n")


def test_a_narrower_directory_reports_into_the_device_folder(results):
    paths = report.write_report(results / "runs" / SLUG, formats="md")
    assert paths[0] == results / "reports" / SLUG / "report.md"


def test_an_unknown_format_is_refused():
    with pytest.raises(BenchError, match="unknown format 'pdf'; choose from md, csv, tex, html"):
        report.parse_formats("md,pdf")


# --- refusals and skips ------------------------------------------------------------------------

@pytest.mark.parametrize("change, label, values", [
    (dict(slug="cuda-nvidia-h100"), "device slugs", ("cpu-test-cpu (9 runs)", "cuda-nvidia-h100 (1 run)")),
    (dict(preset="paper"), "presets", ("quick (9 runs)", "paper (1 run)")),
    (dict(classifier="d" * 64), "MNIST classifier sha256s", ("c" * 64, "d" * 64)),
    (dict(budget="60 training seconds"), "budgets", ("150 generator steps (9 runs)", "60 training seconds (1 run)")),
])
def test_records_that_measure_different_things_are_not_mixed(results, change, label, values):
    stray = make_record("dcgan", 7, fid=11.0, **change)
    stray["env"]["device_slug"] = SLUG if "slug" not in change else change["slug"]
    path = write_record(results, stray)
    if "slug" not in change:  # same folder, other preset/classifier
        assert path.parent.name == SLUG
    with pytest.raises(BenchError) as error:
        report.write_report(results)
    message = str(error.value)
    assert f"records mix {label}" in message and "narrower directory" in message and "\n" not in message
    assert all(v in message for v in values)


def test_the_systems_table_shows_g_and_d_updates_and_both_memory_windows(results):
    record = make_record("wgan", 0, fid=40.0)
    record["budget"].update(g_steps=30, d_steps=150)
    record["systems"]["eval_peak_mem_bytes"] = 900 * 2**20
    write_record(results, record)
    table = report.systems_table(report.summarise(report.load_records(results)[0])).set_index("variant")
    assert table.loc["wgan", "G updates"] == "30" and table.loc["wgan", "D updates"] == "150"
    assert table.loc["dcgan", "G updates"].startswith("150 ± 0")
    assert table.loc["wgan", "evaluation peak memory (MiB)"] == "900.0"
    assert table.loc["dcgan", "training peak memory (MiB) ↓"].startswith("51.0 ± 1.0")


def test_schema_1_peak_memory_is_not_shown_as_a_training_figure(results):
    """Schema 1 read peak memory after a window that held evaluations: not a training figure."""
    old = make_record("oldgan", 0, fid=30.0)
    old["schema_version"] = 1
    write_record(results, old)
    records, warnings = report.load_records(results)
    assert not warnings
    (loaded,) = [r for r in records if r["variant"] == "oldgan"]
    assert "peak_mem_bytes" not in loaded["systems"] and loaded["systems"]["train_s"] == old["systems"]["train_s"]
    table = report.systems_table(report.summarise(records)).set_index("variant")
    assert table.loc["oldgan", "training peak memory (MiB) ↓"] == ""


def test_a_missing_checksum_conflicts_with_nothing(results):
    record = make_record("dcgan", 8, status="failed")
    record["feature_nets"] = None
    write_record(results, record)
    report.write_report(results, formats="csv")


def test_malformed_records_are_skipped_with_a_warning_naming_the_file(results):
    folder = results / "runs" / SLUG
    bad = {
        "broken.json": "{not json",
        "list.json": "[1, 2]",
        "future.json": json.dumps({**make_record("dcgan", 5, fid=1.0), "schema_version": 99}),
        "anonymous.json": json.dumps({k: v for k, v in make_record("dcgan", 6, fid=1.0).items() if k != "variant"}),
        "stringly.json": json.dumps({**make_record("dcgan", 9, fid=1.0), "metrics": {"fid_mnist": "12"}}),
    }
    for name, text in bad.items():
        (folder / name).write_text(text)
    records, warnings = report.load_records(results)
    assert len(records) == 9 and len(warnings) == len(bad)
    for name in bad:
        assert sum(str(folder / name) in w for w in warnings) == 1, name
    by_file = {Path(w.split(": ")[0].removeprefix("skipped ")).name: w for w in warnings}
    assert "schema_version 99" in by_file["future.json"]
    assert "missing key 'variant'" in by_file["anonymous.json"]
    assert "'metrics.fid_mnist' must be a number" in by_file["stringly.json"]


def test_an_empty_directory_is_an_error(tmp_path):
    with pytest.raises(BenchError, match="no records in"):
        report.write_report(tmp_path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values)
def test_loading_arbitrary_json_never_raises(value):
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "x.json").write_text(json.dumps(value))
        records, warnings = report.load_records(folder)
        assert len(records) + len(warnings) == 1
        assert records or "x.json" in warnings[0]


# Where a damaged record's oddities could hide: (path to a key, new value).
paths_in_record = st.sampled_from([
    ("seed",), ("status",), ("config",), ("config", "preset"), ("env", "device_slug"), ("metrics",),
    ("metrics", "fid_mnist"), ("metrics", "recall_mnist"), ("systems",), ("systems", "peak_mem_bytes"),
    ("curve",), ("time_to_fid",), ("time_to_fid", "threshold"), ("time_to_fid", "train_s"), ("paths",),
    ("paths", "samples"), ("feature_nets",), ("diverged_at_step",), ("error",), ("env", "git"),
])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(st.tuples(paths_in_record, json_values), min_size=1, max_size=3))
def test_a_damaged_record_is_either_skipped_or_summarised_never_a_crash(changes):
    record = make_record("dcgan", 0, fid=12.0)
    for keys, value in changes:
        target = record
        for key in keys[:-1]:
            target = target.setdefault(key, {}) if isinstance(target.get(key), dict) else None
            if target is None:
                break
        if target is not None:
            target[keys[-1]] = copy.deepcopy(value)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "x.json").write_text(json.dumps(record))
        records, warnings = report.load_records(folder)
        if records:
            built = report.build_report(folder, out_dir=Path(folder) / "out")
            built.tables()
            report.markdown_table(built.tables()[0][2])


# --- plots -------------------------------------------------------------------------------------

def test_plots_are_drawn(results):
    paths = report.write_report(results, formats="md")
    plots = {p.name: p for p in paths if p.suffix == ".png"}
    assert set(plots) == {"convergence.png", "samples.png", "systems.png"}
    for path in plots.values():
        assert path.stat().st_size > 10_000, path
        with Image.open(path) as image:
            assert "gan-bench report" in image.info.get("Description", "")


def test_plots_without_data_are_skipped(tmp_path):
    root = tmp_path / "results"
    for seed in range(2):  # ok runs as the current runner writes them: no FID, no PNG, no memory figure
        record = make_record("dcgan", seed, fid=12.0)
        record["curve"] = [{k: v for k, v in p.items() if k != "fid_mnist"} for p in record["curve"]]
        record["systems"] = {"wall_s": 1.0}
        write_record(root, record, png=False)
    paths = report.write_report(root, formats="md")
    assert [p.name for p in paths] == ["report.md"]
    assert "## Plots" not in paths[0].read_text()


# --- command line ------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_writes_the_report_and_warns_about_skipped_files(results):
    (results / "runs" / SLUG / "junk.json").write_text("{")
    result = runner.invoke(app, ["report", str(results), "--format", "md,csv"])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(results / "reports" / SLUG / n) for n in
                                     ("report.md", "report.csv", "report_pairs.csv", "convergence.png", "samples.png",
                                      "systems.png")]
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("warning: skipped") and "junk.json" in warnings[0]
    assert "--format md,csv" in (results / "reports" / SLUG / "report.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--format", "md,pdf"], "error: unknown format 'pdf'"),
    ([], "error: no records in"),
])
def test_cli_errors_are_one_line_and_exit_2(tmp_path, args, message):
    result = runner.invoke(app, ["report", str(tmp_path), *args])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(message) and len(result.stderr.strip().splitlines()) == 1


# --- across machines ---------------------------------------------------------------------------

def test_compare_machines_puts_the_same_seed_spread_beside_the_seed_spread(tmp_path):
    from bench.report.crossmachine import compare_machines

    for machine, shift in (("a", 0.0), ("b", 1.5)):
        for seed, fid in enumerate(FIDS["dcgan"]):
            record = make_record("dcgan", seed, fid=fid + shift * (seed + 1), slug=f"cpu-{machine}")
            record["env"]["device_name"] = f"CPU {machine}"
            write_record(tmp_path / machine, record)
    lonely = make_record("lsgan", 0, fid=20.0, slug="cpu-a")  # no partner on b
    lonely["env"]["device_name"] = "CPU a"
    write_record(tmp_path / "a", lonely)
    rows, name_a, name_b = compare_machines(tmp_path / "a", tmp_path / "b")
    assert (name_a, name_b) == ("CPU a (cpu-a)", "CPU b (cpu-b)")  # the model and the machine's slug
    (row,) = rows
    assert row["variant"] == "dcgan" and row["seeds"] == "0 1 2"
    assert row["same_seed_abs_diff"] == pytest.approx(1.5 * (1 + 2 + 3) / 3)
    assert row["seed_std_a"] == pytest.approx(2.0) and row["seed_std_b"] == pytest.approx(3.5)
    assert row["identical_metrics"] == 0
    result = runner.invoke(app, ["compare-machines", str(tmp_path / "a"), str(tmp_path / "b"), "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.output)[0]["variant"] == "dcgan"
    result = runner.invoke(app, ["compare-machines", str(tmp_path / "a"), str(tmp_path / "a"), "-f", "json"])
    assert result.exit_code == 0  # a machine against itself: every seed identical
    assert [row["identical_metrics"] for row in json.loads(result.output)] == [3, 1]
    stray = make_record("dcgan", 9, fid=10.0, slug="cpu-a")  # a second machine's run in a's folder
    write_record(tmp_path / "a", stray)
    result = runner.invoke(app, ["compare-machines", str(tmp_path / "a"), str(tmp_path / "b")])
    assert result.exit_code == 2 and "2 machines" in result.output
