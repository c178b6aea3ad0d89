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
def list_command():
    """List the registered variants with their defaults."""
    table = Table(title="gan-bench variants")
    for column in ("name", "arch", "loss", "params G", "params D", "z", "batch", "n_critic",
                   "Adam lr G/D, betas", "paper"):
        table.add_column(column)
    for name in registry.list_variants():
        v, hp = registry.get_variant(name), registry.get_variant(name).hparams
        G, D = v.build((1, 28, 28))
        options = ", ".join(f"{k}={x}" for k, x in v.arch_options.items())
        table.add_row(name, f"{v.arch} ({options})" if options else v.arch, v.loss,
                      f"{count_params(G):,}", f"{count_params(D):,}", str(hp.z_dim), str(hp.batch_size),
                      str(hp.n_critic), f"{hp.lr_g:g}/{hp.lr_d:g}, {hp.betas}", v.paper)
    console.print(table)


def count_params(net) -> int:
    return sum(p.numel() for p in net.parameters())


@app.command()
@clean_errors
def run(
    variants: str = typer.Option("all", "--variants", "-v", help="'all' or NAME[,NAME...]."),
    device: str = typer.Option("auto", "--device", "-d", help="auto, cpu, cuda or cuda:N."),
    seeds: int = typer.Option(1, "--seeds", help="Number of training seeds (0..N-1)."),
    preset: str = typer.Option("quick", "--preset", "-p", help="tiny, quick or paper."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Generator updates (overrides the preset's budget)."),
    out: Path = typer.Option(Path("results"), "--out", "-o", help="Results directory."),
    data_dir: Optional[Path] = DataDir,
):
    """Train and measure each variant under the one protocol; write one record per run."""
    from bench.devices import resolve_device
    from bench.runner import RunPlan, exit_code, progress_bar, run_benchmark

    if seeds <= 0:
        raise BenchError(f"--seeds must be at least 1, got {seeds}")
    plan = RunPlan(variants=registry.select_variants(variants), seeds=list(range(seeds)), preset=preset,
                   device=resolve_device(device), out=out, steps=steps, data_dir=data_dir)
    with progress_bar() as progress:
        records = run_benchmark(plan, progress)
    for record, path in zip(records, plan.written):
        console.print(f"{record['variant']} seed {record['seed']}: {record['status']} -> {path}")
    raise typer.Exit(exit_code(records))


def main():
    app()
