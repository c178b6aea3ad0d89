"""A variant's arch and loss options are the parameters of the functions they go to: a name
none of them takes is refused, with a did-you-mean, wherever a variant comes from."""

import re
from dataclasses import replace

import pytest
import torch
from typer.testing import CliRunner

import variants
from bench.cli import app
from bench.errors import BenchError
from bench.plugins import load_plugins, registry_snapshot, restore
from variants.archs import arch_option_names
from variants.losses import LOSSES, Loss, loss_option_names, ns_d_loss
from variants.variant import check_variant

runner = CliRunner()
TYPO = "takes no option 'd_nrom'; did you mean d_norm?"


@pytest.fixture(autouse=True)
def clean_registry():
    snapshot = registry_snapshot()
    yield
    restore(snapshot)


def with_typo(name="wgan-gp-typo", base="wgan-gp"):
    """wgan-gp whose critic's `d_norm` is misspelt: it would train a BatchNorm critic under a gradient penalty."""
    return replace(variants.get_variant(base), name=name, arch_options={"d_nrom": "none"})


def test_the_options_are_read_off_the_signatures():
    assert arch_option_names("dcgan") == {"d_norm", "spectral_norm", "pack"}
    assert arch_option_names("mlp") == {"spectral_norm", "pack"}
    assert arch_option_names("began") == {"code", "d_norm", "g_start_pixel", "spectral_norm"}
    # A loss's options are those of its d_loss and its after_d_step together.
    assert loss_option_names("began") == {"gamma", "lambda_k"}
    assert loss_option_names("wgan") == {"clip"} and loss_option_names("wgan-gp") == {"gp_weight"}
    assert loss_option_names("ns") == set()


def test_every_named_variant_and_pairing_passes():
    for name in variants.list_variants():
        check_variant(variants.get_variant(name))
    for arch, spec in variants.ARCH_SPECS.items():
        for loss_name, loss in LOSSES.items():
            if loss.d_output == spec.d_output:
                variants.combine(arch, loss_name)


def test_a_misspelt_arch_option_is_refused_with_a_suggestion():
    before = dict(variants.VARIANTS)
    with pytest.raises(variants.BadVariant) as error:
        variants.register_variant(with_typo())
    assert str(error.value) == ("variant 'wgan-gp-typo': architecture 'dcgan' " + TYPO +
                                " its options are d_norm, pack, spectral_norm")
    assert variants.VARIANTS == before
    # Built without being registered (a record's variant, a study's), it is refused too.
    with pytest.raises(variants.BadVariant, match=re.escape(TYPO)):
        with_typo().build((1, 28, 28))


def test_a_misspelt_loss_option_and_an_option_of_another_architecture():
    typo = replace(variants.get_variant("began"), name="began-typo", loss_options={"gamma": 0.75, "lamda_k": 0.01})
    message = "loss 'began' takes no option 'lamda_k'; did you mean lambda_k?"
    with pytest.raises(variants.BadVariant, match=re.escape(message)):
        variants.register_variant(typo)
    # mlp's D has no normalization to switch off.
    no_norm = replace(variants.get_variant("vanilla"), name="vanilla-no-norm", arch_options={"d_norm": "none"})
    with pytest.raises(variants.BadVariant, match="architecture 'mlp' takes no option 'd_norm'; its options are"):
        variants.register_variant(no_norm)


def test_a_pairing_is_refused_when_it_would_carry_a_misspelt_option():
    # A pairing takes its architecture's options from the named variant built on it; one put
    # into the registry without `register_variant`'s checks must not carry a typo into it.
    infogan_typo = replace(with_typo(name="infogan-typo"), arch="infogan")
    variants.VARIANTS.register(infogan_typo.name, infogan_typo)
    with pytest.raises(variants.BadVariant, match=re.escape("variant 'infogan+ns': architecture 'infogan' " + TYPO)):
        variants.select_variants(",".join(variants.pairings("infogan", "ns,wgan-gp")))
    result = runner.invoke(app, ["run", "--arch", "infogan", "--loss", "ns", "--dry-run"])
    line = result.output.strip()
    assert result.exit_code == 2, result.output
    assert len(line.splitlines()) == 1 and line.startswith("error:") and TYPO in line


PLUGIN = """
from dataclasses import replace
from variants import get_variant, register_variant

register_variant(replace(get_variant("wgan-gp"), name="plugin-typo", arch_options={"d_nrom": "none"}))
"""


def test_a_plugin_with_a_misspelt_option_is_refused(tmp_path):
    plugin = tmp_path / "typo_plugin.py"
    plugin.write_text(PLUGIN)
    before = dict(variants.VARIANTS)
    with pytest.raises(BenchError, match=re.escape("variant 'plugin-typo': architecture 'dcgan' " + TYPO)):
        load_plugins([str(plugin)], use_entry_points=False)
    assert variants.VARIANTS == before
    result = runner.invoke(app, ["list", "--plugin", str(plugin)])
    line = result.output.strip()
    assert result.exit_code == 2, result.output
    assert len(line.splitlines()) == 1 and line.startswith("error:") and "Traceback" not in line
    assert str(plugin) in line and TYPO in line


def test_each_loss_function_gets_only_its_own_options():
    began = variants.get_variant("began")
    seen = {}
    spy = replace(LOSSES["began"],
                  d_loss=lambda D, real, fake, state, gamma, diag=None: seen.setdefault("d_loss", gamma) * 0 + real.sum(),
                  after_d_step=lambda D, state, lambda_k: seen.setdefault("after", lambda_k))
    LOSSES.register("began", spy, source=LOSSES.source("began"))
    state = began.new_loss_state(torch.device("cpu"))
    began.d_loss(None, torch.ones(2), None, state)
    began.after_d_step(None, state)
    assert seen == {"d_loss": 0.75, "after": 0.01}


def test_a_plugin_function_that_takes_any_keyword_is_not_checked():
    def d_loss(D, real, fake, **options):
        return ns_d_loss(D, real, fake) * options["weight"]

    variants.register_loss(Loss(name="any-options", d_loss=d_loss, g_loss=LOSSES["ns"].g_loss, paper="a test"))
    assert loss_option_names("any-options") is None
    variant = variants.register_variant(replace(variants.get_variant("dcgan"), name="any", loss="any-options",
                                                loss_options={"weight": 2.0}))
    D = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 1))
    assert torch.isfinite(variant.d_loss(D, torch.ones(3, 1, 2, 2), torch.zeros(3, 1, 2, 2)))
