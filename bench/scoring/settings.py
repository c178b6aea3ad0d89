"""What `gan-bench score`, `stats` and `sample` take, declared once (bench/options.py says how)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from bench.data.assets import DATA_DIR_ENV
from bench.data.datasets import DATASETS
from bench.options import FORMATS, Checked, option
from bench.scoring.inputs import RANGES
from bench.train.settings import DEVICE
INPUT_HELP = ("A .npz/.npy array (uint8 in [0, 255], or float with --range), a folder or .zip of 28x28 PNG/JPEG "
              "images, or a generator file gan-bench wrote (.safetensors).")


@dataclass
class ReadSettings:
    """How an input's images are read."""

    value_range: Optional[str] = option(None, "--range", choices=tuple(RANGES),
                                        help="The value range of a float array (never guessed).")
    key: Optional[str] = option(None, "--key", help="The array of an .npz that holds several (default: its only "
                                                    "one, or 'samples', 'images', 'arr_0').")
    dataset: Optional[str] = option(None, "--dataset", choices=tuple(DATASETS),
                                    help="What the images are scored as (default: a generator file's dataset, "
                                         "else mnist).")
    device: str = option("auto", "--device", "-d", **DEVICE, help="Where the feature network runs.")
    data_dir: Optional[Path] = option(None, "--data-dir", help=f"Where MNIST lives (default: ~/.cache/gan-bench; "
                                                               f"or ${DATA_DIR_ENV}).")


@dataclass
class ScoreSettings(ReadSettings, Checked):
    input: Optional[Path] = option(None, "input", argument=True, help=INPUT_HELP + " Omit it with --plugin.")
    plugin: Optional[list[str]] = option(None, "--plugin",
                                         help="A .py file defining sample(n, seed) -> uint8 images, scored when "
                                              "INPUT is omitted; with a generator file, a plug-in that registers "
                                              "its variant (repeatable).")
    samples: Optional[int] = option(None, "--samples", "-n", minimum=2,
                                    help="Images scored (default: the final evaluation's 10,000, or all an input "
                                         "has if fewer; a generator file: its run's count).")
    seed: Optional[int] = option(None, "--seed", minimum=0,
                                 help="Latent seed of a generator file or plug-in (default: the final "
                                      "evaluation's, 20000).")
    reference: Optional[Path] = option(None, "--reference",
                                       help="A statistics file (`gan-bench stats`): FID against it instead of the "
                                            "dataset's test set.")
    inception_samples: int = option(0, "--inception-samples", minimum=0,
                                    help="Samples for fid_inception (0: skip; about 4 images/s on a 2-core CPU).")
    name: Optional[str] = option(None, "--name", help="The name in tables (default: the input's file name); shown "
                                                      "as external:NAME.")
    out: Optional[Path] = option(Path("results"), "--out", "-o",
                                 help="Results directory: the record goes to OUT/runs/<device-slug>/.")
    no_record: bool = option(False, "--no-record", help="Print the figures only; write no record.")
    fmt: str = option("table", "--format", "-f", choices=FORMATS, help="table (for people), json or csv.")


@dataclass
class StatsSettings(ReadSettings, Checked):
    input: str = option(..., "input", argument=True,
                        help=INPUT_HELP + " Or mnist:test / mnist:train, the dataset's own images.")
    out: Path = option(..., "--out", "-o", help="The .npz to write: mu, sigma (float64) and what they hold.")
    samples: Optional[int] = option(None, "--samples", "-n", minimum=2, help="Only the first N images.")


@dataclass
class SampleSettings(Checked):
    generator: Path = option(..., "generator", argument=True, help="A generator file gan-bench wrote (.safetensors).")
    n: int = option(64, "--n", minimum=1, help="How many samples.")
    seed: Optional[int] = option(None, "--seed", minimum=0,
                                 help="Latent seed (default: the final evaluation's, 20000).")
    grid: Optional[Path] = option(None, "--grid", help="Write the samples as one PNG grid here.")
    out: Optional[Path] = option(None, "--out", "-o", help="Write the samples here as .npz (uint8 [N,C,28,28] "
                                                           "under 'samples'), which `gan-bench score` reads.")
    device: str = option("auto", "--device", "-d", **DEVICE, help="Where the generator runs.")
    plugin: Optional[list[str]] = option(None, "--plugin", help="A plug-in that registers the generator's variant "
                                                                "(repeatable).")
