"""Records are paired across published result sets by their config hash, and studies by
their id: a change to how options travel from the command line to a run must leave both
exactly as they were. The values below were computed by the code before such changes."""

import json
from pathlib import Path

import pytest

from bench.data.datasets import get_dataset
from bench.records import config_hash
from bench.study.options import prepare
from bench.train.plan import config_section, plan_from, run_config
from bench.train.settings import RunSettings

RUNS = {
    "quick": (dict(variants="vanilla,wgan-gp"), [["vanilla", 0, "b970e88cca8e"], ["wgan-gp", 0, "53b4175342ba"]]),
    "steps": (dict(variants="dcgan", steps=7, seeds=2, first_seed=3),
              [["dcgan", 3, "9b0b58bc886b"], ["dcgan", 4, "9b0b58bc886b"]]),
    "seconds": (dict(variants="lsgan", train_seconds=12.5, preset="tiny"), [["lsgan", 0, "e15e63897576"]]),
    "converged": (dict(variants="vanilla", until_converged=True, patience=4, min_delta=0.05),
                  [["vanilla", 0, "ba6ba91eb85a"]]),
    "stacked": (dict(variants="dcgan", dataset="stacked-mnist", preset="one-epoch", until_converged=True,
                     curve_samples=500), [["dcgan", 0, "cc5ae9af587c"]]),
    "pairings": (dict(arch="mlp", loss="ns,ls", preset="paper", compile=True, checkpoint_every=9),
                 [["mlp+ns", 0, "1d0052fcb065"], ["mlp+ls", 0, "15495d52bd85"]]),
}


@pytest.mark.parametrize("case", sorted(RUNS))
def test_a_run_s_config_hash_is_pinned(case, tmp_path):
    options, expected = RUNS[case]
    plan = plan_from(RunSettings(out=tmp_path, device="cpu", **options))
    n_train = get_dataset(plan.dataset).train_size
    hashes = [[v.name, seed, config_hash(config_section(run_config(v, seed, plan, n_train)))]
              for v in plan.variants for seed in plan.seeds]
    assert hashes == expected


def test_a_run_s_description_is_pinned(tmp_path):
    plan = plan_from(RunSettings(out=tmp_path, device="cpu", variants="vanilla", until_converged=True, patience=4))
    config = config_section(run_config(plan.variants[0], 0, plan, get_dataset(plan.dataset).train_size))
    assert config["budget"] == ("until converged (2% over 4 points of 60000 images, 10000 samples each; "
                                "cap 20 epochs)")
    assert config["steps"] == 18750 and config["eval_every_images"] == 60000 and config["eval_samples"] == 10000
    assert config_hash(config) == "ff234bc1aeec"


STUDIES = {
    "converged": ('variants = ["vanilla", "dcgan"]\nspace = "lucic-narrow"\nconfigs = 2\nseeds = 2\nout = "{out}"\n'
                  'until-converged = true\npatience = 5\ncurve-every = 30000\n', "52561dd2e8db",
                  {"curve_samples": 10000, "every_images": 30000, "max_epochs": 20.0, "min_delta": 0.02, "patience": 5},
                  ["66eaead473bb", "66eaead473bb", "36c5202d516b", "36c5202d516b", "baff3a193a8a", "baff3a193a8a",
                   "44ddd8f31f7e", "44ddd8f31f7e"]),
    "seconds": ('arch = "mlp"\nloss = ["ns", "ls"]\nspace = "defaults"\nconfigs = 1\nout = "{out}"\n'
                'train-seconds = 30\npreset = "tiny"\n', "79884e799125", None, ["30a4a9893bac", "3b2e1fe42fea"]),
}


def study_run_hashes(definition, runs) -> list[str]:
    """Each run's config hash, made as a study's worker makes its run's plan."""
    from bench.study.plan import budget_fields
    from bench.train.plan import RunPlan

    def run_plan(definition, run, device, out):
        return RunPlan(variants=[run.variant], seeds=[run.seed], device=device, out=out, **budget_fields(definition))

    n_train = get_dataset(definition.dataset).train_size
    return [config_hash(config_section(run_config(run.variant, run.seed,
                                                  run_plan(definition, run, device=None, out=Path(".")), n_train)))
            for run in runs]


@pytest.mark.parametrize("case", sorted(STUDIES))
def test_a_study_s_id_and_its_runs_config_hashes_are_pinned(case, tmp_path):
    text, study_id, rule, hashes = STUDIES[case]
    path = tmp_path / "study.toml"
    path.write_text(text.format(out=tmp_path / "study"))
    definition, runs, _, _ = prepare(path, {}, False, print)
    assert definition.id == study_id
    assert definition.canonical().get("convergence") == rule
    assert json.dumps(definition.canonical(), sort_keys=True).count('"train_seconds"') == 1
    assert study_run_hashes(definition, runs) == hashes
