"""How each published set is made again: the Makefile target that writes it (RECIPES) and the
`gan-bench` commands that make that set alone, read off its records. `gan-bench index` prints
them beside each set (bench/report/index.py)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Callable

from bench.presets import PRESETS, budget_label
from bench.report.commands import DEFAULT_DATASET, command_line, dataset_flags, report_command
from bench.report.loading import dig, is_number
from bench.report.sets import RecordSet
from bench.report.study import RERUN_BEST


def registry_variants() -> list[str]:
    from variants import list_variants

    return list_variants()


def variants_spec(names: list[str]) -> str:
    """'all' when the set has every registered variant, else the names in registry order."""
    known, names = registry_variants(), set(names)
    if names == set(known):
        return "all"
    return ",".join(sorted(names, key=lambda n: (known.index(n) if n in known else len(known), n)))


def all_note(target: str, names: list[str]) -> str:
    """Where a target trains every variant but the set has fewer (it was made before the others existed)."""
    known = registry_variants()
    if set(names) >= set(known):
        return ""
    return (f"`make {target}` takes every variant registered today ({len(known)}); this set has "
            f"{len(set(names))}, the variants of the commands above.")


def seeds_count(records: list[dict]) -> int:
    """--seeds N trains seeds 0..N-1 (from --first-seed, `seed_flags`)."""
    return max(r["seed"] for r in records) + 1


def seed_flags(records: list[dict]) -> list[str]:
    """--seeds N, with --first-seed where the set starts above seed 0 (fresh seeds of a recipe trial)."""
    first = min(r["seed"] for r in records)
    return ["--seeds", str(seeds_count(records) - first)] + (["--first-seed", str(first)] if first else [])


def budget_flags(record: dict) -> list[str]:
    """The `gan-bench run` flags that give a record's budget, beside its preset."""
    config = record["config"]
    rule = config.get("convergence")
    if isinstance(rule, dict):
        from bench.train import convergence

        flags = ["--until-converged"]
        stop = dig(record, "convergence")
        epoch = (stop["images"] / stop["epochs"]) if is_number(dig(stop, "images")) and dig(stop, "epochs") else None
        defaults = {"--curve-every": round(epoch) if epoch else rule.get("every_images"),
                    "--min-delta": convergence.DEFAULT_MIN_DELTA, "--patience": convergence.DEFAULT_PATIENCE,
                    "--max-epochs": convergence.DEFAULT_MAX_EPOCHS, "--curve-samples": config.get("final_samples")}
        for option, key in (("--curve-every", "every_images"), ("--min-delta", "min_delta"),
                            ("--patience", "patience"), ("--max-epochs", "max_epochs"),
                            ("--curve-samples", "curve_samples")):
            if rule.get(key) is not None and rule[key] != defaults[option]:
                flags += [option, f"{rule[key]:g}"]
        return flags
    if config.get("train_seconds") is not None:
        return ["--train-seconds", f"{config['train_seconds']:g}"]
    preset = PRESETS.get(config["preset"], None)
    if config.get("budget") and preset and config["budget"] != budget_label(preset):
        return ["--steps", str(config["steps"])]
    return []


@dataclass(frozen=True)
class Recipe:
    """A Makefile target that writes a set of run records (Makefile, the publish-* targets)."""
    target: str
    below: str  # where it writes, below results/<device-slug>/ ("" for that folder itself)
    applies: Callable[[RecordSet], bool]
    # Whether the target's variables can give this set (what the target fixes, the set must have).
    fits: Callable[[RecordSet, dict], bool]
    variables: Callable[[RecordSet, dict], dict[str, str]]  # set, study.json (or {}) -> make variables
    commands: Callable[[RecordSet, dict, str], list[str]]  # set, study.json, folder -> this set alone
    trains_all: bool  # no variable picks the variants: the target trains every registered one


def run_command(s: RecordSet, folder: str) -> list[str]:
    first = s.records[0]
    run = command_line("run", "--variants", variants_spec([r["variant"] for r in s.records]), *seed_flags(s.records),
                       "--preset", first["config"]["preset"], *dataset_flags(s.key["dataset"]), *budget_flags(first),
                       "--device", first["env"]["device_type"], "--out", folder)
    return [run, report_command(folder, folder)]


def rerun_seeds(s: RecordSet) -> int:
    return len({r["seed"] for r in s.records if r["study"]["phase"] == RERUN_BEST})


def study_commands(s: RecordSet, study: dict, folder: str) -> list[str]:
    device = device_type(s)
    search = ["study", "--variants", ",".join(study.get("variants") or sorted({r["variant"] for r in s.records})),
              "--space", dig(study, "space", "name") or s.records[0]["study"]["space"],
              "--configs", study.get("configs"), "--seeds", study.get("seeds"),
              "--preset", study.get("preset") or s.key["preset"], *dataset_flags(s.key["dataset"])]
    search += ["--steps", study["steps"]] if study.get("steps") else []
    search += ["--train-seconds", f"{study['train_seconds']:g}"] if study.get("train_seconds") else []
    commands = [command_line(*search, "--device", device, "--out", folder)]
    if rerun_seeds(s):
        commands.append(command_line("study", "--rerun-best", "--seeds", rerun_seeds(s), "--device", device,
                                     "--out", folder))
    return commands + [report_command(folder, folder)]


def converged_commands(s: RecordSet, study: dict, folder: str) -> list[str]:
    """`make publish-converged`'s runs as one `gan-bench run`: its seed-major rounds, several runs
    at a time, change no record; the one torch thread each run had (env.threads) may."""
    args = ["run", "--variants", variant_names(s), *seed_flags(s.records), "--preset", s.key["preset"],
            *budget_flags(s.records[0]), "--device", device_type(s)]
    threads = {dig(r, "env", "threads") for r in s.records}
    if len(threads) == 1 and is_number(next(iter(threads))):
        args += ["--threads", str(threads.pop())]
    return [command_line(*args, "--out", folder), report_command(folder, folder)]


def is_converged(s: RecordSet) -> bool:
    return isinstance(s.records[0]["config"].get("convergence"), dict)


def device_type(s: RecordSet) -> str:
    return s.records[0]["env"]["device_type"]


def variant_names(s: RecordSet) -> str:
    return variants_spec([r["variant"] for r in s.records])


def on_mnist(s: RecordSet) -> bool:
    return s.key["dataset"] == DEFAULT_DATASET


# Which target made a set, and how: the first recipe that applies is the set's. What a target
# fixes (Makefile) is in `fits`: the study's space and seeds, the converged script's preset.
RECIPES = (
    Recipe("publish-study", "study-lucic-narrow", lambda s: s.study is not None,
           lambda s, study: (on_mnist(s) and dig(study, "space", "name") == "lucic-narrow" and study.get("seeds") == 1
                             and rerun_seeds(s) in (0, 3) and not study.get("steps")
                             and not study.get("train_seconds")),
           lambda s, study: {"DEVICE": device_type(s), "PRESET": s.key["preset"],
                             "STUDY_VARIANTS": ",".join(study.get("variants") or []),
                             "STUDY_CONFIGS": str(study.get("configs"))},
           study_commands, trains_all=False),
    Recipe("publish-converged", "converged", is_converged,
           lambda s, study: (on_mnist(s) and s.key["preset"] == "quick"
                             and budget_flags(s.records[0]) == ["--until-converged"]),
           lambda s, study: {"DEVICE": device_type(s), "SEEDS": str(seeds_count(s.records))},
           converged_commands, trains_all=True),
    Recipe("publish-stacked", "stacked-mnist", lambda s: s.key["dataset"] == "stacked-mnist",
           lambda s, study: not budget_flags(s.records[0]),
           lambda s, study: {"DEVICE": device_type(s), "SEEDS": str(seeds_count(s.records)),
                             "STACKED_VARIANTS": variant_names(s), "STACKED_PRESET": s.key["preset"]},
           lambda s, study, folder: run_command(s, folder), trains_all=False),
    Recipe("publish-runs", "", lambda s: True,
           lambda s, study: on_mnist(s) and not budget_flags(s.records[0]),
           lambda s, study: {"DEVICE": device_type(s), "PRESET": s.key["preset"],
                             "SEEDS": str(seeds_count(s.records))},
           lambda s, study, folder: run_command(s, folder), trains_all=True),
)


def make_line(target: str, variables: dict[str, str], device: str, slug: str) -> str:
    assigned = " ".join(f"{k}={shlex.quote(v)}" for k, v in variables.items())
    return f"`make {target} {assigned}`, run on {device} (device slug {slug})"


def speed_command(record: dict, out: str | None = None) -> list[str]:
    """The command a speed set records, with the variants it measured where it said `all`
    (which names more variants today than when it ran), and writing to `out`, the folder that
    holds the set's speed/ now (a published folder renamed since keeps the old name in its record)."""
    command = record.get("command")
    if not isinstance(command, str):
        return []
    args = shlex.split(command)
    measured = dig(record, "settings", "variants")
    if "--variants" in args and isinstance(measured, list) and measured:
        at = args.index("--variants") + 1
        args[at] = variants_spec(measured) if args[at] == "all" else args[at]
    if out is not None and "--out" in args[:-1]:
        args[args.index("--out") + 1] = out
    return [shlex.join(args)]
