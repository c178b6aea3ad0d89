"""An example gan-bench plug-in: a new loss on an existing architecture.

Copy this file, change it, and train it without editing gan-bench:

    gan-bench list --plugin examples/plugin_variant.py
    gan-bench run --plugin examples/plugin_variant.py --variants lsgan-sym --preset quick

The loss is least squares with a = -1, b = 1, c = 0, the codes Mao et al. 2017 give as one
choice meeting b - c = 1 and b - a = 2 (their Pearson chi^2 condition): D pushes real
images to 1 and fakes to -1; G pulls its fakes to 0. Every record of it says where it came
from: config["source"] holds this file's module, path and sha256.
"""

from variants import Hparams, Loss, Variant, register_loss, register_variant

A, B, C = -1.0, 1.0, 0.0  # fake code, real code, the value G wants D to see


def d_loss(D, real, fake):
    """D's loss; `fake` arrives detached. Include any regularizer here."""
    return 0.5 * (D(real) - B).square().mean() + 0.5 * (D(fake) - A).square().mean()


def g_loss(D, fake, real):
    """G's loss; `real` is the last real batch D saw (unused here)."""
    return 0.5 * (D(fake) - C).square().mean()


register_loss(Loss(
    name="ls-sym",
    d_loss=d_loss,
    g_loss=g_loss,
    paper="Mao et al. 2017, Least Squares Generative Adversarial Networks (a=-1, b=1, c=0)",
))

register_variant(Variant(
    name="lsgan-sym",
    arch="dcgan",  # an existing architecture: see `gan-bench list` for the others
    loss="ls-sym",
    hparams=Hparams(z_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=32),
    paper="Mao et al. 2017 (arXiv:1611.04076), symmetric codes",
))
