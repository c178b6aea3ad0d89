"""The convergence budget: the stopping rule, the best curve point's generator, the
losses' diagnostics, and the bad input around them."""

import time

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from typer.testing import CliRunner

import variants
from bench.cli import app
from bench.train.convergence import CAPPED, CONVERGED, Rule, cap_steps, has_converged, make_rule
from bench.data.datasets import DATASETS
from bench.errors import BenchError
from bench.presets import PRESETS
from bench.train.protocol import Hooks, Interrupted, RunConfig, init_state, train, train_step
from variants import LOSSES

CPU = torch.device("cpu")
runner = CliRunner()


def curve(*fids):
    return [{"step": i + 1, "fid_mnist": f} for i, f in enumerate(fids)]


# ---------------------------------------------------------------- the rule

def test_the_rule_waits_for_patience_points_after_the_best():
    rule = Rule(every_images=100, min_delta=0.02, patience=3)
    assert not has_converged(curve(100, 100, 100), rule, "fid_mnist")  # not yet patience + 1 points
    assert has_converged(curve(100, 100, 100, 100), rule, "fid_mnist")
    # 1.9 % below the best before: not enough; 2.1 % below: learning goes on.
    assert has_converged(curve(100, 99, 98.5, 98.1), rule, "fid_mnist")
    assert not has_converged(curve(100, 99, 98.5, 97.9), rule, "fid_mnist")
    # A worse stretch after a good point stops; the old best stays the reference.
    assert has_converged(curve(50, 40, 45, 44, 41), rule, "fid_mnist")
    assert not has_converged(curve(50, 40, 45, 44, 39), rule, "fid_mnist")
    # Log points without an FID do not count as curve points.
    points = curve(100, 100, 100, 100)
    points.insert(2, {"step": 99})
    assert has_converged(points, rule, "fid_mnist") and not has_converged(points[:4], rule, "fid_mnist")


def test_make_rule_fills_in_an_epoch_and_refuses_what_cannot_work():
    rule = make_rule(60_000)
    assert (rule.every_images, rule.min_delta, rule.patience, rule.max_epochs) == (60_000, 0.02, 3, 20.0)
    assert cap_steps(rule, 60_000, 64) == 18_750 and cap_steps(rule, 60_000, 320) == 3_750
    for kwargs, message in (({"patience": 0}, "--patience"), ({"min_delta": 0.0}, "--min-delta"),
                            ({"min_delta": 1.5}, "--min-delta"), ({"every_images": 0}, "--curve-every"),
                            ({"max_epochs": 0.5, "every_images": 60_000}, "below one curve point")):
        with pytest.raises(BenchError, match=message):
            make_rule(60_000, **kwargs)


# ---------------------------------------------------------------- in the loop, with scripted FIDs

def scripted_run(tiny_images, fids: dict, rule: Rule, state=None, hooks_extra=None, steps_cap=None):
    """vanilla at batch 64 on 256 synthetic images, a curve point every 64 images (every
    step), and the curve FIDs given by step."""
    variant = variants.get_variant("vanilla")
    n = len(tiny_images)
    config = RunConfig(variant, 0, PRESETS["tiny"], DATASETS["mnist"],
                       steps_cap or cap_steps(rule, n, 64), checkpoint_every=2, budget=rule.label(), rule=rule)
    state = state or init_state(variant, tiny_images, CPU, seed=0)
    snapshots = {}

    def evaluate(G, step):
        snapshots[step] = {k: v.clone() for k, v in G.state_dict().items()}
        return {"fid_mnist": fids[step]}

    hooks = Hooks(evaluate=evaluate, **(hooks_extra or {}))
    return config, state, train(config, state, CPU, hooks), snapshots


def test_a_run_stops_where_the_rule_says_and_keeps_the_best_generator(tiny_images):
    rule = Rule(every_images=64, min_delta=0.02, patience=2, max_epochs=10)
    fids = {1: 100.0, 2: 80.0, 3: 60.0, 4: 61.0, 5: 59.5, 6: 10.0}
    config, state, outcome, snapshots = scripted_run(tiny_images, fids, rule)
    assert outcome["stopped"] == CONVERGED and outcome["steps_done"] == 5  # 61 and 59.5 are not 2 % below 60
    assert [p["fid_mnist"] for p in outcome["curve"]] == [100.0, 80.0, 60.0, 61.0, 59.5]
    assert state.best["step"] == 5 and state.best["fid"] == 59.5
    for key, value in snapshots[5].items():  # the best G is G as it was at its curve point, BatchNorm buffers too
        assert torch.equal(state.best["G"][key], value), key


def test_a_run_that_keeps_improving_stops_at_the_cap_with_its_best_generator(tiny_images):
    rule = Rule(every_images=64, min_delta=0.02, patience=2, max_epochs=1)  # 256 images: 4 steps
    fids = {1: 100.0, 2: 50.0, 3: 60.0, 4: 40.0}
    _, state, outcome, snapshots = scripted_run(tiny_images, fids, rule)
    assert outcome["stopped"] == CAPPED and outcome["steps_done"] == 4
    assert state.best["step"] == 4
    fids[4] = 55.0
    _, state, outcome, snapshots = scripted_run(tiny_images, fids, rule)
    assert state.best["step"] == 2 and state.best["fid"] == 50.0
    assert any(not torch.equal(value, state.G.state_dict()[key]) for key, value in state.best["G"].items())
    for key, value in snapshots[2].items():
        assert torch.equal(state.best["G"][key], value), key


def test_the_stop_and_best_survive_a_checkpoint_and_resume(tiny_images, tmp_path):
    """Interrupted after step 3, restored into a fresh state: the resumed run stops at the
    same step with the same best generator as one that was never stopped."""
    rule = Rule(every_images=64, min_delta=0.02, patience=2, max_epochs=10)
    fids = {1: 100.0, 2: 80.0, 3: 60.0, 4: 61.0, 5: 59.5, 6: 10.0}
    _, whole, whole_outcome, _ = scripted_run(tiny_images, fids, rule)

    from bench.train.checkpoints import load_checkpoint

    path = tmp_path / "run.pt"
    calls = {"n": 0}

    def stop_after_three():
        calls["n"] += 1
        return calls["n"] == 3

    config, _, _, _ = scripted_run(tiny_images, {1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0}, rule, steps_cap=1)
    meta = {"run_id": "vanilla-s0-test", "config_hash": "test", "config": {**config.describe(), "source": "builtin"},
            "history": []}
    with pytest.raises(Interrupted):
        scripted_run(tiny_images, fids, rule, hooks_extra={"checkpoint_path": path, "should_stop": stop_after_three,
                                                           "checkpoint_meta": meta})
    state = init_state(variants.get_variant("vanilla"), tiny_images, CPU, seed=0)
    state.load_state_dict(load_checkpoint(path)["state"])
    assert state.step == 3 and state.best["step"] == 3
    _, resumed, outcome, _ = scripted_run(tiny_images, fids, rule, state=state)
    assert outcome["stopped"] == CONVERGED and outcome["steps_done"] == whole_outcome["steps_done"] == 5
    assert [p["fid_mnist"] for p in outcome["curve"]] == [p["fid_mnist"] for p in whole_outcome["curve"]]
    for key, value in whole.best["G"].items():
        assert torch.equal(resumed.best["G"][key], value), key


def test_the_time_at_the_stop_is_training_time_not_evaluation(tiny_images):
    """Each curve evaluation sleeps 0.3 s: the training seconds at the stop and at the best
    point must not hold them (evaluation is timed apart)."""
    rule = Rule(every_images=64, min_delta=0.02, patience=2, max_epochs=10)
    fids = {1: 100.0, 2: 100.0, 3: 100.0, 4: 100.0}
    variant = variants.get_variant("vanilla")
    config = RunConfig(variant, 0, PRESETS["tiny"], DATASETS["mnist"], 40, checkpoint_every=100, rule=rule)
    state = init_state(variant, tiny_images, CPU, seed=0)

    def slow_evaluate(G, step):
        time.sleep(0.3)
        return {"fid_mnist": fids[step]}

    began = time.perf_counter()
    outcome = train(config, state, CPU, Hooks(evaluate=slow_evaluate))
    wall = time.perf_counter() - began
    assert outcome["steps_done"] == 3 and outcome["stopped"] == CONVERGED
    assert outcome["systems"]["eval_s"] >= 0.9
    assert outcome["systems"]["train_s"] < wall - 0.85
    assert state.best["train_s"] == outcome["curve"][0]["train_s"] < 0.3  # the best is the first point


# ---------------------------------------------------------------- diagnostics

@pytest.mark.parametrize("name", variants.list_variants())
def test_every_loss_reports_its_declared_diagnostics_from_the_step(name, tiny_images):
    variant = variants.get_variant(name).with_hparams(batch_size=16)
    state = init_state(variant, tiny_images, CPU, seed=0)
    for _ in range(2):
        train_step(variant, state)
    declared = LOSSES[variant.loss].diagnostics
    assert declared and set(state.diag_sum) == set(declared)
    d_steps = 2 * variant.hparams.n_critic
    means = {k: v.item() / d_steps for k, v in state.diag_sum.items()}
    for key in ("d_real", "d_fake", "k"):
        if key in means:
            assert 0.0 <= means[key] <= 1.0, (key, means[key])
    for key in ("gradient_penalty", "r1_penalty", "M"):
        if key in means:
            assert means[key] >= 0.0, (key, means[key])


def test_the_diagnostics_are_what_their_names_say():
    """A D with known outputs: D(x) = 2 for real images (all ones), -1 for fakes (all zeros)."""
    class Known(torch.nn.Module):
        def forward(self, x):
            return torch.where(x.flatten(1).mean(1, keepdim=True) > 0.5, 2.0, -1.0)

    real, fake, diag = torch.ones(4, 1, 28, 28), torch.zeros(4, 1, 28, 28), {}
    LOSSES["wgan"].d_loss(Known(), real, fake, diag=diag)
    assert diag["critic_gap"].item() == pytest.approx(3.0)
    diag = {}
    LOSSES["ns"].d_loss(Known(), real, fake, diag=diag)
    assert diag["d_real"].item() == pytest.approx(torch.sigmoid(torch.tensor(2.0)).item())
    assert diag["d_fake"].item() == pytest.approx(torch.sigmoid(torch.tensor(-1.0)).item())
    # Asked for nothing, a loss reports nothing and computes the same loss.
    assert LOSSES["ns"].d_loss(Known(), real, fake).item() == LOSSES["ns"].d_loss(Known(), real, fake, diag={}).item()


class HostSyncs(TorchDispatchMode):
    """Counts the operations that read a device value back to the host (.item(), .tolist(),
    bool(tensor)): each one is a synchronisation on a GPU."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in (torch.ops.aten._local_scalar_dense.default, torch.ops.aten.item.default):
            self.seen.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", variants.list_variants())
def test_a_training_step_never_reads_a_value_back_to_the_host(name, tiny_images):
    """The timed step, diagnostics included, leaves every value on the device: no host sync."""
    variant = variants.get_variant(name).with_hparams(batch_size=16)
    state = init_state(variant, tiny_images, CPU, seed=0)
    train_step(variant, state)
    with HostSyncs() as syncs:
        train_step(variant, state)
    assert syncs.seen == []
    # ...and the detector does see one.
    with HostSyncs() as syncs:
        state.diag_sum[next(iter(state.diag_sum))].item()
    assert syncs.seen


def test_log_points_carry_the_diagnostics_means(tiny_images):
    rule = Rule(every_images=64, min_delta=0.02, patience=2, max_epochs=1)
    _, state, outcome, _ = scripted_run(tiny_images, {1: 10.0, 2: 9.0, 3: 8.0, 4: 7.0}, rule)
    for point in outcome["curve"]:
        assert set(point["diagnostics"]) == {"d_real", "d_fake"}
        assert all(0.0 <= v <= 1.0 for v in point["diagnostics"].values())


# ---------------------------------------------------------------- bad input: one line, nothing written

@pytest.mark.parametrize("args, message", [
    (["--until-converged", "--steps", "5"], "--until-converged and --steps are two budgets"),
    (["--until-converged", "--train-seconds", "5"], "--until-converged and --train-seconds are two budgets"),
    (["--until-converged", "--patience", "0"], "--patience must be at least 1"),
    (["--until-converged", "--min-delta", "0"], "--min-delta"),
    (["--until-converged", "--min-delta", "-0.1"], "--min-delta"),
    (["--until-converged", "--max-epochs", "0.5"], "below one curve point"),
    (["--until-converged", "--curve-every", "0"], "--curve-every"),
    (["--until-converged", "--curve-samples", "1"], "--curve-samples"),
    (["--patience", "3"], "add --until-converged"),
])
def test_bad_convergence_options_are_one_error_line(args, message, tmp_path):
    result = runner.invoke(app, ["run", "--variants", "vanilla", "--preset", "tiny", "--device", "cpu",
                                 "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert line.startswith("error:") and len(line.splitlines()) == 1 and message in line, line
    assert not (tmp_path / "out" / "runs").exists() or not any((tmp_path / "out" / "runs").rglob("*.json"))


# ---------------------------------------------------------------- the report

def converged_record(variant, seed, fid, best_fid, modes=10, epochs=7.0, status="converged"):
    from test_report import make_record

    record = make_record(variant, seed, fid=fid, budget="until converged (2% over 3 points of 60000 images; cap 20 epochs)")
    record["schema_version"] = 4
    record["metrics"].update(fid_mnist_best=best_fid, modes_covered=modes, modes_covered_best=modes)
    record["best"] = {"step": 100, "images_seen": 6400, "train_s": 1.0, "curve_fid": best_fid + 0.5,
                      "same_as_last": False}
    record["convergence"] = {"status": status, "rule": make_rule(60_000).describe(), "epochs": epochs,
                             "images": int(epochs * 60_000), "g_steps": 150, "d_steps": 150, "train_s": 1.5}
    for point in record["curve"]:
        point["diagnostics"] = {"d_real": 0.7, "d_fake": 0.3}
    return record


def test_the_report_shows_last_and_best_apart_and_where_runs_stopped(tmp_path):
    from bench import report
    from test_report import write_record

    for seed, (fid, best, modes, epochs, status) in enumerate([(20.0, 18.0, 9, 7.0, "converged"),
                                                               (22.0, 19.0, 10, 9.0, "converged"),
                                                               (21.0, 21.0, 10, 20.0, "capped")]):
        write_record(tmp_path, converged_record("dcgan", seed, fid, best, modes, epochs, status))
    written = report.write_report(tmp_path, formats="md,csv", out_dir=tmp_path / "out")
    built = report.build_report(tmp_path, out_dir=tmp_path / "out")
    titles = {title: table for title, _, table in built.tables()}
    quality, best = titles["Quality"], titles["Quality at the best curve point"]
    assert "FID (MNIST) ↓" in quality and "FID (MNIST) at best ↓" not in quality
    assert "FID (MNIST) at best ↓" in best and "FID (MNIST) ↓" not in best
    assert quality["FID (MNIST) ↓"].iloc[0].startswith("21.00 ± 1.00")
    assert best["FID (MNIST) at best ↓"].iloc[0].startswith("19.33")
    stops = titles["Convergence"]
    assert stops["converged"].iloc[0] == "2/3" and stops["epochs at stop"].iloc[0].startswith("12.0")
    assert (tmp_path / "out" / "diagnostics.png") in written
    # modes over seeds 9, 10, 10: the t-interval's top (10.77) is clipped to 10, and the caption says so.
    row = built.summary.set_index("variant").loc["dcgan"]
    assert row["modes_covered_ci_hi"] == 10.0 and row["modes_covered_ci_lo"] < 9.0
    notes = {title: note for title, note, _ in built.tables()}
    assert "clipped" in notes["Quality"] and "clipped" in notes["Quality at the best curve point"]


def test_intervals_never_leave_a_figures_range():
    from bench.report import seed_stats

    free = seed_stats([0.001, 0.002, 0.05])
    clipped = seed_stats([0.001, 0.002, 0.05], lo=0.0, hi=1.0)
    assert free["ci_lo"] < 0 and clipped["ci_lo"] == 0.0 and clipped["ci_hi"] == free["ci_hi"]
    assert clipped["mean"] == free["mean"] and clipped["std"] == free["std"]
    top = seed_stats([0.9, 0.99, 1.0], lo=0.1, hi=1.0)
    assert top["ci_hi"] == 1.0 and top["ci_lo"] > 0.1


def test_the_report_never_pools_converged_and_fixed_budget_runs(tmp_path):
    from bench import report
    from test_report import make_record, write_record

    write_record(tmp_path, converged_record("dcgan", 0, 20.0, 18.0))
    write_record(tmp_path, make_record("dcgan", 1, fid=25.0))
    with pytest.raises(BenchError, match="records mix budgets"):
        report.build_report(tmp_path)


# ---------------------------------------------------------------- studies

def test_a_study_trains_until_converged_from_flags_or_its_file(tmp_path):
    from pathlib import Path

    from bench.train.plan import RunPlan, rule_of
    from bench.study.options import prepare
    from bench.study.plan import budget_fields

    flags = {"variants": "dcgan", "space": "lucic-narrow", "configs": 2, "out": str(tmp_path / "s"),
             "preset": "quick", "until_converged": True, "patience": 4}
    definition, runs, _, _ = prepare(None, flags, False, print)
    assert definition.convergence == make_rule(60_000, patience=4).describe()
    fixed, _, _, _ = prepare(None, {**flags, "until_converged": None, "patience": None}, False, print)
    assert "convergence" not in fixed.canonical() and fixed.id != definition.id
    # Every run of the study gets the same rule as `gan-bench run --until-converged --patience 4`.
    plan = RunPlan(variants=[], seeds=[0], device=CPU, out=tmp_path, **budget_fields(definition))
    assert rule_of(plan, 60_000) == make_rule(60_000, patience=4)

    study_file = tmp_path / "study.toml"
    study_file.write_text('variants = "dcgan"\nspace = "lucic-narrow"\nconfigs = 2\nuntil-converged = true\n'
                          'min-delta = 0.05\n')
    from_file, _, _, _ = prepare(study_file, {"out": str(tmp_path / "f")}, False, print)
    assert from_file.convergence["min_delta"] == 0.05 and from_file.convergence["patience"] == 3
    with pytest.raises(BenchError, match="add --until-converged"):
        prepare(None, {**flags, "until_converged": None}, False, print)
    with pytest.raises(BenchError, match="--patience must be at least 1"):
        prepare(None, {**flags, "patience": 0}, False, print)
    # The published fixed-budget study still hashes to the id its folder holds.
    from bench.study.plan import load_definition

    published = Path(__file__).resolve().parent.parent / "results" / "cpu-amd-epyc-avx2" / "study-lucic-narrow"
    assert load_definition(published).convergence is None


def test_on_stacked_mnist_an_epoch_and_the_final_sample_count_are_its_own():
    from bench.train.plan import RunPlan, rule_of

    plan = RunPlan(variants=[], seeds=[0], preset="one-epoch", device=CPU, out=".", dataset="stacked-mnist",
                   until_converged=True)
    rule = rule_of(plan, DATASETS["stacked-mnist"].train_size)
    assert (rule.every_images, rule.curve_samples) == (128_000, 26_000)
    assert "26000 samples each" in rule.label()


@pytest.mark.slow
def test_a_real_run_records_its_convergence_and_eval_scores_its_best_generator(mnist_dir, tmp_path):
    """Tiny and real: curve points every 2 steps on 500 samples, stopped by the rule or the
    cap; `eval --best` of its checkpoint gives the record's `*_best` figures."""
    import json

    from bench.records import load_record

    result = runner.invoke(app, ["run", "--variants", "vanilla", "--preset", "tiny", "--device", "cpu",
                                 "--out", str(tmp_path), "--data-dir", str(mnist_dir), "--until-converged",
                                 "--curve-every", "128", "--max-epochs", "0.02", "--patience", "2"])
    assert result.exit_code == 0, result.output
    (path,) = tmp_path.glob("runs/*/*.json")
    record = load_record(path)
    stop = record["convergence"]
    assert stop["status"] in ("converged", "capped") and stop["rule"]["curve_samples"] == 500
    assert stop["g_steps"] == record["budget"]["g_steps"] and stop["epochs"] == pytest.approx(stop["images"] / 60_000)
    assert stop["train_s"] == record["systems"]["train_s"]
    points = [p for p in record["curve"] if "fid_mnist" in p]
    assert min(p["fid_mnist"] for p in points) == record["best"]["curve_fid"]
    assert all("diagnostics" in p for p in record["curve"])
    assert record["config"]["budget"].startswith("until converged")

    out = tmp_path / "best.json"
    result = runner.invoke(app, ["eval", record["paths"]["checkpoint"], "--best", "--device", "cpu",
                                 "--data-dir", str(mnist_dir), "--out", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    evaluated = json.loads(out.read_text())
    assert evaluated["generator"] == "best" and evaluated["step"] == record["best"]["step"]
    assert evaluated["metrics"]["fid_mnist"] == pytest.approx(record["metrics"]["fid_mnist_best"], rel=1e-6)


def test_eval_best_of_a_checkpoint_without_a_best_point_is_one_clear_error(tmp_path):
    from bench.train.checkpoints import restore_generator

    variant = variants.get_variant("vanilla")
    G, _ = variant.build((1, 28, 28))
    payload = {"state": {"G": G.state_dict(), "best": None}}
    with pytest.raises(BenchError, match="holds no best curve point"):
        restore_generator(variant, payload, tmp_path / "x.pt", (1, 28, 28), best=True)
    assert restore_generator(variant, payload, tmp_path / "x.pt", (1, 28, 28)) is not None
