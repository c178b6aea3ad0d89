"""Words from users and files print as they are, and diagnostics measure what their names say.

Paths, run ids, study names and names a file asked for reach rich, which reads `[...]` as
markup: each must print verbatim (or end in one `error:` line), never as a MarkupError."""

import json
from unittest import mock

import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from bench.cli import app
from bench.study.engine import Tally
from bench.study.plan import StudyDefinition, definition_payload
from bench.study.spaces import get_space

runner = CliRunner()
WIDE = {"COLUMNS": "400"}
MARKUP = ["[/]", "[bold]", "[red]x[/red]"]


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "MarkupError" not in result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: "), line
    return line


@pytest.mark.parametrize("text", MARKUP)
def test_a_typed_value_that_looks_like_markup_is_named_verbatim(text):
    assert f"unknown preset '{text}'" in one_error_line(runner.invoke(app, ["run", "--preset", text]))
    assert f"'{text}'" in one_error_line(runner.invoke(app, ["run", "--variants", text, "--device", "cpu"]))


def test_a_run_whose_folder_looks_like_markup_prints_its_paths_verbatim(small_mnist_dir, tmp_path):
    out = tmp_path / "a[" / "]b[bold]c"  # the path holds a[/]b[bold]c
    result = runner.invoke(app, ["run", "--variants", "vanilla", "--preset", "tiny", "--steps", "2", "--device", "cpu",
                                 "--out", str(out), "--data-dir", str(small_mnist_dir)], env=WIDE)
    assert result.exit_code == 0, result.output
    (record,) = out.glob("runs/*/*.json")
    assert str(record) in result.output and f"gan-bench report {out}" in result.output
    again = runner.invoke(app, ["run", "--variants", "vanilla", "--preset", "tiny", "--steps", "2", "--device", "cpu",
                                "--out", str(out), "--data-dir", str(small_mnist_dir), "--resume"], env=WIDE)
    assert again.exit_code == 0, again.output
    assert f"finished record in {record.parent}" in again.output


@pytest.mark.parametrize("text", MARKUP)
def test_a_study_named_like_markup_in_a_folder_named_so_prints_verbatim(tmp_path, text):
    out = tmp_path / f"s{text}".replace("/", "_")
    with mock.patch("bench.study.driver.run_study") as run_study:
        run_study.return_value = mock.Mock(errors=[], done=1, total=1, finished_here=1, failed=0, failed_here=0)
        result = runner.invoke(app, ["study", "--variants", "vanilla", "--space", "defaults", "--configs", "1",
                                     "--preset", "tiny", "--name", text, "--out", str(out)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert f"study {text} (" in result.output and f"in {out}" in result.output


def test_a_study_warning_names_a_file_verbatim(tmp_path):
    folder = tmp_path / "a[" / "]b"
    definition = StudyDefinition("t", ("vanilla",), get_space("defaults"), configs=1, seeds=1, preset="tiny")
    (folder / "runs" / "cpu").mkdir(parents=True)
    (folder / "study.json").write_text(json.dumps(definition_payload(definition)))
    broken = folder / "runs" / "cpu" / "x[bold].json"
    broken.write_text(json.dumps({"study": {"id": definition.id}}))
    result = runner.invoke(app, ["study", "--rerun-best", "--out", str(folder)], env=WIDE)
    assert result.exit_code == 2, result.output
    warning, error = result.output.strip().splitlines()
    assert warning.startswith(f"warning: skipped {broken}: ")
    assert error == f"error: {folder} holds no search records of a study; run the search first"


def test_the_live_view_of_a_study_shows_its_name_and_variants_verbatim():
    from bench.study.driver import view

    tally = Tally(total=2, done=1, best={"[bold]v": (12.5, 0)})
    console = Console(width=200, record=True)
    console.print(view(tally, 1, 1, "study [/]x[bold] (abc)"))
    text = console.export_text()
    assert "study [/]x[bold] (abc)" in text and "[bold]v" in text


# ---------------------------------------------------------------- diagnostics that say what they measure

class Shifted(torch.nn.Module):
    """A D with known outputs, all moved by `shift`: real images (ones) get 2 and 0.5, fakes -1 and 1."""

    def __init__(self, shift: float):
        super().__init__()
        self.shift = shift

    def forward(self, x):
        base = torch.tensor([[2.0], [0.5]]) if x.mean() > 0.5 else torch.tensor([[-1.0], [1.0]])
        return base + self.shift


def test_ragan_reports_the_relativistic_probabilities_whatever_constant_d_adds():
    """Only D(x) - E D(G(z)) enters RaGAN's losses, so its D may drift by any constant: the
    diagnostics are the probabilities the loss sees, and they do not move with it."""
    from variants.losses import DIAGNOSTICS, LOSSES

    real, fake = torch.ones(2, 1, 28, 28), torch.zeros(2, 1, 28, 28)
    seen = []
    for shift in (0.0, 7.0, -30.0):
        diag = {}
        LOSSES["ragan"].d_loss(Shifted(shift), real, fake, diag=diag)
        assert set(diag) == set(LOSSES["ragan"].diagnostics)
        seen.append({name: value.item() for name, value in diag.items()})
    assert seen[1] == pytest.approx(seen[0]) and seen[2] == pytest.approx(seen[0])
    # sigma(D(x) - E D(G(z))) with E D(G(z)) = 0; sigma(D(G(z)) - E D(x)) with E D(x) = 1.25.
    expected_real = torch.sigmoid(torch.tensor([2.0, 0.5])).mean().item()
    expected_fake = torch.sigmoid(torch.tensor([-1.0, 1.0]) - 1.25).mean().item()
    assert seen[0] == pytest.approx({"ra_real": expected_real, "ra_fake": expected_fake})
    for name in LOSSES["ragan"].diagnostics:
        assert "E D(" in DIAGNOSTICS[name] and name not in ("d_real", "d_fake")
