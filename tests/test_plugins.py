"""Plug-ins: a user's own variant from a file, a module or an installed entry point."""

import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from typer.testing import CliRunner

import bench.plugins
import variants
from bench.cli import app
from bench.errors import BenchError
from bench.plugins import load_plugins, registry_snapshot, restore
from bench.records import load_record

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "plugin_variant.py"


@pytest.fixture(autouse=True)
def clean_registry():
    """Plug-ins register into the process-wide registry: put it back after each test."""
    snapshot = registry_snapshot()
    yield
    restore(snapshot)


def test_the_example_plugin_trains_and_its_record_says_where_it_came_from(small_mnist_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the path as a user types it in a checkout
    result = runner.invoke(app, ["run", "--plugin", "examples/plugin_variant.py", "--variants", "lsgan-sym",
                                 "--preset", "tiny", "--device", "cpu", "--out", str(tmp_path),
                                 "--data-dir", str(small_mnist_dir)])
    assert result.exit_code == 0, result.output
    (path,) = tmp_path.glob("runs/*/*.json")
    record = load_record(path)
    assert record["status"] == "ok" and record["variant"] == "lsgan-sym"
    source = record["config"]["source"]
    assert source["file"] == str(EXAMPLE) and source["module"].endswith("plugin_variant")
    import hashlib
    assert source["sha256"] == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    # Built-in variants say so.
    assert variants.get_variant("dcgan").source == "builtin"


ARCH_PLUGIN = """
from torch import nn
from variants import Hparams, Variant, register_variant
from variants.archs import register_arch


@register_arch("plugin-mlp")
def build(data_shape, z_dim, width, **_):
    pixels = data_shape[0] * data_shape[1] * data_shape[2]
    G = nn.Sequential(nn.Linear(z_dim, pixels), nn.Tanh(), nn.Unflatten(1, tuple(data_shape)))
    D = nn.Sequential(nn.Flatten(), nn.Linear(pixels, 1))
    return G, D


register_variant(Variant(name="plugin-mlp-gan", arch="plugin-mlp", loss="ns", hparams=Hparams(z_dim=8),
                         paper="a test"))
"""


def test_eval_needs_and_takes_the_plugin_that_built_a_checkpoint(small_mnist_dir, tmp_path):
    plugin = tmp_path / "arch_plugin.py"
    plugin.write_text(ARCH_PLUGIN)
    before = registry_snapshot()
    result = runner.invoke(app, ["run", "--plugin", str(plugin), "--variants", "plugin-mlp-gan", "--preset", "tiny",
                                 "--device", "cpu", "--out", str(tmp_path), "--data-dir", str(small_mnist_dir)])
    assert result.exit_code == 0, result.output
    (checkpoint,) = tmp_path.glob("checkpoints/*/*.pt")
    restore(before)  # a new process: the plug-in is not loaded
    evaluate = ["eval", str(checkpoint), "--samples", "200", "--device", "cpu", "--data-dir", str(small_mnist_dir)]
    result = runner.invoke(app, evaluate)
    assert result.exit_code == 2
    assert "unknown architecture 'plugin-mlp'" in result.output and "--plugin" in result.output
    result = runner.invoke(app, [*evaluate, "--plugin", str(plugin)])
    assert result.exit_code == 0, result.output
    assert "fid_mnist" in result.output


def test_list_shows_plugin_variants(tmp_path):
    result = runner.invoke(app, ["list", "--plugin", str(EXAMPLE)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "lsgan-sym" in result.output and "infogan" in result.output


def test_a_module_plugin_and_an_entry_point(tmp_path, monkeypatch):
    (tmp_path / "their_gan.py").write_text(
        "from variants import Hparams, Variant, register_variant\n"
        "register_variant(Variant(name='their-gan', arch='mlp', loss='hinge', hparams=Hparams(width=64), paper='x'))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "their_gan", raising=False)
    point = EntryPoint(name="their-gan", value="their_gan", group=bench.plugins.ENTRY_POINT_GROUP)
    monkeypatch.setattr(bench.plugins, "entry_points", lambda group: [point] if group == point.group else [])
    assert load_plugins([]) == ["their_gan"]
    source = variants.get_variant("their-gan").source
    assert source["module"] == "their_gan" and source["file"] == str(tmp_path / "their_gan.py")


BAD = {
    "existing.py": ("from variants import Hparams, Variant, register_variant\n"
                    "register_variant(Variant(name='dcgan', arch='dcgan', loss='ns', hparams=Hparams(), paper=''))\n",
                    "variant 'dcgan' is already registered (by builtin)"),
    "plus_name.py": ("from variants import Hparams, Variant, register_variant\n"
                     "register_variant(Variant(name='dcgan+ls', arch='dcgan', loss='ls', hparams=Hparams(), paper=''))\n",
                     "would hide the pairing of that name"),
    "broken.py": ("import not_a_module_anywhere\n", "ModuleNotFoundError"),
    "syntax.py": ("def oops(:\n", "SyntaxError"),
    "unknown_arch.py": ("from variants import Hparams, Variant, register_variant\n"
                        "register_variant(Variant(name='x', arch='resnet', loss='ns', hparams=Hparams(), paper=''))\n",
                        "unknown architecture 'resnet'"),
    "bad_hparams.py": ("from variants import Hparams, Variant, register_variant\n"
                       "register_variant(Variant(name='y', arch='dcgan', loss='ns', hparams=Hparams(batch_size=0),"
                       " paper=''))\n", "hparams.batch_size must be a positive integer"),
    "bad_pairing.py": ("from variants import Hparams, Variant, register_variant\n"
                       "register_variant(Variant(name='z', arch='dcgan', loss='began', hparams=Hparams(), paper=''))\n",
                       "needs a D that returns a reconstruction"),
    "typo_option.py": ("from variants import Hparams, Variant, register_variant\n"
                       "register_variant(Variant(name='t', arch='dcgan', loss='wgan-gp', hparams=Hparams(), paper='',"
                       " arch_options={'d_nrom': 'none'}))\n", "takes no option 'd_nrom'; did you mean d_norm?"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_plugin_is_one_line_naming_the_file(name, tmp_path):
    code, message = BAD[name]
    plugin = tmp_path / name
    plugin.write_text(code)
    before = dict(variants.VARIANTS)
    result = runner.invoke(app, ["run", "--plugin", str(plugin), "--variants", "dcgan", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1 and line.startswith("error:") and "Traceback" not in line
    assert str(plugin) in line and message in line, line
    assert variants.VARIANTS == before  # nothing half-registered
    assert not list(tmp_path.glob("o/runs/*/*.json"))


def test_a_missing_plugin_file():
    with pytest.raises(BenchError, match="no_such.py: no such file"):
        load_plugins(["no_such.py"], use_entry_points=False)


def test_report_rows_of_plugin_variants_name_their_file():
    from bench.report import group_by_variant

    def record(source, seed=0):
        return {"variant": "lsgan-sym", "seed": seed, "run_id": f"r{seed}", "config": {"source": source}}

    plugin = {"module": "m", "file": "/x/plugin_variant.py", "sha256": "7669a52d7bfa" + "0" * 52}
    edited = dict(plugin, sha256="1234abcd" + "0" * 56)
    groups = group_by_variant([record(plugin), record(plugin, 1), record(edited), record("builtin")])
    assert sorted(groups) == ["lsgan-sym", "lsgan-sym (plug-in plugin_variant.py 1234abcd)",
                              "lsgan-sym (plug-in plugin_variant.py 7669a52d)"]
    assert len(groups["lsgan-sym (plug-in plugin_variant.py 7669a52d)"]) == 2
