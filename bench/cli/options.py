"""The command-line options more than one `gan-bench` command takes, declared once."""

from __future__ import annotations

import typer

from bench.data import assets

DataDir = typer.Option(None, "--data-dir", envvar=assets.DATA_DIR_ENV,
                       help="Where MNIST lives (default: ~/.cache/gan-bench).")
DatasetOption = typer.Option("mnist", "--dataset", help="mnist or stacked-mnist (3 stacked digits, 1,000 modes).")
Plugins = typer.Option(None, "--plugin", help="A .py file or module that registers variants (repeatable); "
                                              "installed entry points (gan_bench.variants) load anyway.")
FormatOption = typer.Option("table", "--format", "-f", help="table (for people), json or csv (for scripts).")

# The convergence budget, shared by `run` and `study` (bench/train/convergence.py).
UntilConverged = typer.Option(False, "--until-converged",
                              help="Train until the best curve FID has not improved by --min-delta (2 %) over the "
                                   "last --patience (3) curve points, one every --curve-every images (an epoch), "
                                   "or until --max-epochs (20).")
CurveEvery = typer.Option(None, "--curve-every", help="With --until-converged: real images between curve points "
                                                      "(default: one epoch of the dataset).")
MinDelta = typer.Option(None, "--min-delta", help="With --until-converged: the relative FID improvement that counts "
                                                  "(default 0.02).")
Patience = typer.Option(None, "--patience", help="With --until-converged: curve points without such an improvement "
                                                 "before stopping (default 3).")
MaxEpochs = typer.Option(None, "--max-epochs", help="With --until-converged: the cap in epochs (default 20).")
CurveSamples = typer.Option(None, "--curve-samples", help="With --until-converged: generated samples per curve "
                                                          "point (default: the final evaluation's, 10,000).")
