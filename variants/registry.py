"""The variant registry: a variant is a named recipe of architecture + loss + the
hyperparameters of the paper it comes from (timm-style: `register_variant`,
`list_variants`, `get_variant`)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace

import torch

from variants.archs import ARCHS
from variants.losses import LOSSES


@dataclass(frozen=True)
class Hparams:
    z_dim: int = 100
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1  # D updates per G update
    width: int = 64  # base channels (conv) or units (MLP)


@dataclass(frozen=True)
class Variant:
    name: str
    arch: str
    loss: str
    hparams: Hparams
    paper: str
    arch_options: dict = field(default_factory=dict)  # e.g. {"d_norm": "none"}
    loss_options: dict = field(default_factory=dict)  # e.g. {"gp_weight": 10.0}

    def build(self, data_shape) -> tuple[torch.nn.Module, torch.nn.Module]:
        return ARCHS[self.arch](data_shape, self.hparams.z_dim, self.hparams.width, **self.arch_options)

    def d_loss(self, D, real, fake) -> torch.Tensor:
        return LOSSES[self.loss].d_loss(D, real, fake, **self.loss_options)

    def g_loss(self, D, fake) -> torch.Tensor:
        return LOSSES[self.loss].g_loss(D, fake)

    def with_hparams(self, **changes) -> "Variant":
        return replace(self, hparams=replace(self.hparams, **changes))


VARIANTS: dict[str, Variant] = {}


def register_variant(variant: Variant) -> Variant:
    if variant.arch not in ARCHS or variant.loss not in LOSSES:
        raise ValueError(f"{variant.name}: unknown arch {variant.arch!r} or loss {variant.loss!r}")
    VARIANTS[variant.name] = variant
    return variant


def list_variants() -> list[str]:
    return sorted(VARIANTS)


class UnknownVariant(KeyError):
    def __str__(self):
        return self.args[0]


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        close = difflib.get_close_matches(name, VARIANTS, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(list_variants())}"
        raise UnknownVariant(f"unknown variant {name!r}{hint}")
    return VARIANTS[name]


def combine(arch: str, loss: str) -> Variant:
    """An architecture and a loss paired as Lucic et al. compared them: the loss brings
    its recipe (optimizer, n_critic, penalty) from the named variant that uses it, the
    architecture its width from the named variant built on it."""
    for kind, name, known in (("architecture", arch, ARCHS), ("loss", loss, LOSSES)):
        if name not in known:
            raise UnknownVariant(f"unknown {kind} {name!r}; known: {', '.join(sorted(known))}")
    recipe = next(v for v in VARIANTS.values() if v.loss == loss)
    shape = next(v for v in VARIANTS.values() if v.arch == arch)
    # A per-sample gradient penalty needs a critic that does not normalize across the batch.
    arch_options = {"d_norm": "none"} if LOSSES[loss].double_backward and arch == "dcgan" else {}
    return Variant(name=f"{arch}+{loss}", arch=arch, loss=loss,
                   hparams=replace(recipe.hparams, width=shape.hparams.width),
                   paper=f"{LOSSES[loss].paper}; architecture of {shape.name}",
                   arch_options=arch_options, loss_options=dict(recipe.loss_options))


def variant_from_config(config: dict) -> Variant:
    """Rebuild the exact variant a record or checkpoint was made with (its `config`)."""
    hparams = dict(config["hparams"], betas=tuple(config["hparams"]["betas"]))
    known = VARIANTS.get(config["variant"])
    return Variant(name=config["variant"], arch=config["arch"], loss=config["loss"], hparams=Hparams(**hparams),
                   paper=known.paper if known else "", arch_options=dict(config["arch_options"]),
                   loss_options=dict(config["loss_options"]))


def select_variants(spec: str) -> list[Variant]:
    """'all' or a comma-separated list of names, in the order given."""
    names = list_variants() if spec.strip() == "all" else [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise UnknownVariant("no variant named; use 'all' or NAME[,NAME...]")
    return [get_variant(name) for name in dict.fromkeys(names)]
