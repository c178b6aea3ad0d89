"""The converged set: every named variant x SEEDS seeds on MNIST under --until-converged,
seed-major (every variant's seed 0, then seed 1, ...), with the report regenerated after
each round, so the table is useful early.

Each run is its own `gan-bench run --resume` on one thread, WORKERS at a time: a finished
run is skipped and an unfinished one continues from its checkpoint, so the script can be
stopped (Ctrl-C, SIGTERM: each run checkpoints) and started again at any moment without
losing a finished run. A round ends before the next begins, so no two workers ever train
the same run.

    python scripts/publish_converged.py --out results/cpu-amd-epyc-avx2/converged      # what make publish-converged runs
    python scripts/publish_converged.py --variants dcgan,lsgan --seeds 1 --workers 1 --out /tmp/converged
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from variants import list_variants


def gan_bench(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.cli", *args]


def train(variant: str, seed: int, args, running: set) -> int:
    """One run (seeds below `seed` are finished: --resume skips them)."""
    command = gan_bench("run", "--variants", variant, "--seeds", str(seed + 1), "--resume", "--until-converged",
                        "--preset", args.preset, "--device", args.device, "--threads", "1", "--out", str(args.out),
                        "--format", "json")
    log = args.out / "logs" / f"{variant}-s{seed}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    began = time.strftime("%H:%M:%S")
    with open(log, "a") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=sink)
        running.add(process)
        code = process.wait()
        running.discard(process)
    print(f"{began}-{time.strftime('%H:%M:%S')} {variant} seed {seed}: exit {code} (log {log})", flush=True)
    return code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="all")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--preset", default="quick", help="sample counts and log cadence (the budget is the rule's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    names = list_variants() if args.variants == "all" else args.variants.split(",")
    running: set = set()

    def stop(signum, frame):  # pass the signal on: each run checkpoints and exits
        for process in list(running):
            process.send_signal(signum)
        raise SystemExit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    for seed in range(args.seeds):
        with ThreadPoolExecutor(args.workers) as pool:
            codes = list(pool.map(lambda v: train(v, seed, args, running), names))
        report = subprocess.run(gan_bench("report", str(args.out), "--out", str(args.out)), capture_output=True,
                                text=True)
        # The published index names this set's variants x seeds and headline: keep it in step.
        results = next((p for p in args.out.resolve().parents if p.name == "results"), None)
        index = subprocess.run(gan_bench("index", str(results)), capture_output=True, text=True) if results else None
        print(f"round {seed}: exits {codes}; report: exit {report.returncode}; "
              f"index: {'exit ' + str(index.returncode) if index else 'not under results/'}", flush=True)


if __name__ == "__main__":
    main()
