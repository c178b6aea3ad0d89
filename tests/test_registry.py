"""The one registry shape: every kind of named thing refuses a second registration from
elsewhere, answers a typo with close matches, lists sorted, and selects by name or pattern."""

import pytest
import torch
from typer.testing import CliRunner

import bench.train.runner
import variants
from bench.cli import app
from bench.data.datasets import DATASETS, get_dataset
from bench.plugins import registry_snapshot, restore
from bench.presets import PRESETS, get_preset
from bench.study.spaces import SPACES, get_space
from variants import ARCH_SPECS, ARCHS, LOSSES, OPTIMIZERS, VARIANTS, Registry, RegistryError
from variants.optimizers import adam

runner = CliRunner()

REGISTRIES = {"variant": VARIANTS, "architecture": ARCH_SPECS, "loss": LOSSES, "optimizer": OPTIMIZERS,
              "dataset": DATASETS, "preset": PRESETS, "search space": SPACES}


@pytest.fixture(autouse=True)
def clean_registries():
    """Tests register into the process-wide registries: put every one back afterwards."""
    saved = {kind: registry.snapshot() for kind, registry in REGISTRIES.items()}
    yield
    for kind, registry in REGISTRIES.items():
        registry.restore(saved[kind])


def register_again(kind: str):
    """Register a built-in name once more from this module, through each kind's own API."""
    if kind == "variant":
        return variants.register_variant(variants.get_variant("dcgan"))
    if kind == "architecture":
        return variants.register_arch("dcgan")(ARCHS["dcgan"])
    if kind == "loss":
        return variants.register_loss(LOSSES["ns"])
    if kind == "optimizer":
        return variants.register_optimizer("adam")(adam)
    name = {"dataset": "mnist", "preset": "quick", "search space": "lucic-wide"}[kind]
    return REGISTRIES[kind].register(name, REGISTRIES[kind][name])


@pytest.mark.parametrize("kind", list(REGISTRIES))
def test_a_builtin_name_registered_again_elsewhere_is_refused_naming_the_first(kind):
    registry = REGISTRIES[kind]
    before = dict(registry)
    with pytest.raises(RegistryError) as error:
        register_again(kind)
    assert " is already registered (by builtin)" in str(error.value) and str(error.value).startswith(kind)
    # The CLI's one-line errors catch every registry's error under its old name.
    assert isinstance(error.value, variants.UnknownVariant)
    assert dict(registry) == before


def test_the_refusal_names_the_plugin_file_that_came_first():
    first = {"module": "their_gans", "file": "/home/them/their_gans.py", "sha256": "0" * 64}
    OPTIMIZERS.register("sgd", torch.optim.SGD, source=first)
    with pytest.raises(RegistryError, match="optimizer 'sgd' is already registered "
                                            r"\(by /home/them/their_gans.py\)"):
        variants.register_optimizer("sgd")(torch.optim.SGD)
    assert OPTIMIZERS["sgd"] is torch.optim.SGD and OPTIMIZERS.source("sgd") == first
    # The same source registering again replaces its own entry (a plug-in file loaded twice).
    OPTIMIZERS.register("sgd", adam, source=first)
    assert OPTIMIZERS["sgd"] is adam


TYPOS = {
    "variant": (variants.get_variant, "dcgn", "dcgan"),
    "architecture": (ARCH_SPECS.get, "mpl", "mlp"),
    "loss": (LOSSES.get, "hinje", "hinge"),
    "optimizer": (OPTIMIZERS.get, "adma", "adam"),
    "dataset": (get_dataset, "mnst", "mnist"),
    "preset": (get_preset, "quikc", "quick"),
    "search space": (get_space, "lucic-wid", "lucic-wide"),
}


@pytest.mark.parametrize("kind", list(TYPOS))
def test_a_typo_gets_did_you_mean_and_the_known_names(kind):
    get, typo, meant = TYPOS[kind]
    with pytest.raises(RegistryError) as error:
        get(typo)
    message = str(error.value)
    assert message.startswith(f"unknown {kind} {typo!r}; did you mean ") and meant in message.split("?")[0]
    assert f"choose one of {', '.join(REGISTRIES[kind].names())}" in message and "\n" not in message


def test_the_mapping_reads_as_before_and_only_register_adds():
    assert "dcgan" in VARIANTS and "nosuch" not in VARIANTS and [] not in VARIANTS
    assert VARIANTS["dcgan"] is variants.get_variant("dcgan") and len(VARIANTS) == len(list(VARIANTS))
    assert dict(VARIANTS.items())["wgan"].loss == "wgan"
    assert VARIANTS.get("nosuch", None) is None  # with a default, as dict.get
    with pytest.raises(RegistryError, match="unknown variant 'nosuch'"):
        VARIANTS["nosuch"]
    with pytest.raises(TypeError):
        VARIANTS["mine"] = VARIANTS["dcgan"]
    assert ARCHS["dcgan"] is ARCH_SPECS["dcgan"].builder and list(ARCHS) == list(ARCH_SPECS)
    assert list(get_space("defaults").params) == [] and get_preset("tiny").steps == 4


@pytest.mark.parametrize("kind", list(REGISTRIES))
def test_names_are_sorted(kind):
    names = REGISTRIES[kind].names()
    assert names == sorted(names) and set(names) == set(REGISTRIES[kind]) and names
    assert REGISTRIES[kind].select("all") == names


def test_list_variants_is_sorted():
    assert variants.list_variants() == sorted(VARIANTS) == VARIANTS.names()


def test_patterns_and_exclusion():
    assert VARIANTS.select("wgan*") == ["wgan", "wgan-gp"]
    assert VARIANTS.select("all", exclude="wgan*") == [n for n in VARIANTS.names() if not n.startswith("wgan")]
    # The order given, each name once, patterns and names mixed.
    assert VARIANTS.select("wgan-gp, dcgan, wgan*, dcgan") == ["wgan-gp", "dcgan", "wgan"]
    assert VARIANTS.select("*gan", exclude="dcgan,pac*,r?-gan") == [
        n for n in VARIANTS.names() if n.endswith("gan") and n not in ("dcgan", "pacdcgan2", "r1-gan")]
    assert PRESETS.select("p*") == ["pacgan", "paper"]
    assert DATASETS.select("*mnist", exclude="mnist") == ["stacked-mnist"]


def test_select_variants_takes_patterns_pairings_and_exclude():
    chosen = variants.select_variants("wgan*, dcgan+ls", exclude="wgan")
    assert [v.name for v in chosen] == ["wgan-gp", "dcgan+ls"] and chosen[1].loss == "ls"
    assert [v.name for v in variants.select_variants("dcgan+ls,dcgan+hinge", exclude="dcgan+ls")] == ["dcgan+hinge"]


@pytest.mark.parametrize("spec, exclude, message", [
    ("nosuch*", None, "no variant matches 'nosuch*'; choose one of began, dcgan"),
    ("wgn*", None, "no variant matches 'wgn*'; did you mean wgan"),
    ("all", "dcgn", "unknown variant 'dcgn'; did you mean dcgan"),
    ("all", "nosuch*", "no variant matches 'nosuch*'"),
    ("wgan", "wgan*", "'wgan' without 'wgan*' leaves no variant"),
    ("all", "*", "'all' without '*' leaves no variant"),
    (" , ", None, "no variant named; use 'all' or NAME[,NAME...]"),
])
def test_what_selects_nothing_is_an_error(spec, exclude, message):
    with pytest.raises(variants.UnknownVariant) as error:
        variants.select_variants(spec, exclude=exclude)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_name_the_command_line_could_not_select_is_refused():
    registry = Registry("widget")
    for name in ("a,b", "wgan*", "x?", "[y]", " padded", ""):
        with pytest.raises(RegistryError, match="widget"):
            registry.register(name, object())
    assert len(registry) == 0
    with pytest.raises(RegistryError, match="'all' picks nothing: no widget is registered"):
        registry.select("all")
    with pytest.raises(RegistryError, match="unknown widget 'x'; no widget is registered"):
        registry.get("x")


def test_a_plugin_cannot_replace_a_builtin_optimizer(tmp_path):
    plugin = tmp_path / "my_adam.py"
    plugin.write_text("import torch\nfrom variants import register_optimizer\n"
                      "register_optimizer('adam')(lambda params, lr, hparams, fused: torch.optim.SGD(params, lr=lr))\n")
    snapshot = registry_snapshot()
    try:
        result = runner.invoke(app, ["list", "--plugin", str(plugin)])
    finally:
        restore(snapshot)
    line = result.output.strip()
    assert result.exit_code == 2 and len(line.splitlines()) == 1 and line.startswith("error:")
    assert str(plugin) in line and "optimizer 'adam' is already registered (by builtin)" in line
    assert OPTIMIZERS["adam"] is adam


def test_an_unmatched_pattern_on_the_command_line_is_one_line_before_any_training(tmp_path, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(bench.train.runner, "run_benchmark", no_training)
    result = runner.invoke(app, ["run", "--variants", "nosuch*", "--preset", "tiny", "--device", "cpu",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no variant matches 'nosuch*'"), result.output
    assert not (tmp_path / "out").exists()
