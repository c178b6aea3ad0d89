"""What a run will cost on this device before it starts, from what this device measured
before: earlier records of the same variant and dataset (training seconds per real image,
evaluation seconds per generated sample evaluated), else the fast path's images/s in the
speed table `gan-bench speed` wrote. Every estimate names where it comes from, or says
there is none; nothing here trains, and nothing is written.

Training time scales with the real images a run sees (its generator steps times batch size
times n_critic), so an estimate from a 2-epoch record holds for a 20-epoch budget. The
evaluation time scales with the generated samples the run evaluates: one batch per curve
point, the final evaluation's, and the final evaluation again for the generator of the best
curve point when it is not the last one (as often as it was in the records estimated from).
Under --until-converged the budget is its cap: the estimate is an upper bound."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import torch

from bench.data.datasets import get_dataset
from bench.devices import device_slug
from bench.report.loading import SOURCE_KEY, dig, is_number, load_records
from bench.report.summary import dataset_of
from bench.speed.compare import speed_dir
from bench.train.protocol import RunConfig, is_eval_step


@dataclass(frozen=True)
class Planned:
    """One run a command would start."""

    config: RunConfig
    label: str  # how the command names the run's configuration (its key, a study's c<index>)
    threads: int  # torch threads it would train with
    inception: int = 0  # samples its final evaluation would give fid_inception

    @property
    def images(self) -> int | None:
        """Real images D sees over the budget (None under a training-time budget)."""
        return None if self.config.steps is None else self.config.steps * self.config.images_per_step

    def curve_points(self, images: float) -> int:
        """Curve evaluations over `images` real images: one each time the run crosses a multiple of
        its spacing, and one at its last step (bench/train/protocol.py `is_eval_step`)."""
        every, per_step = self.config.eval_every_images, self.config.images_per_step
        if not every:
            return 0
        steps = max(1, math.ceil(images / per_step))
        crossings = steps if per_step >= every else steps * per_step // every
        return crossings + (0 if is_eval_step(self.config, steps, last=False) else 1)

    def evaluated_samples(self, images: float, rescored: float) -> float:
        described = self.config.describe()
        return (self.curve_points(images) * described["eval_samples"]
                + described["final_samples"] * (1 + rescored))


@dataclass
class Measurements:
    """What this device measured: its ok records and its speed table rows."""

    slug: str
    records: list[dict] = field(default_factory=list)
    speed: list[dict] = field(default_factory=list)  # speed.json summary rows, each with its `threads` and `file`
    folders: list[Path] = field(default_factory=list)  # the runs/<slug>/ folders read
    roots: list[Path] = field(default_factory=list)  # where they were looked for

    @classmethod
    def gather(cls, roots: list[Path], device: torch.device) -> Measurements:
        """The records under runs/<slug>/ folders below each root (an --out folder, a
        published set such as results/<slug>/) and their speed tables."""
        slug = device_slug(device)
        found, seen = cls(slug), set()
        found.roots = list(dict.fromkeys(Path(r) for r in roots))
        for root in found.roots:
            if not root.is_dir():
                continue
            is_runs = root.name == slug and root.parent.name == "runs"
            folders = [root] if is_runs else sorted(root.glob(f"**/runs/{slug}"))
            for folder in folders:
                if folder.resolve() in seen or not folder.is_dir():
                    continue
                seen.add(folder.resolve())
                found.folders.append(folder)
                records, _ = load_records(folder)  # a file that is no record is the report's to name
                known = {r["run_id"] for r in found.records}  # a run copied into two sets counts once
                found.records += [r for r in records if r["env"]["device_slug"] == slug and r["run_id"] not in known]
            found.speed += speed_rows(speed_dir(root, device) / "speed.json")
        return found


def speed_rows(path: Path) -> list[dict]:
    try:
        table = json.loads(path.read_text())
        threads = dig(table, "settings", "threads") or dig(table, "env", "threads")
        return [{**row, "threads": threads, "file": str(path)} for row in table["summary"]
                if is_number(row.get("fast_images_per_s")) and row["fast_images_per_s"] > 0]
    except (OSError, ValueError, KeyError, TypeError):
        return []  # no speed table here, or one this gan-bench cannot read: no estimate from it


def train_rate(record: dict) -> float | None:
    """Training seconds per real image."""
    seconds, images = dig(record, "systems", "train_s"), dig(record, "budget", "images_seen")
    if not (is_number(seconds) and is_number(images) and seconds > 0 and images > 0):
        return None
    return seconds / images


def rescored(record: dict) -> int:
    """1 when the run's final evaluation was done twice: for the last generator and the best curve point's."""
    return int(dig(record, "best", "same_as_last") is False)


def eval_rate(record: dict) -> float | None:
    """Evaluation seconds per generated sample evaluated (curve points and final evaluation)."""
    seconds, config = dig(record, "systems", "eval_s"), record["config"]
    fid_key = get_dataset(dataset_of(record)).fid_key
    points = sum(isinstance(p, dict) and p.get(fid_key) is not None for p in record.get("curve") or [])
    samples = points * (config.get("eval_samples") or 0) + (config.get("final_samples") or 0) * (1 + rescored(record))
    if not (is_number(seconds) and seconds > 0 and samples > 0):
        return None
    return seconds / samples


# What changes a run's cost per real image, besides its variant: checked in this order, so
# that a record differing in the last one is used before one differing in the first.
COST_HPARAMS = ("batch_size", "width", "n_critic")


def same_kind(record: dict, planned: Planned) -> bool:
    """An ok record of the same variant and dataset, with the same nets compiled."""
    config = record["config"]
    return (record["status"] == "ok" and record["variant"] == planned.config.variant.name
            and dataset_of(record) == planned.config.dataset.name
            and bool(config.get("compiled")) == bool(planned.config.describe()["compiled"]))


def closest_setup(records: list[dict], planned: Planned) -> tuple[list[dict], str]:
    """The records whose batch size, width and n_critic match the run's; failing that, those
    matching the first ones, with a note of what differs (a study samples n_critic, say)."""
    hparams = planned.config.variant.hparams
    for kept in range(len(COST_HPARAMS), -1, -1):
        keys = COST_HPARAMS[:kept]
        chosen = [r for r in records if all(dig(r, "config", "hparams", k) == getattr(hparams, k) for k in keys)]
        if chosen:
            differ = [f"{k} {', '.join(sorted({str(dig(r, 'config', 'hparams', k)) for r in chosen}))} "
                      f"(this run: {getattr(hparams, k)})" for k in COST_HPARAMS[kept:]
                      if any(dig(r, "config", "hparams", k) != getattr(hparams, k) for r in chosen)]
            return chosen, "; ".join(differ)
    return [], ""


def same_inception(record: dict, planned: Planned) -> bool:
    # Inception at 299x299 costs far more per sample than the MNIST classifier.
    return ((dig(record, "metrics", "n_inception") or 0) > 0) == (planned.inception > 0)


def prefer_threads(records: list[dict], threads: int) -> list[dict]:
    """The records trained with the same torch threads, if any: a thread count changes a CPU's speed."""
    same = [r for r in records if dig(r, "env", "threads") == threads]
    return same or records


def threads_note(records: list[dict], threads: int) -> str:
    counts = sorted({dig(r, "env", "threads") for r in records} - {None})
    if not counts:
        return ""
    shown = ", ".join(map(str, counts))
    return f"torch threads {shown}" + ("" if counts == [threads] else f"; this run: {threads}")


def places(records: list[dict]) -> str:
    return ", ".join(dict.fromkeys(str(Path(r[SOURCE_KEY]).parent) for r in records))


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def estimate(planned: Planned, measured: Measurements) -> dict:
    """One row: the run, its estimated training and evaluation seconds (None: no estimate), and
    where each comes from."""
    config, variant = planned.config, planned.config.variant
    row = {"variant": variant.name, "seed": config.seed, "config": planned.label, "budget": config.budget,
           "g_steps": config.steps, "images": planned.images, "at_most": config.rule is not None,
           "train_s": None, "eval_s": None, "total_s": None, "train_from": None, "eval_from": None,
           "train_source": "", "eval_source": ""}
    mine, differ = closest_setup([r for r in measured.records if same_kind(r, planned) and train_rate(r)], planned)
    mine = prefer_threads(mine, planned.threads)
    per_image = None
    if mine:
        per_image = statistics.median(map(train_rate, mine))
        notes = "; ".join(n for n in (threads_note(mine, planned.threads), differ) if n)
        row["train_from"] = plural(len(mine), "record")
        row["train_source"] = (f"{plural(len(mine), 'earlier record')} of {variant.name} in {places(mine)}"
                               f"{f' ({notes})' if notes else ''}, scaled by real images")
    else:
        table = [s for s in measured.speed if s.get("variant") == variant.name
                 and s.get("batch_size") == variant.hparams.batch_size]
        table = [s for s in table if s.get("n_critic") == variant.hparams.n_critic] or table
        table = [s for s in table if s["threads"] == planned.threads] or table
        if table and not config.describe()["compiled"]:
            per_image = statistics.median(1 / s["fast_images_per_s"] for s in table)
            files = ", ".join(dict.fromkeys(s["file"] for s in table))
            n_critic = "" if table[0].get("n_critic") == variant.hparams.n_critic else (
                f", n_critic {table[0].get('n_critic')} (this run: {variant.hparams.n_critic})")
            row["train_from"] = "speed table"
            row["train_source"] = (f"the speed table {files} (the fast path's images/s without logging or curve, "
                                   f"torch threads {table[0]['threads']}{n_critic}; this run: {planned.threads} "
                                   "threads), scaled by real images")
    if per_image is None:
        where = f" under {', '.join(map(str, measured.roots))}" if measured.roots else ""
        row["train_source"] = (f"no estimate: no earlier ok record of {variant.name} on {config.dataset.name} "
                               f"on {measured.slug}{where}, and no speed table row")
        if config.train_seconds is not None:  # the budget is the training time; the curve points stay unknown
            row.update(train_s=config.train_seconds, train_from="budget",
                       train_source=f"the budget itself ({config.budget}); evaluation: {row['train_source']}")
        return row
    images = planned.images if planned.images is not None else config.train_seconds / per_image
    row["train_s"] = config.train_seconds if config.train_seconds is not None else images * per_image

    evaluated = [r for r in mine if eval_rate(r) and same_inception(r, planned)]
    whose = "the same record" + ("s" if len(evaluated) > 1 else "")
    if not evaluated:
        evaluated = prefer_threads([r for r in measured.records if r["status"] == "ok" and eval_rate(r)
                                    and dataset_of(r) == config.dataset.name and same_inception(r, planned)],
                                   planned.threads)
        whose = f"{plural(len(evaluated), 'record')} of other variants in {places(evaluated)}"
    if not evaluated:
        row["eval_source"] = (f"no estimate: no earlier ok record on {config.dataset.name} on {measured.slug} "
                              "with an evaluation like this run's")
        return row
    share_rescored = statistics.fmean(map(rescored, evaluated))
    row["eval_s"] = (statistics.median(map(eval_rate, evaluated))
                     * planned.evaluated_samples(images, round(share_rescored)))
    row["eval_from"] = plural(len(evaluated), "record")
    row["eval_source"] = f"{whose}, scaled by generated samples evaluated"
    row["total_s"] = row["train_s"] + row["eval_s"]
    return row


def makespan(seconds: list[float], workers: int) -> float:
    """Wall seconds for runs started in this order on `workers` slots, each taking the next run as it frees."""
    free = [0.0] * max(1, workers)
    for s in seconds:
        free[free.index(min(free))] += s
    return max(free)
