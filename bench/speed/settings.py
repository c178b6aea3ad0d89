"""What `gan-bench speed` takes, declared once (bench/options.py says how); the options it
shares with `gan-bench run` are run's own declarations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from bench.options import Checked, option, same_as
from bench.train.settings import RunSettings


@dataclass
class SpeedSettings(Checked):
    variants: Optional[str] = same_as(RunSettings, "variants")
    exclude: Optional[str] = same_as(RunSettings, "exclude")
    device: str = same_as(RunSettings, "device")
    batch_sizes: str = option("64", "--batch-sizes", "-b", help="Batch size(s), comma-separated.")
    repeats: int = option(5, "--repeats", minimum=1, help="Timed repeats of each side, alternating.")
    steps: int = option(20, "--steps", minimum=1, help="Generator updates per timed repeat.")
    warmup: int = option(3, "--warmup", minimum=0, help="Untimed generator updates of each side first.")
    threads: Optional[int] = option(None, "--threads", minimum=1, help="torch.set_num_threads (steadier CPU figures).")
    memory: bool = option(True, "--memory/--no-memory", help="Probe each side's peak memory in a subprocess.")
    out: Path = option(Path("results"), "--out", "-o", help="Results directory: writes OUT/speed/<device-slug>/ "
                                                            "(results/speed/ is ignored by git).")
    data_dir: Optional[Path] = same_as(RunSettings, "data_dir")
    fmt: str = same_as(RunSettings, "fmt")
