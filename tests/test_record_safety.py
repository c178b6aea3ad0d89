"""Records read back by report, compare-machines and study --rerun-best: a damaged record is
one warning and skipped, nothing else is lost; a repeated experiment counts once."""

import copy
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bench import report
from bench.cli import app
from bench.report.crossmachine import compare_machines
from bench.errors import BenchError
from bench.records import write_json_atomic
from bench.study.plan import StudyDefinition, definition_payload, rerun_best_runs, study_records
from bench.study.spaces import get_space
from test_report import SLUG, json_values, make_record, write_record

runner = CliRunner()


def repeated(record, finished_at, fid):
    """The same experiment written again (another run id, a later time, another figure)."""
    again = copy.deepcopy(record)
    again["run_id"] = record["run_id"] + "-again"
    again["finished_at"] = finished_at
    again["metrics"]["fid_mnist"] = fid
    again["paths"] = {}
    return again


def test_a_repeated_run_is_one_experiment_the_newest_counts(tmp_path):
    root = tmp_path / "results"
    first = make_record("dcgan", 0, fid=10.0)
    write_record(root, first)
    write_record(root, repeated(first, "2025-01-02T00:00:00Z", 30.0))
    write_record(root, make_record("dcgan", 1, fid=12.0))
    records, warnings = report.load_records(root)
    assert sorted((r["seed"], r["metrics"]["fid_mnist"]) for r in records) == [(0, 30.0), (1, 12.0)]
    (line,) = warnings
    assert first["run_id"] in line and "same configuration and seed" in line
    result = runner.invoke(app, ["report", str(root), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("warning:") == 1
    row = report.summarise(records).set_index("variant").loc["dcgan"]
    assert row["fid_mnist_mean"] == 21.0  # two seeds, not three


def study_section(study_id, index=0, phase="search"):
    return {"id": study_id, "name": "t", "space": "defaults", "config_index": index, "params": {}, "phase": phase}


def test_two_records_of_one_study_run_count_once(tmp_path):
    root = tmp_path / "results"
    first = {**make_record("dcgan", 0, fid=10.0), "study": study_section("s1")}
    write_record(root, first)
    write_record(root, repeated(first, "2025-01-02T00:00:00Z", 30.0))
    other = {**make_record("dcgan", 0, fid=11.0), "study": study_section("s1", index=1)}  # same values, index 1
    other["run_id"] += "-c1"
    write_record(root, other)
    records, warnings = report.load_records(root)
    assert len(records) == 2 and len(warnings) == 1
    found = study_records(root, "s1", warnings.append)
    assert len(found) == 2 and len(warnings) == 2


# ---------------------------------------------------------------- damaged records, any reader

DAMAGE = st.sampled_from([
    ("seed",), ("variant",), ("status",), ("config_hash",), ("config",), ("config", "preset"), ("config", "budget"),
    ("env",), ("env", "device_slug"), ("env", "device_name"), ("metrics",), ("metrics", "fid_mnist"),
    ("finished_at",), ("study",), ("study", "config_index"), ("study", "phase"), ("study", "id"),
    ("study", "params"), ("schema_version",),
])


def put(root, record, name):
    """A record file under runs/<slug>/, whatever the (maybe damaged) record says."""
    folder = root / "runs" / SLUG
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(record))
    return folder / f"{name}.json"


def damaged(record, changes):
    record = copy.deepcopy(record)
    for keys, value in changes:
        target = record
        for key in keys[:-1]:
            target = target.get(key) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target[keys[-1]] = copy.deepcopy(value)
    return record


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(st.tuples(DAMAGE, json_values), min_size=1, max_size=3))
def test_compare_machines_skips_a_damaged_record_and_keeps_the_rest(changes):
    with tempfile.TemporaryDirectory() as folder:
        folders = {m: Path(folder) / m for m in "ab"}
        for machine, root in folders.items():
            for seed in range(2):
                record = make_record("dcgan", seed, fid=10.0 + seed, slug=f"cpu-{machine}")
                record["env"]["device_name"] = f"CPU {machine}"
                put(root, damaged(record, changes) if (machine, seed) == ("a", 0) else record, f"s{seed}")
        warnings = []
        try:
            rows, _, _ = compare_machines(folders["a"], folders["b"], warnings.append)
        except BenchError:
            return  # e.g. the damage made a second machine appear: one clean error
        assert len(warnings) <= 1 and rows and "1" in rows[0]["seeds"]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(st.tuples(DAMAGE, json_values), min_size=1, max_size=3))
def test_rerun_best_skips_a_damaged_search_record_with_one_warning(changes):
    definition = StudyDefinition("t", ("dcgan",), get_space("defaults"), configs=1, seeds=2, preset="tiny")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        write_json_atomic(out / "study.json", definition_payload(definition))
        for seed in range(2):
            record = {**make_record("dcgan", seed, fid=10.0 + seed), "study": study_section(definition.id)}
            put(out, damaged(record, changes) if seed == 0 else record, f"s{seed}")
        warnings = []
        try:
            _, runs, chosen = rerun_best_runs(out, 1, lambda d: "fid_mnist", warnings.append)
        except BenchError as error:
            assert "not finished" in str(error) or "no search records" in str(error)
            assert len(warnings) <= 1
            return
        assert len(warnings) <= 1 and [r.seed for r in runs] == [2] and "dcgan" in chosen


def test_a_damaged_record_in_a_study_is_named_by_rerun_best(tmp_path):
    definition = StudyDefinition("t", ("dcgan",), get_space("defaults"), configs=1, seeds=1, preset="tiny")
    write_json_atomic(tmp_path / "study.json", definition_payload(definition))
    record = {**make_record("dcgan", 0, fid=10.0), "study": study_section(definition.id)}
    record["study"]["config_index"] = "0"
    path = write_record(tmp_path, record, png=False)
    warnings = []
    try:
        rerun_best_runs(tmp_path, 1, lambda d: "fid_mnist", warnings.append)
    except BenchError as error:
        assert "no search records" in str(error)
    (line,) = warnings
    assert str(path) in line and "'study.config_index' must be a non-negative integer" in line
    assert SLUG in line
