"""The yardstick (the tutorial loop), the side-by-side speed comparison and `gan-bench speed`.

Timings here are tiny and noisy: these tests check that things run and that the
arithmetic is right, never how fast anything is.
"""

import json
import math

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import variants
from bench.cli import app
from bench.train.protocol import init_state
from bench.speed.compare import measure_speed, probe_memory, summarize
from bench.speed.yardstick import Yardstick, mnist_dataset

pytestmark = pytest.mark.xdist_group("test_speed")

CPU = torch.device("cpu")
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These tests check arithmetic, not speed: one thread keeps them quick on a shared
    2-core machine, where two threads waiting on each other can be many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def dataset(small_mnist):
    return mnist_dataset(small_mnist.dir)  # torchvision's MNIST, read from the small set's raw files


@pytest.mark.parametrize("name", variants.list_variants())
def test_the_yardstick_trains_every_variant_on_cpu(name, dataset):
    variant = variants.get_variant(name).with_hparams(batch_size=16)
    lines = []
    yardstick = Yardstick(variant, CPU, seed=0, print_fn=lines.append, dataset=dataset)
    before = {net: [p.detach().clone() for p in getattr(yardstick, net).parameters()] for net in "GD"}
    losses = [yardstick.step() for _ in range(2)]
    assert all(math.isfinite(x) for pair in losses for x in pair)
    # Both nets train. Not every tensor moves: a WGAN critic's last bias has exactly zero
    # gradient (it cancels between D(fake).mean() and D(real).mean()).
    for net in "GD":
        moved = [not torch.equal(a, b) for a, b in zip(before[net], getattr(yardstick, net).parameters())]
        assert sum(moved) >= len(moved) - 1, net
    # The tutorial prints every step; each step consumed n_critic batches.
    assert len(lines) == 2 and "D loss" in lines[0] and "G loss" in lines[0]
    assert yardstick.batch_index == 2 * variant.hparams.n_critic


def test_the_yardstick_starts_from_the_fast_paths_weights(dataset, tiny_images):
    variant = variants.get_variant("dcgan").with_hparams(batch_size=8)
    yardstick = Yardstick(variant, CPU, seed=3, print_fn=lambda line: None, dataset=dataset)
    state = init_state(variant, tiny_images[:64], CPU, seed=3)
    for mine, theirs in ((yardstick.G, state.G), (yardstick.D, state.D)):
        assert all(torch.equal(a, b) for a, b in zip(mine.state_dict().values(), theirs.state_dict().values()))
    # The tutorial's data: PIL -> ToTensor -> Normalize, in [-1, 1] like the fast path's batches.
    real = yardstick.next_batch()
    assert real.shape == (8, 1, 28, 28) and real.min() >= -1 and real.max() <= 1


def test_measure_speed_reports_both_sides_and_their_ratio_per_repeat(small_mnist_dir):
    chosen = [variants.get_variant("vanilla"), variants.get_variant("wgan-gp")]
    frame = measure_speed(chosen, CPU, batch_sizes=(4, 8), repeats=2, steps_per_repeat=1, warmup=0,
                          data_dir=small_mnist_dir, memory=False)
    assert len(frame) == 2 * 2 * 2
    assert list(frame.drop_duplicates(["variant", "batch_size"])[["variant", "batch_size"]].itertuples(
        index=False, name=None)) == [("vanilla", 4), ("vanilla", 8), ("wgan-gp", 4), ("wgan-gp", 8)]
    for column in ("fast_s", "yardstick_s", "fast_images_per_s", "yardstick_images_per_s", "ratio"):
        assert (frame[column] > 0).all(), column
    # Real images consumed by D: batch * n_critic per generator update.
    assert (frame["images"] == frame["batch_size"] * frame["n_critic"] * frame["steps"]).all()
    assert set(frame.loc[frame.variant == "wgan-gp", "n_critic"]) == {5}
    pd.testing.assert_series_equal(frame["fast_images_per_s"], frame["images"] / frame["fast_s"], check_names=False)
    pd.testing.assert_series_equal(frame["ratio"], frame["fast_images_per_s"] / frame["yardstick_images_per_s"],
                                   check_names=False)
    pd.testing.assert_series_equal(frame["ratio"], frame["yardstick_s"] / frame["fast_s"], check_names=False)
    assert frame["fast_finite"].all() and frame["yardstick_finite"].all()

    summary = summarize(frame)
    assert len(summary) == 4
    for row in summary.itertuples():
        ratios = frame[(frame.variant == row.variant) & (frame.batch_size == row.batch_size)]["ratio"]
        assert row.ratio_median == pytest.approx(ratios.median())
        assert row.ratio_min == ratios.min() and row.ratio_max == ratios.max()
        assert row.fast_step_ms > 0 and row.yardstick_step_ms > 0


@pytest.mark.slow  # trains in a subprocess of its own
@pytest.mark.parametrize("side", ["fast", "yardstick"])
def test_each_sides_peak_memory_is_probed_in_a_fresh_process(side, mnist_dir):
    figures = probe_memory(variants.get_variant("vanilla").with_hparams(batch_size=8), side, CPU, mnist_dir, steps=1)
    assert figures["peak_mem_bytes"] > 0, figures["peak_mem_kind"]
    assert figures["peak_mem_kind"].startswith("cpu_rss_growth")


SMALL_SPEED = ["speed", "--variants", "vanilla,pacdcgan2", "--device", "cpu", "--batch-sizes", "4", "--repeats", "2",
               "--steps", "1", "--warmup", "0", "--threads", "1", "--no-memory"]


def test_the_speed_command_prints_a_table_and_writes_json_and_csv(small_mnist_dir, tmp_path):
    # In a pipe rich assumes 80 columns: the table drops columns, never cuts a name or a number.
    result = runner.invoke(app, [*SMALL_SPEED, "--out", str(tmp_path), "--data-dir", str(small_mnist_dir)],
                           env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout and max(len(line) for line in result.stdout.splitlines()) <= 80
    rows = [line.split("│") for line in result.stdout.splitlines() if line.startswith("│")]
    assert [row[1].strip() for row in rows] == ["vanilla", "pacdcgan2"] and all(row[5].strip().endswith("x") for row in rows)
    (folder,) = (tmp_path / "speed").iterdir()
    assert folder.name.startswith("cpu-")
    record = json.loads((folder / "speed.json").read_text())
    assert record["command"].startswith("gan-bench speed --variants vanilla,pacdcgan2 --device cpu --batch-sizes 4")
    assert "--threads 1" in record["command"] and "--no-memory" in record["command"]
    assert record["settings"]["threads"] == 1 and record["env"]["threads"] == 1
    assert record["env"]["device_type"] == "cpu" and len(record["repeats"]) == 4
    assert [row["variant"] for row in record["summary"]] == ["vanilla", "pacdcgan2"]
    assert record["summary"][0]["fast_peak_mem_bytes"] is None  # --no-memory: absent, not a number
    summary = pd.read_csv(folder / "speed.csv", comment="#")
    assert list(summary["variant"]) == ["vanilla", "pacdcgan2"] and (summary["ratio_median"] > 0).all()
    assert len(pd.read_csv(folder / "speed_repeats.csv", comment="#")) == 4
    assert not list(folder.glob(".*tmp"))

    # For scripts: stdout is the JSON alone (progress went to stderr), every column in it. The
    # same two variants picked by a pattern, less an --exclude; the record names what it measured.
    picked = [*SMALL_SPEED[:2], "vanilla,pac*,dcgan", "--exclude", "dcgan", *SMALL_SPEED[3:]]
    result = runner.invoke(app, [*picked, "--out", str(tmp_path / "again"), "--data-dir", str(small_mnist_dir),
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    as_json = json.loads(result.stdout)
    assert [row["variant"] for row in as_json] == ["vanilla", "pacdcgan2"]
    (folder,) = (tmp_path / "again" / "speed").iterdir()
    assert json.loads((folder / "speed.json").read_text())["command"].startswith(
        "gan-bench speed --variants vanilla,pacdcgan2 --device cpu")
    assert {"ratio_median", "ratio_min", "ratio_max", "fast_step_ms", "yardstick_peak_mem_bytes"} <= set(as_json[0])


@pytest.mark.parametrize("args, message", [
    (["--variants", "nosuch"], "unknown variant 'nosuch'"),
    (["--batch-sizes", "0"], "batch size must be between 1"),
    (["--batch-sizes", "64,x"], "--batch-sizes must be whole numbers"),
    (["--repeats", "0"], "--repeats must be at least 1"),
    (["--threads", "0"], "--threads must be at least 1"),
    (["--format", "yaml"], "unknown format 'yaml'"),
])
def test_bad_input_exits_2_with_one_line(args, message, tmp_path):
    result = runner.invoke(app, ["speed", "--device", "cpu", "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "speed").exists()
