"""Sets: the groups of records that may share one table, found in a folder that holds several
(a tiny test run beside a quick one, two devices, a study beside ordinary runs), and the
filters that pick some of them (`gan-bench report --preset/--dataset/--variants/--device`).

A set is what `check_comparable` accepts: one dataset, device, preset, budget, protocol and
pair of feature networks, and one study or none. A checksum a record lacks (a failed run has
none) conflicts with nothing, so such a record joins the set it agrees with; a record without
a budget label (from before there were labels) has its preset's budget.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Callable

from bench.errors import BenchError
from bench.presets import PRESETS, budget_label
from bench.report.loading import dig
from bench.report.summary import COMPARABLE, dataset_of, is_real_data

# Keys where a missing value is a value of its own: a run outside any study is no study run.
STRICT = ("dataset", "device slug", "preset", "protocol version", "study id")
NO_STUDY = "none"  # what --study matches for runs outside any study


def slug(text: str) -> str:
    """'2 epochs' -> '2-epochs': a folder name and a filter value without spaces or quotes."""
    return re.sub(r"[^a-z0-9.]+", "-", str(text).lower()).strip("-")


def budget_of(record: dict) -> str | None:
    """A record's budget label; a record from before budgets were labelled ran its preset's
    (so that it never joins a set of --until-converged or --steps runs of that preset)."""
    label = record["config"].get("budget") or dig(record, "budget", "label")
    if label:
        return label
    preset = PRESETS.get(record["config"]["preset"], None)
    return budget_label(preset) if preset else None


@dataclass(frozen=True)
class Filter:
    option: str
    plural: str  # for messages: "presets"
    values: Callable[[dict], tuple[str, ...]]  # what of a record a pattern may match
    commas: bool = True  # a comma separates patterns (budget labels hold commas themselves)


FILTERS: dict[str, Filter] = {
    "device": Filter("--device", "device slugs", lambda r: (r["env"]["device_slug"],)),
    "dataset": Filter("--dataset", "datasets", lambda r: (dataset_of(r),)),
    "preset": Filter("--preset", "presets", lambda r: (r["config"]["preset"],)),
    "budget": Filter("--budget", "budgets", lambda r: (budget_of(r) or "", slug(budget_of(r) or "")), commas=False),
    "study": Filter("--study", "studies", lambda r: (dig(r, "study", "id"), dig(r, "study", "name"))
                    if dig(r, "study") else (NO_STUDY,)),
    "variants": Filter("--variants", "variants", lambda r: (r["variant"],)),
}


def parse_filters(**specs: str | None) -> dict[str, tuple[str, ...]]:
    """{'preset': 'quick,paper'} -> {'preset': ('quick', 'paper')}; options not given are left out."""
    chosen = {}
    for name, spec in specs.items():
        if spec is None:
            continue
        patterns = tuple(p.strip() for p in (spec.split(",") if FILTERS[name].commas else [spec]) if p.strip())
        if not patterns:
            raise BenchError(f"{FILTERS[name].option} names nothing; give a name or an fnmatch pattern")
        chosen[name] = patterns
    return chosen


def filter_flags(chosen: dict[str, tuple[str, ...]]) -> list[str]:
    """The command-line flags that make `chosen` again, in FILTERS' order."""
    return [arg for name in FILTERS if name in chosen
            for arg in (FILTERS[name].option, ",".join(chosen[name]) if FILTERS[name].commas else chosen[name][0])]


def matches(record: dict, name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(value, pattern) for value in FILTERS[name].values(record) if value is not None
               for pattern in patterns)


def select(records: list[dict], chosen: dict[str, tuple[str, ...]]) -> list[dict]:
    """The records every given filter matches; none is an error that says what there is."""
    kept = [r for r in records if all(matches(r, name, patterns) for name, patterns in chosen.items())]
    if records and not kept:
        there = "; ".join(f"{FILTERS[name].plural} here: "
                          + ", ".join(sorted({FILTERS[name].values(r)[0] for r in records}))
                          for name in chosen)
        raise BenchError(f"no record matches {' '.join(filter_flags(chosen))} ({there})")
    return kept


@dataclass
class RecordSet:
    """Records one table may hold, with what they share."""
    key: dict  # COMPARABLE's label -> the shared value (None: no record says)
    records: list[dict] = field(default_factory=list)
    name: str = ""  # its folder when a report writes several sets: <dataset>-<preset>-<budget>[-study-<id>]

    @property
    def device(self) -> str:
        return self.key["device slug"]

    @property
    def study(self) -> str | None:
        return self.key["study id"]

    def describe(self) -> str:
        budget = self.key["budget"] or "budget not recorded"
        study = f", study {self.study}" if self.study else ""
        return (f"{self.key['dataset']}, {self.key['preset']} preset, {budget} on {self.device}{study} "
                f"({len(self.records)} run{'s' if len(self.records) != 1 else ''})")

    def flags(self) -> list[str]:
        """The filters that pick this set alone from any folder."""
        flags = ["--device", self.device, "--dataset", self.key["dataset"], "--preset", self.key["preset"]]
        flags += ["--budget", slug(self.key["budget"])] if self.key["budget"] else []
        return flags + ["--study", self.study or NO_STUDY]


def key_of(record: dict) -> dict:
    return {**{label: value_of(record) for label, value_of in COMPARABLE.items()}, "budget": budget_of(record)}


def agrees(key: dict, other: dict) -> bool:
    return all(key[k] == other[k] or (k not in STRICT and (key[k] is None or other[k] is None)) for k in key)


def is_external(record: dict) -> bool:
    """A score of samples from outside (`gan-bench score`), not a trained run."""
    return record.get("kind") == "external"


def final_samples(s: "RecordSet") -> set:
    return {dig(r, "metrics", "n_fake") for r in s.records if dig(r, "metrics", "n_fake") is not None}


def place_external(sets: list["RecordSet"], external: list[dict]) -> list[dict]:
    """An external score joins every set of trained runs it can be compared with: the same
    dataset, machine, feature networks and sample count (docs/scoring.md). Returns those that
    joined none."""
    alone = []
    for record in external:
        key, n = key_of(record), dig(record, "metrics", "n_fake")
        homes = [s for s in sets if not s.study and s.key["dataset"] == key["dataset"] and s.device == key["device slug"]
                 and all(s.key[k] in (None, key[k]) for k in COMPARABLE if "sha256" in k) and final_samples(s) == {n}]
        for home in homes:
            home.records.append(record)
        if not homes:
            alone.append(record)
    return alone


# The score of real data (10,000 MNIST training digits scored as if generated, against the test
# digits): the first row of every MNIST table at that sample count, so a reader sees what a
# perfect generator scores. Made once per feature network by the command in its record
# (`gan-bench score mnist:train --samples 10000 --name real-data`) and shipped with gan-bench.
REAL_DATA_DIR = Path(__file__).parents[1] / "eval" / "reference"


def real_data_records() -> list[dict]:
    """The shipped real-data scores, read as data (a file that is not a valid record is skipped)."""
    from bench.report.loading import SOURCE_KEY, record_problem

    found = []
    for path in sorted(REAL_DATA_DIR.glob("real-data-*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record_problem(record) is None and is_real_data(record):
            found.append({**record, SOURCE_KEY: str(path)})
    return found


def with_real_data(sets: list[RecordSet]) -> list[RecordSet]:
    """Each set of trained runs gets the real-data row that compares with it: the same dataset,
    classifier and sample count (any machine: real data's figures are no machine's speed)."""
    shipped = real_data_records()
    for s in sets:
        if s.study or any(map(is_real_data, s.records)) or all(is_external(r) for r in s.records):
            continue  # a study ranks its own configurations; a set of scores alone has nothing to head
        real = next((r for r in shipped if dataset_of(r) == s.key["dataset"] and final_samples(s) ==
                     {dig(r, "metrics", "n_fake")} and s.key["MNIST classifier sha256"] in
                     (None, dig(r, "feature_nets", "mnist_classifier_sha256"))), None)
        if real is not None:
            s.records.insert(0, real)
    return sets


def split_sets(records: list[dict]) -> list[RecordSet]:
    """The sets among `records`, each in load order, sorted by device, dataset, preset, budget, study.
    External scores join the sets they compare with (`place_external`), or make sets of their own."""
    sets: list[RecordSet] = []
    trained = [r for r in records if not is_external(r)]
    alone = place_external(group_sets(sets, trained), [r for r in records if is_external(r)])
    group_sets(sets, alone)
    order = {id(r): i for i, r in enumerate(records)}
    for s in sets:
        s.records.sort(key=lambda r: order[id(r)])
    sets.sort(key=lambda s: tuple(str(s.key[k]) for k in ("device slug", "dataset", "preset", "budget", "study id")))
    name_sets(sets)
    return sets


def group_sets(sets: list[RecordSet], records: list[dict]) -> list[RecordSet]:
    """Add `records` to `sets`, each to the set it agrees with or to a new one."""
    # Complete records first: a record with gaps then joins the set it agrees with.
    for record in sorted(records, key=lambda r: sum(v is None for v in key_of(r).values())):
        key = key_of(record)
        home = next((s for s in sets if agrees(s.key, key)), None)
        if home is None:
            sets.append(RecordSet(dict(key)))
            home = sets[-1]
        home.key.update({k: v for k, v in key.items() if home.key[k] is None})
        home.records.append(record)
    return sets


def name_sets(sets: list[RecordSet]) -> None:
    for s in sets:
        parts = [s.key["dataset"], s.key["preset"], s.key["budget"]] + (["study", s.study] if s.study else [])
        s.name = "-".join(slug(p) for p in parts if p)
    # Two sets of one device alike in all the above differ in protocol or feature networks.
    clashes = Counter((s.device, s.name) for s in sets)
    for s in sets:
        if clashes[s.device, s.name] > 1:
            classifier = s.key["MNIST classifier sha256"] or "unknown"
            s.name += f"-protocol{s.key['protocol version']}-classifier-{classifier[:8]}"


def set_dirs(sets: list[RecordSet], base: Path, by_device: bool) -> list[Path]:
    """Where each set's report goes: `base`, then a folder per device when `by_device` or when
    the sets come from several devices, then a folder per set when a device has several."""
    per_device = Counter(s.device for s in sets)
    by_device = by_device or len(per_device) > 1
    return [Path(base) / (s.device if by_device else "") / (s.name if per_device[s.device] > 1 else "")
            for s in sets]
