"""A study's settings from a TOML study file and the command line (the file's keys are the
command's long options without the dashes; an option given on the command line wins), and
from them the runs to start: the search, or the rerun of each variant's best configuration."""

from __future__ import annotations

from pathlib import Path

from bench.data.datasets import get_dataset
from bench.errors import BenchError
from bench.options import declared, defaults, problem, type_problem
from bench.plugins import absolute_specs, load_plugins
from bench.train.plan import RunPlan, rule_of
from bench.study.engine import EngineSettings
from bench.study.settings import StudySettings
from bench.study.plan import StudyDefinition, StudyRun, check_folder, rerun_best_runs, saved_plugins, search_runs
from bench.study.spaces import Space, get_space, line_of, parse_space, read_study_file
from variants import pairings, select_variants

# The study file's keys, their defaults and types: the options of `gan-bench study`.
DEFAULTS = defaults(StudySettings)
SPECS = {spec.key: (spec, kind) for _, spec, kind, _ in declared(StudySettings) if spec.in_file}
# The convergence rule's options, as `RunPlan` names them (bench/train/convergence.py).
RULE_KEYS = {"curve-every": "curve_every", "min-delta": "min_delta", "patience": "patience",
             "max-epochs": "max_epochs", "curve-samples": "curve_samples"}


def value_problem(key: str, value) -> str | None:
    """Why a study file's value for `key` is unusable, or None: its type, then the same
    limits and choices the command line's option checks."""
    spec, kind = SPECS[key]
    reason = type_problem(spec, kind, value) or problem(spec, value)
    return reason and reason.replace(spec.flags[0] + " ", key + " ", 1)


SEARCH_NEEDS = ("variants", "space", "configs", "out")


def merge(file: Path | None, flags: dict, needs: tuple[str, ...] = SEARCH_NEEDS) -> tuple[dict, Space | None]:
    """Settings (defaults < file < flags) and the search space they name, if any."""
    settings, text = dict(DEFAULTS), ""
    if file is not None:
        table, text = read_study_file(file)
        for key, value in table.items():
            where = f"{file}, line {line_of(text, key) or '?'}"
            if key not in DEFAULTS:
                raise BenchError(f"{where}: unknown key {key!r}; known: {', '.join(DEFAULTS)}")
            reason = value_problem(key, value)
            if reason is not None:
                raise BenchError(f"{where}: {reason}")
            settings[key] = value
    given = {k: v for k, v in flags.items() if v is not None}
    if given.get("format") is not None and not given.get("dry-run"):
        raise BenchError("--format shapes what --dry-run prints (a study shows its progress live); add --dry-run")
    for key, value in given.items():  # the command line checked these; a caller of prepare() may not have
        reason = problem(SPECS[key][0], value) if key in SPECS else None
        if reason is not None:
            raise BenchError(reason)
    settings.update(given)
    if isinstance(settings["plugin"], str):
        settings["plugin"] = [settings["plugin"]]
    for key in ("variants", "exclude", "arch", "loss"):
        if isinstance(settings[key], list):
            settings[key] = ",".join(settings[key])
    if (settings["arch"] is None) != (settings["loss"] is None):
        raise BenchError("--arch and --loss go together (every architecture is paired with every loss)")
    if settings["arch"] is not None:
        # Pairings join the named variants: a study may hold both.
        named = [settings["variants"]] if settings["variants"] else []
        settings["variants"] = ",".join(named + pairings(settings["arch"], settings["loss"]))
    for key in needs:
        if settings[key] is None:
            alternative = " (or --arch with --loss)" if key == "variants" else ""
            raise BenchError(f"a study needs --{key}{alternative} (on the command line or in a study file)")
    space = settings["space"]
    if space is None:
        return settings, None
    if isinstance(space, dict):
        space = parse_space(space, file, text)
    else:
        space = get_space(space)
    settings["name"] = settings["name"] or space.name
    return settings, space


def convergence_options(settings: dict) -> dict | None:
    """The rule when the study trains until convergence, resolved so that the study's id and
    study.json name every value its runs use; None for a fixed budget."""
    given = {key: settings[key] for key in RULE_KEYS if settings[key] is not None}
    if not settings["until-converged"]:
        if given:
            raise BenchError(f"{', '.join('--' + key for key in given)} shape --until-converged's rule; "
                             "add --until-converged")
        return None
    # The rule `gan-bench run` would make from the same options: one place fills in the defaults.
    plan = RunPlan(variants=[], seeds=[0], device=None, out=Path("."), preset=settings["preset"],
                   dataset=settings["dataset"], until_converged=True,
                   **{RULE_KEYS[key]: value for key, value in given.items()})
    return rule_of(plan, get_dataset(settings["dataset"]).train_size).describe()


def prepare(file: Path | None, flags: dict, rerun_best: bool,
            warn) -> tuple[StudyDefinition, list[StudyRun], EngineSettings, Path]:
    """The study, its runs, how to run them and its folder; nothing is started or written."""
    if rerun_best:
        # The study itself comes from its folder; only where and how to run come from here.
        settings, _ = merge(file, {**flags, "seeds": None}, needs=("out",))
        folder = Path(settings["out"])
        plugins = list(dict.fromkeys([*saved_plugins(folder), *absolute_specs(settings["plugin"])]))
        load_plugins(plugins)
        seeds = 3 if flags.get("seeds") is None else flags["seeds"]
        definition, runs, chosen = rerun_best_runs(folder, seeds, lambda d: get_dataset(d).fid_key, warn)
        for variant in definition.variants:
            if variant not in chosen:
                warn(f"{variant} has no finished search run with an FID: no configuration to rerun")
    else:
        settings, space = merge(file, flags)
        folder = Path(settings["out"])
        plugins = absolute_specs(settings["plugin"])
        load_plugins(plugins)
        chosen = tuple(v.name for v in select_variants(settings["variants"], exclude=settings["exclude"]))
        definition = StudyDefinition(settings["name"], chosen, space, settings["configs"], settings["seeds"],
                                     settings["preset"], settings["dataset"], settings["steps"],
                                     settings["train-seconds"], convergence_options(settings))
        runs = search_runs(definition)
        check_folder(folder, definition)
    engine = EngineSettings(device=settings["device"], address=settings["address"],
                            cpus_per_run=float(settings["cpus-per-run"]), gpus_per_run=float(settings["gpus-per-run"]),
                            checkpoint_dir=settings["checkpoint-dir"] and Path(settings["checkpoint-dir"]),
                            max_retries=settings["max-retries"],
                            data_dir=settings["data-dir"] and Path(settings["data-dir"]),
                            checkpoint_every=settings["checkpoint-every"], plugins=tuple(plugins),
                            # A worker's folder is not the driver's: the path is made absolute here.
                            tensorboard=settings["tensorboard"] and Path(settings["tensorboard"]).absolute())
    return definition, runs, engine, folder
