"""What Ray costs a study, measured, not assumed: prints two figures (and writes them as JSON
to --json, if given).

1. Overhead per run: the same N runs through `gan-bench study` (one run at a time, every CPU
   to it) and through `gan-bench run` (same threads), wall-clock seconds per run; the
   difference is Ray's start-up, scheduling and record transport, per run.
2. Wall-clock ratio: the four original variants (vanilla, dcgan, lsgan, wgan-gp) at their
   defaults, as a study with two runs at a time (one thread each), against the same runs one
   after another with `gan-bench run` (two threads).

Both sides start from a fresh process and a fresh folder, so each carries its own start-up.
On a busy machine the figures say more about the machine than about Ray.

    python tools/study_overhead.py --preset tiny --steps 2 --runs 2 --seeds 1   # smallest
    python tools/study_overhead.py --preset quick --runs 8 --seeds 2            # full size
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOUR = "vanilla,dcgan,lsgan,wgan-gp"


def timed(args: list[str]) -> float:
    tick = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "bench.cli", *args], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - tick
    if result.returncode != 0:
        sys.exit(f"error: gan-bench {' '.join(args)} exited {result.returncode}:\n{result.stderr[-2000:]}")
    return seconds


def budget(options) -> list[str]:
    return ["--preset", options.preset, "--device", "cpu", *(["--steps", str(options.steps)] if options.steps else [])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--steps", type=int, default=None, help="Generator updates per run (default: the preset's).")
    parser.add_argument("--runs", type=int, default=4, help="Runs for the per-run overhead (seeds of vanilla).")
    parser.add_argument("--seeds", type=int, default=1, help="Seeds per variant for the wall-clock ratio.")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="CPUs of this machine to use.")
    parser.add_argument("--json", type=Path, default=None)
    options = parser.parse_args()
    figures = {"preset": options.preset, "steps": options.steps, "cpus": options.cpus}

    with tempfile.TemporaryDirectory(prefix="study-overhead-") as scratch:
        scratch = Path(scratch)
        one_at_a_time = ["--cpus-per-run", str(options.cpus)]
        study = timed(["study", "--variants", "vanilla", "--space", "defaults", "--configs", "1", "--seeds",
                       str(options.runs), *budget(options), *one_at_a_time, "--out", str(scratch / "study-1")])
        plain = timed(["run", "--variants", "vanilla", "--seeds", str(options.runs), *budget(options), "--threads",
                       str(options.cpus), "--out", str(scratch / "run-1")])
        figures.update(runs=options.runs, study_s_per_run=study / options.runs, run_s_per_run=plain / options.runs,
                       ray_overhead_s_per_run=(study - plain) / options.runs)

        two_at_a_time = ["--cpus-per-run", str(max(1, options.cpus // 2))]
        study = timed(["study", "--variants", FOUR, "--space", "defaults", "--configs", "1", "--seeds",
                       str(options.seeds), *budget(options), *two_at_a_time, "--out", str(scratch / "study-4")])
        plain = timed(["run", "--variants", FOUR, "--seeds", str(options.seeds), *budget(options), "--threads",
                       str(options.cpus), "--out", str(scratch / "run-4")])
        figures.update(four_variant_runs=4 * options.seeds, study_wall_s=study, run_wall_s=plain,
                       wall_clock_ratio_study_over_run=study / plain)

    print(f"Ray overhead per run: {figures['ray_overhead_s_per_run']:+.2f} s "
          f"(study {figures['study_s_per_run']:.2f} s/run, gan-bench run {figures['run_s_per_run']:.2f} s/run, "
          f"{options.runs} runs of vanilla, one at a time on {options.cpus} threads)")
    print(f"Four variants x {options.seeds} seed(s): study {figures['study_wall_s']:.1f} s with 2 runs at a time "
          f"({max(1, options.cpus // 2)} thread(s) each) vs gan-bench run {figures['run_wall_s']:.1f} s one after "
          f"another ({options.cpus} threads): ratio {figures['wall_clock_ratio_study_over_run']:.2f}")
    print(json.dumps(figures, indent=1))
    if options.json:
        options.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
