"""`--tensorboard DIR`: each run's event files, read back with TensorBoard's own reader, say
what its record says; the writing is outside every timed window and changes no number."""

import time
from contextlib import contextmanager

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata
from torch.utils.tensorboard import SummaryWriter
from typer.testing import CliRunner

import bench.study.engine
import bench.train.runner
from bench.cli import app
from bench.records import config_hash, deterministic_view, load_record
from bench.study.engine import execute_run
from bench.study.options import prepare
from bench.train.plan import plan_from
from bench.train.runner import run_benchmark
from bench.train.settings import RunSettings

runner = CliRunner()
GRID_PIXELS = 8 * 28 + 9 * 2  # 8 images a row, 2 pixels of padding around each


def run_record(out, data_dir, *args) -> dict:
    result = runner.invoke(app, ["run", "--variants", "vanilla", "--preset", "tiny", "--device", "cpu",
                                 "--out", str(out), "--data-dir", str(data_dir), "--format", "json", *args])
    assert result.exit_code == 0, result.output
    (path,) = sorted(out.glob("runs/*/*.json"))
    return load_record(path)


def events_of(folder) -> EventAccumulator:
    return EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0}).Reload()  # 0: keep every event


def scalars_of(events: EventAccumulator) -> dict:
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def session_of(events: EventAccumulator) -> dict:
    """The run's HParams session: its hyperparameters as plain values."""
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    assert metadata.EXPERIMENT_TAG not in content  # TensorBoard builds a study's columns from every session
    info = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    return {name: value.string_value if value.HasField("string_value") else value.number_value
            for name, value in info.hparams.items()}


def close(values):
    """Event files hold 32-bit floats."""
    return pytest.approx(values, rel=1e-6)


def same_series(logged: list, expected: list) -> bool:
    """A scalar's (step, value) pairs are the record's."""
    return ([step for step, _ in logged] == [step for step, _ in expected]
            and [value for _, value in logged] == close([value for _, value in expected]))


def test_the_event_files_say_what_the_record_says_and_change_no_number(small_mnist_dir, tmp_path):
    plain = run_record(tmp_path / "plain", small_mnist_dir)
    record = run_record(tmp_path / "logged", small_mnist_dir, "--tensorboard", str(tmp_path / "tb"))
    assert deterministic_view(record) == deterministic_view(plain)
    assert record["config"] == plain["config"] and record["config_hash"] == config_hash(plain["config"])

    (folder,) = (tmp_path / "tb").iterdir()
    assert folder.name == record["run_id"] and record["paths"]["tensorboard"] == str(folder)
    events = events_of(folder)
    scalars, curve = scalars_of(events), record["curve"]
    assert len(curve) >= 2 and all("fid_mnist" in point for point in curve)  # tiny: every log point is a curve point
    diagnostics = set(curve[0]["diagnostics"])
    metrics = {k for k, v in record["metrics"].items() if type(v) in (int, float) and not k.startswith("n_")}
    assert set(scalars) == ({"loss/d", "loss/g", "curve/fid_mnist", "speed/images_per_s", "final/train_images_per_s"}
                            | {f"diagnostics/{name}" for name in diagnostics} | {f"final/{k}" for k in metrics})
    assert {"final/fid_mnist", "final/fid_mnist_best", "final/modes_covered"} <= set(scalars)

    assert same_series(scalars["loss/d"], [(p["step"], p["d_loss"]) for p in curve])
    assert same_series(scalars["loss/g"], [(p["step"], p["g_loss"]) for p in curve])
    assert same_series(scalars["curve/fid_mnist"], [(p["step"], p["fid_mnist"]) for p in curve])
    for name in diagnostics:
        assert same_series(scalars[f"diagnostics/{name}"], [(p["step"], p["diagnostics"][name]) for p in curve])
    # Images per training second between log points; the first from the warm-up step (step 1,
    # left out of training seconds) on.
    since = [{"images_seen": 64, "train_s": 0.0}, *curve[:-1]]
    rates = [(p["step"], (p["images_seen"] - q["images_seen"]) / (p["train_s"] - q["train_s"]))
             for p, q in zip(curve, since)]
    assert same_series(scalars["speed/images_per_s"], rates)

    last = record["budget"]["g_steps"]
    for key in metrics:
        assert same_series(scalars[f"final/{key}"], [(last, record["metrics"][key])]), key
    assert same_series(scalars["final/train_images_per_s"], [(last, record["systems"]["train_images_per_s"])])

    images = events.Images("samples")
    assert [image.step for image in images] == [p["step"] for p in curve]
    assert all(image.width == image.height == GRID_PIXELS for image in images)

    hparams, config = session_of(events), record["config"]
    assert {k: hparams[k] for k in ("variant", "arch", "loss", "preset", "dataset", "budget", "status")} == {
        "variant": "vanilla", "arch": config["arch"], "loss": config["loss"], "preset": "tiny", "dataset": "mnist",
        "budget": config["budget"], "status": "ok"}
    assert hparams["seed"] == 0 and (hparams["beta1"], hparams["beta2"]) == close(tuple(config["hparams"]["betas"]))
    for key in ("lr_g", "lr_d", "batch_size", "n_critic", "z_dim"):
        assert hparams[key] == close(config["hparams"][key]), key


class Clock:
    """time.perf_counter, plus the sleeps of a slowed writer: those cost the test no real time,
    so an hour of sleep shows up in any window it falls in, however busy the machine."""

    def __init__(self, real):
        self.real, self.slept, self.naps = real, 0.0, 0

    def perf_counter(self) -> float:
        return self.real() + self.slept

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.naps += 1


def test_the_writing_is_in_no_timed_window(small_mnist_dir, tmp_path, monkeypatch):
    hour = 3600.0
    clock = Clock(time.perf_counter)
    monkeypatch.setattr(time, "perf_counter", clock.perf_counter)
    flush = SummaryWriter.flush

    def slow_flush(self):  # once per log point
        clock.sleep(hour)
        flush(self)

    monkeypatch.setattr(SummaryWriter, "flush", slow_flush)
    record = run_record(tmp_path / "out", small_mnist_dir, "--tensorboard", str(tmp_path / "tb"))
    systems = record["systems"]
    assert clock.naps == len(record["curve"]) >= 2
    assert systems["wall_s"] >= clock.naps * hour  # the run did wait for its writer...
    # ...and no timed window did: not the training seconds, a step, the warm-up or an evaluation.
    assert systems["train_s"] < hour and systems["warmup_s"] < hour and systems["eval_s"] < hour
    assert systems["step_ms_p95"] < hour * 1000


def test_an_unwritable_folder_is_one_error_line_before_anything_trains(tmp_path):
    (tmp_path / "a-file").write_text("")
    for command in (["run", "--variants", "vanilla", "--out", str(tmp_path / "out")],
                    ["study", "--variants", "vanilla", "--space", "defaults", "--configs", "1",
                     "--out", str(tmp_path / "study")]):
        result = runner.invoke(app, [*command, "--preset", "tiny", "--device", "cpu",
                                     "--tensorboard", str(tmp_path / "a-file" / "tb")])
        assert result.exit_code == 2, result.output
        (line,) = result.output.strip().splitlines()
        assert line.startswith("error: cannot write to ") and "a-file" in line, line
    assert not list(tmp_path.rglob("*.json"))


def test_a_study_run_logs_into_its_own_folder_with_its_configuration(small_mnist_dir, tmp_path, monkeypatch):
    """Through the study's own path (its settings, the engine, the worker's function), without Ray."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench.study.engine, "_DATA", {})
    flags = {"variants": "vanilla", "space": "lucic-narrow", "configs": 2, "preset": "tiny", "steps": 2,
             "out": "study", "tensorboard": "tb", "data_dir": str(small_mnist_dir)}
    definition, runs, engine, _ = prepare(None, flags, False, warn=print)
    assert engine.tensorboard == tmp_path / "tb"  # absolute: a Ray worker's folder is not the driver's
    threads = torch.get_num_threads()
    try:
        record = execute_run(runs[1], definition, engine, "cpu", str(tmp_path / "checkpoints"), 1)["record"]
    finally:
        torch.set_num_threads(threads)
    (folder,) = (tmp_path / "tb").iterdir()
    assert folder.name == record["run_id"]
    hparams = session_of(events_of(folder))
    assert hparams["study.config"] == 1 and hparams["study.phase"] == "search"
    assert hparams["lr_d"] == close(record["study"]["params"]["lr"])  # the sampled value, sortable in the tab


def test_a_resumed_run_goes_on_in_its_folder_and_logs_each_step_once(small_mnist_dir, tmp_path, monkeypatch):
    """Killed after step 7 with its checkpoint at step 4: what it logged past step 4 (step 6)
    is hidden, and the resumed run logs those steps again."""
    polls = []

    @contextmanager
    def killed_after_step_7():
        def should_stop():
            polls.append(None)
            if len(polls) == 7:
                raise KeyboardInterrupt  # no checkpoint since step 4
            return False
        yield should_stop

    monkeypatch.setattr(bench.train.runner, "signals_request_stop", killed_after_step_7)
    settings = RunSettings(variants="vanilla", preset="tiny", steps=8, checkpoint_every=4, device="cpu",
                           out=tmp_path / "out", data_dir=small_mnist_dir, tensorboard=tmp_path / "tb", resume=True)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(plan_from(settings))
    (folder,) = (tmp_path / "tb").iterdir()
    assert [e.step for e in events_of(folder).Scalars("loss/d")] == [2, 4, 6]
    (record,) = run_benchmark(plan_from(settings))
    assert record["history"] == [{"resumed_at_step": 4}] and record["paths"]["tensorboard"] == str(folder)
    assert [folder] == list((tmp_path / "tb").iterdir())
    scalars, curve = scalars_of(events_of(folder)), record["curve"]
    assert same_series(scalars["loss/d"], [(p["step"], p["d_loss"]) for p in curve])
    assert [p["step"] for p in curve] == [2, 4, 6, 8]
