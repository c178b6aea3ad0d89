"""Registry of GAN variants. Importing this package registers every variant below;
a new variant is one module that calls `register_variant`, imported here."""

from variants.archs import ARCH_SPECS, ARCHS, register_arch
from variants.losses import LOSSES, Loss, register_loss
from variants.named import Registry, RegistryError
from variants.optimizers import OPTIMIZERS, register_optimizer
from variants.registry import (
    VARIANTS, BadVariant, Hparams, UnknownVariant, Variant, architectures_summary, combine, get_variant,
    list_variants, pairings, register_variant, select_variants, variant_from_config,
)
from variants import (  # noqa: F401  (registers them)
    began, dcgan, dragan, lsgan, mm_gan, pacdcgan2, r1_gan, ragan, sngan, vanilla, wgan, wgan_gp,
)

__all__ = [
    "ARCHS", "ARCH_SPECS", "LOSSES", "OPTIMIZERS", "VARIANTS", "BadVariant", "Hparams", "Loss", "Registry",
    "RegistryError", "UnknownVariant",
    "Variant", "architectures_summary", "get_variant", "list_variants", "register_arch", "register_loss", "register_optimizer",
    "register_variant", "select_variants", "variant_from_config", "combine", "pairings",
]
