"""Study files and study.json, read back: any value of any key is either used or one
`error:` line naming the key and its line; never a traceback."""

import json
import math
import sys
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import BenchError
from bench.study.options import DEFAULTS
from bench.study.plan import StudyDefinition, definition_payload, load_definition
from bench.study.spaces import get_space

runner = CliRunner()
BASE = {"variants": '"vanilla"', "space": '"defaults"', "configs": "1", "preset": '"tiny"'}


def toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + " }"


scalars = st.one_of(st.booleans(), st.integers(-3, 10**6), st.floats(), st.text(max_size=6))
values = st.one_of(scalars, st.lists(scalars, max_size=3),
                   st.dictionaries(st.sampled_from(["lr", "beta1", "n_critic", "d_norm", "uniform", "choice"]),
                                   st.one_of(scalars, st.lists(scalars, max_size=3),
                                             st.dictionaries(st.sampled_from(["uniform", "choice", "log-uniform"]),
                                                             st.lists(scalars, max_size=3), max_size=2)),
                                   max_size=2))


def study_file(folder: Path, key: str, value) -> tuple[Path, int]:
    """A study file that sets `key` on its last line; returns the file and that line."""
    lines = [f"{k} = {v}" for k, v in BASE.items() if k != key] + [f'out = "{folder / "out"}"']
    text = "\n".join([*lines, f"{key} = {toml(value)}"]) + "\n"
    if key == "space" and isinstance(value, dict):  # a table of one's own ranges
        text = "\n".join([*lines, "[space]", *(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items())]) + "\n"
    path = folder / "study.toml"
    path.write_text(text)
    return path, len(lines) + 1


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(sorted(set(DEFAULTS) - {"out", "address", "plugin", "data-dir", "checkpoint-dir"})),
       value=values)
def test_any_value_in_a_study_file_is_used_or_one_line_naming_it(key, value):
    with tempfile.TemporaryDirectory() as folder, mock.patch("bench.study.driver.run_study") as run_study:
        run_study.return_value = mock.Mock(errors=[], done=1, total=1, finished_here=1, failed=0, failed_here=0)
        path, line = study_file(Path(folder), key, value)
        result = runner.invoke(app, ["study", str(path)])
        assert result.exit_code in (0, 2), result.output
        assert "Traceback" not in result.output
        if result.exit_code == 2:
            lines = result.output.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), result.output
            if f"{key} must be" in lines[0] and key != "space":
                assert f"line {line}" in lines[0]


@pytest.mark.parametrize("key, value, message", [
    ("configs", 0, "configs must be at least 1"),
    ("seeds", -2, "seeds must be at least 1"),
    ("train-seconds", float("inf"), "train-seconds must be a positive number"),
    ("gpus-per-run", -0.5, "gpus-per-run must be 0 or more"),
    ("configs", "3", "configs must be an integer, got str"),
    ("variants", ["vanilla", 3], "variants must be a list of strings"),
    ("cpus-per-run", True, "cpus-per-run must be a number, got bool"),
])
def test_wrong_types_and_out_of_range_values_name_the_key_and_its_line(tmp_path, key, value, message):
    path, line = study_file(tmp_path, key, value)
    result = runner.invoke(app, ["study", str(path)])
    assert result.exit_code == 2
    (only,) = result.output.strip().splitlines()
    assert only.startswith(f"error: {path}, line {line}: ") and message in only, only


saved_damage = st.sampled_from(["name", "variants", "configs", "seeds", "preset", "dataset", "steps",
                                "train_seconds", "space", "id"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=saved_damage, value=st.one_of(scalars, st.none(), st.lists(scalars, max_size=2)))
def test_a_damaged_study_json_is_one_clean_error(key, value):
    definition = StudyDefinition("t", ("vanilla",), get_space("lucic-narrow"), configs=2, seeds=1, preset="tiny")
    payload = {**definition_payload(definition), key: value}
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "study.json").write_text(json.dumps(payload))
        try:
            loaded = load_definition(Path(folder))
        except BenchError as error:
            assert "study.json" in str(error) and "\n" not in str(error)
        else:
            assert loaded.id == definition.id or loaded.canonical() != definition.canonical()


# ---------------------------------------------------------------- a study folder's plug-ins are named, never run

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "plugin_variant.py"
EVIL = "from pathlib import Path\nPath({marker!r}).write_text('ran')\n"


@pytest.fixture
def clean_registry():
    from bench.plugins import registry_snapshot, restore

    snapshot = registry_snapshot()
    yield
    restore(snapshot)


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: "), line
    return line


def evil_plugin(tmp_path: Path) -> tuple[Path, Path]:
    marker, plugin = tmp_path / "marker", tmp_path / "evil.py"
    plugin.write_text(EVIL.format(marker=str(marker)))
    return plugin, marker


def plugin_study(folder: Path, plugin: Path, variant: str, source: dict | None) -> StudyDefinition:
    """A finished one-run search of `variant` in `folder`, its study.json naming `plugin`."""
    from test_record_safety import put, study_section
    from test_report import make_record

    definition = StudyDefinition("p", (variant,), get_space("defaults"), configs=1, seeds=1, preset="tiny")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.json").write_text(json.dumps(definition_payload(definition, (str(plugin),))))
    record = {**make_record(variant, 0, fid=10.0), "study": study_section(definition.id)}
    record["config"]["source"] = source or "builtin"
    put(folder, record, "s0")
    return definition


def test_a_forged_study_json_is_refused_before_any_plug_in_it_names_runs(tmp_path):
    plugin, marker = evil_plugin(tmp_path)
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "study.json").write_text(json.dumps({"plugins": [str(plugin)]}))
    line = one_error_line(runner.invoke(app, ["study", "--rerun-best", "--out", str(folder)]))
    assert "is not a study definition" in line
    assert not marker.exists()


def test_a_study_json_that_names_a_plug_in_asks_for_it_and_never_imports_it(tmp_path, clean_registry):
    plugin, marker = evil_plugin(tmp_path)
    folder = tmp_path / "study"
    plugin_study(folder, plugin, "vanilla", None)
    line = one_error_line(runner.invoke(app, ["study", "--rerun-best", "--out", str(folder)]))
    assert f"--plugin {plugin}" in line
    assert not marker.exists()
    (folder / "study.json").write_text(json.dumps({**json.loads((folder / "study.json").read_text()),
                                                   "plugins": "evil.py"}))
    line = one_error_line(runner.invoke(app, ["study", "--rerun-best", "--out", str(folder)]))
    assert "'plugins' must be a list of strings" in line
    assert not marker.exists()


def example_source(path: Path) -> dict:
    from variants.provenance import file_sha256

    return {"module": "gan_bench_plugin_plugin_variant", "file": str(path), "sha256": file_sha256(path)}


def test_rerun_best_of_a_plug_in_study_needs_that_plug_in_and_checks_its_sha256(tmp_path, clean_registry):
    from bench.study.options import prepare

    plugin = tmp_path / "made" / "plugin_variant.py"
    plugin.parent.mkdir()
    plugin.write_bytes(EXAMPLE.read_bytes())
    folder = tmp_path / "study"
    plugin_study(folder, plugin, "lsgan-sym", example_source(plugin))
    line = one_error_line(runner.invoke(app, ["study", "--rerun-best", "--out", str(folder)]))
    assert str(plugin) in line and f"--plugin {plugin}" in line
    # The same file elsewhere (a study folder someone sent) is the same plug-in.
    moved = tmp_path / "here" / "plugin_variant.py"
    moved.parent.mkdir()
    moved.write_bytes(EXAMPLE.read_bytes())
    definition, runs, engine, _ = prepare(None, {"out": str(folder), "plugin": [str(moved)], "seeds": 2}, True,
                                          lambda line: None)
    assert [(r.variant.name, r.seed) for r in runs] == [("lsgan-sym", 1), ("lsgan-sym", 2)]
    assert engine.plugins == (str(moved),)
    # Another file under that name is refused before it is imported.
    edited = tmp_path / "edited" / "plugin_variant.py"
    edited.parent.mkdir()
    edited.write_text(EXAMPLE.read_text() + "\n" + EVIL.format(marker=str(tmp_path / "marker")))
    line = one_error_line(runner.invoke(app, ["study", "--rerun-best", "--out", str(folder), "--plugin", str(edited)]))
    assert "sha256" in line and str(edited) in line and str(plugin) in line
    assert not (tmp_path / "marker").exists()


def test_a_module_plug_in_is_checked_against_the_records_once_imported(tmp_path, monkeypatch, clean_registry):
    from bench.study.options import prepare

    module = tmp_path / "lib" / "study_module_plugin.py"
    module.parent.mkdir()
    module.write_bytes(EXAMPLE.read_bytes())
    monkeypatch.syspath_prepend(str(module.parent))
    monkeypatch.delitem(sys.modules, "study_module_plugin", raising=False)
    source = {**example_source(module), "module": "study_module_plugin"}
    folder = tmp_path / "study"
    plugin_study(folder, "study_module_plugin", "lsgan-sym", source)
    flags = {"out": str(folder), "plugin": ["study_module_plugin"], "seeds": 1}
    _, runs, _, _ = prepare(None, flags, True, lambda line: None)
    assert [r.variant.name for r in runs] == ["lsgan-sym"]
    plugin_study(folder, "study_module_plugin", "lsgan-sym", {**source, "sha256": "0" * 64})
    with pytest.raises(BenchError) as refused:
        prepare(None, flags, True, lambda line: None)
    assert "study_module_plugin" in str(refused.value) and "0000000000000000" in str(refused.value)
