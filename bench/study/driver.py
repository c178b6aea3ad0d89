"""The study driver: which runs are left, Ray up and checked, records written as they
arrive, and a live view of the study."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from bench.data.datasets import get_dataset
from bench.files import atomic_write, probe_writable
from bench.records import write_json_atomic
from bench.study.lock import hold_folder, refuse_if_held
from bench.study.engine import EngineSettings, Tally, check_resources, check_settings, connect, run_tasks
from bench.study.plan import DEFINITION_FILE, StudyDefinition, StudyRun, definition_payload, record_key, study_records


def runs_left(out: Path, definition: StudyDefinition, runs: list[StudyRun],
              warn=None) -> tuple[list[StudyRun], list[dict]]:
    """Runs with no record yet; any record counts, a failed one too, so that a rerun never
    writes a second record for one (study, variant, configuration, seed, phase)."""
    records = [r for _, r in study_records(out, definition.id, warn)]
    done = {record_key(r) for r in records}
    return [run for run in runs if run.key not in done], records


def writer(out: Path, tally: Tally, fid_key: str, written: set):
    def write(result: dict) -> None:
        record = result["record"]
        key = record_key(record)
        if key in written:  # a run Ray executed twice (its result was lost): the first record stands
            return
        folder = Path(out) / "runs" / record["env"]["device_slug"]
        write_json_atomic(folder / f"{record['run_id']}.json", record)
        if result.get("grid") is not None:
            atomic_write(folder / f"{record['run_id']}.png", result["grid"])
        written.add(key)
        tally.done += 1
        tally.finished_here += 1
        count(tally, record, fid_key)
        tally.failed_here += record["status"] == "failed"
    return write


def count(tally: Tally, record: dict, fid_key: str) -> None:
    if record["status"] == "failed":
        tally.failed += 1
    fid = (record.get("metrics") or {}).get(fid_key)
    if record["status"] == "ok" and fid is not None:
        best = tally.best.get(record["variant"])
        if best is None or fid < best[0]:
            tally.best[record["variant"]] = (fid, record["study"]["config_index"])


def view(tally: Tally, running: int, slots: int, title: str):
    left = tally.total - tally.done
    elapsed = time.monotonic() - tally.started
    if tally.finished_here:
        # Runs finish in waves of `slots`: the time per finished run, times the waves left.
        eta = f"{elapsed / tally.finished_here * left:,.0f} s"
    else:
        eta = "-"
    # The study's name and its variants' are the user's words, not markup.
    head = (f"[bold]{escape(title)}[/bold]  done {tally.done}/{tally.total}  running {running}  failed {tally.failed}  "
            f"left {left}  elapsed {elapsed:,.0f} s  time left ~{eta}")
    table = Table(box=None, pad_edge=False)
    table.add_column("variant")
    table.add_column("best FID so far", justify="right")
    table.add_column("config", justify="right")
    for variant, (fid, index) in sorted(tally.best.items()):
        table.add_row(escape(variant), f"{fid:.2f}", str(index))
    return Group(head, table) if tally.best else head


def tally_of(out: Path, definition: StudyDefinition, runs: list[StudyRun], fid_key: str,
             warn=None) -> tuple[list[StudyRun], list[dict], Tally]:
    """The runs left, the records there are and the tally they make."""
    left, records = runs_left(out, definition, runs, warn)
    tally = Tally(total=len(runs), done=len(runs) - len(left))
    ours = {run.key for run in runs}
    for record in records:
        if record_key(record) in ours:  # this phase's runs: a rerun's tally leaves the search's out
            count(tally, record, fid_key)
    return left, records, tally


def run_study(definition: StudyDefinition, runs: list[StudyRun], settings: EngineSettings, out: Path,
              console: Console | None = None) -> Tally:
    """Train the runs of `runs` that have no record in `out`; nothing starts when none is left.

    The folder is held from the moment the runs left are counted until the last record is
    written: a second driver on it is refused, so no run is trained or recorded twice. A
    study refused before that (no Ray, too few resources) leaves the folder untouched."""
    import ray

    check_settings(settings)
    console = console or Console(stderr=True)
    fid_key = get_dataset(definition.dataset).fid_key
    left, _, tally = tally_of(out, definition, runs, fid_key)
    if not left:
        return tally
    refuse_if_held(out)
    if settings.tensorboard is not None:
        probe_writable(settings.tensorboard)  # before Ray starts: the same one line as `gan-bench run`'s
    if settings.checkpoint_dir is None:
        settings.checkpoint_dir = Path(out) / "checkpoints"
    connect(settings.address)
    try:
        slots = check_resources(settings)
        probe_writable(Path(out))
        with hold_folder(out):
            warn = lambda line: console.print(f"warning: {line}", markup=False, highlight=False)  # noqa: E731
            left, records, tally = tally_of(out, definition, runs, fid_key, warn)  # again, now that it is ours
            payload = Path(out) / DEFINITION_FILE
            if not payload.exists():
                write_json_atomic(payload, definition_payload(definition, settings.plugins))
            title = f"study {definition.name} ({definition.id})"
            written = {record_key(r) for r in records}
            with Live(view(tally, 0, slots, title), console=console, refresh_per_second=2, transient=False) as live:
                run_tasks(left, definition, settings, writer(out, tally, fid_key, written), tally,
                          lambda t, running: live.update(view(t, running, slots, title)), slots)
            if not console.is_terminal:
                console.line()  # off a terminal, rich leaves the last frame without its line end
    finally:
        ray.shutdown()
    return tally
