"""`--dry-run` of `gan-bench run` and `gan-bench study`: the runs listed, their time estimated
from this device's earlier records or speed table (or said to have no estimate), nothing
trained or written."""

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import variants
from bench.cli import app
from bench.devices import device_slug
from bench.estimate.costs import Planned
from bench.estimate.dry_run import local_workers
from bench.report.loading import load_records
from bench.train.plan import RunPlan, run_config

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "results/cpu-amd-epyc-avx2/runs/cpu-amd-epyc-avx2"
SLUG = device_slug(torch.device("cpu"))
runner = CliRunner()


@pytest.fixture
def here(tmp_path, monkeypatch):
    """An empty working folder: no results/<slug>/ published sets to estimate from."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    return tmp_path


def earlier_record(out: Path, variant: str, train_s: float, eval_s: float, seed: int = 0) -> dict:
    """A published quick-preset record (2 epochs: 120,000 real images, 6 curve points of 2,000
    samples and a final evaluation of 10,000) as if this device had trained it in `train_s`
    and evaluated it in `eval_s`."""
    record = json.loads(next(PUBLISHED.glob(f"{variant}-s{seed}-*.json")).read_text())
    record["env"].update(device_slug=SLUG, threads=torch.get_num_threads())
    record["systems"].update(train_s=train_s, eval_s=eval_s)
    folder = out / "runs" / SLUG
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{record['run_id']}.json").write_text(json.dumps(record))
    return record


def files_under(folder: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}


def dry_run(*args) -> dict:
    result = runner.invoke(app, ["run", *args, "--device", "cpu", "--dry-run", "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_dry_run_lists_every_run_and_writes_nothing(here):
    earlier_record(here / "out", "dcgan", 120.0, 22.0)
    before = files_under(here)
    plan = dry_run("--variants", "dcgan,vanilla", "--seeds", "3", "--preset", "quick", "--out", "out")
    assert files_under(here) == before
    runs = plan["runs"]
    assert [(r["variant"], r["seed"]) for r in runs] == [(v, s) for v in ("dcgan", "vanilla") for s in range(3)]
    assert {r["budget"] for r in runs} == {"2 epochs"}
    assert runs[0]["g_steps"] == 1875 and runs[0]["images"] == 120_000
    assert runs[0]["config"].startswith("dcgan-s0-")  # the key its record's file name would start with


def test_an_estimate_scales_an_earlier_record_by_images_and_evaluated_samples(here):
    # 1 ms per real image; 1 ms per generated sample evaluated (6 x 2,000 + 10,000 = 22,000).
    earlier_record(here / "out", "dcgan", 120.0, 22.0)
    same = dry_run("--variants", "dcgan", "--preset", "quick", "--out", "out")["runs"][0]
    assert same["train_s"] == pytest.approx(120.0) and same["eval_s"] == pytest.approx(22.0)
    assert same["total_s"] == pytest.approx(142.0)
    assert same["train_from"] == "1 record" and f"out/runs/{SLUG}" in same["train_source"]
    # 100 G steps of 64: 6,400 images, one curve point (the last step) and the final evaluation.
    short = dry_run("--variants", "dcgan", "--preset", "quick", "--steps", "100", "--out", "out")["runs"][0]
    assert short["train_s"] == pytest.approx(6.4) and short["eval_s"] == pytest.approx(12.0)


def test_a_variant_without_an_earlier_record_has_no_estimate(here):
    earlier_record(here / "out", "dcgan", 120.0, 22.0)
    plan = dry_run("--variants", "dcgan,wgan", "--preset", "quick", "--out", "out")
    wgan = plan["runs"][1]
    assert wgan["total_s"] is None and wgan["train_s"] is None
    assert wgan["train_source"].startswith("no estimate: no earlier ok record of wgan")
    assert plan["total"]["runs"] == 2 and plan["total"]["estimated"] == 1
    assert plan["total"]["total_s"] == pytest.approx(142.0)

    table = runner.invoke(app, ["run", "--variants", "dcgan,wgan", "--preset", "quick", "--device", "cpu",
                                "--out", "out", "--dry-run"], env={"COLUMNS": "200"})
    assert table.exit_code == 0
    assert "wgan: training: no estimate" in table.stdout
    assert "for the 1 of 2 runs with an estimate" in table.stdout and "1 run without an estimate" in table.stdout
    assert "142 s" in table.stdout and "Nothing was trained or written." in table.stdout


def test_the_speed_table_stands_in_for_records(here):
    folder = here / "out" / "speed" / SLUG
    folder.mkdir(parents=True)
    (folder / "speed.json").write_text(json.dumps({"settings": {"threads": 1}, "summary": [
        {"variant": "wgan", "batch_size": 64, "n_critic": 5, "fast_images_per_s": 1000.0}]}))
    earlier_record(here / "out", "dcgan", 120.0, 22.0)  # its evaluation stands in for wgan's
    wgan = dry_run("--variants", "wgan", "--preset", "quick", "--out", "out")["runs"][0]
    assert wgan["train_from"] == "speed table" and wgan["train_s"] == pytest.approx(120.0)
    assert "of other variants" in wgan["eval_source"] and wgan["eval_s"] == pytest.approx(22.0)


def test_published_sets_of_this_device_count_too(here):
    earlier_record(here / "results" / SLUG, "vanilla", 60.0, 22.0)
    vanilla = dry_run("--variants", "vanilla", "--preset", "quick", "--out", "elsewhere")["runs"][0]
    assert vanilla["train_s"] == pytest.approx(60.0)
    assert f"results/{SLUG}/runs/{SLUG}" in vanilla["train_source"]


def test_until_converged_is_estimated_at_its_cap(here):
    earlier_record(here / "out", "dcgan", 120.0, 22.0)
    plan = dry_run("--variants", "dcgan", "--preset", "quick", "--until-converged", "--out", "out")
    run = plan["runs"][0]
    assert run["at_most"] and plan["total"]["upper_bound"]
    assert run["train_s"] == pytest.approx(1200.0)  # 20 epochs at the cap


@pytest.mark.parametrize("args", [["--resume"], ["--resume", "--force"]])
def test_dry_run_with_resume_is_one_error_line_before_anything(args, here):
    result = runner.invoke(app, ["run", "--variants", "dcgan", "--device", "cpu", "--out", "out", "--dry-run", *args])
    assert result.exit_code == 2
    assert result.output.startswith("error: --dry-run lists every run") and len(result.output.strip().splitlines()) == 1
    assert list(here.iterdir()) == []


def test_the_curve_points_counted_are_those_the_runs_made():
    for record in load_records(PUBLISHED)[0]:
        variant = variants.variant_from_config(record["config"])
        plan = RunPlan(variants=[variant], seeds=[0], preset="quick", device=None, out=Path("."))
        planned = Planned(run_config(variant, 0, plan, 60_000), "", 1)
        made = sum(p.get("fid_mnist") is not None for p in record["curve"])
        assert planned.curve_points(record["budget"]["images_seen"]) == made == 6


def test_a_study_dry_run_lists_the_runs_left_and_how_many_run_at_once(here):
    study = here / "study"
    args = ["study", "--variants", "vanilla,dcgan", "--space", "defaults", "--configs", "1", "--seeds", "2",
            "--preset", "quick", "--out", str(study), "--device", "cpu", "--dry-run"]
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert [(r["variant"], r["seed"], r["config"]) for r in plan["runs"]] == [
        ("vanilla", 0, "c0"), ("vanilla", 1, "c0"), ("dcgan", 0, "c0"), ("dcgan", 1, "c0")]
    assert plan["total"]["workers"] == local_workers(1.0, 0.0, None)[0]
    assert "CPUs / --cpus-per-run 1" in plan["workers_note"]
    assert not study.exists()  # no study.json, no folder

    earlier_record(study, "vanilla", 60.0, 22.0)
    table = runner.invoke(app, [*args, "--cpus-per-run", "1"], env={"COLUMNS": "200"})
    assert "runs at once" in table.stdout and "vanilla: training: 1 earlier record" in table.stdout


def test_a_study_wall_time_shares_the_runs_among_the_workers(monkeypatch):
    from bench.estimate.costs import makespan

    assert makespan([10, 10, 10, 10], 2) == 20 and makespan([30, 10, 10, 10], 2) == 30
    assert makespan([5, 5], 1) == 10


def test_format_without_dry_run_is_refused_for_a_study(here):
    result = runner.invoke(app, ["study", "--variants", "vanilla", "--space", "defaults", "--configs", "1",
                                 "--out", "s", "--format", "json"])
    assert result.exit_code == 2
    assert "--format shapes what --dry-run prints" in result.output
    assert list(here.iterdir()) == []


def test_a_time_budget_is_its_own_training_estimate(here):
    alone = dry_run("--variants", "dcgan", "--preset", "quick", "--train-seconds", "30", "--out", "out")["runs"][0]
    assert alone["train_s"] == 30 and alone["total_s"] is None and alone["train_from"] == "budget"
    # At 1 ms per image, 30 s see 30,000 images: one curve point crossed, one at the end, and the final evaluation.
    earlier_record(here / "out", "dcgan", 120.0, 22.0)
    run = dry_run("--variants", "dcgan", "--preset", "quick", "--train-seconds", "30", "--out", "out")["runs"][0]
    assert run["train_s"] == 30 and run["eval_s"] == pytest.approx((2 * 2000 + 10_000) / 1000)


def test_first_seed_starts_the_seeds_there(tmp_path):
    """Recipe trials train seeds no published set uses: --first-seed 100 --seeds 2 is 100 and 101."""
    result = runner.invoke(app, ["run", "--variants", "dcgan", "--first-seed", "100", "--seeds", "2", "--dry-run",
                                 "--format", "json", "--device", "cpu", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert [run["seed"] for run in json.loads(result.stdout)["runs"]] == [100, 101]
