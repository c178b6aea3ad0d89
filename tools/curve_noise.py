"""How noisy is a curve FID, and does the convergence rule stop on noise?

1. Trains one variant (default dcgan, seed 0) and, at a few steps, scores the same
   generator on the preset's curve sample count (2,000) with several sample seeds, and
   once on 10,000 samples: the spread of the curve FID for a fixed generator (its noise)
   and its bias against the final evaluation's sample count.
2. Simulates the stopping rule (bench/train/convergence.py) on curves with that noise: how often
   it stops while the true FID still improves at a given rate per curve point (a false
   stop), and how many points it takes to stop once the true FID is flat.

    python tools/curve_noise.py                          # dcgan, 2 epochs, 10 sample seeds, 2,000 and 10,000 samples
    python tools/curve_noise.py --variant lsgan --at 300,1875 --samples 10000 --sample-seeds 20 --json noise.json

Each FID is the one `gan-bench run` records (bench.eval.fid_mnist on bench.eval.sample_uint8).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from bench.data import assets
from bench.train.convergence import Rule, has_converged
from bench.data.datasets import DATASETS
from bench.eval import fid_mnist, sample_uint8
from bench.train.protocol import init_state, train_step
from variants import get_variant


def measure_noise(variant_name: str, at: list[int], sample_seeds: int, counts: list[int], threads: int) -> list[dict]:
    torch.set_num_threads(threads)
    variant, device = get_variant(variant_name), torch.device("cpu")
    data = DATASETS["mnist"].load(None)
    state = init_state(variant, data["train_images"], device, seed=0)
    cache = Path(tempfile.mkdtemp(prefix="gan-bench-noise-"))
    reference = data["reference_images"]
    rows = []
    for step in range(1, max(at) + 1):
        train_step(variant, state)
        if step not in at:
            continue
        z = variant.hparams.z_dim
        final = fid_mnist(sample_uint8(state.G, z, 10_000, device, seed=20_000), reference, device, cache)
        for samples in counts:
            curve = [fid_mnist(sample_uint8(state.G, z, samples, device, seed=1000 + k), reference, device, cache)
                     for k in range(sample_seeds)]
            mean, std = statistics.fmean(curve), statistics.stdev(curve)
            rows.append({"step": step, "images_seen": step * variant.hparams.batch_size * variant.hparams.n_critic,
                         "samples": samples, "sample_seeds": sample_seeds, "fid_mean": mean, "fid_std": std,
                         "relative_std": std / mean, "fid_min": min(curve), "fid_max": max(curve),
                         "fid_final_samples": final, "bias": mean - final})
            print(f"step {step}: FID on {samples:,} samples {mean:.2f} ± {std:.2f} (relative {std / mean:.2%}, "
                  f"range {min(curve):.2f}-{max(curve):.2f} over {sample_seeds} sample seeds); the final "
                  f"evaluation's (10,000, seed {20_000}): {final:.2f}", flush=True)
    return rows


def simulate(relative_std: float, rule: Rule, rates: list[float], trials: int, points: int = 20) -> dict:
    """Stopping-rule outcomes on synthetic curves: FID_k = F0 (1 - r)^k, times (1 + noise)."""
    rng = np.random.default_rng(0)
    out = {"false_stop": {}, "points_to_stop_when_flat": None}
    for rate in rates:
        stops = 0
        for _ in range(trials):
            true = 100 * (1 - rate) ** np.arange(points)
            noisy = true * (1 + relative_std * rng.standard_normal(points))
            curve = [{"fid_mnist": float(v)} for v in noisy]
            stops += any(has_converged(curve[:k + 1], rule, "fid_mnist") for k in range(points))
        out["false_stop"][f"{rate:.1%} per point"] = stops / trials
    waits = []
    for _ in range(trials):
        noisy = 20 * (1 + relative_std * rng.standard_normal(points))
        curve = [{"fid_mnist": float(v)} for v in noisy]
        waits.append(next((k + 1 for k in range(points) if has_converged(curve[:k + 1], rule, "fid_mnist")), points))
    out["points_to_stop_when_flat"] = {"mean": float(np.mean(waits)), "max": int(np.max(waits))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="dcgan")
    parser.add_argument("--at", default="300,1875", help="generator steps at which to measure (1,875 = 2 epochs)")
    parser.add_argument("--sample-seeds", type=int, default=10)
    parser.add_argument("--samples", default="2000,10000", help="curve sample counts to measure")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    assets.fetch_mnist(None)
    counts = sorted(int(s) for s in args.samples.split(","))
    noise = measure_noise(args.variant, sorted(int(s) for s in args.at.split(",")), args.sample_seeds,
                          counts, args.threads)
    rule = Rule(every_images=60_000)
    simulated = {}
    for samples in counts:
        worst = max(row["relative_std"] for row in noise if row["samples"] == samples)
        simulated[samples] = simulate(worst, rule, [0.0, 0.005, 0.01, 0.015, 0.02, 0.03], args.trials)
        print(f"rule: stop when none of the last {rule.patience} points is {rule.min_delta:.0%} below the best "
              f"before them; curve points of {samples:,} samples (largest relative std measured: {worst:.2%})")
        for rate, share in simulated[samples]["false_stop"].items():
            print(f"  true FID falling {rate}: stopped within 20 points in {share:.1%} of {args.trials} "
                  "simulated runs")
        flat = simulated[samples]["points_to_stop_when_flat"]
        print(f"  true FID flat: stopped after {flat['mean']:.1f} points on average (at most {flat['max']})")
    if args.json:
        args.json.write_text(json.dumps({"variant": args.variant, "noise": noise, "rule": rule.describe(),
                                         "simulated": simulated}, indent=1))


if __name__ == "__main__":
    main()
