"""The `gan-bench` command line."""

from __future__ import annotations

import hashlib
import inspect
import signal
from pathlib import Path
from typing import Annotated, Optional

import torch
import typer
from typer.core import TyperGroup
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from variants import ARCHS, LOSSES, UnknownVariant, architectures_summary, select_variants, variant_from_config
from bench.data import assets
from bench.data.datasets import get_dataset
from bench.cli.commands import (CompareMachinesSettings, EvalSettings, FetchSettings, IndexSettings, ListSettings,
                                ReportSettings, TrainClassifierSettings)
from bench.cli.settings import takes
from bench.speed.settings import SpeedSettings
from bench.study.settings import StudySettings
from bench.train.settings import RunSettings
from bench.errors import BenchError
from bench.report.run_summary import SUMMARY_LEGEND, summary_columns, summary_row
from bench.report.tables import Column, fixed

console = Console()
errors = Console(stderr=True)
# typer's own parse errors (an unknown option, a value it cannot read) are usage errors:
# BadParameter's parent class.
UsageError = typer.BadParameter.__mro__[1]


def say_error(message: str, exit_code: int):
    """One `error:` line on stderr and the exit. A message names paths, run ids and what a
    file asked for, verbatim: none of it is rich markup."""
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(exit_code)


def warn(line: str) -> None:
    """A warning on stderr (stdout may be JSON or CSV for a script); file names and values
    may hold [brackets]: not markup."""
    errors.print(f"[yellow]warning:[/yellow] {escape(line)}", highlight=False, soft_wrap=True)


class OneLineErrors(TyperGroup):
    """Every error a user can fix is one `error:` line and a non-zero exit, whether typer
    refused the command line (exit 2, rather than a usage box) or a command refused its
    input (a BenchError's exit code, or an unknown variant's 2)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UsageError as error:
            message = error.message if isinstance(error, typer.BadParameter) and error.message.startswith(
                ("unknown ", "--")) else error.format_message()
            say_error(message, 2)
        except BenchError as error:
            say_error(str(error), error.exit_code)
        except UnknownVariant as error:
            say_error(str(error), 2)


app = typer.Typer(cls=OneLineErrors, add_completion=False, no_args_is_help=True,
                  help="Benchmark GAN variants on MNIST: speed, memory, convergence and sample quality.")


@app.command()
@takes(FetchSettings)
def fetch(settings: FetchSettings):
    """Fetch MNIST into the data directory and verify its checksums."""
    arrays = assets.fetch_mnist(settings.data_dir, force=settings.force,
                                log=lambda line: console.print(line, markup=False))
    console.print(f"MNIST verified in {assets.raw_dir(settings.data_dir or assets.default_data_dir())}: "
                  f"{len(arrays['train_images'])} train, {len(arrays['test_images'])} test images", markup=False)


def emit(rows: list[dict], columns, fmt: str, title: str | None = None) -> None:
    from bench.report.tables import check_format, render

    text = render(rows, columns, check_format(fmt), console, title)
    if text is not None:  # verbatim: no rich markup, highlighting or wrapping in data for scripts
        typer.echo(text)


@app.command("list")
@takes(ListSettings)
def list_command(settings: ListSettings):
    """List the registered variants with their defaults."""
    from bench.plugins import load_plugins

    load_plugins(settings.plugin)
    from bench.report.variant_table import VARIANT_COLUMNS, variant_rows

    emit(variant_rows(), VARIANT_COLUMNS, settings.fmt, title="gan-bench variants (all columns: --format json)")
    if settings.fmt == "table":
        console.print(architectures_summary(), highlight=False, soft_wrap=True)


@app.command()
@takes(RunSettings)
def run(settings: RunSettings):
    """Train and measure each variant under the one protocol; write one record per run."""
    if settings.dry_run:
        from bench.estimate.dry_run import run_dry_run, show

        show(run_dry_run(settings), settings.fmt, console)
        raise typer.Exit(0)
    from bench.plugins import load_plugins
    from bench.train.protocol import Interrupted
    from bench.train.plan import plan_from
    from bench.train.runner import exit_code, progress_bar, run_benchmark

    load_plugins(settings.plugin)
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    plan = plan_from(settings)
    try:
        with progress_bar() as progress:
            records = run_benchmark(plan, progress)
    except Interrupted as stop:
        signum = stop.signum or signal.SIGINT
        raise BenchError(f"interrupted by {signal.Signals(signum).name} at step {stop.step}; checkpoint "
                         f"{stop.checkpoint}; run the same command with --resume to continue",
                         exit_code=128 + signum) from None
    for path in plan.skipped:
        errors.print(f"skipped (finished, use --force to recompute): {path}", markup=False, highlight=False)
    fmt = settings.fmt
    if fmt == "table" and not records:  # an empty table would say nothing
        console.print(f"Nothing to train: all {len(plan.skipped)} runs have a finished record in {plan.runs_dir}.",
                      highlight=False, soft_wrap=True, markup=False)
        raise typer.Exit(0)
    rows = [{**summary_row(record), "record": str(path)} for record, path in zip(records, plan.written)]
    emit(
        rows,
        summary_columns(plan.dataset),
        fmt,
        title=f"gan-bench run: {plan.dataset}, {plan.preset} preset on {plan.device} "
        f"(budget: {records[0]['config']['budget'] if records else '-'})",
    )
    if fmt == "table" and records:
        console.print(SUMMARY_LEGEND[plan.dataset], highlight=False)
        console.print(f"Records and sample grids: {escape(str(plan.runs_dir))}\nNext, tables over seeds and plots: "
                      f"[bold]gan-bench report {escape(str(plan.out))}[/bold]", highlight=False)
    raise typer.Exit(exit_code(records))


STUDY_EXTRA = (
    inspect.Parameter("file", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=Annotated[
        Optional[Path], typer.Argument(help="A TOML study file: the options below as keys, and a \\[space] table of "
                                            "your own ranges. Options given here win.")]),
    inspect.Parameter("rerun_best", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Annotated[
        bool, typer.Option("--rerun-best", help="Train each variant's best search configuration again over --seeds "
                                                "new seeds (default 3).")]),
)


@app.command()
@takes(StudySettings, given_only=True, extra=STUDY_EXTRA)
def study(given: dict, file: Optional[Path] = None, rerun_best: bool = False):
    """A hyperparameter study (Lucic et al. 2018) on Ray: K configurations per variant over N seeds."""
    from bench.study.driver import run_study
    from bench.study.options import prepare

    # Paths as a study file holds them: the two sources merge into one settings object.
    flags = {name: str(value) if isinstance(value, Path) else value for name, value in given.items()}
    if given.get("dry_run"):
        from bench.estimate.dry_run import show, study_dry_run

        show(study_dry_run(file, flags, rerun_best, warn), given.get("fmt", "table"), console)
        raise typer.Exit(0)
    definition, runs, engine, folder = prepare(file, flags, rerun_best, warn)
    tally = run_study(definition, runs, engine, folder)
    for line in tally.errors:
        errors.print(f"failed: {line}", highlight=False, markup=False, soft_wrap=True)
    phase = "rerun-best" if rerun_best else "search"
    console.print(f"study {definition.name} ({definition.id}), {phase}: {tally.done} of {tally.total} runs recorded "
                  f"({tally.finished_here} now, {tally.failed} failed) in {folder}", highlight=False, soft_wrap=True,
                  markup=False)
    if tally.done < tally.total:
        console.print("run the same command again to train the runs without a record", highlight=False)
    raise typer.Exit(4 if tally.failed_here else 0)


@app.command("train-classifier")
@takes(TrainClassifierSettings)
def train_classifier_command(settings: TrainClassifierSettings):
    """Retrain the fixed MNIST classifier behind the *_mnist metrics and print its accuracy."""
    from bench.eval import CLASSIFIER_PATH, CLASSIFIER_SHA256, classifier_bytes, train_classifier
    from bench.files import atomic_write

    model, accuracy = train_classifier(seed=settings.seed, epochs=settings.epochs, data_dir=settings.data_dir,
                                       log=console.print)
    content = classifier_bytes(model)
    digest = hashlib.sha256(content).hexdigest()
    # Other weights in the package's file would make every *_mnist metric refuse to run
    # (the sha256 check), so they go only where the user names.
    if settings.out is None and digest != CLASSIFIER_SHA256:
        raise BenchError(f"the retrained weights (test accuracy {accuracy:.4f}, sha256 {digest}) differ from the "
                         f"pinned ones; {CLASSIFIER_PATH} is left as it was; pass --out FILE to keep them")
    path = settings.out or CLASSIFIER_PATH
    atomic_write(path, content)
    console.print(f"test accuracy {accuracy:.4f}; weights {path}; sha256 {digest}", highlight=False, soft_wrap=True,
                  markup=False)
    if digest != CLASSIFIER_SHA256:
        console.print("[yellow]differs from the pinned CLASSIFIER_SHA256 in bench/eval/classifier.py: pin the "
                      "new value to use these weights (fid_mnist is then not comparable with older records)[/yellow]")


@app.command("eval")
@takes(EvalSettings)
def eval_command(settings: EvalSettings):
    """Evaluate a saved generator with the final evaluation of its run's preset and dataset."""
    from bench.train.checkpoints import load_checkpoint, restore_generator
    from bench.devices import resolve_device, use_device
    from bench.eval.evaluation import Evaluator
    from bench.plugins import load_plugins
    from bench.presets import PRESETS
    from bench.records import write_json_atomic

    load_plugins(settings.plugin)  # a plug-in's architecture or loss must be registered to rebuild its G
    if not settings.checkpoint.is_file():
        raise BenchError(f"no checkpoint at {settings.checkpoint}")
    payload = load_checkpoint(settings.checkpoint)
    config = payload["config"]
    if config["preset"] not in PRESETS:
        raise BenchError(f"{settings.checkpoint} was trained under an unknown preset {config['preset']!r}; "
                         f"this gan-bench has {', '.join(PRESETS)}")
    trained_on = config["dataset"]
    if settings.dataset is not None and get_dataset(settings.dataset).name != trained_on:
        raise BenchError(f"{settings.checkpoint} is a generator trained on {trained_on}, not {settings.dataset}; its "
                         f"samples are scored against {trained_on} only")
    data_spec = get_dataset(trained_on)
    variant = variant_from_config(config)
    for kind, name, known in (("architecture", variant.arch, ARCHS), ("loss", variant.loss, LOSSES)):
        if name not in known:
            raise BenchError(f"{settings.checkpoint} was trained with an unknown {kind} {name!r}; if a plug-in "
                             "registered it, pass the plug-in with --plugin")
    target = resolve_device(settings.device)
    G = restore_generator(variant, payload, settings.checkpoint, data_spec.shape, settings.best).to(target)
    step = payload["state"]["best"]["step"] if settings.best else payload["state"]["step"]
    data = data_spec.load(settings.data_dir)
    evaluator = Evaluator.for_run(variant.hparams.z_dim, PRESETS[config["preset"]], data_spec, target,
                                  settings.data_dir, data["reference_images"],
                                  inception_samples=settings.inception_samples, train_images=data["train_images"])
    with use_device(target):
        metrics, seconds = evaluator.final(G, settings.samples)
    details = metrics.pop("beyond_fid", None)
    table = Table(title=escape(f"{payload['run_id']}, {'best curve point' if settings.best else 'last'} at step {step} "
                               f"({seconds:.1f} s)"))
    table.add_column("metric")
    table.add_column("value")
    for key, value in metrics.items():
        if key != "absent":
            table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    for key, reason in metrics["absent"].items():
        table.add_row(key, f"absent: {reason}")
    console.print(table)
    if settings.out:
        write_json_atomic(settings.out, {"run_id": payload["run_id"], "generator": "best" if settings.best else "last",
                                         "step": step, "eval_s": seconds, "feature_nets": evaluator.feature_nets(),
                                         "metrics": metrics, "beyond_fid": details})


@app.command()
@takes(ReportSettings)
def report(settings: ReportSettings):
    """Tables and plots per variant: mean, std and 95% interval over seeds; diverged and failed runs marked.

    Records that may not share a table (another dataset, device, preset, budget or study) get
    a report each, in a sub-folder per set; the filters pick some of them."""
    from bench.report import parse_filters, parse_formats, write_reports

    filters = parse_filters(**{name: getattr(settings, name) for name in ReportSettings.FILTERS})
    written = write_reports(settings.results, parse_formats(settings.formats), settings.out, filters, warn=warn)
    if len(written) > 1:  # on stderr: stdout lists the files alone, for scripts
        errors.print(f"{len(written)} sets in {settings.results}, a report each (pick some with --device, "
                     "--dataset, --preset, --budget or --study):", markup=False, highlight=False, soft_wrap=True)
        for record_set, paths in written:
            errors.print(f"  {record_set.describe()}: {paths[0].parent}", markup=False, highlight=False,
                         soft_wrap=True)
    for _, paths in written:
        for path in paths:
            console.print(str(path), highlight=False, soft_wrap=True, markup=False)


@app.command("index")
@takes(IndexSettings)
def index_command(settings: IndexSettings):
    """Write RESULTS/README.md: every published set under RESULTS, the commands that regenerate it, its headline figures."""
    from bench.report.index import write_index

    path = write_index(settings.results, check=settings.check)
    console.print(f"{path} is up to date" if settings.check else str(path), highlight=False, soft_wrap=True,
                  markup=False)


@app.command("compare-machines")
@takes(CompareMachinesSettings)
def compare_machines_command(settings: CompareMachinesSettings):
    """Same seeds on two machines against different seeds on one: the cross-machine spread of fid_mnist."""
    from bench.report.crossmachine import compare_machines

    rows, name_a, name_b = compare_machines(settings.machine_a, settings.machine_b, warn)
    two = fixed(2)
    columns = [
        Column("variant", "variant", essential=True), Column("seeds", "seeds", essential=True),
        Column("fid_mnist_a", "FID A", two, True, "right"), Column("fid_mnist_b", "FID B", two, True, "right"),
        Column("same_seed_abs_diff", "Δ same seed", two, True, "right"),
        Column("seed_std_a", "seed std A", two, True, "right"), Column("seed_std_b", "seed std B", two, True, "right"),
        Column("identical_metrics", "identical", justify="right"),
    ]
    emit(rows, columns, settings.fmt,
         title=f"fid_mnist, A: {name_a} ({settings.machine_a}), B: {name_b} ({settings.machine_b})")


@app.command()
@takes(SpeedSettings)
def speed(settings: SpeedSettings):
    """Time the fast path against the tutorial loop (the yardstick), side by side; write <out>/speed/<device>/."""
    from bench.speed.compare import SPEED_COLUMNS, SPEED_TITLE, frame_records, run_speed
    # Progress on stderr: with --format json or csv, stdout is the table alone.
    chosen = select_variants(settings.variants, settings.exclude)
    # The command a speed set records names what was measured: the names, where some were left out.
    spec = ",".join(v.name for v in chosen) if settings.exclude else settings.variants
    summary, paths = run_speed(chosen, settings.device, settings.batch_sizes, settings.repeats, settings.steps,
                               settings.warmup, settings.threads, settings.memory, settings.out, settings.data_dir,
                               variants_spec=spec, log=lambda line: errors.print(line, markup=False, highlight=False))
    emit(frame_records(summary), SPEED_COLUMNS, settings.fmt, title=SPEED_TITLE)
    errors.print(f"wrote {', '.join(map(str, paths))}", markup=False, highlight=False, soft_wrap=True)


# The yardstick's commands (score, stats, sample) register themselves on `app`.
from bench.cli import scoring  # noqa: E402,F401
from bench.cli import published  # noqa: E402,F401


def main():
    app()


if __name__ == "__main__":
    main()
