"""What `gan-bench study` takes, declared once (bench/options.py): run's pieces (variants,
budget, convergence rule, where) and the study's own options. A study file's keys are
these options' long names without the dashes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from bench.options import FORMATS, Checked, option
from bench.study.spaces import SPACES
from bench.train.settings import Budget, Convergence, Selection, Where


@dataclass
class StudySettings(Where, Convergence, Budget, Selection, Checked):
    variants: Optional[str] = option(None, "--variants", "-v", file_types=(str, list),
                                     help="'all', or NAME[,NAME...]; a name may be a pattern ('wgan*').")
    space: Optional[str] = option(None, "--space", choices=tuple(SPACES), file_types=(str, dict),
                                  help="The search space (docs/studies.md); in a study file also a [space] table "
                                       "of your own ranges.")
    configs: Optional[int] = option(None, "--configs", minimum=1,
                                    help="Configurations per variant (configuration 0: its defaults).")
    seeds: int = option(1, "--seeds", minimum=1, help="Seeds per configuration (with --rerun-best: seeds of each "
                                                      "variant's best configuration, default 3).")
    out: Optional[str] = option(None, "--out", "-o", help="The study folder: records, study.json.")
    name: Optional[str] = option(None, "--name", help="A label for the study (default: the space's name).")
    address: Optional[str] = option(None, "--address", help="A running Ray cluster (HOST:PORT or auto); default "
                                                            "RAY_ADDRESS, else a new local Ray of the study's own.")
    cpus_per_run: float = option(1.0, "--cpus-per-run", above=0,
                                 help="CPUs Ray reserves per run; torch threads = that number.")
    gpus_per_run: float = option(0.0, "--gpus-per-run", minimum=0, help="GPUs per run, fractions allowed.")
    checkpoint_dir: Optional[str] = option(None, "--checkpoint-dir", help="Default: OUT/checkpoints. Must be shared "
                                                                         "for cross-node resume.")
    max_retries: int = option(3, "--max-retries", minimum=0,
                              help="Reruns of a run whose worker or node dies.")
    fmt: str = option("table", "--format", "-f", choices=FORMATS, in_file=False,
                      help="With --dry-run: table (for people), json or csv (for scripts).")
    dry_run: bool = option(False, "--dry-run", in_file=False,
                           help="List the runs left and estimate their time, with as many at once as this machine's "
                                "CPUs allow (--cpus-per-run); start and write nothing.")
