"""Each option is declared once (bench/options.py): the command line, the study file and
the Python API take the same options with the same limits and say the same words."""

import re

import pytest
import typer
from typer.testing import CliRunner

from bench.cli import app
from bench.data.datasets import DATASETS
from bench.errors import BenchError
from bench.options import FORMATS, declared
from bench.presets import PRESETS
from bench.study.options import DEFAULTS
from bench.study.settings import StudySettings
from bench.study.spaces import SPACES
from bench.train.plan import plan_from
from bench.train.settings import RunSettings

runner = CliRunner()
WIDE = {"COLUMNS": "300", "TERMINAL_WIDTH": "300"}


def help_of(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", ["run", "study"])
def test_help_lists_every_preset_and_dataset_from_the_registries(command):
    text = help_of(command)
    for name in [*PRESETS, *DATASETS]:
        assert name in text, name


def test_study_help_lists_every_search_space_and_run_every_format():
    assert all(name in help_of("study") for name in SPACES)
    assert all(name in help_of("run") for name in FORMATS)


def test_study_file_keys_are_the_study_options_long_names():
    specs = [spec for _, spec, _, _ in declared(StudySettings)]
    flags = {spec.flags[0] for spec in specs}
    assert set(DEFAULTS) == {spec.key for spec in specs if spec.in_file}
    # What to print, not what to run: the command line's only.
    assert {spec.key for spec in specs if not spec.in_file} == {"format", "dry-run"}
    text = help_of("study")
    for flag in flags:
        assert flag in text, flag


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: "), line
    return line


@pytest.mark.parametrize("option, field, value, words", [
    ("--min-delta", "min_delta", 2.0, "--min-delta must be between 0 and 1, got 2"),
    ("--seeds", "seeds", 0, "--seeds must be at least 1, got 0"),
    ("--preset", "preset", "huge", "choose one of " + ", ".join(PRESETS)),
    ("--device", "device", "tpu", "unknown device 'tpu'; use auto, cpu, cuda or cuda:N"),
])
def test_the_command_line_and_the_python_api_refuse_a_value_in_the_same_words(tmp_path, option, field, value, words):
    typed = f"{value:g}" if isinstance(value, float) else str(value)
    assert words in one_error_line(runner.invoke(app, ["run", option, typed, "--out", str(tmp_path)]))
    with pytest.raises(BenchError) as refused:
        plan_from(RunSettings(out=tmp_path, **{field: value}))
    assert words in str(refused.value)
    assert not any(tmp_path.iterdir())  # refused before anything is written


def test_a_study_file_value_is_refused_in_the_command_line_s_words(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text('variants = "vanilla"\nspace = "defaults"\nconfigs = 1\nout = "x"\nmin-delta = 2.0\n')
    line = one_error_line(runner.invoke(app, ["study", str(path)]))
    assert f"{path}, line 5: min-delta must be between 0 and 1, got 2" in line
    line = one_error_line(runner.invoke(app, ["study", "--variants", "vanilla", "--space", "defaults", "--configs",
                                              "1", "--out", str(tmp_path / "s"), "--min-delta", "2"]))
    assert "--min-delta must be between 0 and 1, got 2" in line


def test_a_mistyped_choice_gets_the_nearest_names():
    line = one_error_line(runner.invoke(app, ["run", "--preset", "quik"]))
    assert "unknown preset 'quik'; did you mean quick?" in line


def test_an_unknown_option_is_one_error_line():
    assert "No such option: --bogus" in one_error_line(runner.invoke(app, ["run", "--bogus"]))


def every_choice() -> set[str]:
    """Every name an option of any command takes: its choices, and --device's forms."""
    from bench.options import DEVICE_FORMS
    from bench.scoring.settings import SampleSettings, ScoreSettings, StatsSettings

    names = set(DEVICE_FORMS)
    for cls in (RunSettings, StudySettings, ScoreSettings, StatsSettings, SampleSettings):
        names |= {choice for _, spec, _, _ in declared(cls) if spec.choices for choice in spec.choices}
    return names


def whole_words(text: str, word: str) -> int:
    return len(re.findall(rf"(?<![\w:-]){re.escape(word)}(?![\w:-])", text))


@pytest.mark.parametrize("command", sorted(typer.main.get_command(app).commands))
def test_help_at_80_columns_never_splits_a_choice_across_lines(command, monkeypatch):
    """In a pipe or an 80-column terminal, a choice is one word on one line: each appears as
    often whole as it does in a help that needs no wrapping at all."""
    import typer.rich_utils

    # typer reads TERMINAL_WIDTH once, at its first help in the process: COLUMNS decides here.
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", None)
    narrow, wide = (runner.invoke(app, [command, "--help"], env={"COLUMNS": columns}) for columns in ("80", "400"))
    assert narrow.exit_code == 0 and wide.exit_code == 0, narrow.output
    assert max(map(len, narrow.output.splitlines())) == 80 < max(map(len, wide.output.splitlines()))
    for name in every_choice():
        assert whole_words(narrow.output, name) == whole_words(wide.output, name), (name, narrow.output)
