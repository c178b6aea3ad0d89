"""A study's runs, deterministically: the same definition gives the same list of runs,
with the same sampled values, on any machine.

The sampler is seeded from the study id, a hash of the canonical definition, so changing
anything that defines the study (a variant, a range, the number of configurations or
seeds, the budget, the dataset) makes another study with its own samples; where it runs
(device, cluster, resources) does not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.train.convergence import Rule
from bench.errors import BenchError
from bench.options import check, values_of
from bench.records import RERUN_BEST, SEARCH, load_record
from bench.train.plan import check_budget
from bench.train.settings import TrainingBudget
from bench.study.spaces import Param, Space, applies, apply, default_value
from variants import Variant, select_variants
from variants.provenance import BUILTIN

DEFINITION_FILE = "study.json"


@dataclass(frozen=True)
class StudyDefinition:
    name: str
    variants: tuple[str, ...]
    space: Space
    configs: int
    seeds: int
    preset: str
    dataset: str = "mnist"
    steps: int | None = None
    train_seconds: float | None = None
    # --until-converged: the rule (bench.train.convergence.Rule.describe()); None: a fixed budget.
    convergence: dict | None = None

    def canonical(self) -> dict:
        """What the study is: hashed into its id and stored in the study folder. The name is
        a label, not part of the id. The convergence rule only when there is one, so the ids
        of fixed-budget studies stay what they were."""
        return {"variants": list(self.variants), "space": self.space.describe(), "configs": self.configs,
                "seeds": self.seeds, "preset": self.preset, "steps": self.steps,
                "train_seconds": self.train_seconds, "dataset": self.dataset,
                **({"convergence": self.convergence} if self.convergence is not None else {})}

    @property
    def id(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def budget(self) -> TrainingBudget:
        """What every run of the study trains on and for how long. The rule is kept resolved
        (every value named), under the Rule's field names, which are its options' names."""
        return TrainingBudget(preset=self.preset, dataset=self.dataset, steps=self.steps,
                              train_seconds=self.train_seconds, until_converged=self.convergence is not None,
                              **(self.convergence or {}))


@dataclass(frozen=True)
class StudyRun:
    variant: Variant  # with the configuration's values put in
    config_index: int
    seed: int
    phase: str
    params: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return (self.variant.name, self.config_index, self.seed, self.phase)

    @property
    def label(self) -> str:
        phase = " (rerun-best)" if self.phase == RERUN_BEST else ""
        return f"{self.variant.name} c{self.config_index} s{self.seed}{phase}"

    def section(self, definition: StudyDefinition) -> dict:
        """The record's `study` section."""
        return {"id": definition.id, "name": definition.name, "space": definition.space.name,
                "config_index": self.config_index, "params": dict(self.params), "phase": self.phase}


def budget_fields(definition: StudyDefinition) -> dict:
    """The study's budget as `RunPlan` fields, for each of its runs' plans."""
    return values_of(definition.budget(), TrainingBudget)


def check_definition(definition: StudyDefinition) -> list[Variant]:
    """What a definition's values do not say alone (they were checked where it was made: a
    study's settings, or study.json in `load_definition`)."""
    if definition.space.name == "defaults" and definition.configs != 1:
        raise BenchError("the defaults space has configuration 0 only: use --configs 1")
    return select_variants(",".join(definition.variants))


def draw(rng: np.random.RandomState, param: Param):
    if param.kind == "log-uniform":
        lo, hi = param.values
        return float(10 ** rng.uniform(math.log10(lo), math.log10(hi)))
    if param.kind == "uniform":
        return float(rng.uniform(*param.values))
    value = param.values[rng.randint(len(param.values))]
    return value.item() if hasattr(value, "item") else value


def configurations(definition: StudyDefinition, variant: Variant, rng: np.random.RandomState) -> list[dict]:
    """Configuration 0 is the variant's defaults (as in compare_gan), then K-1 samples of the
    parameters the variant uses, in the space's order."""
    usable = [p for p in definition.space.params if applies(p, variant)]
    configs = [{p.name: default_value(p.name, variant) for p in usable}]
    for _ in range(1, definition.configs):
        configs.append({p.name: draw(rng, p) for p in usable})
    return configs


def search_runs(definition: StudyDefinition) -> list[StudyRun]:
    """Every (variant, configuration, seed) of the search, configuration by configuration so
    that early results cover every variant."""
    chosen = check_definition(definition)
    rng = np.random.RandomState(int(definition.id, 16) % 2**32)
    per_variant = {v.name: (v, configurations(definition, v, rng)) for v in chosen}
    runs = []
    for index in range(definition.configs):
        for variant, configs in per_variant.values():
            for seed in range(definition.seeds):
                runs.append(StudyRun(apply(variant, configs[index]), index, seed, SEARCH, configs[index]))
    return runs


# ---------------------------------------------------------------- the study folder


def study_records(out: Path, study_id: str, warn=None) -> list[tuple[Path, dict]]:
    """The folder's records of this study, one per run: a file that is no usable record is
    skipped (with a line to `warn`), and of two records of one run the newest stands."""
    from bench.report.loading import record_problem  # here: Ray workers never need the report

    newest: dict[tuple, tuple[Path, dict]] = {}
    for path in sorted(Path(out).glob("runs/*/*.json")):
        try:
            record = load_record(path)
        except (OSError, ValueError, RecursionError):
            continue  # not JSON: no run's record, and the report says so
        study = record.get("study") if isinstance(record, dict) else None
        if not isinstance(study, dict) or study.get("id") != study_id:
            continue
        problem = record_problem(record)
        if problem is not None:
            if warn:
                warn(f"skipped {path}: {problem}")
            continue
        key = record_key(record)
        if key in newest:
            older, newer = sorted([newest[key], (path, record)], key=lambda pr: (pr[1].get("finished_at") or "", pr[0]))
            if warn:
                warn(f"skipped {older[0]}: a second record of {newer[0]}'s run (the newest counts)")
            newest[key] = newer
        else:
            newest[key] = (path, record)
    return sorted(newest.values(), key=lambda pr: pr[0])


def record_key(record: dict) -> tuple:
    study = record["study"]
    return (record["variant"], study["config_index"], record["seed"], study["phase"])


def load_definition(out: Path) -> StudyDefinition | None:
    path = Path(out) / DEFINITION_FILE
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
        space = Space(saved["space"]["name"], tuple(
            Param(name, p["kind"], tuple(p["values"]), tuple(p["losses"]) if p.get("losses") else None)
            for name, p in saved["space"]["params"].items()))
        definition = StudyDefinition(saved["name"], tuple(saved["variants"]), space, saved["configs"], saved["seeds"],
                                     saved["preset"], saved["dataset"], saved["steps"], saved["train_seconds"],
                                     saved.get("convergence"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise BenchError(f"{path} is not a study definition ({type(error).__name__}: {error})") from None
    plugins = saved.get("plugins", [])
    problem = definition_problem(definition) or (
        None if isinstance(plugins, list) and all(isinstance(p, str) for p in plugins)
        else "'plugins' must be a list of strings")
    if problem is not None:
        raise BenchError(f"{path} is not a study definition: {problem}")
    try:  # anyone may have written the file: its budget is checked as the command line's options are
        check(definition.budget())
        check_budget(definition.budget())
    except BenchError as error:
        raise BenchError(f"{path} is not a study definition: {error}") from None
    if definition.id != saved.get("id"):
        raise BenchError(f"{path} was edited: its definition no longer hashes to its id {saved.get('id')}")
    return definition


def rule_shape_ok(rule) -> bool:
    """A convergence rule as study.json keeps it: the rule's fields, numbers each."""
    fields = {f.name for f in dataclasses.fields(Rule)}
    return (isinstance(rule, dict) and set(rule) == fields
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in rule.values()))


def definition_problem(definition: StudyDefinition) -> str | None:
    """Why a definition read back from study.json is unusable: the key and what it must be."""
    def whole(v, low):
        return isinstance(v, int) and not isinstance(v, bool) and v >= low

    checks = (("name", isinstance(definition.name, str), "a string"),
              ("variants", all(isinstance(v, str) for v in definition.variants), "a list of strings"),
              ("configs", whole(definition.configs, 1), "an integer, at least 1"),
              ("seeds", whole(definition.seeds, 1), "an integer, at least 1"),
              ("preset", isinstance(definition.preset, str), "a string"),
              ("dataset", isinstance(definition.dataset, str), "a string"),
              ("steps", definition.steps is None or whole(definition.steps, 1), "null or an integer, at least 1"),
              ("train_seconds", definition.train_seconds is None or (
                  isinstance(definition.train_seconds, (int, float)) and not isinstance(definition.train_seconds, bool)
                  and math.isfinite(definition.train_seconds) and definition.train_seconds > 0),
               "null or a positive number"),
              ("convergence", definition.convergence is None or rule_shape_ok(definition.convergence),
               f"null or a convergence rule ({', '.join(f.name for f in dataclasses.fields(Rule))})"))
    for key, ok, what in checks:
        if not ok:
            return f"'{key}' must be {what}"
    return None


def definition_payload(definition: StudyDefinition, plugins: tuple[str, ...] = ()) -> dict:
    """What study.json holds: the definition, and the plug-ins that registered its variants
    (outside the id: a plug-in's code is in each record's `config.source`)."""
    return {"id": definition.id, "name": definition.name, **definition.canonical(),
            **({"plugins": list(plugins)} if plugins else {})}


def saved_plugins(out: Path) -> list[str]:
    """The plug-ins study.json says planned the study: names to ask for, never to import, since
    a study folder is data that anyone may have written."""
    if load_definition(out) is None:
        return []
    return json.loads((Path(out) / DEFINITION_FILE).read_text()).get("plugins", [])


def record_sources(records: list[tuple[Path, dict]]) -> list[dict]:
    """The plug-ins (`config.source`) the records were made with, each once."""
    from bench.plugins import is_source

    sources = []
    for path, record in records:
        source = record["config"].get("source", BUILTIN)
        if not is_source(source):
            raise BenchError(f"{path}: 'config.source' must be \"builtin\" or an object of module, file and sha256")
        if source != BUILTIN and source not in sources:
            sources.append(source)
    return sources


def check_folder(out: Path, definition: StudyDefinition) -> None:
    """One study per folder: its records, its best configurations and its report belong together."""
    saved = load_definition(out)
    if saved is not None and saved.id != definition.id:
        raise BenchError(f"{out} holds study {saved.id} ({saved.name}), not this one ({definition.id}); "
                         "give another --out")


def rerun_best_runs(out: Path, seeds: int, fid_key_of, warn=None) -> tuple[StudyDefinition, list[StudyRun], dict]:
    """Lucic et al.'s last phase: each variant's best configuration (lowest final FID of its
    finished search runs) trained again on seeds the search did not use."""
    definition = load_definition(out)
    records = study_records(out, definition.id, warn) if definition else []
    # A record is data: one that names a run this study does not plan (another configuration
    # index or seed) is skipped, as a damaged one is, never looked up.
    planned = {(r.variant.name, r.config_index, r.seed, SEARCH) for r in search_runs(definition)} if definition else set()
    search = []
    for path, record in records:
        if record["study"]["phase"] != SEARCH:
            continue
        if record_key(record) not in planned:
            if warn:
                warn(f"skipped {path}: its run (variant, configuration, seed) is not one of this study's")
            continue
        search.append(record)
    if definition is None or not search:
        raise BenchError(f"{out} holds no search records of a study; run the search first")
    if seeds < 1:
        raise BenchError(f"--seeds must be at least 1, got {seeds}")
    expected = len(planned)
    if len({record_key(r) for r in search}) < expected:
        raise BenchError(f"the search in {out} is not finished ({len(search)} of {expected} runs): run the same "
                         "study command again to finish it, then --rerun-best")
    fid_key = fid_key_of(definition.dataset)
    fids: dict[str, dict[int, list[float]]] = {}  # variant -> configuration -> final FID per seed
    for record in search:
        fid = (record.get("metrics") or {}).get(fid_key)
        if record["status"] != "ok" or fid is None:
            continue
        # Over seeds: a configuration's mean FID, so one lucky seed does not pick it.
        fids.setdefault(record["variant"], {}).setdefault(record["study"]["config_index"], []).append(fid)
    chosen = {}
    for variant, by_config in fids.items():
        index = min(by_config, key=lambda i: (sum(by_config[i]) / len(by_config[i]), i))
        chosen[variant] = (index, sum(by_config[index]) / len(by_config[index]))
    first_seed = definition.seeds
    runs = []
    for variant, config_index, params in best_configs(definition, chosen):
        for seed in range(first_seed, first_seed + seeds):
            runs.append(StudyRun(variant, config_index, seed, RERUN_BEST, params))
    return definition, runs, chosen


def best_configs(definition: StudyDefinition, chosen: dict):
    by_key = {(r.variant.name, r.config_index): r for r in search_runs(definition)}
    for name in definition.variants:
        if name in chosen:
            run = by_key[name, chosen[name][0]]
            yield run.variant, run.config_index, run.params
