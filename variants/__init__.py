"""GAN variants: architectures, losses, optimizers and the named recipes that pair them.

Importing this package registers every built-in name: the architectures (`archs.py`), losses
(`losses.py`) and optimizers (`optimizers.py`), then the twelve named variants, whose
recipes are one table in `recipes.py`. `Variant` and its checks are in `variant.py`; the
`Registry` every kind of name is held in is in `registry.py`.
"""

from variants.archs import ARCH_SPECS, ARCHS, register_arch
from variants.losses import LOSSES, Loss, register_loss
from variants.optimizers import OPTIMIZERS, register_optimizer
from variants.registry import Registry, RegistryError
from variants.variant import (
    VARIANTS, BadVariant, Hparams, UnknownVariant, Variant, architectures_summary, combine, get_variant,
    list_variants, pairings, register_variant, select_variants, variant_from_config,
)
from variants import recipes  # noqa: F401  (registers the named variants)

__all__ = [
    "ARCHS", "ARCH_SPECS", "LOSSES", "OPTIMIZERS", "VARIANTS", "BadVariant", "Hparams", "Loss", "Registry",
    "RegistryError", "UnknownVariant",
    "Variant", "architectures_summary", "get_variant", "list_variants", "register_arch", "register_loss",
    "register_optimizer",
    "register_variant", "select_variants", "variant_from_config", "combine", "pairings",
]
