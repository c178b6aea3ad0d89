"""What the smaller commands take, declared once (bench/options.py says how), as settings
classes like `run`'s; an option they share with `run` is run's own declaration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from bench.options import Checked, option, same_as
from bench.train.settings import RunSettings


@dataclass
class FetchSettings(Checked):
    data_dir: Optional[Path] = same_as(RunSettings, "data_dir")
    force: bool = option(False, "--force", help="Fetch again even if files are there.")


@dataclass
class ListSettings(Checked):
    plugin: Optional[list[str]] = same_as(RunSettings, "plugin")
    fmt: str = same_as(RunSettings, "fmt")


@dataclass
class TrainClassifierSettings(Checked):
    epochs: int = option(4, "--epochs", help="Training epochs.")
    seed: int = option(0, "--seed", help="")
    out: Optional[Path] = option(None, "--out", help="Weights file (default: the package's, replaced only by weights "
                                                     "identical to the pinned ones).")
    data_dir: Optional[Path] = same_as(RunSettings, "data_dir")


@dataclass
class EvalSettings(Checked):
    checkpoint: Path = option(..., "checkpoint", argument=True,
                              help="A checkpoint from results/checkpoints/<device-slug>/.")
    samples: Optional[int] = option(None, "--samples", minimum=1, help="Generated samples (default: the run's preset).")
    inception_samples: Optional[int] = option(None, "--inception-samples", minimum=0,
                                              help="Samples for fid_inception (0: skip; default: preset, GPU only).")
    device: str = same_as(RunSettings, "device")
    dataset: Optional[str] = option(None, "--dataset", help="The dataset the run trained on (default: the "
                                                            "checkpoint's; another one is refused).")
    out: Optional[Path] = option(None, "--out", help="Also write the metrics as JSON here.")
    data_dir: Optional[Path] = same_as(RunSettings, "data_dir")
    plugin: Optional[list[str]] = same_as(RunSettings, "plugin")
    best: bool = option(False, "--best", help="The generator of the run's best curve point, not its last.")


@dataclass
class ReportSettings(Checked):
    results: Path = option(Path("results"), "results", argument=True,
                           help="Results directory (records under runs/<device-slug>/).")
    formats: str = option("md,csv,tex,html", "--format", "-f", help="Comma-separated: md, csv, tex, html.")
    out: Optional[Path] = option(None, "--out", "-o", help="Where to write (default: RESULTS/reports/<device-slug>/, "
                                                           "which git ignores).")
    # The filters: each picks some of the sets (bench.report.parse_filters reads them).
    preset: Optional[str] = option(None, "--preset", "-p", help="Only these presets (names or fnmatch patterns, "
                                                                "comma-separated).")
    dataset: Optional[str] = option(None, "--dataset", help="Only these datasets (names or patterns).")
    variants: Optional[str] = option(None, "--variants", "-v", help="Only these variants (names or patterns, e.g. "
                                                                    "'dcgan,*gan-gp').")
    device: Optional[str] = option(None, "--device", "-d", help="Only these device slugs (names or patterns).")
    budget: Optional[str] = option(None, "--budget", help="Only this budget: its label ('2 epochs') or slug "
                                                          "('2-epochs'), or a pattern.")
    study: Optional[str] = option(None, "--study", help="Only this study (id or name, or a pattern); 'none': only "
                                                        "runs outside any study.")

    FILTERS = ("preset", "dataset", "variants", "device", "budget", "study")


@dataclass
class IndexSettings(Checked):
    results: Path = option(Path("results"), "results", argument=True, help="The folder of published sets.")
    check: bool = option(False, "--check", help="Write nothing; exit 1 when RESULTS/README.md differs from what "
                                                "would be written.")


@dataclass
class CompareMachinesSettings(Checked):
    machine_a: Path = option(..., "machine_a", argument=True, help="Results of one machine (records under it).")
    machine_b: Path = option(..., "machine_b", argument=True,
                             help="Results of another machine, same variants, seeds and preset.")
    fmt: str = same_as(RunSettings, "fmt")
