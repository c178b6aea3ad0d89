"""Checkpoints are data: opening one never runs code from it, and a malformed one is one
`error:` line and exit 2, never a traceback, with nothing written or lost."""

import copy
import io
import os
import pickle
import shutil
from pathlib import Path
from unittest import mock

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

import variants
from bench.train.checkpoints import SCHEMA, load_checkpoint, restore_generator, restore_state
from bench.cli import app
from bench.errors import BenchError
from bench.train.protocol import init_state

pytestmark = pytest.mark.xdist_group("test_checkpoint_safety")

runner = CliRunner()
RUN = ["run", "--variants", "vanilla", "--preset", "tiny", "--steps", "2", "--checkpoint-every", "1",
       "--device", "cpu"]


class RunsCode:
    """What a hostile checkpoint holds: unpickling it runs `touch marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def hostile_bytes(marker: Path, form: str) -> bytes:
    if form == "one-line pickle":
        return pickle.dumps(RunsCode(marker), protocol=0)  # text: one short line
    buffer = io.BytesIO()
    torch.save({"run_id": "x", "state": RunsCode(marker)}, buffer)
    return buffer.getvalue()


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture(scope="module")
def finished(small_mnist, tmp_path_factory):
    """A tiny run on the small synthetic set: its output folder (a record and a checkpoint)."""
    out = tmp_path_factory.mktemp("finished")
    with small_mnist.pinned() as data_dir:
        result = runner.invoke(app, [*RUN, "--out", str(out), "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def genuine(finished):
    (path,) = finished.glob("checkpoints/*/*.pt")
    return torch.load(path, map_location="cpu", weights_only=True)


def unfinished_copy(finished: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The run's folder with its record removed: `--resume` would continue its checkpoint."""
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    for record in out.glob("runs/*/*.json"):
        record.unlink()
    (checkpoint,) = out.glob("checkpoints/*/*.pt")
    return out, checkpoint


@pytest.mark.parametrize("form", ["one-line pickle", "torch.save"])
def test_run_resume_refuses_a_checkpoint_that_would_run_code(finished, small_mnist_dir, tmp_path, form):
    out, checkpoint = unfinished_copy(finished, tmp_path)
    marker = tmp_path / "marker"
    checkpoint.write_bytes(hostile_bytes(marker, form))
    before = snapshot(out)
    result = runner.invoke(app, [*RUN, "--out", str(out), "--data-dir", str(small_mnist_dir), "--resume"])
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "data only" in line and "system" in line
    assert not marker.exists()
    assert snapshot(out) == before


def test_run_resume_of_a_truncated_checkpoint_is_one_line_and_force_restarts(finished, small_mnist_dir, tmp_path):
    """What a crash in the middle of writing would leave, were writes not atomic; tests/test_reliability.py
    truncates the checkpoint of a killed run the same way."""
    out, checkpoint = unfinished_copy(finished, tmp_path)
    checkpoint.write_bytes(checkpoint.read_bytes()[:200])
    args = [*RUN, "--out", str(out), "--data-dir", str(small_mnist_dir), "--resume"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "is corrupt" in line and "--force" in line
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


@pytest.mark.parametrize("form", ["one-line pickle", "torch.save"])
def test_eval_refuses_a_checkpoint_that_would_run_code(tmp_path, form):
    marker, out = tmp_path / "marker", tmp_path / "out"
    out.mkdir()
    checkpoint = tmp_path / "shared.pt"
    checkpoint.write_bytes(hostile_bytes(marker, form))
    result = runner.invoke(app, ["eval", str(checkpoint), "--device", "cpu", "--out", str(out / "metrics.json")])
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "data only" in line and "system" in line
    assert not marker.exists()
    assert snapshot(out) == {}


@pytest.mark.parametrize("payload, message", [
    ({"state": {}, "config": 5}, "'run_id'"),
    ({"run_id": "r", "config_hash": "h", "history": [], "state": {}}, "no 'config'"),
    ({"run_id": "r", "config_hash": "h", "history": [], "config": 5, "state": {}}, "'config' must be an object"),
    ([1, 2, 3], "holds list"),
    (torch.zeros(3), "holds Tensor"),
])
def test_eval_of_a_malformed_checkpoint_is_one_line(tmp_path, payload, message):
    path = tmp_path / "odd.pt"
    torch.save(payload, path)
    result = runner.invoke(app, ["eval", str(path), "--device", "cpu"])
    assert result.exit_code == 2
    assert message in one_error_line(result)


def test_a_genuine_checkpoint_passes_the_schema(genuine, tmp_path):
    path = tmp_path / "c.pt"
    torch.save(genuine, path)
    assert load_checkpoint(path)["run_id"] == genuine["run_id"]


def test_checkpoints_from_before_memory_and_loss_state_still_load(genuine, tmp_path):
    older = copy.deepcopy(genuine)
    for key in ("memory", "loss_state"):
        del older["state"][key]
    del older["config"]["dataset"]
    path = tmp_path / "older.pt"
    torch.save(older, path)
    assert load_checkpoint(path)["config"]["variant"] == "vanilla"


# ---------------------------------------------------------------- any payload

ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True), st.text(max_size=4),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from([torch.zeros(2), torch.zeros(3, dtype=torch.uint8), torch.tensor(1.5)]),
)
PATHS = [keys for keys, *_ in SCHEMA] + [("state", "G", "net.0.weight"), ("config", "hparams", "z_dim"),
                                         ("state", "batches", "order"), ("state", "opt_g", "param_groups")]


def mutate(payload: dict, keys: tuple, action: str, value) -> dict:
    payload = copy.deepcopy(payload)
    parent = payload
    for key in keys[:-1]:
        if not isinstance(parent, dict) or key not in parent:
            return payload
        parent = parent[key]
    if not isinstance(parent, dict):
        return payload
    if action == "drop":
        parent.pop(keys[-1], None)
    elif action == "replace":
        parent[keys[-1]] = value
    else:  # an extra key, which a reader must ignore
        parent[f"{keys[-1]}_extra"] = value
    return payload


def first_tensor_key(state_dict: dict) -> str:
    return next(iter(state_dict))


@given(st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(["drop", "replace", "extra"]), ODD_VALUES),
                min_size=1, max_size=3))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_mutated_checkpoint_is_usable_or_one_clean_error(genuine, tiny_images, tmp_path, changes):
    payload = genuine
    for keys, action, value in changes:
        if keys[-1] == "net.0.weight":
            keys = (*keys[:-1], first_tensor_key(genuine["state"]["G"]))
        payload = mutate(payload, keys, action, value)
    path = tmp_path / "mutated.pt"
    torch.save(payload, path)
    try:
        loaded = load_checkpoint(path)
        variant = variants.variant_from_config(loaded["config"])
        restore_generator(variant, loaded, path, (1, 28, 28))
        with torch.random.fork_rng(devices=[]):
            state = init_state(variant, tiny_images, torch.device("cpu"), seed=0)
            restore_state(state, loaded, path)
    except BenchError as error:
        assert str(error) and "\n" not in str(error)


# ---------------------------------------------------------------- every key a loader reads


def path_drops(payload: dict) -> list[tuple]:
    """Every key path of the schema, and every hyperparameter of the payload's config."""
    return sorted({keys for keys, *_ in SCHEMA} | {("config", "hparams", k) for k in payload["config"]["hparams"]}
                  | {("config", "source")})


def fake_evaluator():
    evaluator = mock.Mock()
    evaluator.final.return_value = ({"absent": {}}, 0.0)
    evaluator.feature_nets.return_value = {}
    return evaluator


@pytest.mark.parametrize("best", [False, True])
def test_eval_of_a_checkpoint_without_any_one_key_is_a_correct_load_or_one_error_line(genuine, small_mnist_dir,
                                                                                      tmp_path, best):
    """A key a loader reads is in the schema: required, or optional with the default that older
    files really had (`optimizer` came after checkpoints: adam; `dataset` after Stacked MNIST)."""
    made = variants.variant_from_config(genuine["config"])
    for keys in path_drops(genuine):
        path = tmp_path / f"without-{'.'.join(keys)}.pt"
        torch.save(mutate(genuine, keys, "drop", None), path)
        with mock.patch("bench.eval.evaluation.Evaluator.for_run", return_value=fake_evaluator()) as for_run:
            result = runner.invoke(app, ["eval", str(path), "--device", "cpu", "--data-dir", str(small_mnist_dir),
                                         *(["--best"] if best else [])])
        assert "Traceback" not in result.output and not isinstance(result.exception, KeyError), (keys, result.output)
        if result.exit_code == 2:
            assert one_error_line(result), keys
            continue
        assert result.exit_code == 0, (keys, result.output)
        (z_dim, _, dataset, *_), _ = for_run.call_args
        assert z_dim == made.hparams.z_dim and dataset.name == genuine["config"].get("dataset", "mnist")
        assert variants.variant_from_config(load_checkpoint(path)["config"]) == made, keys


def test_a_checkpoint_without_betas_names_the_key(genuine, tmp_path):
    path = tmp_path / "no-betas.pt"
    torch.save(mutate(genuine, ("config", "hparams", "betas"), "drop", None), path)
    result = runner.invoke(app, ["eval", str(path), "--device", "cpu"])
    assert result.exit_code == 2
    assert "no 'config.hparams.betas'" in one_error_line(result)


def test_a_checkpoint_from_before_optimizers_had_names_trains_with_adam(genuine, tmp_path):
    older = mutate(genuine, ("config", "hparams", "optimizer"), "drop", None)
    path = tmp_path / "older.pt"
    torch.save(older, path)
    assert variants.variant_from_config(load_checkpoint(path)["config"]).hparams.optimizer == "adam"


def test_resume_of_a_checkpoint_without_any_one_key_is_a_correct_load_or_one_clean_error(genuine, tiny_images,
                                                                                         tmp_path):
    variant = variants.variant_from_config(genuine["config"])
    for keys in path_drops(genuine):
        path = tmp_path / "c.pt"
        torch.save(mutate(genuine, keys, "drop", None), path)
        with torch.random.fork_rng(devices=[]):
            state = init_state(variant, tiny_images, torch.device("cpu"), seed=0)
            try:
                restore_state(state, load_checkpoint(path), path)
            except BenchError as error:
                assert str(error) and "\n" not in str(error), keys
            else:
                assert state.step == genuine["state"]["step"], keys


# ---------------------------------------------------------------- names from a file print as they are

MARKUP = ["os.[/]x", "os.[bold]x", "os.[red]x[/red]"]


@pytest.mark.parametrize("name", MARKUP)
def test_a_refused_global_whose_name_is_markup_is_named_verbatim(tmp_path, name):
    module, _, attribute = name.partition(".")
    path = tmp_path / "markup.pt"
    path.write_bytes(f"c{module}\n{attribute}\n.".encode())  # a pickle that asks for that global
    result = runner.invoke(app, ["eval", str(path), "--device", "cpu"])
    assert result.exit_code == 2, result.output
    assert f"it asks to run or build {name}, " in one_error_line(result)


def test_a_run_id_and_a_path_that_look_like_markup_print_verbatim(genuine, small_mnist_dir, tmp_path):
    run_id, folder = "r[/]x[bold]y", tmp_path / "a[" / "]b[bold]"  # the path holds a[/]b[bold]
    folder.mkdir(parents=True)
    path = folder / "c.pt"
    torch.save({**genuine, "run_id": run_id}, path)
    with mock.patch("bench.eval.evaluation.Evaluator.for_run", return_value=fake_evaluator()):
        result = runner.invoke(app, ["eval", str(path), "--device", "cpu", "--data-dir", str(small_mnist_dir)],
                               env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert run_id in result.output
    result = runner.invoke(app, ["eval", str(folder / "none.pt"), "--device", "cpu"])
    assert result.exit_code == 2
    assert one_error_line(result) == f"error: no checkpoint at {folder / 'none.pt'}"
