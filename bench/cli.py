"""The `gan-bench` command line."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

import variants as registry
from bench import assets
from bench.errors import BenchError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Benchmark GAN variants on MNIST: speed, memory, convergence and sample quality.")
console = Console()
errors = Console(stderr=True)

DataDir = typer.Option(None, "--data-dir", envvar=assets.DATA_DIR_ENV,
                       help="Where MNIST lives (default: ~/.cache/gan-bench).")
Plugins = typer.Option(None, "--plugin", help="A .py file or module that registers variants (repeatable); "
                                              "installed entry points (gan_bench.variants) load anyway.")


def clean_errors(command):
    """Turn the errors a user can fix into one line on stderr and a non-zero exit."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except BenchError as error:
            errors.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(error.exit_code)
        except registry.UnknownVariant as error:
            errors.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(2)
    return wrapper


@app.command()
@clean_errors
def fetch(data_dir: Optional[Path] = DataDir,
          force: bool = typer.Option(False, "--force", help="Fetch again even if files are there.")):
    """Fetch MNIST into the data directory and verify its checksums."""
    arrays = assets.fetch_mnist(data_dir, force=force, log=console.print)
    console.print(f"MNIST verified in {assets.raw_dir(data_dir or assets.default_data_dir())}: "
                  f"{len(arrays['train_images'])} train, {len(arrays['test_images'])} test images")


@app.command("list")
@clean_errors
def list_command(plugin: Optional[list[str]] = Plugins):
    """List the registered variants with their defaults."""
    from bench.plugins import load_plugins
    from bench.systems import count_params

    load_plugins(plugin)

    table = Table(title="gan-bench variants")
    for column in ("name", "arch", "loss", "params G", "params D", "z", "batch", "n_critic",
                   "optimizer lr G/D, betas", "paper"):
        table.add_column(column)
    for name in registry.list_variants():
        v, hp = registry.get_variant(name), registry.get_variant(name).hparams
        G, D = v.build((1, 28, 28))
        options = ", ".join(f"{k}={x}" for k, x in v.arch_options.items())
        table.add_row(name, f"{v.arch} ({options})" if options else v.arch, v.loss,
                      f"{count_params(G):,}", f"{count_params(D):,}", str(hp.z_dim), str(hp.batch_size),
                      str(hp.n_critic), f"{hp.optimizer} {hp.lr_g:g}/{hp.lr_d:g}, {hp.betas}", v.paper)
    console.print(table)
    console.print(registry.architectures_summary(), highlight=False, soft_wrap=True)


@app.command()
@clean_errors
def run(
    variants: str = typer.Option("all", "--variants", "-v", help="'all' or NAME[,NAME...]."),
    device: str = typer.Option("auto", "--device", "-d", help="auto, cpu, cuda or cuda:N."),
    seeds: int = typer.Option(1, "--seeds", help="Number of training seeds (0..N-1)."),
    preset: str = typer.Option("quick", "--preset", "-p", help="tiny, quick or paper."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Generator updates (overrides the preset's budget)."),
    out: Path = typer.Option(Path("results"), "--out", "-o", help="Results directory."),
    resume: bool = typer.Option(False, "--resume", help="Skip finished runs; continue unfinished ones from checkpoints."),
    force: bool = typer.Option(False, "--force", help="With --resume: recompute finished runs, ignore checkpoints."),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="Generator steps between checkpoints."),
    arch: Optional[str] = typer.Option(None, "--arch", help="With --loss: train this architecture x loss pairing "
                                                            "instead of --variants (e.g. --arch mlp --loss ls)."),
    loss: Optional[str] = typer.Option(None, "--loss", help="With --arch: the loss (ns, ls, wgan-gp)."),
    compile: bool = typer.Option(False, "--compile", help="torch.compile G and D, each on its own (D stays eager "
                                                          "when its loss needs a double backward)."),
    data_dir: Optional[Path] = DataDir,
    plugin: Optional[list[str]] = Plugins,
):
    """Train and measure each variant under the one protocol; write one record per run."""
    from bench.devices import resolve_device
    from bench.plugins import load_plugins
    from bench.protocol import Interrupted
    from bench.runner import RunPlan, exit_code, progress_bar, run_benchmark

    load_plugins(plugin)
    if (arch is None) != (loss is None):
        raise BenchError("--arch and --loss go together")
    chosen = [registry.combine(arch, loss)] if arch else registry.select_variants(variants)
    plan = RunPlan(variants=chosen, seeds=list(range(seeds)), preset=preset,
                   device=resolve_device(device), out=out, steps=steps, checkpoint_every=checkpoint_every,
                   data_dir=data_dir, resume=resume, force=force, compile=compile)
    try:
        with progress_bar() as progress:
            records = run_benchmark(plan, progress)
    except Interrupted as stop:
        raise BenchError(f"interrupted at step {stop.step}; checkpoint {stop.checkpoint}; "
                         "run the same command with --resume to continue", exit_code=130) from None
    for path in plan.skipped:
        console.print(f"skipped (finished, use --force to recompute): {path}")
    for record, path in zip(records, plan.written):
        console.print(f"{record['variant']} seed {record['seed']}: {record['status']} -> {path}")
    raise typer.Exit(exit_code(records))


@app.command("train-classifier")
@clean_errors
def train_classifier_command(
    epochs: int = typer.Option(4, "--epochs", help="Training epochs."),
    seed: int = typer.Option(0, "--seed"),
    out: Optional[Path] = typer.Option(None, "--out", help="Weights file (default: the pinned one in the package)."),
    data_dir: Optional[Path] = DataDir,
):
    """Retrain the fixed MNIST classifier behind the *_mnist metrics and print its accuracy."""
    from bench.metrics import CLASSIFIER_PATH, CLASSIFIER_SHA256, save_classifier, train_classifier

    model, accuracy = train_classifier(seed=seed, epochs=epochs, data_dir=data_dir, log=console.print)
    path = out or CLASSIFIER_PATH
    digest = save_classifier(model, path)
    console.print(f"test accuracy {accuracy:.4f}; weights {path}; sha256 {digest}")
    if digest != CLASSIFIER_SHA256:
        console.print("[yellow]differs from the pinned CLASSIFIER_SHA256 in bench/metrics/classifier.py: pin the "
                      "new value to use these weights (fid_mnist is then not comparable with older records)[/yellow]")


@app.command("eval")
@clean_errors
def eval_command(
    checkpoint: Path = typer.Argument(..., help="A checkpoint from results/checkpoints/<device-slug>/."),
    samples: Optional[int] = typer.Option(None, "--samples", help="Generated samples (default: the run's preset)."),
    inception_samples: Optional[int] = typer.Option(None, "--inception-samples",
                                                    help="Samples for fid_inception (0: skip; default: preset, GPU only)."),
    device: str = typer.Option("auto", "--device", "-d"),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the metrics as JSON here."),
    data_dir: Optional[Path] = DataDir,
):
    """Evaluate a saved generator with the final evaluation of its run's preset."""
    from bench.checkpoints import load_checkpoint
    from bench.devices import resolve_device
    from bench.evaluation import Evaluator
    from bench.protocol import PRESETS
    from bench.records import write_json_atomic

    if not checkpoint.is_file():
        raise BenchError(f"no checkpoint at {checkpoint}")
    for option, value in (("--samples", samples), ("--inception-samples", inception_samples)):
        if value is not None and value < (1 if option == "--samples" else 0):
            raise BenchError(f"{option} must be a positive number, got {value}")
    payload = load_checkpoint(checkpoint)
    config = payload["config"]
    variant = registry.variant_from_config(config)
    target = resolve_device(device)
    G, _ = variant.build((1, 28, 28))
    G.load_state_dict(payload["state"]["G"])
    G.to(target)
    mnist = assets.load_mnist(data_dir)
    evaluator = Evaluator(variant.hparams.z_dim, PRESETS[config["preset"]], mnist["test_images"], target,
                          cache_dir=Path(data_dir or assets.default_data_dir()) / "fid-cache", data_dir=data_dir,
                          inception_samples=inception_samples)
    metrics, seconds = evaluator.final(G, samples)
    table = Table(title=f"{payload['run_id']} at step {payload['state']['step']} ({seconds:.1f} s)")
    table.add_column("metric")
    table.add_column("value")
    for key, value in metrics.items():
        if key != "absent":
            table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    for key, reason in metrics["absent"].items():
        table.add_row(key, f"absent: {reason}")
    console.print(table)
    if out:
        write_json_atomic(out, {"run_id": payload["run_id"], "step": payload["state"]["step"], "eval_s": seconds,
                                "feature_nets": evaluator.feature_nets(), "metrics": metrics})


@app.command()
@clean_errors
def report(
    results: Path = typer.Argument(Path("results"), help="Results directory (records under runs/<device-slug>/)."),
    formats: str = typer.Option("md,csv,tex,html", "--format", "-f", help="Comma-separated: md, csv, tex, html."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where to write (default: RESULTS/<device-slug>/)."),
):
    """Tables and plots per variant: mean, std and 95% interval over seeds; diverged and failed runs marked."""
    from rich.markup import escape

    from bench.report import parse_formats, write_report

    def warn(line):  # file names and values may hold [brackets]: not markup
        errors.print(f"[yellow]warning:[/yellow] {escape(line)}", highlight=False, soft_wrap=True)

    for path in write_report(results, parse_formats(formats), out, warn=warn):
        console.print(str(path), highlight=False, soft_wrap=True, markup=False)


@app.command()
@clean_errors
def speed(
    variants: str = typer.Option("all", "--variants", "-v", help="'all' or NAME[,NAME...]."),
    device: str = typer.Option("auto", "--device", "-d", help="auto, cpu, cuda or cuda:N."),
    batch_sizes: str = typer.Option("64", "--batch-sizes", "-b", help="Batch size(s), comma-separated."),
    repeats: int = typer.Option(5, "--repeats", help="Timed repeats of each side, alternating."),
    steps: int = typer.Option(20, "--steps", help="Generator updates per timed repeat."),
    warmup: int = typer.Option(3, "--warmup", help="Untimed generator updates of each side first."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch.set_num_threads (steadier CPU figures)."),
    memory: bool = typer.Option(True, "--memory/--no-memory", help="Probe each side's peak memory in a subprocess."),
    out: Path = typer.Option(Path("results"), "--out", "-o", help="Results directory."),
    data_dir: Optional[Path] = DataDir,
):
    """Time the fast path against the tutorial loop (the yardstick), side by side; write <out>/speed/<device>/."""
    from bench.speed import run_speed, speed_table

    summary, paths = run_speed(registry.select_variants(variants), device, batch_sizes, repeats, steps, warmup,
                               threads, memory, out, data_dir, variants_spec=variants, log=console.print)
    console.print(speed_table(summary))
    console.print(f"wrote {', '.join(map(str, paths))}", markup=False, highlight=False)


def main():
    app()


if __name__ == "__main__":
    main()
