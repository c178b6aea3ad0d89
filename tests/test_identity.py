"""One machine per table: the identity that decides a run's numbers (the device model and
torch's CPU capability, or a GPU's compute capability) names its folder, its set and its
experiments; one recipe per row; and curve latents that never meet the final evaluation's."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bench import devices, report
from bench.errors import BenchError
from bench.eval import evaluation
from bench.report.crossmachine import compare_machines
from bench.report.index import render_index
from test_report import make_record, write_record

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def epyc_record(variant, seed, capability, fid, **changes):
    """A record as gan-bench wrote it when the slug was the CPU's model name alone."""
    record = make_record(variant, seed, fid=fid, slug="cpu-amd-epyc", budget="2 epochs")
    record["env"].update(device_name="AMD EPYC", cpu_capability=capability)
    record["run_id"] = f"{variant}-s{seed}-{capability}"
    for key, value in changes.items():
        record["config"][key] = value
    return record


# --- the slug ----------------------------------------------------------------------------------

def test_two_cpus_of_one_name_and_another_capability_get_two_slugs(monkeypatch):
    monkeypatch.setattr(devices, "cpu_name", lambda: "AMD EPYC 7B13")
    slugs = {}
    for capability in ("AVX2", "AVX512"):
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        slugs[capability] = devices.device_slug(torch.device("cpu"))
    assert slugs == {"AVX2": "cpu-amd-epyc-7b13-avx2", "AVX512": "cpu-amd-epyc-7b13-avx512"}


def test_a_gpu_slug_names_its_compute_capability():
    assert devices.identity_slug({"device_type": "cuda", "device_slug": "cuda-nvidia-h100-80gb-hbm3",
                                  "capability": "9.0", "cpu_capability": "AVX2"}) == "cuda-nvidia-h100-80gb-hbm3-sm90"


@pytest.mark.parametrize("env, identity", [
    ({"device_type": "cpu", "device_slug": "cpu-amd-epyc", "cpu_capability": "AVX2"}, "cpu-amd-epyc-avx2"),
    ({"device_type": "cpu", "device_slug": "cpu-amd-epyc-avx2", "cpu_capability": "AVX2"}, "cpu-amd-epyc-avx2"),
    # Written before records named a capability: the slug stays the model's, and matches no slug of today.
    ({"device_type": "cpu", "device_slug": "cpu-intel-xeon-processor"}, "cpu-intel-xeon-processor"),
])
def test_an_older_record_gets_the_identity_its_capability_gives(env, identity):
    assert devices.identity_slug(env) == identity
    assert devices.identity_known(env) == ("cpu_capability" in env)


def test_make_publish_on_another_capability_writes_its_own_folder():
    # ATEN_CPU_CAPABILITY makes torch dispatch to a lower capability: another machine's kernels.
    def slug(**env):
        # BIN: this interpreter's folder, whichever environment runs the tests.
        completed = subprocess.run(["make", "-s", "--no-print-directory", "--eval", "print-slug: ; @echo $(SLUG)",
                                    "print-slug", f"BIN={Path(sys.executable).parent}"], cwd=REPO,
                                   capture_output=True, text=True, env={**os.environ, **env})
        assert completed.returncode == 0, completed.stderr
        return completed.stdout.strip()

    here, default = slug(), slug(ATEN_CPU_CAPABILITY="default")
    assert here == devices.device_slug(torch.device("cpu"))
    assert default.endswith("-default") and here != default
    assert here.rsplit("-", 1)[0] == default.rsplit("-", 1)[0]  # one model name


# --- tables, sets and the deduplication --------------------------------------------------------

def test_one_folder_of_two_capabilities_is_two_sets_and_seed_0_counts_once_in_each(tmp_path):
    root = tmp_path / "results"
    for capability, fids in (("AVX2", [21.0, 22.0, 23.0]), ("AVX512", [24.0])):
        for seed, fid in enumerate(fids):
            write_record(root, epyc_record("dcgan", seed, capability, fid))
    records, warnings = report.load_records(root)
    assert warnings == [] and len(records) == 4
    sets = report.split_sets(records)
    assert [(s.device, len(s.records)) for s in sets] == [("cpu-amd-epyc-avx2", 3), ("cpu-amd-epyc-avx512", 1)]
    for s in sets:
        (row,) = report.summarise(s.records).to_dict("records")
        assert row["fid_mnist_n"] == len(s.records) and row["seeds_ok"] == " ".join(map(str, range(len(s.records))))
    written = report.write_reports(root, formats=("csv",), out_dir=tmp_path / "out")
    assert [folder.relative_to(tmp_path / "out").parts[0] for _, paths in written for folder in paths[:1]] == [
        "cpu-amd-epyc-avx2", "cpu-amd-epyc-avx512"]


def test_two_recipes_of_one_variant_are_two_rows_labelled_by_what_differs(tmp_path):
    root = tmp_path / "results" / "cpu-amd-epyc-avx2"  # a published set's folder
    for seed, fid in enumerate([10.0, 12.0]):
        write_record(root, epyc_record("dcgan", seed, "AVX2", fid))
    other = epyc_record("dcgan", 0, "AVX2", 30.0, log_every=25)
    other["run_id"], other["config_hash"] = "dcgan-s0-other", "other-hash"
    write_record(root, other)
    records, warnings = report.load_records(root)
    assert len(records) == 3 and warnings == []  # another recipe's seed 0 is no repeat of this one's
    summary = report.summarise(records).set_index("variant")
    assert len(summary) == 2
    (mine,) = [label for label in summary.index if "log_every=50" in label]
    (theirs,) = [label for label in summary.index if "log_every=25" in label]
    assert mine.startswith("dcgan (config ") and theirs.startswith("dcgan (config ")
    assert summary.loc[mine, "fid_mnist_n"] == 2 and summary.loc[mine, "fid_mnist_mean"] == pytest.approx(11.0)
    assert summary.loc[theirs, "fid_mnist_n"] == 1 and summary.loc[theirs, "fid_mnist_mean"] == 30.0
    # The CSV and the index count the same rows.
    (_, paths), = report.write_reports(root, formats=("csv",), out_dir=tmp_path / "out")
    csv = (tmp_path / "out" / "report.csv").read_text()
    assert mine in csv and theirs in csv
    assert "| 1 variants in 2 recipes, 3 runs |" in render_index(tmp_path / "results")


def test_a_record_older_code_wrote_is_the_same_recipe_and_counts_once(tmp_path):
    """The same run, written before `source` and `hparams.optimizer` were recorded: another
    config_hash, the same computation, so one experiment (the newest record stands)."""
    root = tmp_path / "results"
    new = epyc_record("dcgan", 0, "AVX2", 21.0, source="builtin")
    new["config"]["hparams"] = {"optimizer": "adam", "lr_g": 2e-4}
    new["config_hash"] = "new-hash"
    old = copy.deepcopy(new)
    del old["config"]["source"], old["config"]["hparams"]["optimizer"]
    old.update(run_id="dcgan-s0-old", config_hash="old-hash", finished_at="2024-01-01T00:00:00Z")
    for record in (new, old):
        write_record(root, record)
    records, warnings = report.load_records(root)
    assert [r["run_id"] for r in records] == [new["run_id"]]
    assert len(warnings) == 1 and "one experiment" in warnings[0]


# --- compare-machines --------------------------------------------------------------------------

def test_compare_machines_names_the_capability_and_pairs_by_configuration(tmp_path):
    for capability in ("AVX2", "AVX512"):
        for seed in range(2):
            write_record(tmp_path / capability, epyc_record("dcgan", seed, capability, 20.0 + seed))
    rows, name_a, name_b = compare_machines(tmp_path / "AVX2", tmp_path / "AVX512")
    assert (name_a, name_b) == ("AMD EPYC (cpu-amd-epyc-avx2)", "AMD EPYC (cpu-amd-epyc-avx512)")
    assert [(row["variant"], row["seeds"]) for row in rows] == [("dcgan", "0 1")]
    # Pooled in one folder they are two machines, not one.
    for seed in range(2):
        write_record(tmp_path / "AVX2", epyc_record("dcgan", seed + 5, "AVX512", 20.0))
    with pytest.raises(BenchError, match="2 machines"):
        compare_machines(tmp_path / "AVX2", tmp_path / "AVX512")


def test_compare_machines_never_pairs_two_configurations_of_one_variant(tmp_path):
    write_record(tmp_path / "a", epyc_record("dcgan", 0, "AVX2", 20.0))
    other = epyc_record("dcgan", 0, "AVX512", 20.0, log_every=25)
    other["config_hash"] = "other-hash"
    write_record(tmp_path / "b", other)
    with pytest.raises(BenchError, match="share no \\(configuration, seed\\)"):
        compare_machines(tmp_path / "a", tmp_path / "b")


# --- the published folders ---------------------------------------------------------------------

def published_records():
    for path in sorted((REPO / "results").glob("*/**/runs/*/*.json")):
        record = json.loads(path.read_text())
        if isinstance(record, dict) and "env" in record:
            yield path, record


def test_each_published_folder_is_named_by_the_identity_of_its_records():
    seen = 0
    for path, record in published_records():
        identity = devices.identity_slug(record["env"])
        relative = path.relative_to(REPO / "results").parts
        assert relative[0] == identity and relative[-2] == identity, path
        seen += 1
    assert seen > 100


# --- curve latents -----------------------------------------------------------------------------

def test_no_curve_step_draws_the_final_evaluations_latents():
    steps = 10**7 + 1
    seeds = np.fromiter(map(evaluation.curve_seed, range(steps)), dtype=np.int64, count=steps)
    assert not (seeds == evaluation.FINAL_SEED).any()
    moved = np.flatnonzero(seeds != evaluation.CURVE_SEED + np.arange(steps))
    assert moved.tolist() == [evaluation.FINAL_SEED - evaluation.CURVE_SEED]  # step 10,000 alone
    # ...to a seed below every CURVE_SEED + step: still one seed per step.
    assert seeds[moved[0]] < evaluation.CURVE_SEED


def test_the_evaluator_scores_the_curve_at_step_10000_on_other_latents(monkeypatch):
    from bench.data.datasets import DATASETS
    from bench.presets import PRESETS

    drawn = []

    class Drawn(Exception):
        pass

    def sample(G, z_dim, n, device, seed, **options):
        drawn.append(seed)
        raise Drawn

    monkeypatch.setattr(evaluation, "sample_uint8", sample)
    evaluator = evaluation.Evaluator(100, PRESETS["tiny"], DATASETS["stacked-mnist"], torch.zeros(1, 3, 28, 28),
                                     torch.device("cpu"), Path("unused"))
    for call in (lambda: evaluator.curve(None, 10_000), lambda: evaluator.final(None)):
        with pytest.raises(Drawn):
            call()
    curve, final = drawn
    assert final == evaluation.FINAL_SEED and curve != final


def test_the_mapping_moves_no_published_curve_point():
    scored = [point["step"] for _, record in published_records() for point in record.get("curve") or []
              if point.get("fid_mnist") is not None or point.get("fid_stacked") is not None]
    assert len(scored) > 500
    assert all(evaluation.curve_seed(step) == evaluation.CURVE_SEED + step for step in scored)
