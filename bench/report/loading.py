"""Loading and validating run records: a record the statistics cannot use is skipped with
a warning naming its file, never half-read."""

from __future__ import annotations

import json
from pathlib import Path

from bench.devices import identity_slug
from bench.errors import BenchError
from bench.records import READABLE_SCHEMAS, SEARCH, STUDY_PHASES, config_hash
from bench.report.figures import BEYOND, BUDGET, QUALITY, STATUSES, SYSTEMS, metric_keys

SOURCE_KEY = "_source"  # added by load_records: the JSON file a record came from


def is_number(value) -> bool:
    # bool is an int to Python, but `true` is never a figure.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_str(value) -> bool:
    return isinstance(value, str)


def dig(record, *keys):
    """record[k1][k2]..., or None where a level is missing or not a dict."""
    for key in keys:
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return record


# (path, check, what it must be): the keys the report cannot do without.
REQUIRED = (
    (("run_id",), is_str, "a string"),
    (("variant",), is_str, "a string"),
    (("seed",), is_int, "an integer"),
    (("status",), lambda v: v in STATUSES, " or ".join(STATUSES)),
    (("config",), lambda v: isinstance(v, dict), "an object"),
    (("config", "protocol_version"), is_int, "an integer"),
    (("config", "preset"), is_str, "a string"),
    (("env",), lambda v: isinstance(v, dict), "an object"),
    (("env", "device_slug"), is_str, "a string"),
)

# Sections other agents' runs may leave out (failed runs, older records), but which must
# have the right shape when present so that the statistics below never meet a surprise.
OPTIONAL_SECTIONS = ("metrics", "systems", "time_to_fid", "feature_nets", "paths", "budget")
OPTIONAL_FIELDS = (
    (("diverged_at_step",), is_int, "an integer"),
    (("error",), is_str, "a string"),
    (("feature_nets", "mnist_classifier_sha256"), is_str, "a string"),
    (("feature_nets", "inception_sha256"), is_str, "a string"),
    (("paths", "samples"), is_str, "a string"),
    (("time_to_fid", "threshold"), is_number, "a number"),
    (("time_to_fid", "train_s"), is_number, "a number"),
    (("time_to_fid", "step"), is_number, "a number"),
    # Keys tables group by or pair on: a value of another type would break the grouping.
    (("config_hash",), is_str, "a string"),
    (("config", "budget"), is_str, "a string"),
    (("config", "dataset"), is_str, "a string"),
    (("env", "device_name"), is_str, "a string"),
    (("started_at",), is_str, "a string"),
    (("finished_at",), is_str, "a string"),
)
CURVE_FIELDS = ("step", "images_seen", "train_s", "fid_mnist", "fid_stacked")

# A study's runs (`gan-bench study`) carry which study, search space and configuration they
# belong to; the report groups and ranks configurations by these, so each must be usable.
STUDY_FIELDS = (
    ("id", lambda v: is_str(v) and v != "", "a non-empty string"),
    ("name", is_str, "a string"),
    ("space", is_str, "a string"),
    ("config_index", lambda v: is_int(v) and v >= 0, "a non-negative integer"),
    ("params", lambda v: isinstance(v, dict) and all(is_number(x) or isinstance(x, (str, bool)) for x in v.values()),
     "an object of numbers, strings and booleans"),
    ("phase", lambda v: v in STUDY_PHASES, " or ".join(STUDY_PHASES)),
)


def study_problem(study) -> str | None:
    """Why a record's `study` section is unusable, or None if it is (or is absent)."""
    if study is None:
        return None
    if not isinstance(study, dict):
        return "'study' must be an object"
    for key, check, what in STUDY_FIELDS:
        if key not in study:
            return f"missing key 'study.{key}'"
        if not check(study[key]):
            return f"'study.{key}' must be {what}, got {study[key]!r:.60}"
    return None


def record_problem(record) -> str | None:
    """Why a parsed JSON value is not a usable run record, or None if it is."""
    if not isinstance(record, dict):
        return f"not a JSON object but {type(record).__name__}"
    if "schema_version" not in record:
        return "missing key 'schema_version'"
    if not is_int(record["schema_version"]) or record["schema_version"] not in READABLE_SCHEMAS:
        return (f"schema_version {record['schema_version']!r}, this gan-bench reads "
                f"{' and '.join(map(str, READABLE_SCHEMAS))}")
    for keys, check, what in REQUIRED:
        value = dig(record, *keys)
        if value is None:
            return f"missing key '{'.'.join(keys)}'"
        if not check(value):
            return f"'{'.'.join(keys)}' must be {what}, got {value!r:.60}"
    for section in OPTIONAL_SECTIONS:
        if record.get(section) is not None and not isinstance(record[section], dict):
            return f"'{section}' must be an object"
    for keys, check, what in OPTIONAL_FIELDS:
        value = dig(record, *keys)
        if value is not None and not check(value):
            return f"'{'.'.join(keys)}' must be {what}, got {value!r:.60}"
    for section, names in (("metrics", metric_keys(QUALITY + BEYOND)), ("systems", metric_keys(SYSTEMS)),
                           ("budget", metric_keys(BUDGET))):
        for name in names:
            value = dig(record, section, name)
            if value is not None and not is_number(value):
                return f"'{section}.{name}' must be a number, got {value!r:.60}"
    curve = record.get("curve")
    if curve is not None:
        if not isinstance(curve, list) or not all(isinstance(p, dict) for p in curve):
            return "'curve' must be a list of objects"
        for point in curve:
            for name in CURVE_FIELDS:
                if point.get(name) is not None and not is_number(point[name]):
                    return f"curve point '{name}' must be a number, got {point[name]!r:.60}"
    return study_problem(record.get("study"))


def record_files(results_dir: Path) -> list[Path]:
    """runs/**/*.json under a results directory, or the JSON files under any narrower one."""
    root = results_dir / "runs" if (results_dir / "runs").is_dir() else results_dir
    return sorted(p for p in root.rglob("*.json") if p.is_file() and not p.name.startswith("."))


def load_records(results_dir) -> tuple[list[dict], list[str]]:
    """Every valid record under `results_dir`, and one warning per file skipped.

    Each record gains SOURCE_KEY, the path of the file it came from, so that files
    written beside it (the sample grid) can be found.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise BenchError(f"no such results directory: {results_dir}")
    records, warnings, seen = [], [], {}
    for path in record_files(results_dir):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError, RecursionError) as error:  # ValueError covers bad JSON and bad UTF-8
            warnings.append(f"skipped {path}: unreadable JSON ({type(error).__name__}: {str(error)[:80]})")
            continue
        problem = record_problem(record)
        if problem is None and record["run_id"] in seen:
            problem = f"same run_id as {seen[record['run_id']]}"
        if problem:
            warnings.append(f"skipped {path}: {problem}")
            continue
        seen[record["run_id"]] = path
        records.append({**upgrade(record), SOURCE_KEY: str(path)})
    return one_per_experiment(records, warnings)


# Configuration keys added after the first records were written, with the value every run
# before them had: a record without one ran that value, so it is the same recipe as a newer
# record that writes it out (and gets the same recipe hash). `budget` is its preset's label.
CONFIG_DEFAULTS = ((("source",), "builtin"), (("train_seconds",), None), (("hparams", "optimizer"), "adam"))


def recipe_config(record: dict) -> dict:
    """The record's configuration with the keys older gan-bench versions did not write filled
    in as those versions ran them."""
    from bench.presets import PRESETS, budget_label

    config = {**record["config"]}
    for keys, default in CONFIG_DEFAULTS:
        parent = config
        if len(keys) == 2:  # a key inside a section: copied before it is filled
            if not isinstance(config.get(keys[0]), dict):
                continue
            parent = config[keys[0]] = dict(config[keys[0]])
        parent.setdefault(keys[-1], default)
    preset = PRESETS.get(config.get("preset"), None)  # an external score has no preset
    if "budget" not in config and preset is not None and not config.get("train_seconds"):
        config["budget"] = dig(record, "budget", "label") or budget_label(preset)
    return config


def recipe_hash(record: dict) -> str:
    """What makes two records one recipe: the hash of the configuration as today's gan-bench
    writes it. A record that lacks none of CONFIG_DEFAULTS' keys has its own config_hash."""
    config = recipe_config(record)
    if config == record["config"] and is_str(record.get("config_hash")):
        return record["config_hash"]
    return config_hash(config)


def experiment_key(record: dict) -> tuple:
    """What makes two records one experiment: the same recipe and seed on one machine (its
    identity: model and capability), and, in a study, the same configuration index and phase
    (two sampled configurations may happen to share every value)."""
    return (recipe_hash(record), record["seed"], record["env"]["device_slug"],
            dig(record, "study", "id"), dig(record, "study", "phase"), dig(record, "study", "config_index"))


def flat(value, where: str = "") -> dict:
    """{'hparams.lr_g': 0.0002, ...}: a configuration's leaves by dotted path."""
    if isinstance(value, dict) and value:
        return {k: v for key, item in value.items() for k, v in flat(item, f"{where}{key}.").items()}
    return {where.rstrip("."): value}


MAX_SHOWN = 3  # differing keys a row label names; the hash tells the rest apart


def recipe_labels(records: list[dict], name_of) -> dict[str, str]:
    """id(record) -> the table row its record belongs to: `name_of(record)` (the variant), and,
    where that name has several recipes among `records`, the recipe's hash and the keys its
    configuration differs in: 'dcgan (config 3f2a91c0: hparams.lr_g=0.001)'. A row is one
    recipe: runs of different configurations are never averaged as seeds of one. A study's
    search runs keep the variant's name (their configurations are the study's own rows)."""
    by_name: dict[str, dict[str, dict]] = {}
    for record in records:
        if dig(record, "study", "phase") != SEARCH:
            by_name.setdefault(name_of(record), {}).setdefault(recipe_hash(record), flat(recipe_config(record)))
    labels = {}
    for record in records:
        name = name_of(record)
        recipes = by_name.get(name, {})
        if dig(record, "study", "phase") == SEARCH or len(recipes) < 2:
            labels[id(record)] = name
            continue
        own = recipes[recipe_hash(record)]
        keys = sorted({k for config in recipes.values() for k in config
                       if any(other.get(k, "absent") != own.get(k, "absent") for other in recipes.values())})
        shown = ", ".join(f"{k}={json.dumps(own.get(k, 'absent'))}" for k in keys[:MAX_SHOWN])
        more = f" and {len(keys) - MAX_SHOWN} more" if len(keys) > MAX_SHOWN else ""
        labels[id(record)] = f"{name} (config {recipe_hash(record)[:8]}{': ' + shown if shown else ''}{more})"
    return labels


def newest_first(record: dict) -> tuple:
    return (record.get("finished_at") or record.get("started_at") or "", record[SOURCE_KEY])


def one_per_experiment(records: list[dict], warnings: list[str]) -> tuple[list[dict], list[str]]:
    """One record per experiment: a run repeated (two drivers on one folder, `--resume
    --force`) is one observation, not two seeds. The newest record stands; each older one
    is a warning."""
    by_key: dict[tuple, list[dict]] = {}
    for record in records:
        by_key.setdefault(experiment_key(record), []).append(record)
    kept = []
    for group in by_key.values():
        group.sort(key=newest_first, reverse=True)
        kept.append(group[0])
        for older in group[1:]:
            warnings.append(f"skipped {older[SOURCE_KEY]}: same configuration and seed as {group[0][SOURCE_KEY]} "
                            "(one experiment: the newest record counts)")
    kept.sort(key=lambda r: r[SOURCE_KEY])
    return kept, warnings


def upgrade(record: dict) -> dict:
    """An older record as this report reads it. Its env.device_slug becomes the machine's
    identity (devices.identity_slug: the model name and the capability it recorded), so that
    every table, set, filter and deduplication tells an AVX2 machine from an AVX-512 one of
    the same name. Records from before Stacked MNIST name no dataset: they trained on MNIST,
    and say so here, so that no reader has to know. Schema 1's peak_mem_bytes was read after
    a window that held the fid_mnist curve's evaluations, so it is no training figure: left
    out rather than shown as one."""
    identity = identity_slug(record["env"])
    if identity != record["env"]["device_slug"]:
        record = {**record, "env": {**record["env"], "device_slug": identity}}
    if "dataset" not in record["config"]:
        record = {**record, "config": {**record["config"], "dataset": "mnist"}}
    if record["schema_version"] == 1 and isinstance(record.get("systems"), dict):
        systems = {k: v for k, v in record["systems"].items() if k != "peak_mem_bytes"}
        return {**record, "systems": systems}
    return record
