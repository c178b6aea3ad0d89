"""Trace a BEGAN run: k_t, the convergence measure M and L(x) every few steps, a fid_mnist
point (2,000 samples) where the quick preset makes one and a sample grid at each of them,
on one thread. With the same seed and threads its numbers are those of `gan-bench run`.

BEGAN can fail quietly: k_t may rise while G's output stays frozen, or L(x) may sit at the
trivial value of an autoencoder that passes nothing through. This prints what shows either.

    python tools/began_trace.py --steps 1875 --out /tmp/began-trace      # the quick preset's run, seed 0
    python tools/began_trace.py --arch-option g_start_pixel=0.0 --loss-option lambda_k=0.001   # another setting

Also prints D's per-pixel reconstruction spread at initialisation and the mean time of a
training step (evaluation excluded).
"""

from __future__ import annotations

import argparse
import ast
import time
from pathlib import Path

import torch

import variants
from bench.data.assets import default_data_dir
from bench.data.datasets import load_plain_mnist
from bench.eval.evaluation import CURVE_SEED
from bench.eval import fid_mnist, sample_uint8
from bench.train.protocol import init_state, sample_grid, train_step


def parse_option(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="began")
    parser.add_argument("--arch", default=None, help="another registered architecture for the variant")
    parser.add_argument("--steps", type=int, default=1875, help="generator steps (quick preset: 1875)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trace-every", type=int, default=50)
    parser.add_argument("--fid-every-images", type=int, default=20_000,
                        help="real images seen by D between fid_mnist points, as the quick preset (0: none)")
    parser.add_argument("--samples", type=int, default=2000, help="samples per fid_mnist point")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="folder for the sample grids")
    parser.add_argument("--arch-option", action="append", default=[], metavar="KEY=VALUE",
                        help="override an arch option (width, z_dim go to hparams)")
    parser.add_argument("--loss-option", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--hparam", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    variant = variants.get_variant(args.variant)
    arch_options = {**variant.arch_options, **dict(map(parse_option, args.arch_option))}
    loss_options = {**variant.loss_options, **dict(map(parse_option, args.loss_option))}
    variant = variants.Variant(variant.name, args.arch or variant.arch, variant.loss, variant.hparams, variant.paper,
                               arch_options, loss_options).with_hparams(**dict(map(parse_option, args.hparam)))
    device = torch.device("cpu")
    data = load_plain_mnist()
    state = init_state(variant, data["train_images"], device, args.seed)
    print(f"{variant.name}: {variant.hparams} arch {arch_options} loss {loss_options}")
    print(f"params G {sum(p.numel() for p in state.G.parameters()):,} D {sum(p.numel() for p in state.D.parameters()):,}")

    with torch.no_grad(), torch.random.fork_rng():
        real = state.batches.images[:256].float().div(127.5).sub(1)
        out = state.D(real)
    if out.shape == real.shape:  # an autoencoder D
        print(f"init: input spread {real.std(0).mean():.3g}, D output spread per pixel {out.std(0).mean():.3g}, "
              f"L(x) {(real - out).abs().mean():.4f}")

    cache_dir = default_data_dir() / "fid-cache"
    losses, train_s, timed = [], 0.0, 0
    for step in range(1, args.steps + 1):
        tick = time.perf_counter()
        d_loss, g_loss = train_step(variant, state)
        if step > 1:  # the first step pays for lazy initialization
            train_s += time.perf_counter() - tick
            timed += 1
        ls = state.loss_state
        if "k" in ls:
            # L(x) from the last D step: M = L(x) + |balance|
            losses.append((ls["k"].item(), ls["convergence"].item(), (ls["convergence"] - ls["balance"].abs()).item()))
        if step % args.trace_every == 0 or step == args.steps:
            line = f"step {step:5d}  d {d_loss.item():.4f}  g {g_loss.item():.4f}"
            if losses:
                recent = losses[-args.trace_every:]
                k, m, lx = (sum(v[i] for v in recent) / len(recent) for i in range(3))
                line += f"  k {ls['k'].item():.4f}  M {m:.4f}  L(x) {lx:.4f}  (means over last {len(recent)})"
            print(line, flush=True)
        images = variant.hparams.batch_size * variant.hparams.n_critic
        every = args.fid_every_images
        if every and ((step * images) // every > ((step - 1) * images) // every or step == args.steps):
            fake = sample_uint8(state.G, variant.hparams.z_dim, args.samples, device, seed=CURVE_SEED + step)
            fid = fid_mnist(fake, data["reference_images"], device, cache_dir)
            spread = fake.float().std(0).mean().item()
            print(f"step {step:5d}  fid_mnist {fid:.2f}  sample spread per pixel {spread:.1f}/255", flush=True)
            if args.out is not None:
                sample_grid(variant, state.G, args.out / f"step{step:05d}.png", device)
    print(f"step time {1000 * train_s / max(timed, 1):.1f} ms (mean of {timed}, {args.threads} thread)")


if __name__ == "__main__":
    main()
