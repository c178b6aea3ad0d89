"""One study folder, one driver: a second driver is refused in one line naming the holder,
and a lock that a dead driver left behind is taken over."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import BenchError
from bench.study.lock import LOCK_FILE, hold_folder

ROOT = Path(__file__).resolve().parent.parent
HOLD = "import sys, time\nfrom bench.study.lock import hold_folder\nwith hold_folder(sys.argv[1]):\n" \
       "    print('held', flush=True)\n    time.sleep(120)\n"


@pytest.fixture
def live_driver(tmp_path):
    """Another process holding tmp_path/out, as a running driver does."""
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.stdout.readline().strip() == "held"
    yield out, process.pid
    if process.poll() is None:
        process.kill()
        process.wait()


def test_a_second_study_driver_on_a_held_folder_is_refused_in_one_line(live_driver):
    out, pid = live_driver
    result = CliRunner().invoke(app, ["study", "--variants", "vanilla", "--space", "defaults", "--configs", "1",
                                      "--preset", "tiny", "--out", str(out)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: another gan-bench study drives"), result.output
    assert f"pid {pid} on {socket.gethostname()}" in lines[0]
    assert not list(out.glob("runs/*/*.json")) and not (out / "study.json").exists()


def test_a_driver_killed_with_sigkill_leaves_the_folder_free(live_driver):
    out, pid = live_driver
    with pytest.raises(BenchError, match="another gan-bench study drives"):
        with hold_folder(out):
            pass
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    with hold_folder(out):
        assert json.loads((out / LOCK_FILE).read_text())["pid"] == os.getpid()


def test_a_lock_left_by_a_dead_driver_is_taken_over(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_FILE).write_text(json.dumps({"pid": gone.pid, "host": socket.gethostname(), "since": "then"}))
    with hold_folder(out):
        holder = json.loads((out / LOCK_FILE).read_text())
        assert holder["pid"] == os.getpid()
    with hold_folder(out):  # and released again on the way out
        pass


@pytest.mark.slow
def test_the_same_study_started_twice_on_one_folder_records_each_run_once(mnist_dir, tmp_path):
    out = tmp_path / "out"
    args = [sys.executable, "-m", "bench.cli", "study", "--variants", "vanilla", "--space", "defaults",
            "--configs", "1", "--seeds", "2", "--preset", "tiny", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GAN_BENCH_DATA": str(mnist_dir)}
    first = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1)  # a double click
    second = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outcomes = [(p.wait(timeout=600), *p.communicate()) for p in (first, second)]
    records = [json.loads(p.read_text()) for p in out.glob("runs/*/*.json")]
    assert sorted(r["seed"] for r in records) == [0, 1], outcomes
    refused = [stderr for code, _, stderr in outcomes if code == 2]
    # One driver trains; the other is refused, or (if it came after the first ended) finds nothing left.
    assert all("another gan-bench study drives" in s and "Traceback" not in s for s in refused), outcomes
    assert sum("2 now" in stdout for _, stdout, _ in outcomes) == 1, outcomes
