"""Registry of GAN variants. Importing this package registers every variant below;
a new variant is one module that calls `register_variant`, imported here."""

from variants.archs import ARCHS, register_arch
from variants.losses import LOSSES, register_loss
from variants.registry import (
    VARIANTS, Hparams, UnknownVariant, Variant, get_variant, list_variants, register_variant, select_variants,
    variant_from_config, combine,
)
from variants import dcgan, lsgan, vanilla, wgan_gp  # noqa: F401  (registers them)

__all__ = [
    "ARCHS", "LOSSES", "VARIANTS", "Hparams", "UnknownVariant", "Variant",
    "get_variant", "list_variants", "register_arch", "register_loss", "register_variant", "select_variants", "variant_from_config", "combine",
]
