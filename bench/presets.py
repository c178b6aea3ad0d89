"""The named presets: a run's budget (in epochs of real images seen by D, Lucic et al.'s
unit, or in generator updates), its log, checkpoint and curve cadence, and its sample
counts. Settings only: the protocol (bench/train/protocol.py) trains under them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from variants import Variant
from variants.registry import Registry


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    epochs: float | None = None  # budget in passes of D over the training set
    steps: int | None = None  # or in generator updates
    log_every: int = 50  # generator steps between loss points
    checkpoint_every: int = 250  # generator steps between checkpoints
    eval_every_images: int = 0  # real images seen by D between fid_mnist curve points (0: none)
    eval_samples: int = 2000  # generated samples per curve point
    final_samples: int = 10000  # generated samples for the final MNIST metrics
    stacked_samples: int = 26000  # generated samples for the final Stacked MNIST metrics (PacGAN's count)
    inception_samples: int = 0  # generated samples for fid_inception (0: skipped)
    fid_threshold: float = 30.0  # fid_mnist that time_to_fid waits for
    # fid_stacked's: three times fid_mnist's, since the stacks' three channels are independent
    # digits, their 384-d features have a block-diagonal covariance and the FID of the stacks
    # is close to the sum of three per-channel FIDs.
    stacked_fid_threshold: float = 90.0


PRESETS: Registry[Preset] = Registry("preset")
for _preset in (
    Preset("tiny", "a few steps, for tests", steps=4, log_every=2, checkpoint_every=2,
           eval_every_images=128, eval_samples=200, final_samples=500, stacked_samples=500),
    # time_to_fid waits for fid_mnist 30 here: dcgan ends its 2 epochs near 21, so 10 (the
    # paper preset's threshold) would never be reached on a CPU budget.
    Preset("quick", "2 epochs of real images seen by D: all four variants in minutes on a 2-core CPU",
           epochs=2, log_every=50, checkpoint_every=250, eval_every_images=20_000, fid_threshold=30.0),
    # Stacked MNIST's CPU budget: an epoch of its 128,000 stacks is 2,000 D steps, so `quick`'s two
    # epochs would take the whole zoo hours on 2 cores.
    Preset("one-epoch", "1 epoch of real images seen by D: Stacked MNIST on a 2-core CPU",
           epochs=1, log_every=50, checkpoint_every=250, eval_every_images=32_000, fid_threshold=30.0),
    Preset("paper", "Lucic et al.'s MNIST budget: 20 epochs at batch 64", epochs=20, log_every=200,
           checkpoint_every=2000, eval_every_images=60_000, inception_samples=10000, fid_threshold=10.0,
           stacked_fid_threshold=30.0),
    # PacGAN's Stacked MNIST budget (its VEEGAN setup: 50 epochs at batch 64, i.e. 100,000 D
    # steps over 128,000 stacks); a curve point per epoch. Meant for a GPU.
    Preset("pacgan", "PacGAN's Stacked MNIST budget: 50 epochs at batch 64 (for --dataset stacked-mnist)",
           epochs=50, log_every=500, checkpoint_every=5000, eval_every_images=128_000,
           inception_samples=0, fid_threshold=10.0, stacked_fid_threshold=30.0),
):
    PRESETS.register(_preset.name, _preset)


def get_preset(name: str) -> Preset:
    """The preset of that name; an unknown one is a `variants.RegistryError` with close matches."""
    return PRESETS.get(name)


def images_per_step(variant: Variant) -> int:
    """Real images D sees per generator update: a batch for each of its n_critic updates.
    Budgets in epochs, curve cadences and images/s all count in these."""
    return variant.hparams.batch_size * variant.hparams.n_critic


def generator_steps(preset: Preset, variant: Variant, n_train: int, steps: int | None = None,
                    train_seconds: float | None = None) -> int | None:
    """The generator updates a run gets; None under a training-time budget."""
    if train_seconds is not None:
        return None
    if steps is not None:
        return steps
    if preset.steps is not None:
        return preset.steps
    return max(1, math.ceil(preset.epochs * n_train / images_per_step(variant)))


def budget_label(preset: Preset, steps: int | None = None, train_seconds: float | None = None) -> str:
    """A run's budget in its own unit. Runs compare fairly only under one budget, so the
    label goes into the config and the report refuses to mix labels in one table.

    - epochs of real images seen by D (the presets; Lucic et al.'s unit): equal data, but a
      variant with n_critic 5 gets a fifth of the generator updates;
    - generator steps (`--steps`): equal G updates;
    - training seconds (`--train-seconds`): equal compute time on one machine.
    """
    if train_seconds is not None:
        return f"{train_seconds:g} training seconds"
    if steps is not None or preset.steps is not None:
        return f"{steps if steps is not None else preset.steps} generator steps"
    return f"{preset.epochs:g} epochs"
