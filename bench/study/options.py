"""A study's settings from a TOML study file and the command line (the file's keys are the
command's long options without the dashes; an option given on the command line wins), as
one `StudySettings`, and from them the runs to start: the search, or the rerun of each
variant's best configuration."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.data.datasets import get_dataset
from bench.errors import BenchError
from bench.options import declared, defaults, problem, type_problem
from bench.plugins import absolute_specs, load_plugins
from bench.train.plan import check_budget, rule_of
from bench.study.engine import EngineSettings
from bench.study.settings import StudySettings
from bench.study.plan import (StudyDefinition, StudyRun, check_folder, load_definition, record_sources,
                              rerun_best_runs, saved_plugins, search_runs, study_records)
from bench.study.spaces import Space, get_space, line_of, parse_space, read_study_file
from variants import pairings, select_variants
from variants.provenance import file_sha256

# The study file's keys, their defaults and types: the options of `gan-bench study`.
DEFAULTS = defaults(StudySettings)
SPECS = {spec.key: (spec, kind) for _, spec, kind, _ in declared(StudySettings) if spec.in_file}
FIELDS = {spec.key: name for name, spec, _, _ in declared(StudySettings)}  # a file key's field


def value_problem(key: str, value) -> str | None:
    """Why a study file's value for `key` is unusable, or None: its type, then the same
    limits and choices the command line's option checks."""
    spec, kind = SPECS[key]
    reason = type_problem(spec, kind, value) or problem(spec, value)
    return reason and reason.replace(spec.flags[0] + " ", key + " ", 1)


SEARCH_NEEDS = ("variants", "space", "configs", "out")


def merge(file: Path | None, given: dict, needs: tuple[str, ...] = SEARCH_NEEDS) -> tuple[StudySettings, Space | None]:
    """Settings (defaults < file < the options `given`, by field name; None: not given) and
    the search space they name, if any."""
    values, text = {}, ""
    if file is not None:
        table, text = read_study_file(file)
        for key, value in table.items():
            where = f"{file}, line {line_of(text, key) or '?'}"
            if key not in DEFAULTS:
                raise BenchError(f"{where}: unknown key {key!r}; known: {', '.join(DEFAULTS)}")
            # Its type, and its limits in words that name the file's key and line.
            reason = value_problem(key, value)
            if reason is not None:
                raise BenchError(f"{where}: {reason}")
            values[FIELDS[key]] = value
    given = {name: value for name, value in given.items() if value is not None}
    if given.get("fmt") is not None and not given.get("dry_run"):
        raise BenchError("--format shapes what --dry-run prints (a study shows its progress live); add --dry-run")
    values.update(given)
    if isinstance(values.get("plugin"), str):
        values["plugin"] = [values["plugin"]]
    for name in ("variants", "exclude", "arch", "loss"):
        if isinstance(values.get(name), list):
            values[name] = ",".join(values[name])
    settings = StudySettings(**values)  # each option checked here, once
    if (settings.arch is None) != (settings.loss is None):
        raise BenchError("--arch and --loss go together (every architecture is paired with every loss)")
    if settings.arch is not None:
        # Pairings join the named variants: a study may hold both.
        named = [settings.variants] if settings.variants else []
        settings.variants = ",".join(named + pairings(settings.arch, settings.loss))
    for name in needs:
        if getattr(settings, name) is None:
            alternative = " (or --arch with --loss)" if name == "variants" else ""
            raise BenchError(f"a study needs --{name}{alternative} (on the command line or in a study file)")
    if settings.space is None:
        return settings, None
    # A name, or a study file's [space] table.
    space = parse_space(settings.space, file, text) if isinstance(settings.space, dict) else get_space(settings.space)
    settings.name = settings.name or space.name
    return settings, space


def convergence_options(settings: StudySettings) -> dict | None:
    """The rule when the study trains until convergence, resolved so that the study's id and
    study.json name every value its runs use; None for a fixed budget. It is the rule
    `gan-bench run` makes from the same options: one place fills in the defaults."""
    check_budget(settings)
    rule = rule_of(settings, get_dataset(settings.dataset).train_size)
    return rule and rule.describe()


def check_plugins(definition: StudyDefinition, folder: Path, given: list[str]) -> list[dict]:
    """Before anything is imported: every plug-in the study was made with (its records'
    `config.source`, the plug-ins study.json names) is among `given` (--plugin) or the
    installed entry points, and each file given for one has the sha256 its records name.
    A study folder is data: it may name plug-ins, never load them. Returns the sources of
    module plug-ins, whose files only show once imported (`check_loaded`)."""
    from bench.plugins import entry_point_modules, file_module_name, is_file_spec, module_of

    files = {file_module_name(Path(spec)): Path(spec) for spec in given if is_file_spec(spec)}
    modules = {spec for spec in given if not is_file_spec(spec)} | entry_point_modules()
    study = f"study {definition.name} ({definition.id})"
    missing, by_module = {}, []
    for source in record_sources(study_records(folder, definition.id)):
        module = source["module"]
        if module in files:
            if not files[module].is_file():
                continue  # load_plugins says so, in the words it uses everywhere
            found = file_sha256(files[module])
            if source["sha256"] is not None and found != source["sha256"]:
                raise BenchError(f"--plugin {files[module]} (sha256 {found[:16]}...) is not the plug-in {study}'s "
                                 f"records were made with: {source['file']} (sha256 {source['sha256'][:16]}...)")
        elif module in modules:
            by_module.append(source)
        else:
            missing.setdefault(module, source["file"] or module)
    for spec in saved_plugins(folder):
        if module_of(spec) not in files and module_of(spec) not in modules:
            missing.setdefault(module_of(spec), spec)
    if missing:
        names = list(missing.values())
        raise BenchError(f"{study} was made with the plug-in{'s' if len(names) > 1 else ''} {', '.join(names)}, and "
                         "gan-bench imports no code a study folder names: pass "
                         f"{' '.join('--plugin ' + name for name in names)} if you trust "
                         f"{'them' if len(names) > 1 else 'it'}")
    return by_module


def check_loaded(definition: StudyDefinition | None, sources: list[dict]) -> None:
    """A module plug-in's file, now imported, is the one the study's records name."""
    for source in sources:
        module = sys.modules.get(source["module"])
        file = getattr(module, "__file__", None)
        if source["sha256"] is None or file is None:
            continue
        found = file_sha256(file)
        if found != source["sha256"]:
            raise BenchError(f"plug-in {source['module']} ({file}, sha256 {found[:16]}...) is not the one study "
                             f"{definition.name} ({definition.id})'s records were made with: {source['file']} "
                             f"(sha256 {source['sha256'][:16]}...)")


def prepare(file: Path | None, given: dict, rerun_best: bool,
            warn) -> tuple[StudyDefinition, list[StudyRun], EngineSettings, Path]:
    """The study, its runs, how to run them and its folder; nothing is started or written.
    `given`: the options given on the command line, by field name (None: not given)."""
    if rerun_best:
        # The study itself comes from its folder; only where and how to run come from here.
        settings, _ = merge(file, given, needs=("out",))
        folder = Path(settings.out)
        plugins = absolute_specs(settings.plugin)
        saved = load_definition(folder)  # checked whole before anything else is done with the folder
        by_module = check_plugins(saved, folder, plugins) if saved is not None else []
        load_plugins(plugins)
        check_loaded(saved, by_module)
        # A study file's seeds are the search's; the rerun's are the command line's, or 3.
        seeds = 3 if given.get("seeds") is None else settings.seeds
        definition, runs, chosen = rerun_best_runs(folder, seeds, lambda d: get_dataset(d).fid_key, warn)
        for variant in definition.variants:
            if variant not in chosen:
                warn(f"{variant} has no finished search run with an FID: no configuration to rerun")
    else:
        settings, space = merge(file, given)
        folder = Path(settings.out)
        plugins = absolute_specs(settings.plugin)
        load_definition(folder)  # a folder with a damaged study.json is refused before any plug-in loads
        load_plugins(plugins)
        chosen = tuple(v.name for v in select_variants(settings.variants, exclude=settings.exclude))
        definition = StudyDefinition(settings.name, chosen, space, settings.configs, settings.seeds,
                                     settings.preset, settings.dataset, settings.steps,
                                     settings.train_seconds, convergence_options(settings))
        runs = search_runs(definition)
        check_folder(folder, definition)
    engine = EngineSettings(device=settings.device, address=settings.address,
                            cpus_per_run=float(settings.cpus_per_run), gpus_per_run=float(settings.gpus_per_run),
                            checkpoint_dir=settings.checkpoint_dir and Path(settings.checkpoint_dir),
                            max_retries=settings.max_retries,
                            data_dir=settings.data_dir and Path(settings.data_dir),
                            checkpoint_every=settings.checkpoint_every, plugins=tuple(plugins),
                            # A worker's folder is not the driver's: the path is made absolute here.
                            tensorboard=settings.tensorboard and Path(settings.tensorboard).absolute())
    return definition, runs, engine, folder
