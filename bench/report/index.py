"""`gan-bench index`: RESULTS/README.md, the list of every published set under a results
folder (device, dataset, preset, budget, variants x seeds, headline figures) with the commands
that regenerate it, generated from the records so that no table in it is copied by hand.

A published set is a folder below RESULTS that holds `runs/` (run records: `make publish-runs`,
`publish-stacked`, `publish-study`, `publish-converged`) or `speed/<device-slug>/speed.json`
(`make publish-speed`). RESULTS/runs/ and RESULTS/speed/ themselves are local output (`make
run`, a default `gan-bench speed`), never published. The text holds no date or commit, so
that it changes only when a set does and `--check` can compare it with what is committed.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.devices import identity_known, identity_slug
from bench.errors import BenchError
from bench.report.loading import dig, is_number, is_str, load_records
from bench.report.recipes import RECIPES, all_note, make_line, speed_command
from bench.report.sets import RecordSet, budget_of, split_sets
from bench.report.study import build_study
from bench.report.summary import fid_key_of, group_by_variant, summarise
from bench.report.writers import markdown_table

INDEX_NAME = "README.md"
NOT_APPLICABLE = "-"


@dataclass
class Published:
    """One published set, as the index shows it."""
    folder: str  # as written in commands: RESULTS' name, then the path below it
    link: str  # the file the set's row links to, relative to RESULTS
    device: str
    dataset: str
    preset: str
    budget: str
    size: str  # variants x seeds
    headline: str
    make: str | None  # the Makefile target line that writes this folder, if one does
    commands: list[str] = field(default_factory=list)  # the commands that make this set alone
    note: str = ""


# ------------------------------------------------------------------------ facts of a run set


def size_cell(records: list[dict]) -> str:
    """'11 × 3' when every row (a variant's recipe: the report's rows) has the same number of
    seeds, else the rows and runs; a variant with two recipes is two rows, not one with their seeds."""
    seeds = {row: {r["seed"] for r in runs} for row, runs in group_by_variant(records).items()}
    counts = {len(s) for s in seeds.values()}
    names = {r["variant"] for r in records}
    rows = f"{len(seeds)} variants" if len(seeds) == len(names) else f"{len(names)} variants in {len(seeds)} recipes"
    if len(counts) == 1 and len(seeds) == len(names):
        return f"{len(seeds)} × {counts.pop()}"
    return f"{rows}, {len(records)} runs"


def budget_cell(record: dict) -> str:
    label = budget_of(record)
    recorded = record["config"].get("budget") or dig(record, "budget", "label")
    return label if recorded or not label else f"{label} (the preset's: not recorded)"


def fid_headline(records: list[dict]) -> str:
    """Best and worst variant by mean final FID over ok seeds, and the runs that did not end ok."""
    fid_key = fid_key_of(records)
    summary = summarise(records)
    means = summary.set_index("variant")[f"{fid_key}_mean"].dropna() if len(summary) else []
    if not len(means):
        return f"no {fid_key} yet"
    best, worst = means.idxmin(), means.idxmax()
    text = f"{fid_key} mean: best {best} {means[best]:.2f}, worst {worst} {means[worst]:.2f}"
    not_ok = sum(r["status"] != "ok" for r in records)
    return text + (f"; {not_ok} run{'s' if not_ok > 1 else ''} not ok" if not_ok else "")


def device_cell(name: str | None, slug: str) -> str:
    """'AMD EPYC (cpu-amd-epyc-avx2)': two machines of one model name may differ in capability."""
    return f"{name} ({slug})" if name else slug


def unknown_identity_note(target: str, slug: str) -> str:
    """For a set whose records name no capability (written before gan-bench recorded it)."""
    return (f"Its records name the device model but not its capability (torch's CPU capability or the GPU's "
            f"compute capability), so its folder is the model's alone: `make {target}` on a {slug} machine "
            f"today writes results/{slug}-<capability>/, a set of its own.")


# ------------------------------------------------------------------------ finding the sets

def read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as error:  # ValueError covers bad JSON and bad UTF-8
        raise BenchError(f"unreadable {path}: {type(error).__name__}: {str(error)[:80]}") from None
    if not isinstance(value, dict):
        raise BenchError(f"{path} holds no JSON object")
    return value


def run_sets(root: Path, shown: str) -> list[Published]:
    found = []
    for runs in sorted(p for p in root.rglob("runs") if p.is_dir()):
        folder = runs.parent
        if folder == root or "runs" in folder.relative_to(root).parts:
            continue  # RESULTS/runs is `make run`'s local output; runs/ inside runs/ is records, not a set
        records, _ = load_records(folder)
        sets = split_sets(records)
        study = read_json(folder / "study.json") if (folder / "study.json").is_file() else {}
        for s in sets:
            found.append(describe_run_set(s, root, folder, shown, study, several=len(sets) > 1))
    return found


def describe_run_set(s: RecordSet, root: Path, folder: Path, shown: str, study: dict, several: bool) -> Published:
    relative = folder.relative_to(root).as_posix()
    where = f"{shown}/{relative}"
    recipe = next(r for r in RECIPES if r.applies(s))
    first = s.records[0]
    slug = s.device
    known = identity_known(first["env"])
    made_here = (not several and known and relative == "/".join(p for p in (slug, recipe.below) if p)
                 and recipe.fits(s, study))
    built = build_study(s.records) if s.study else None
    if built is not None:
        rerun = built.rerun
        configs = built.configurations
        size = (f"{configs['variant'].nunique()} × {int(configs.groupby('variant').size().max())} configurations"
                + (f"; best of each × {len({r['seed'] for r in rerun})} seeds" if rerun else ""))
        best = configs["fid"].min()
        headline = ("best configurations rerun, " + fid_headline(rerun) if rerun else
                    f"search only: best {built.fid_key} {best:.2f}" if math.isfinite(best) else f"no {built.fid_key} yet")
    else:
        size, headline = size_cell(s.records), fid_headline(s.records)
    report = folder / "report.md"
    note = all_note(recipe.target, [r["variant"] for r in s.records]) if made_here and recipe.trains_all else ""
    note = note if known else unknown_identity_note(recipe.target, slug)
    return Published(
        folder=where + (f" ({s.name})" if several else ""),
        link=(report if report.is_file() else folder).relative_to(root).as_posix(),
        device=device_cell(first["env"].get("device_name"), slug), dataset=s.key["dataset"], preset=s.key["preset"],
        budget=budget_cell(first), size=size, headline=headline,
        make=make_line(recipe.target, recipe.variables(s, study), first["env"].get("device_name") or slug, slug)
        if made_here else None,
        commands=recipe.commands(s, study, where),
        note=note)


def speed_sets(root: Path, shown: str) -> list[Published]:
    found = []
    for path in sorted(root.rglob("speed.json")):
        folder = path.parent
        if folder.parent.name != "speed" or folder.parent.parent == root:
            continue  # RESULTS/speed is a default `gan-bench speed`'s local output
        record = read_json(path)
        if record.get("kind") != "speed":
            continue
        found.append(describe_speed_set(record, root, folder, shown))
    return found


def describe_speed_set(record: dict, root: Path, folder: Path, shown: str) -> Published:
    relative = folder.relative_to(root).as_posix()
    env = record.get("env") if isinstance(record.get("env"), dict) else {}
    slug = identity_slug(env) if is_str(env.get("device_slug")) else folder.name
    device = dig(record, "env", "device_name") or slug
    settings = record.get("settings") or {}
    summary = [row for row in record.get("summary") or [] if is_number(row.get("ratio_median"))]
    names = list(dict.fromkeys(row["variant"] for row in summary))
    parts = []
    for size in sorted({row["batch_size"] for row in summary}):
        rows = [row for row in summary if row["batch_size"] == size]
        low = min(rows, key=lambda row: row["ratio_median"])
        high = max(rows, key=lambda row: row["ratio_median"])
        median = statistics.median(row["ratio_median"] for row in rows)
        parts.append(f"batch {size}: median speed-up {median:.2f}x over {len(rows)} variants "
                     f"({low['ratio_median']:.2f}x {low['variant']} to {high['ratio_median']:.2f}x {high['variant']})")
    known = bool(env) and is_str(env.get("device_slug")) and identity_known(env)
    made_here = known and relative == f"{slug}/speed/{slug}"
    threads = settings.get("threads")
    return Published(
        folder=f"{shown}/{relative}", link=(f"{relative}/speed.csv" if (folder / "speed.csv").is_file()
                                           else f"{relative}/speed.json"),
        device=device_cell(device, slug), dataset="mnist", preset=NOT_APPLICABLE,
        budget=(f"{settings.get('repeats')} repeats of {settings.get('steps_per_repeat')} generator updates"
                + (f", {threads} thread{'s' if threads != 1 else ''}" if threads else "")),
        size=f"{len(names)} variants", headline="; ".join(parts) or "no ratio recorded",
        make=make_line("publish-speed", {"DEVICE": dig(record, "env", "device_type") or "cpu"}, device, slug)
        if made_here else None,
        commands=speed_command(record, f"{shown}/{folder.parent.parent.relative_to(root).as_posix()}"),
        note=(all_note("publish-speed", names) if made_here
              else "" if known else unknown_identity_note("publish-speed", slug)))


def find_published(root: Path) -> list[Published]:
    root = Path(root)
    if not root.is_dir():
        raise BenchError(f"no such results directory: {root}")
    shown = root.resolve().name  # commands name RESULTS as seen from the folder above it (the repository)
    found = run_sets(root, shown) + speed_sets(root, shown)
    return sorted(found, key=lambda p: p.folder)


# ------------------------------------------------------------------------ the file

def render_index(root: Path) -> str:
    published = find_published(root)
    shown = Path(root).resolve().name
    lines = [
        "# Published results",
        "",
        f"Every published set under `{shown}/`, generated from its records by `gan-bench index {shown}` "
        f"(`make results-index`, which the publish targets run at their end): do not edit it by hand; "
        f"`gan-bench index {shown} --check` fails when it is out of date. Headline figures: the mean "
        "over seeds of the final FID (ok runs only), and for speed sets the fast path's speed-up over the "
        "tutorial loop. What each set shows: docs/published.md.",
        "",
    ]
    if not published:
        return "\n".join(lines + ["No published set yet."]) + "\n"
    table = pd.DataFrame([{
        "set": f"[{p.folder}]({p.link})", "device": p.device, "dataset": p.dataset, "preset": p.preset,
        "budget": p.budget, "variants × seeds": p.size, "headline": p.headline} for p in published])
    lines += [markdown_table(table), "", "## Regenerate", "",
              "Commands run from the repository root; a set's runs are only comparable with runs on its "
              "own kind of machine, the device model and what decides its kernels (torch's CPU capability, "
              "or the GPU's compute capability), so its target runs on such a machine (the device slug "
              "names both, and the folder).", ""]
    for p in published:
        lines += [f"### {p.folder}", ""]
        lines += [f"Makefile: {p.make}.", ""] if p.make else ["No Makefile target writes this folder.", ""]
        if p.commands:
            lines += ["This set alone:", "", "```sh", *p.commands, "```", ""]
        if p.note:
            lines += [p.note, ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_index(root: Path, check: bool = False) -> Path:
    """Write RESULTS/README.md, or with `check` raise (exit 1) when the file differs from it."""
    path = Path(root) / INDEX_NAME
    text = render_index(root)
    if check:
        current = path.read_text() if path.is_file() else None
        if current != text:
            state = "missing" if current is None else "out of date"
            raise BenchError(f"{path} is {state}: run `gan-bench index {root}` and commit it", exit_code=1)
        return path
    path.write_text(text)
    return path
