"""Crash safety, resume and clean errors: faults are injected, records must survive."""

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

import bench.files
import bench.records
import variants
from bench.data import assets
from bench.cli import app
from bench.records import deterministic_view, load_record

pytestmark = pytest.mark.xdist_group("test_reliability")

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
RUN = ["run", "--variants", "vanilla", "--preset", "tiny", "--steps", "40", "--checkpoint-every", "3",
       "--device", "cpu"]


def records_in(out):
    return sorted(Path(out).glob("runs/*/*.json"))


def gan_bench(*args, data_dir):
    """The CLI in a subprocess of its own, as a user runs it."""
    env = {**os.environ, assets.DATA_DIR_ENV: str(data_dir), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "bench.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(out, process, timeout=120, pattern="checkpoints/*/*.pt"):
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if list(Path(out).glob(pattern)):
            return True
        time.sleep(0.05)
    return False


def sigkill_after_a_checkpoint(args, out, mnist_dir):
    """Start the CLI, SIGKILL it at a random point after its first checkpoint, and check it
    left a checkpoint and no record."""
    process = gan_bench(*args, "--out", str(out), data_dir=mnist_dir)
    assert wait_for_checkpoint(out, process)
    time.sleep(random.uniform(0.0, 0.3))
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert records_in(out) == []  # killed before it could finish


def assert_resume_gives(args, out, mnist_dir, uninterrupted):
    """`--resume` continues the killed run from its checkpoint and ends with the
    uninterrupted run's record, timings aside."""
    result = runner.invoke(app, [*args, "--out", str(out), "--data-dir", str(mnist_dir), "--resume"])
    assert result.exit_code == 0, result.output
    (path,) = records_in(out)
    record = load_record(path)
    assert record["history"] and record["history"][0]["resumed_at_step"] > 0
    assert deterministic_view(record) == uninterrupted


@pytest.fixture(scope="module")
def uninterrupted(mnist_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    result = runner.invoke(app, [*RUN, "--out", str(out), "--data-dir", str(mnist_dir)])
    assert result.exit_code == 0, result.output
    (path,) = records_in(out)
    return deterministic_view(load_record(path))


@pytest.mark.slow  # trains in a subprocess and kills it
def test_sigkill_at_a_random_point_then_resume_gives_the_uninterrupted_record(mnist_dir, tmp_path, uninterrupted):
    sigkill_after_a_checkpoint(RUN, tmp_path, mnist_dir)

    assert_resume_gives(RUN, tmp_path, mnist_dir, uninterrupted)


@pytest.mark.slow  # trains in a subprocess and signals it
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stop_signal_leaves_a_checkpoint_and_says_how_to_resume(mnist_dir, tmp_path, uninterrupted, signum, code):
    process = gan_bench(*RUN, "--out", str(tmp_path), data_dir=mnist_dir)
    assert wait_for_checkpoint(tmp_path, process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert f"interrupted by {signal.Signals(signum).name} at step" in stderr
    assert "--resume" in stderr and "Traceback" not in stderr

    result = runner.invoke(app, [*RUN, "--out", str(tmp_path), "--data-dir", str(mnist_dir), "--resume"])
    assert result.exit_code == 0, result.output
    (path,) = records_in(tmp_path)
    assert deterministic_view(load_record(path)) == uninterrupted


def test_resume_skips_finished_runs_and_force_recomputes(small_mnist_dir, tmp_path):
    args = [*RUN, "--steps", "4", "--out", str(tmp_path), "--data-dir", str(small_mnist_dir)]
    assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, [*args, "--resume"])
    assert result.exit_code == 0 and "skipped" in result.output
    assert "Nothing to train: all 1 runs have a finished record" in result.output  # not an empty table
    assert len(records_in(tmp_path)) == 1
    assert runner.invoke(app, [*args, "--resume", "--force"]).exit_code == 0
    assert len(records_in(tmp_path)) == 2


@pytest.mark.slow  # trains in a subprocess and kills it
def test_a_corrupt_checkpoint_is_a_clear_error_and_force_restarts(mnist_dir, tmp_path):
    process = gan_bench(*RUN, "--out", str(tmp_path), data_dir=mnist_dir)
    assert wait_for_checkpoint(tmp_path, process)
    process.kill()
    process.wait()
    (checkpoint,) = Path(tmp_path).glob("checkpoints/*/*.pt")
    checkpoint.write_bytes(checkpoint.read_bytes()[:200])
    args = [*RUN, "--out", str(tmp_path), "--data-dir", str(mnist_dir), "--resume"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "is corrupt" in result.output and "--force" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


@pytest.mark.slow  # trains in two subprocesses
def test_two_concurrent_runs_in_one_directory_do_not_clobber(mnist_dir, tmp_path):
    args = [*RUN, "--steps", "6", "--out", str(tmp_path)]
    processes = [gan_bench(*args, data_dir=mnist_dir) for _ in range(2)]
    for process in processes:
        process.communicate(timeout=300)
        assert process.returncode == 0
    paths = records_in(tmp_path)
    assert len(paths) == 2 and len({load_record(p)["run_id"] for p in paths}) == 2
    assert not list(Path(tmp_path).rglob("*.tmp"))


def test_a_full_disk_while_writing_a_record_keeps_earlier_records_intact(small_mnist_dir, tmp_path, monkeypatch):
    args = [*RUN, "--steps", "2", "--out", str(tmp_path), "--data-dir", str(small_mnist_dir)]
    assert runner.invoke(app, args).exit_code == 0
    (earlier,) = records_in(tmp_path)
    before = earlier.read_bytes()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(bench.files.os, "fsync", disk_full)
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    # The progress bar printed before the failure; the error itself is one last line.
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: could not write record") and "No space left on device" in last
    assert "Traceback" not in result.output
    assert records_in(tmp_path) == [earlier] and earlier.read_bytes() == before
    assert not list(Path(tmp_path).rglob("*.tmp"))


def test_corrupt_data_is_refused_with_a_hint(small_mnist_dir, tmp_path):
    raw = assets.raw_dir(tmp_path / "data")
    raw.mkdir(parents=True)
    for name in assets.RAW_FILES.values():
        (raw / name).write_bytes((assets.raw_dir(small_mnist_dir) / name).read_bytes())
    assets.fetch_mnist(tmp_path / "data")  # the copy itself passes
    damaged = raw / assets.RAW_FILES["train_images"]
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\x01")
    result = runner.invoke(app, [*RUN, "--out", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 2
    assert "train-images-idx3-ubyte does not match its pinned sha256" in result.output
    assert "fetch --force" in result.output and len(result.output.strip().splitlines()) == 1


def test_an_output_directory_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = runner.invoke(app, [*RUN, "--out", str(blocker / "results")])
    assert result.exit_code == 2
    assert "cannot write to" in result.output and len(result.output.strip().splitlines()) == 1


def test_a_cuda_index_beyond_the_machine(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    result = runner.invoke(app, ["run", "--device", "cuda:7", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "has 1 CUDA device(s)" in result.output and len(result.output.strip().splitlines()) == 1


@given(st.text(max_size=30))
@settings(max_examples=200, deadline=None)
def test_any_variant_spec_either_selects_known_variants_or_is_a_clean_error(spec):
    try:
        chosen = variants.select_variants(spec)
    except variants.UnknownVariant as error:
        assert str(error)
    else:
        assert chosen and all(v.name in variants.VARIANTS for v in chosen)


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=5),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    )
)
@settings(max_examples=100, deadline=None)
def test_records_round_trip_through_the_atomic_writer(tmp_path_factory, payload):
    path = tmp_path_factory.mktemp("records") / "r.json"
    bench.records.write_json_atomic(path, {"payload": payload})
    assert json.loads(path.read_text()) == {"payload": payload}
