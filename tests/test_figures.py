"""Each systems figure measures exactly its window: training memory never includes
evaluation, a time budget never counts evaluation, a run works on the device it names."""

import time
from contextlib import contextmanager
from pathlib import Path

import torch
from typer.testing import CliRunner

import bench.devices
import bench.eval.evaluation
import bench.eval.quality
import bench.train.runner
from bench.cli import app
from bench.records import load_record

runner = CliRunner()
MiB = 2**20
BALLAST_MIB = 256


def run_record(out: Path, data_dir, *args) -> dict:
    result = runner.invoke(app, ["run", "--preset", "tiny", "--device", "cpu", "--out", str(out),
                                 "--data-dir", str(data_dir), "--format", "json", *args])
    assert result.exit_code == 0, result.output
    (path,) = sorted(out.glob("runs/*/*.json"))
    return load_record(path)


def test_training_peak_memory_leaves_out_evaluation(small_mnist_dir, tmp_path, monkeypatch):
    small = run_record(tmp_path / "small", small_mnist_dir, "--variants", "dcgan")["systems"]

    # Evaluation now extracts features in batches ten times larger and holds 256 MiB more
    # at every curve point: a training figure that took in evaluation would grow with it.
    monkeypatch.setattr(bench.eval.quality, "MNIST_BATCH", 5000)
    curve = bench.eval.evaluation.Evaluator.curve

    def heavy_curve(self, G, step):
        ballast = torch.ones(BALLAST_MIB * MiB // 4)  # written, so its pages are resident
        try:
            return curve(self, G, step)
        finally:
            del ballast

    monkeypatch.setattr(bench.eval.evaluation.Evaluator, "curve", heavy_curve)
    big = run_record(tmp_path / "big", small_mnist_dir, "--variants", "dcgan")["systems"]

    print(f"training peak {small['peak_mem_bytes'] / MiB:.1f} -> {big['peak_mem_bytes'] / MiB:.1f} MiB; "
          f"evaluation peak {small['eval_peak_mem_bytes'] / MiB:.1f} -> {big['eval_peak_mem_bytes'] / MiB:.1f} MiB")
    assert big["peak_mem_kind"] == "cpu_rss_growth"
    assert big["eval_peak_mem_bytes"] >= BALLAST_MIB * MiB
    assert big["peak_mem_bytes"] <= small["peak_mem_bytes"] + 16 * MiB
    assert 0 < big["peak_mem_bytes"] < BALLAST_MIB * MiB / 2


def test_a_time_budget_counts_training_seconds_only(small_mnist_dir, tmp_path, monkeypatch):
    curve = bench.eval.evaluation.Evaluator.curve
    naps = []

    def slow_curve(self, G, step):
        if len(naps) < 4:  # the first four curve points: 2 s of evaluation, not one of the budget's 3
            naps.append(step)
            time.sleep(0.5)
        return curve(self, G, step)

    monkeypatch.setattr(bench.eval.evaluation.Evaluator, "curve", slow_curve)
    record = run_record(tmp_path, small_mnist_dir, "--variants", "vanilla", "--train-seconds", "3")
    systems, budget, curve_points = record["systems"], record["budget"], record["curve"]
    evaluated = [p for p in curve_points if "fid_mnist" in p]
    # 2 s of sleeping in evaluation (4 points need 8 steps in 3 s: so on a busy machine too)...
    assert len(naps) == 4 and len(evaluated) >= 4
    assert 3 <= systems["train_s"] < 3 + 0.5  # ...none of it in the budget or in train_s
    assert systems["eval_s"] >= 0.5 * len(naps)
    assert record["config"]["budget"] == "3 training seconds" and record["config"]["steps"] is None
    assert budget["label"] == "3 training seconds" and budget["g_steps_planned"] is None
    assert budget["g_steps"] == curve_points[-1]["step"] and budget["d_steps"] == budget["g_steps"]
    assert budget["images_seen"] == 64 * budget["g_steps"]


def test_budget_counts_show_how_an_epoch_budget_shares_out(small_mnist_dir, tmp_path):
    record = run_record(tmp_path, small_mnist_dir, "--variants", "wgan-gp", "--steps", "3")
    assert record["budget"] == {"label": "3 generator steps", "g_steps_planned": 3, "train_seconds_planned": None,
                                "g_steps": 3, "d_steps": 15, "images_seen": 3 * 5 * 64}


def test_steps_and_train_seconds_together_are_refused(small_mnist_dir, tmp_path):
    result = runner.invoke(app, ["run", "--variants", "vanilla", "--steps", "3", "--train-seconds", "2",
                                 "--device", "cpu", "--out", str(tmp_path), "--data-dir", str(small_mnist_dir)])
    assert result.exit_code == 2 and "two budgets" in result.output
    for bad in ("0", "-1", "nan"):
        result = runner.invoke(app, ["run", "--variants", "vanilla", "--train-seconds", bad, "--device", "cpu",
                                     "--out", str(tmp_path), "--data-dir", str(small_mnist_dir)])
        assert result.exit_code == 2 and "--train-seconds must be a positive number" in result.output


def test_a_run_makes_its_device_current_for_everything_it_does(small_mnist_dir, tmp_path, monkeypatch):
    """Without two GPUs: the runner enters use_device(plan.device) around all its runs,
    and use_device makes a CUDA device current (here with torch.cuda.device stubbed)."""
    entered, current = [], []

    @contextmanager
    def spy(device):
        entered.append(device)
        current.append(device)
        try:
            yield
        finally:
            current.pop()

    seen_during_eval = []
    final = bench.eval.evaluation.Evaluator.final

    def watched_final(self, G, samples=None):
        seen_during_eval.append(list(current))
        return final(self, G, samples)

    monkeypatch.setattr(bench.train.runner, "use_device", spy)
    monkeypatch.setattr(bench.eval.evaluation.Evaluator, "final", watched_final)
    run_record(tmp_path, small_mnist_dir, "--variants", "vanilla")
    assert entered == [torch.device("cpu")] and seen_during_eval == [[torch.device("cpu")]]

    made_current = []

    @contextmanager
    def fake_cuda_device(device):
        made_current.append(device)
        yield

    monkeypatch.setattr(torch.cuda, "device", fake_cuda_device)
    with bench.devices.use_device(torch.device("cuda", 1)):
        pass
    with bench.devices.use_device(torch.device("cpu")):
        pass
    assert made_current == [torch.device("cuda", 1)]
