"""A GAN trained outside gan-bench, the way tutorials write one, and then scored by it.

This is the loop people copy (PyTorch-GAN's `gan.py`: an MLP generator and discriminator,
binary cross-entropy, Adam at 2e-4 with betas (0.5, 0.999), batch 64), with nothing of
gan-bench in it. It trains for 2 epochs and ends by writing `samples.npz`: 10,000 samples
as float32 in [-1, 1] (the generator's tanh), the form most scripts save. Then:

    python examples/tutorial_gan.py                          # about 2 minutes on a 2-core CPU
    gan-bench score samples.npz --range -1,1 --name tutorial-gan
    gan-bench report results                                 # beside the zoo's runs, as external:tutorial-gan

MNIST is read with torchvision from gan-bench's data folder (`gan-bench fetch` fills it;
`--data-dir` or $GAN_BENCH_DATA point elsewhere), since nothing here downloads.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision import datasets, transforms

LATENT = 100


class Generator(nn.Module):
    def __init__(self):
        super().__init__()

        def block(n_in, n_out, normalize=True):
            layers = [nn.Linear(n_in, n_out)]
            if normalize:
                layers.append(nn.BatchNorm1d(n_out, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(*block(LATENT, 128, normalize=False), *block(128, 256), *block(256, 512),
                                   *block(512, 1024), nn.Linear(1024, 28 * 28), nn.Tanh())

    def forward(self, z):
        return self.model(z).view(-1, 1, 28, 28)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(28 * 28, 512), nn.LeakyReLU(0.2, inplace=True), nn.Linear(512, 256),
                                   nn.LeakyReLU(0.2, inplace=True), nn.Linear(256, 1), nn.Sigmoid())

    def forward(self, images):
        return self.model(images.flatten(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None, help="Stop after this many batches (a quick check).")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("samples.npz"))
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("GAN_BENCH_DATA", Path.home() / ".cache" / "gan-bench")))
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    mnist = datasets.MNIST(str(args.data_dir), train=True, download=False,
                           transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])]))
    loader = torch.utils.data.DataLoader(mnist, batch_size=64, shuffle=True, drop_last=True)
    G, D = Generator(), Discriminator()
    bce = nn.BCELoss()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))

    step = 0
    for epoch in range(args.epochs):
        for real, _ in loader:
            ones, zeros = torch.ones(len(real), 1), torch.zeros(len(real), 1)
            fake = G(torch.randn(len(real), LATENT))
            opt_g.zero_grad()
            g_loss = bce(D(fake), ones)
            g_loss.backward()
            opt_g.step()
            opt_d.zero_grad()
            d_loss = (bce(D(real), ones) + bce(D(fake.detach()), zeros)) / 2
            d_loss.backward()
            opt_d.step()
            step += 1
            if step % 200 == 0:
                print(f"epoch {epoch} step {step}: D {d_loss.item():.3f}  G {g_loss.item():.3f}")
            if args.steps is not None and step >= args.steps:
                break
        if args.steps is not None and step >= args.steps:
            break

    G.eval()
    with torch.no_grad():
        samples = torch.cat([G(torch.randn(500, LATENT)) for _ in range(-(-args.samples // 500))])[:args.samples]
    np.savez(args.out, samples=samples.numpy().astype(np.float32))
    print(f"wrote {args.out}: {len(samples)} samples, float32 in [-1, 1]; score them with\n"
          f"  gan-bench score {args.out} --range -1,1 --name tutorial-gan")


if __name__ == "__main__":
    main()
