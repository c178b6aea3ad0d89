"""The named variants' recipes never move: published results are paired by config hash, so
every named variant's configuration, and the configuration of every pairing built from
them, is pinned in tests/data/variant_configs.json."""

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

import variants
from bench.presets import PRESETS
from bench.records import config_hash
from bench.train.plan import RunPlan, config_section, run_config
from variants.recipes import RECIPES

PINNED = json.loads((Path(__file__).parent / "data" / "variant_configs.json").read_text())
N_TRAIN = 60_000  # MNIST's training images: an epoch-long preset's step count depends on it


def own_config(variant) -> dict:
    """The part of a run's `config` that comes from its variant."""
    return {"variant": variant.name, "arch": variant.arch, "loss": variant.loss,
            "hparams": json.loads(json.dumps(asdict(variant.hparams))), "arch_options": variant.arch_options,
            "loss_options": variant.loss_options, "source": variant.source}


def test_the_twelve_recipes_are_registered_in_their_order():
    assert [recipe.name for recipe in RECIPES] == PINNED["order"] == list(variants.VARIANTS)


@pytest.mark.parametrize("name", PINNED["order"])
def test_a_named_variant_and_its_config_hashes_are_as_published(name):
    variant, pinned = variants.get_variant(name), PINNED["variants"][name]
    assert own_config(variant) == pinned["config"]
    assert variant.paper == pinned["paper"]
    for preset in PRESETS:
        plan = RunPlan(variants=[variant], seeds=[0], preset=preset, device=torch.device("cpu"), out=Path("unused"))
        assert config_hash(config_section(run_config(variant, 0, plan, N_TRAIN))) == pinned["config_hash"][preset], \
            f"{name} under preset {preset}: its config hash moved, so its published results no longer pair with it"


def test_every_pairing_is_as_published():
    # A pairing takes its recipe from the first named variant with its loss and its options
    # from the first built on its architecture: the recipes' order shows here.
    for name, pinned in PINNED["pairings"].items():
        assert own_config(variants.get_variant(name)) == pinned, name


def test_pacdcgan2_is_dcgan_with_a_packed_d():
    dcgan, packed = variants.get_variant("dcgan"), variants.get_variant("pacdcgan2")
    assert replace(packed, name=dcgan.name, paper=dcgan.paper, arch_options={}) == dcgan
    assert packed.arch_options == {**dcgan.arch_options, "pack": 2}
