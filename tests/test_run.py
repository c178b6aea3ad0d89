"""`gan-bench run` end to end with the tiny preset: every variant on the small synthetic
MNIST-shaped set, and the quality figures and `eval` on real MNIST."""

import json

import pytest
import torch
from typer.testing import CliRunner

import variants
from bench.cli import app
from bench.records import deterministic_view, load_record

pytestmark = pytest.mark.xdist_group("test_run")

runner = CliRunner()


def run_cli(*args):
    return runner.invoke(app, ["run", *args])


def records_in(out):
    return sorted(out.glob("runs/*/*.json"))


@pytest.fixture(scope="module")
def tiny_run(small_mnist, tmp_path_factory):
    """Every variant under the tiny preset on the small synthetic set, trained once for the
    tests that each check their own part of it: the CLI's result and the output folder."""
    out = tmp_path_factory.mktemp("tiny-run")
    with small_mnist.pinned() as data_dir:
        result = run_cli("--variants", "all", "--preset", "tiny", "--device", "cpu", "--out", str(out),
                         "--data-dir", str(data_dir))
    return result, out


def test_tiny_run_of_all_variants_writes_a_record_and_a_grid_each(tiny_run):
    result, out = tiny_run
    assert result.exit_code == 0, result.output
    paths = records_in(out)
    assert len(paths) == len(variants.list_variants()) == 12
    for path in paths:
        record = load_record(path)
        assert record["status"] == "ok"
        assert record["budget"]["g_steps"] == record["budget"]["g_steps_planned"] == record["config"]["steps"] == 4
        steps = [p["step"] for p in record["curve"]]
        assert {2, 4} <= set(steps) and steps == sorted(set(steps)) and steps[-1] == 4
        assert all(p["d_loss"] is not None for p in record["curve"])
        assert record["env"]["device_type"] == "cpu" and record["env"]["torch"] == torch.__version__
        assert record["data"]["mnist_sha256"]["train_images"]
        assert (path.parent / record["paths"]["samples"]).stat().st_size > 1000


def test_same_seed_on_cpu_gives_identical_records_apart_from_timings(tiny_run, small_mnist_dir, tmp_path):
    """dcgan and wgan-gp trained again over seeds 0 and 1: seed 0 must give the records of the
    shared run (where other variants trained before them); seed 1 shows the comparison can fail."""
    first_result, first = tiny_run
    result = run_cli("--variants", "dcgan,wgan-gp", "--seeds", "2", "--preset", "tiny", "--device", "cpu",
                     "--out", str(tmp_path), "--data-dir", str(small_mnist_dir))
    for outcome in (first_result, result):
        assert outcome.exit_code == 0, outcome.output

    def views(out, seed):
        return [deterministic_view(r) for r in map(load_record, records_in(out))
                if r["variant"] in ("dcgan", "wgan-gp") and r["seed"] == seed]

    assert len(views(first, 0)) == 2 and views(first, 0) == views(tmp_path, 0)
    # ...and a different seed gives a different curve, so the comparison can fail.
    curves = {r["seed"]: r["curve"] for r in map(load_record, records_in(tmp_path)) if r["variant"] == "dcgan"}
    assert curves[0] != curves[1]


@pytest.mark.slow  # 40 steps with a curve point every 2: about ten seconds even on the small set
def test_a_huge_learning_rate_ends_the_run_as_diverged_and_the_next_run_goes_on(small_mnist_dir, tmp_path):
    from dataclasses import replace

    import variants

    broken = replace(variants.get_variant("lsgan").with_hparams(lr_d=1e12, lr_g=1e12), name="lsgan-huge-lr")
    before = variants.VARIANTS.snapshot()
    variants.register_variant(broken)
    try:
        result = run_cli("--variants", "lsgan-huge-lr,vanilla", "--steps", "40", "--preset", "tiny", "--device",
                         "cpu", "--out", str(tmp_path), "--data-dir", str(small_mnist_dir))
    finally:
        variants.VARIANTS.restore(before)
    statuses = {load_record(p)["variant"]: load_record(p) for p in records_in(tmp_path)}
    assert result.exit_code == 3
    assert statuses["lsgan-huge-lr"]["status"] == "diverged"
    assert 1 <= statuses["lsgan-huge-lr"]["diverged_at_step"] <= 40
    assert statuses["vanilla"]["status"] == "ok"
    json.dumps(statuses)  # records stay valid JSON (no NaN)


@pytest.mark.parametrize("args, message", [
    (["--device", "cuda"], "no CUDA GPU is available"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--variants", "dcgn"], "did you mean dcgan"),
    (["--preset", "huge"], "unknown preset 'huge'"),
    (["--steps", "0"], "--steps must be at least 1, got 0"),
    (["--seeds", "0"], "--seeds must be at least 1"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = run_cli(*args, "--out", str(tmp_path))
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert records_in(tmp_path) == []


def test_list_shows_every_variant():
    result = runner.invoke(app, ["list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in ("vanilla", "dcgan", "wgan-gp", "lsgan"):
        assert name in result.output


@pytest.mark.parametrize("columns", ["80", "60"])
def test_list_never_cuts_a_value_and_fits_a_narrow_terminal(columns):
    """In a pipe rich assumes 80 columns; values must survive whole, so grep finds them."""
    result = runner.invoke(app, ["list"], env={"COLUMNS": columns})
    assert result.exit_code == 0 and "…" not in result.output
    table = result.output.split("architectures")[0]
    assert max(len(line) for line in table.splitlines()) <= int(columns)
    rows = {line.split("│")[1].strip() for line in table.splitlines() if line.startswith("│")}
    assert rows == set(variants.list_variants())


def test_list_formats_for_scripts_carry_every_column():
    import csv
    import io

    as_json = json.loads(runner.invoke(app, ["list", "--format", "json"]).output)
    as_csv = list(csv.DictReader(io.StringIO(runner.invoke(app, ["list", "--format", "csv"]).output)))
    assert [row["name"] for row in as_json] == [row["name"] for row in as_csv] == variants.list_variants()
    wgan = next(row for row in as_json if row["name"] == "wgan-gp")
    assert wgan["n_critic"] == 5 and wgan["arch_options"] == "d_norm=none" and wgan["source"] == "builtin"
    assert set(as_json[0]) == set(as_csv[0])
    result = runner.invoke(app, ["list", "--format", "yaml"])
    assert result.exit_code == 2 and "unknown format 'yaml'" in result.output


@pytest.mark.slow
def test_records_carry_the_quality_figures_and_eval_reads_a_checkpoint(mnist_dir, tmp_path):
    out = tmp_path / "run"
    result = run_cli("--variants", "dcgan", "--preset", "tiny", "--device", "cpu", "--out", str(out),
                     "--data-dir", str(mnist_dir))
    assert result.exit_code == 0, result.output
    (record,) = [r for r in map(load_record, records_in(out)) if r["variant"] == "dcgan"]
    for key in ("fid_mnist", "kid_mnist", "precision_mnist", "recall_mnist", "is_mnist", "modes_covered",
                "class_kl", "confidence"):
        assert isinstance(record["metrics"][key], (int, float)), key
    assert record["metrics"]["n_fake"] == 500 and record["metrics"]["n_real"] == 10000
    assert "fid_inception" not in record["metrics"] and "4 images/s" in record["metrics"]["absent"]["fid_inception"]
    assert all(p["fid_mnist"] > 0 for p in record["curve"] if "fid_mnist" in p)
    assert record["curve"][-1]["fid_mnist"] > 0  # the last step is always an evaluation point
    assert record["feature_nets"]["mnist_classifier_sha256"]
    assert record["systems"]["eval_s"] > 0 and record["systems"]["step_ms_p50"] > 0

    out = tmp_path / "eval.json"
    result = runner.invoke(app, ["eval", record["paths"]["checkpoint"], "--samples", "500", "--inception-samples", "8",
                                 "--device", "cpu", "--data-dir", str(mnist_dir), "--out", str(out)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    evaluated = json.loads(out.read_text())
    again = evaluated["metrics"]
    assert again["fid_mnist"] == pytest.approx(record["metrics"]["fid_mnist"], rel=1e-6)
    assert (again["n_fake"], again["n_real"], again["n_inception"]) == (500, 10000, 8)
    assert again["fid_inception"] > 0 and "logits" in again["absent"]["is_inception"]
    assert evaluated["feature_nets"]["inception_sha256"]


def test_eval_of_a_missing_checkpoint_is_one_line(tmp_path):
    result = runner.invoke(app, ["eval", str(tmp_path / "nope.pt")])
    assert result.exit_code == 2 and "no checkpoint at" in result.output


def test_time_to_fid_is_the_first_point_under_the_threshold():
    from bench.eval.evaluation import time_to_fid

    curve = [{"step": 1, "train_s": 1.0, "images_seen": 64, "fid_mnist": 50.0},
             {"step": 2, "train_s": 2.0, "images_seen": 128},
             {"step": 3, "train_s": 3.0, "images_seen": 192, "fid_mnist": 9.0},
             {"step": 4, "train_s": 4.0, "images_seen": 256, "fid_mnist": 5.0}]
    assert time_to_fid(curve, 10.0) == {"threshold": 10.0, "train_s": 3.0, "step": 3, "images_seen": 192}
    assert time_to_fid(curve, 1.0)["train_s"] is None


def test_the_deterministic_view_drops_every_clock_reading():
    def record(seconds):
        return {"run_id": f"r{seconds}", "started_at": seconds, "finished_at": seconds, "systems": {"train_s": seconds},
                "paths": {}, "history": [], "env": {"torch": "x", "git": {"dirty": seconds > 1}},
                "curve": [{"step": 2, "train_s": seconds, "fid_mnist": 20.0}],
                "time_to_fid": {"threshold": 30.0, "train_s": seconds, "step": 2, "images_seen": 128},
                "best": {"step": 2, "images_seen": 128, "train_s": seconds, "curve_fid": 20.0},
                "convergence": {"status": "converged", "epochs": 1.0, "g_steps": 2, "train_s": seconds},
                "metrics": {"fid_mnist": 20.0}}

    assert deterministic_view(record(1.0)) == deterministic_view(record(2.0))
    for section, key in (("time_to_fid", "step"), ("best", "step"), ("convergence", "g_steps")):
        changed = record(1.0)
        changed[section][key] = 3
        assert deterministic_view(changed) != deterministic_view(record(1.0)), section


@pytest.mark.slow
def test_run_trains_an_arch_and_loss_pairing(mnist_dir, tmp_path):
    result = run_cli("--arch", "mlp", "--loss", "ls", "--preset", "tiny", "--device", "cpu", "--out", str(tmp_path),
                     "--data-dir", str(mnist_dir))
    assert result.exit_code == 0, result.output
    (path,) = records_in(tmp_path)
    record = load_record(path)
    assert record["variant"] == "mlp+ls" and record["config"]["arch"] == "mlp" and record["config"]["loss"] == "ls"
    result = run_cli("--arch", "mlp", "--out", str(tmp_path))
    assert result.exit_code == 2 and "--arch and --loss go together" in result.output


def test_resume_refuses_a_checkpoint_written_on_another_capability(small_mnist_dir, tmp_path):
    """Another CPU capability runs other kernels, so a run continued here would be neither
    machine's record: the checkpoint names the machine that wrote it, and --resume refuses it."""
    from bench.devices import device_slug

    args = ["--variants", "vanilla", "--preset", "tiny", "--steps", "2", "--checkpoint-every", "1", "--device", "cpu",
            "--out", str(tmp_path), "--data-dir", str(small_mnist_dir)]
    assert run_cli(*args).exit_code == 0
    for record in records_in(tmp_path):
        record.unlink()  # an unfinished run: --resume would continue its checkpoint
    (checkpoint,) = tmp_path.glob("checkpoints/*/*.pt")
    payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    here = device_slug(torch.device("cpu"))
    assert payload["device_slug"] == here
    elsewhere = here.rsplit("-", 1)[0] + "-avx512" if not here.endswith("-avx512") else here[:-len("avx512")] + "avx2"
    torch.save({**payload, "device_slug": elsewhere}, checkpoint)
    result = run_cli(*args, "--resume")
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ") and f"written on {elsewhere}, this machine is {here}" in line
    assert records_in(tmp_path) == []
    assert run_cli(*args, "--resume", "--force").exit_code == 0
