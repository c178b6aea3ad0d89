"""What `gan-bench run` takes, declared once (bench/options.py says how), in pieces that
`gan-bench study` shares: which variants, the budget, the convergence rule, where. A run's
plan (bench/train/plan.py) is made of the budget and rule pieces too, so an option added to
one of them reaches every run, a study's included, with no list to extend."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from bench.data.assets import DATA_DIR_ENV
from bench.data.datasets import DATASETS
from bench.options import DEVICE_FORMS, DEVICE_PATTERN, FORMATS, Checked, option
from bench.presets import PRESETS
from bench.train.convergence import DEFAULT_MAX_EPOCHS, DEFAULT_MIN_DELTA, DEFAULT_PATIENCE

DEVICE = dict(pattern=(DEVICE_PATTERN, ", ".join(DEVICE_FORMS[:-1]) + " or " + DEVICE_FORMS[-1]))


@dataclass
class Selection:
    variants: Optional[str] = option("all", "--variants", "-v", file_types=(str, list),
                                     help="'all', or NAME[,NAME...]; a name may be a pattern ('wgan*').")
    exclude: Optional[str] = option(None, "--exclude", file_types=(str, list),
                                    help="NAME[,NAME...] (patterns too) to leave out of --variants.")
    arch: Optional[str] = option(None, "--arch", file_types=(str, list),
                                 help="With --loss: every ARCH+LOSS pairing of the two lists (e.g. --arch mlp "
                                      "--loss ns,ls); with --variants in a study, both join.")
    loss: Optional[str] = option(None, "--loss", file_types=(str, list),
                                 help="With --arch: LOSS[,LOSS...] (ns, ls, wgan-gp, ...).")


@dataclass
class Budget:
    preset: str = option("quick", "--preset", "-p", choices=tuple(PRESETS),
                         help="Budget, cadence and sample counts (docs/guide.md).")
    dataset: str = option("mnist", "--dataset", choices=tuple(DATASETS),
                          help="stacked-mnist: 3 stacked digits, 1,000 modes.")
    steps: Optional[int] = option(None, "--steps", minimum=1,
                                  help="Generator updates (overrides the preset's budget).")
    train_seconds: Optional[float] = option(None, "--train-seconds", above=0,
                                            help="Training seconds per run, evaluation excluded (overrides the "
                                                 "preset's budget: equal compute time).")


@dataclass
class Convergence:
    until_converged: bool = option(
        False,
        "--until-converged",
        help=f"Train until the best curve FID has not improved by --min-delta "
        f"({DEFAULT_MIN_DELTA * 100:g} %) over the last --patience ({DEFAULT_PATIENCE}) curve "
        f"points, one every --curve-every images (an epoch), or until --max-epochs "
        f"({DEFAULT_MAX_EPOCHS:g}).",
    )
    # The rule's options are named as the rule's fields (bench/train/convergence.py's Rule),
    # which `rule_of` fills from them by name; --curve-every is the rule's every_images.
    every_images: Optional[int] = option(None, "--curve-every", minimum=1,
                                         help="With --until-converged: real images between curve points (default: "
                                              "one epoch of the dataset).")
    min_delta: Optional[float] = option(None, "--min-delta", above=0, below=1,
                                        help="With --until-converged: the relative FID improvement that counts "
                                             f"(default {DEFAULT_MIN_DELTA:g}).")
    patience: Optional[int] = option(None, "--patience", minimum=1,
                                     help="With --until-converged: curve points without such an improvement before "
                                          f"stopping (default {DEFAULT_PATIENCE}).")
    max_epochs: Optional[float] = option(None, "--max-epochs", above=0,
                                         help=f"With --until-converged: the cap in epochs (default {DEFAULT_MAX_EPOCHS:g}).")
    curve_samples: Optional[int] = option(None, "--curve-samples", minimum=2,
                                          help="With --until-converged: generated samples per curve point (default: "
                                               "the final evaluation's, 10,000).")


@dataclass
class TrainingBudget(Convergence, Budget):
    """What a run trains on and for how long: all a study fixes of its runs' budget."""


@dataclass
class Where:
    device: str = option("auto", "--device", "-d", **DEVICE, help="cuda:N picks a GPU; auto: CUDA when available.")
    data_dir: Optional[Path] = option(None, "--data-dir", help=f"Where MNIST lives (default: ~/.cache/gan-bench; "
                                                               f"or ${DATA_DIR_ENV}).")
    plugin: Optional[list[str]] = option(None, "--plugin", file_types=(str, list),
                                         help="A .py file or module that registers variants (repeatable); installed "
                                              "entry points (gan_bench.variants) load anyway.")
    checkpoint_every: Optional[int] = option(None, "--checkpoint-every", minimum=1,
                                             help="Generator steps between checkpoints.")
    tensorboard: Optional[Path] = option(None, "--tensorboard",
                                         help="Also log each run to TensorBoard, in a sub-folder named by its run "
                                              "id: losses, diagnostics, curve FIDs, images/s and sample grids at log "
                                              "points, and hyperparameters with final figures for the HParams tab "
                                              "(view: tensorboard --logdir PATH).")


@dataclass
class RunSettings(Where, Convergence, Budget, Selection, Checked):  # options listed Selection first
    seeds: int = option(1, "--seeds", minimum=1, help="Number of training seeds (0..N-1, or from --first-seed).")
    first_seed: int = option(0, "--first-seed", minimum=0,
                             help="The first training seed: --seeds N trains FIRST..FIRST+N-1 (recipe trials on "
                                  "seeds no published set uses, e.g. 100).")
    out: Path = option(Path("results"), "--out", "-o", help="Results directory (records under runs/<device-slug>/).")
    resume: bool = option(False, "--resume", help="Skip finished runs; continue unfinished ones from checkpoints.")
    force: bool = option(False, "--force", help="With --resume: recompute finished runs, ignore checkpoints.")
    compile: bool = option(False, "--compile", help="torch.compile G and D, each on its own (D stays eager when its "
                                                    "loss needs a double backward).")
    threads: Optional[int] = option(None, "--threads", minimum=1,
                                    help="torch CPU threads (default: torch's choice; recorded in env.threads).")
    fmt: str = option("table", "--format", "-f", choices=FORMATS, help="The closing summary: table (for people), "
                                                                      "json or csv (for scripts).")
    dry_run: bool = option(False, "--dry-run", in_file=False,
                           help="List the runs and estimate their time from this device's earlier records or speed "
                                "table; train and write nothing.")
