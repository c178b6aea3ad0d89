"""`gan-bench study`: the sampler, a real study on a local Ray, faults (a node removed, the
driver killed) and bad input. Every test that starts Ray stops it; the module checks that no
Ray process outlives it."""

import os

# Every Ray process here binds to the loopback address: on Linux Ray otherwise swaps a
# 127.0.0.1 cluster address for the machine's outward address, where nothing listens.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

import json  # noqa: E402
import math  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_reliability import gan_bench, records_in  # noqa: E402
from test_reliability import wait_for_checkpoint as wait_for_a_checkpoint  # noqa: E402

import variants  # noqa: E402
from bench.cli import app  # noqa: E402
from bench.records import SCHEMA_VERSION, deterministic_view, load_record  # noqa: E402
from bench.study.options import prepare  # noqa: E402
from bench.study.plan import StudyDefinition, search_runs  # noqa: E402
from bench.study.spaces import SPACES, default_value, get_space  # noqa: E402

runner = CliRunner()
TINY = ["--preset", "tiny", "--device", "cpu"]
STUDY = ["study", "--variants", "vanilla,dcgan", "--space", "lucic-narrow", "--configs", "3", "--seeds", "1",
         *TINY, "--steps", "2"]
RAY_PROCESS_NAMES = ("raylet", "gcs_server", "ray::", "default_worker.py", "ray/dashboard", "log_monitor.py",
                     "monitor.py --logs-dir")


# Ray's workers: the processes that train.
WORKER_NAMES = ("ray::execute_run", "ray::IDLE", "default_worker.py")


# What this process starts carries this tag in its environment, and so does every Ray process
# started from it (a driver's Ray, a cluster a test makes): Ray's processes inherit their
# starter's environment. So a test finds its own Ray, not the one a test on another xdist
# worker runs at the same time.
TAG = "GAN_BENCH_TEST_STARTER"
os.environ[TAG] = str(os.getpid())


def ray_processes(names=RAY_PROCESS_NAMES) -> set[int]:
    """The live Ray processes (by name) started from this process."""
    tag = f"{TAG}={os.getpid()}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # gone meanwhile, or not ours to read
        if tag in environ and state != "Z" and "pytest" not in args and any(name in args for name in names):
            found.add(int(entry.name))
    return found


def wait_until_gone(pids: set[int], timeout=120, names=RAY_PROCESS_NAMES) -> set[int]:
    """A node's agents notice a dead raylet after about a minute; workers within seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        alive = pids & ray_processes(names)
        if not alive:
            return set()
        time.sleep(0.5)
    return pids & ray_processes(names)


@pytest.fixture(autouse=True)
def no_ray_process_left():
    before = ray_processes()
    yield
    assert wait_until_gone(ray_processes() - before) == set(), "a Ray process outlived the test"


def study_records(out):
    return [load_record(p) for p in records_in(out)]


def keys(records):
    return [(r["variant"], r["study"]["config_index"], r["seed"], r["study"]["phase"]) for r in records]


def run_cli(args, mnist_dir, timeout=600):
    process = gan_bench(*args, data_dir=mnist_dir)
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


# ---------------------------------------------------------------- the sampler


def definition(space="lucic-wide", configs=50, names=("vanilla", "dcgan", "wgan", "wgan-gp", "began"), **changes):
    fields = dict(name="t", variants=tuple(names), space=get_space(space), configs=configs, seeds=1, preset="tiny")
    return StudyDefinition(**{**fields, **changes})


def test_configuration_0_is_each_variants_defaults():
    for run in search_runs(definition()):
        if run.config_index == 0:
            base = variants.get_variant(run.variant.name)
            assert run.variant.hparams == base.hparams and run.variant.loss_options == base.loss_options
            assert run.params == {name: default_value(name, base) for name in run.params}


def test_configuration_0_keeps_the_normalisation_the_builder_gives():
    from dataclasses import replace

    # A variant that leaves d_norm out trains with its builder's default, which differs by
    # architecture: BEGAN's autoencoder is unnormalised unless asked, dcgan's D has BatchNorm.
    assert default_value("d_norm", replace(variants.get_variant("began"), arch_options={})) == "none"
    assert default_value("d_norm", variants.get_variant("dcgan")) == "batch"
    assert default_value("d_norm", variants.get_variant("began")) == "batch"  # the recipe's choice


def test_sampled_values_stay_in_range_and_only_where_a_variant_uses_them():
    space = {p.name: p for p in SPACES["lucic-wide"].params}
    seen = {}
    for run in search_runs(definition()):
        seen.setdefault(run.variant.name, set()).update(run.params)
        if run.config_index == 0:
            continue
        for name, value in run.params.items():
            param = space[name]
            if param.kind == "choice":
                assert value in param.values
            else:
                assert param.values[0] <= value <= param.values[1], (name, value)
        hp = run.variant.hparams
        assert hp.lr_g == hp.lr_d == run.params["lr"]
    assert "beta1" not in seen["wgan"]  # RMSprop has no betas
    assert seen["wgan"] >= {"clip"} and "clip" not in seen["dcgan"]
    assert "d_norm" not in seen["wgan-gp"] and "d_norm" in seen["dcgan"]  # a penalty keeps D without batch norm
    assert "d_norm" not in seen["vanilla"]  # the MLP's D has no norm option
    assert {"gamma", "lambda_k"} <= seen["began"] and "gp_weight" in seen["wgan-gp"]


def test_log_uniform_is_uniform_in_the_exponent():
    runs = [r for r in search_runs(definition(configs=2001, names=("dcgan",))) if r.config_index]
    exponents = np.log10([r.params["lr"] for r in runs])  # lucic-wide: lr = 10^U(-5, -2)
    counts, _ = np.histogram(exponents, bins=6, range=(-5, -2))
    assert counts.min() > 0.75 * len(runs) / 6 and counts.max() < 1.25 * len(runs) / 6
    # Uniform in the value itself would put about 90% of the samples in the last decade.
    assert (exponents > -3).mean() < 0.45


def test_the_same_definition_gives_the_same_runs_and_a_different_one_another_id():
    one, two = search_runs(definition()), search_runs(definition())
    assert [(r.key, r.params) for r in one] == [(r.key, r.params) for r in two]
    assert definition().id == definition().id and len(definition().id) == 12
    others = [definition(configs=49), definition(seeds=2), definition(space="lucic-narrow"),
              definition(names=("vanilla",)), definition(steps=7), definition(dataset="stacked-mnist")]
    assert len({d.id for d in others} | {definition().id}) == len(others) + 1
    assert [r.params for r in search_runs(definition(configs=49))] != [r.params for r in one][:49 * 5]


# ---------------------------------------------------------------- a real study on a local Ray


@pytest.mark.slow
def test_a_tiny_study_records_every_run_once_and_samples_the_same_anywhere(mnist_dir, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    code, stdout, stderr = run_cli([*STUDY, "--out", str(first)], mnist_dir)
    assert code == 0, stderr
    assert "best FID so far" in stderr and stderr.endswith("\n")  # the live display's last frame, a whole line
    records = study_records(first)
    assert len(records) == 6 and len(set(keys(records))) == 6
    assert {r["study"]["config_index"] for r in records} == {0, 1, 2}
    ids = {r["study"]["id"] for r in records}
    assert len(ids) == 1 and len(ids.pop()) == 12
    for record in records:
        assert record["schema_version"] == SCHEMA_VERSION and record["status"] == "ok"
        assert record["study"]["space"] == "lucic-narrow" and record["study"]["phase"] == "search"
        assert math.isfinite(record["metrics"]["fid_mnist"]) and record["env"]["threads"] == 1
        assert record["config"]["hparams"]["lr_d"] == record["study"]["params"]["lr"]
        assert (first / "runs" / record["env"]["device_slug"] / f"{record['run_id']}.png").is_file()

    code, stdout, again = run_cli([*STUDY, "--out", str(first)], mnist_dir)
    assert code == 0, again
    assert "6 of 6 runs recorded (0 now" in stdout
    assert len(records_in(first)) == 6

    # The same command anywhere samples the same: its plan, made again in this process for
    # another folder, has the study's id and every run's values.
    flags = {"variants": "vanilla,dcgan", "space": "lucic-narrow", "configs": 3, "seeds": 1, "preset": "tiny",
             "device": "cpu", "steps": 2, "out": str(second)}
    plan, runs, _, _ = prepare(None, flags, False, warn=print)
    assert plan.id == records[0]["study"]["id"]
    assert sorted((run.key, json.dumps(run.params, sort_keys=True)) for run in runs) == sorted(
        (key, json.dumps(r["study"]["params"], sort_keys=True)) for key, r in zip(keys(records), records))

    # The last phase: each variant's best configuration again, on seeds the search did not use.
    code, stdout, stderr = run_cli(["study", "--rerun-best", "--seeds", "1", "--out", str(first)], mnist_dir)
    assert code == 0, stderr
    reruns = [r for r in study_records(first) if r["study"]["phase"] == "rerun-best"]
    assert len(reruns) == 2 and {r["seed"] for r in reruns} == {1}
    for rerun in reruns:
        search = [r for r in records if r["variant"] == rerun["variant"]]
        best = min(search, key=lambda r: r["metrics"]["fid_mnist"])
        assert rerun["study"]["config_index"] == best["study"]["config_index"]
        assert rerun["study"]["params"] == best["study"]["params"] and rerun["config"] == best["config"]

    # A phase's tally counts its own runs only: a failed search run is not a failed rerun.
    # (The worst search run, so that the best configurations, and the reruns, stay as they are.)
    search_paths = [p for p in records_in(first) if load_record(p)["study"]["phase"] == "search"]
    path = max(search_paths, key=lambda p: load_record(p)["metrics"]["fid_mnist"])
    failed = {**load_record(path), "status": "failed"}
    path.write_text(json.dumps(failed))
    code, stdout, stderr = run_cli(["study", "--rerun-best", "--seeds", "1", "--out", str(first)], mnist_dir)
    assert code == 0, stderr
    assert "rerun-best: 2 of 2 runs recorded (0 now, 0 failed)" in stdout


@pytest.mark.slow
def test_a_plugin_variant_and_a_pairing_train_on_the_workers_and_the_rerun_remembers_the_plugin(mnist_dir, tmp_path):
    # A relative path from the driver's folder: the workers get it made absolute.
    plugin = "examples/plugin_variant.py"
    out = tmp_path / "out"
    args = ["study", "--plugin", plugin, "--variants", "lsgan-sym", "--arch", "mlp", "--loss", "ls-sym",
            "--space", "defaults", "--configs", "1", *TINY, "--steps", "2", "--out", str(out)]
    code, _, stderr = run_cli(args, mnist_dir)
    assert code == 0, stderr
    assert sorted(keys(study_records(out))) == [("lsgan-sym", 0, 0, "search"), ("mlp+ls-sym", 0, 0, "search")]
    # A study folder names its plug-ins but never loads them: the rerun asks for --plugin.
    code, _, stderr = run_cli(["study", "--rerun-best", "--seeds", "1", "--out", str(out)], mnist_dir)
    assert code == 2 and f"--plugin {Path(__file__).resolve().parent.parent / plugin}" in stderr, stderr
    code, _, stderr = run_cli(["study", "--rerun-best", "--seeds", "1", "--out", str(out), "--plugin", plugin],
                              mnist_dir)
    assert code == 0, stderr
    records = study_records(out)
    assert len(records) == 4 and {r["status"] for r in records} == {"ok"}
    for record in records:
        source = record["config"]["source"]
        assert source["file"] == str((Path(__file__).resolve().parent.parent / plugin)), source


# ---------------------------------------------------------------- faults


FAULT = ["study", "--variants", "vanilla", "--space", "defaults", "--configs", "1", *TINY, "--steps", "40",
         "--checkpoint-every", "3"]


def wait_for_checkpoint(out, process):
    # A study's checkpoints sit one folder deeper: one folder per configuration and phase.
    return wait_for_a_checkpoint(out, process, timeout=300, pattern="checkpoints/**/*.pt")


@pytest.fixture
def cluster():
    from ray.cluster_utils import Cluster

    # No CPU on the head: every run goes to a worker node, which the test can take away.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    yield cluster
    cluster.shutdown()


@pytest.mark.slow
def test_a_node_removed_mid_run_is_rerun_elsewhere_and_resumes_from_its_checkpoint(mnist_dir, tmp_path, cluster):
    first = cluster.add_node(num_cpus=1)
    out = tmp_path / "faulty"
    process = gan_bench(*FAULT, "--out", str(out), "--address", cluster.address, data_dir=mnist_dir)
    assert wait_for_checkpoint(out, process)
    # The only node with a CPU runs the run: add a second one, then take the first away.
    cluster.add_node(num_cpus=1)
    cluster.remove_node(first)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    (record,) = study_records(out)
    assert record["status"] == "ok"
    assert record["history"] and record["history"][0]["resumed_at_step"] > 0

    reference = tmp_path / "uninterrupted"
    code, _, stderr = run_cli([*FAULT, "--out", str(reference), "--address", cluster.address], mnist_dir)
    assert code == 0, stderr
    (expected,) = study_records(reference)
    assert expected["history"] == []
    assert deterministic_view(record) == deterministic_view(expected)


@pytest.mark.slow
def test_a_killed_driver_leaves_nothing_twice_and_the_same_command_finishes_the_study(mnist_dir, tmp_path):
    # Two runs, both in flight (one per CPU) when the driver dies.
    args = ["study", "--variants", "vanilla,dcgan", "--space", "lucic-narrow", "--configs", "1", "--seeds", "1",
            *TINY, "--steps", "30", "--checkpoint-every", "3", "--out", str(tmp_path)]
    before = ray_processes(WORKER_NAMES)
    process = gan_bench(*args, data_dir=mnist_dir)
    assert wait_for_checkpoint(tmp_path, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(records_in(tmp_path)) < 2
    # The local Ray the driver started shares its fate: no orphan worker keeps training.
    assert wait_until_gone(ray_processes(WORKER_NAMES) - before, timeout=30, names=WORKER_NAMES) == set()

    code, _, stderr = run_cli(args, mnist_dir)
    assert code == 0, stderr
    records = study_records(tmp_path)
    assert len(records) == 2 and len(set(keys(records))) == 2
    assert any(r["history"] and r["history"][0]["resumed_at_step"] > 0 for r in records)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_to_the_driver_stops_the_runs_and_says_how_to_resume(mnist_dir, tmp_path, signum):
    process = gan_bench(*FAULT, "--out", str(tmp_path), data_dir=mnist_dir)
    assert wait_for_checkpoint(tmp_path, process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == 128 + signum, stderr
    assert f"interrupted by {signal.Signals(signum).name}" in stderr and "run the same study command again" in stderr
    assert "Traceback" not in stderr and records_in(tmp_path) == []
    if signum != signal.SIGTERM:
        return  # the same stop; what it leaves is resumed once, below

    code, _, stderr = run_cli(FAULT + ["--out", str(tmp_path)], mnist_dir)
    assert code == 0, stderr
    (record,) = study_records(tmp_path)
    assert record["history"][0]["resumed_at_step"] > 0


@pytest.mark.slow
def test_a_run_whose_worker_gets_sigterm_checkpoints_and_is_resubmitted(mnist_dir, tmp_path, cluster):
    """A drained node or a preempted worker: SIGTERM to the process that trains. Meanwhile
    somebody else's Ray runs on the machine (`cluster`, whose only node has no CPU): a study
    without --address must start a Ray of its own, not join that one and wait forever."""
    before = ray_processes(("ray::execute_run",))
    process = gan_bench(*FAULT, "--out", str(tmp_path), data_dir=mnist_dir)
    assert wait_for_checkpoint(tmp_path, process)
    (worker,) = ray_processes(("ray::execute_run",)) - before
    os.kill(worker, signal.SIGTERM)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    (record,) = study_records(tmp_path)
    assert record["status"] == "ok" and record["history"][0]["resumed_at_step"] > 0


# ---------------------------------------------------------------- bad input


def one_error_line(result, *fragments):
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for fragment in fragments:
        assert fragment in lines[0], result.output


def test_an_unknown_space_is_refused(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, [*STUDY[:3], "--space", "lucic-huge", "--configs", "2", *TINY, "--out", str(out)])
    one_error_line(result, "unknown space 'lucic-huge'", "lucic-narrow")
    assert not out.exists()


def test_zero_configurations_are_refused(tmp_path):
    out = tmp_path / "out"
    args = [a if a != "3" else "0" for a in STUDY]
    one_error_line(runner.invoke(app, [*args, "--out", str(out)]), "--configs must be at least 1")
    assert not out.exists()


def test_a_malformed_study_file_names_its_line(tmp_path):
    out = tmp_path / "out"
    bad = tmp_path / "bad.toml"
    bad.write_text('variants = "vanilla"\nconfigs = 2\nspace = "lucic-narrow\npreset = "tiny"\n')
    one_error_line(runner.invoke(app, ["study", str(bad), "--out", str(out)]), str(bad), "line 3")
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('variants = "vanilla"\nconfigs = 2\n\n[space]\nlr = { log-uniform = [0.0, 1e-3] }\n')
    one_error_line(runner.invoke(app, ["study", str(wrong), "--out", str(out)]), str(wrong), "line 5", "lo > 0")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('variants = "vanilla"\nconfigs = 2\nspace = "lucic-narrow"\nlearning_rate = 1\n')
    one_error_line(runner.invoke(app, ["study", str(unknown), "--out", str(out)]), "line 4", "learning_rate")
    assert not out.exists()


def test_a_study_file_gives_the_settings_and_the_command_line_wins(tmp_path):
    from bench.study.options import merge

    path = Path(__file__).resolve().parent.parent / "examples" / "study_narrow.toml"
    settings, space = merge(path, {"configs": 2, "seeds": None, "out": str(tmp_path)})
    assert settings.configs == 2 and settings.variants and space.name == "custom"
    assert {p.name for p in space.params} >= {"lr"}


def test_an_unreachable_address_fails_fast(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "out"
    tick = time.monotonic()
    result = runner.invoke(app, [*STUDY, "--out", str(out), "--address", f"127.0.0.1:{port}"])
    one_error_line(result, f"cannot reach a Ray cluster at 127.0.0.1:{port}")
    assert time.monotonic() - tick < 30 and not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("option, value, unit", [("--cpus-per-run", "512", "CPUs"), ("--gpus-per-run", "1", "GPUs")])
def test_more_resources_per_run_than_any_node_has_are_refused(tmp_path, option, value, unit):
    out = tmp_path / "out"
    result = runner.invoke(app, [*STUDY, "--out", str(out), option, value])
    one_error_line(result, f"no node of the cluster has that many {unit}")
    assert not out.exists()


def test_rerun_best_needs_search_records(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    one_error_line(runner.invoke(app, ["study", "--rerun-best", "--seeds", "2", "--out", str(empty)]),
                   "holds no search records")
    assert list(empty.iterdir()) == []


# ---------------------------------------------------------------- architecture x loss pairings


def test_arch_and_loss_lists_join_the_study_as_pairings(tmp_path):
    from bench.study.options import merge

    settings, _ = merge(None, {"arch": "dcgan,mlp", "loss": "ns,ls", "space": "lucic-narrow", "configs": 2,
                               "out": str(tmp_path)})
    assert settings.variants == "dcgan+ns,dcgan+ls,mlp+ns,mlp+ls"
    study_file = tmp_path / "pairs.toml"
    study_file.write_text('variants = ["vanilla"]\narch = "dcgan"\nloss = ["ns", "wgan-gp"]\nconfigs = 2\n'
                          'space = "lucic-narrow"\n')
    settings, _ = merge(study_file, {"out": str(tmp_path)})
    assert settings.variants == "vanilla,dcgan+ns,dcgan+wgan-gp"


def test_a_pairing_samples_its_losss_parameters_and_survives_the_saved_definition(tmp_path):
    from bench.study.plan import DEFINITION_FILE, definition_payload, load_definition

    study = definition(space="lucic-narrow", configs=4, names=("dcgan+ns", "dcgan+wgan-gp"))
    runs = search_runs(study)
    params = {r.variant.name: set(r.params) for r in runs}
    assert "gp_weight" in params["dcgan+wgan-gp"] and "gp_weight" not in params["dcgan+ns"]
    for run in runs:
        if run.config_index == 0:
            assert run.variant == variants.combine(*run.variant.name.split("+"))
    (tmp_path / DEFINITION_FILE).write_text(json.dumps(definition_payload(study)))
    again = load_definition(tmp_path)
    assert again.id == study.id
    assert [(r.key, r.params) for r in search_runs(again)] == [(r.key, r.params) for r in runs]


@pytest.mark.parametrize("args, fragments", [
    (["--arch", "dcgan"], ["--arch and --loss go together"]),
    (["--arch", "dcgan", "--loss", "began"], ["loss 'began' needs a D that returns"]),
    (["--arch", "dcgan", "--loss", "hinge,nope"], ["unknown loss 'nope'"]),
])
def test_a_bad_pairing_is_one_error_line(tmp_path, args, fragments):
    out = tmp_path / "out"
    result = runner.invoke(app, ["study", *args, "--space", "lucic-narrow", "--configs", "2", *TINY,
                                 "--out", str(out)])
    one_error_line(result, *fragments)
    assert not out.exists()
