"""A variant: a named recipe of architecture + loss + the hyperparameters of the paper it
comes from (`Variant`, `Hparams`), what a variant must pass to be registered, and the
functions over the registered ones (timm-style: `register_variant`, `list_variants`,
`get_variant`, `select_variants`; VARIANTS is a `variants.registry.Registry`). The twelve
named variants are the table in `variants/recipes.py`. The registry remembers which module
registered each variant (`Variant.source`: "builtin", or the plug-in's module, file and
sha256)."""

from __future__ import annotations

import inspect
import math
from functools import cached_property
from dataclasses import dataclass, field, fields, replace

import torch

from variants.archs import ARCH_SPECS, ARCHS, D_OUTPUTS, arch_option_names
from variants.losses import AFTER_D_STEP_ARGS, D_LOSS_ARGS, LOSSES, loss_option_names
from variants.registry import Registry, RegistryError
from variants.optimizers import OPTIMIZERS
from variants.options import options_taken, unknown_option
from variants.provenance import BUILTIN, caller_source


@dataclass(frozen=True)
class Hparams:
    z_dim: int = 100
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1  # D updates per G update
    width: int = 64  # base channels (conv) or units (MLP)
    optimizer: str = "adam"  # a name in variants.optimizers.OPTIMIZERS (adam, rmsprop)


@dataclass(frozen=True)
class Variant:
    name: str
    arch: str
    loss: str
    hparams: Hparams
    paper: str
    arch_options: dict = field(default_factory=dict)  # e.g. {"d_norm": "none"}
    loss_options: dict = field(default_factory=dict)  # e.g. {"gp_weight": 10.0}
    source: object = BUILTIN  # set by register_variant: "builtin" or {"module", "file", "sha256"}

    def build(self, data_shape) -> tuple[torch.nn.Module, torch.nn.Module]:
        # Variants are built unregistered too (records, `with_hparams`, `combine`), so a pack
        # the architecture or batch size cannot take, or an option it does not know, is
        # refused here as well.
        check_pack_option(self)
        check_options(self)
        return ARCHS[self.arch](data_shape, self.hparams.z_dim, self.hparams.width, **self.arch_options)

    def new_loss_state(self, device: torch.device) -> dict:
        """The loss's per-run state (BEGAN's k_t), fresh; empty for stateless losses."""
        init = LOSSES[self.loss].init_state
        return init(device) if init is not None else {}

    def d_loss(self, D, real, fake, state: dict | None = None, diag: dict | None = None) -> torch.Tensor:
        """D's loss; a loss that declares diagnostics puts them into `diag` when given one."""
        loss = LOSSES[self.loss]
        stateful = {"state": state} if loss.init_state is not None else {}
        reporting = {"diag": diag} if loss.diagnostics and diag is not None else {}
        return loss.d_loss(D, real, fake, **self.d_loss_options, **stateful, **reporting)

    def g_loss(self, D, fake, real) -> torch.Tensor:
        return LOSSES[self.loss].g_loss(D, fake, real)

    def after_d_step(self, D, state: dict) -> None:
        hook = LOSSES[self.loss].after_d_step
        if hook is not None:
            hook(D, state, **self.after_d_step_options)

    # A loss's options are shared by its d_loss and its after_d_step, each taking its own:
    # sorted out once per variant (a fresh one after `replace`), not at every D step.
    @cached_property
    def d_loss_options(self) -> dict:
        return options_taken(LOSSES[self.loss].d_loss, D_LOSS_ARGS, self.loss_options)

    @cached_property
    def after_d_step_options(self) -> dict:
        return options_taken(LOSSES[self.loss].after_d_step, AFTER_D_STEP_ARGS, self.loss_options)

    def with_hparams(self, **changes) -> "Variant":
        return replace(self, hparams=replace(self.hparams, **changes))


VARIANTS: Registry[Variant] = Registry("variant")

# Every registry's error, under the name the CLI and the callers have always caught.
UnknownVariant = RegistryError


class BadVariant(UnknownVariant):
    """A variant or pairing that cannot be registered or built: the CLI prints it as one
    `error:` line, as it does an unknown name."""


def check_pairing(arch: str, loss: str) -> None:
    """A loss needs a D of its output kind (data on both: `Loss.d_output`, `ArchSpec.d_output`)."""
    needs, gives = LOSSES[loss].d_output, ARCH_SPECS[arch].d_output
    if needs != gives:
        raise BadVariant(f"loss {loss!r} needs a D that returns {D_OUTPUTS[needs]}, but architecture {arch!r}'s D "
                         f"returns {D_OUTPUTS[gives]}; pair {loss!r} with an architecture whose D returns "
                         f"{D_OUTPUTS[needs]} ({', '.join(archs_for(needs))})")


def archs_for(d_output: str) -> list[str]:
    return sorted(name for name, spec in ARCH_SPECS.items() if spec.d_output == d_output)


def check_hparams(hp) -> None:
    if not isinstance(hp, Hparams):
        raise BadVariant(f"hparams must be a variants.Hparams, got {type(hp).__name__}")
    for name in ("z_dim", "batch_size", "n_critic", "width"):
        value = getattr(hp, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise BadVariant(f"hparams.{name} must be a positive integer, got {value!r}")
    for name in ("lr_g", "lr_d"):
        value = getattr(hp, name)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise BadVariant(f"hparams.{name} must be a positive number, got {value!r}")
    if len(tuple(hp.betas)) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in hp.betas):
        raise BadVariant(f"hparams.betas must be two numbers in [0, 1), got {hp.betas!r}")
    if hp.optimizer not in OPTIMIZERS:
        raise BadVariant(OPTIMIZERS.unknown_message(hp.optimizer))


def check_pack_option(variant: Variant) -> None:
    """PacGAN's `pack` (Lin et al. 2018): a positive int, on an architecture whose D gives one
    value per image and whose builder takes it, with a batch that splits into whole packs."""
    if "pack" not in variant.arch_options:
        return
    pack, arch = variant.arch_options["pack"], variant.arch
    where = f"variant {variant.name!r}"
    if not isinstance(pack, int) or isinstance(pack, bool) or pack < 1:
        raise BadVariant(f"{where}: arch option pack must be a positive integer, got {pack!r}")
    d_output = ARCH_SPECS[arch].d_output
    if d_output != "logit":
        raise BadVariant(f"{where}: architecture {arch!r} cannot pack: its D returns {D_OUTPUTS[d_output]}, and "
                         f"packing needs a D that returns {D_OUTPUTS['logit']} "
                         f"({', '.join(a for a in archs_for('logit') if takes_option(a, 'pack'))})")
    if not takes_option(arch, "pack"):
        raise BadVariant(f"{where}: architecture {arch!r} does not take the arch option pack")
    if variant.hparams.batch_size % pack:
        raise BadVariant(f"{where}: batch_size {variant.hparams.batch_size} is not divisible by pack {pack}: "
                         f"D judges packs of {pack} images")


def check_options(variant: Variant) -> None:
    """Every arch and loss option is a parameter of the function it goes to (variants/options.py)."""
    for kind, name, given, accepted in (
            ("architecture", variant.arch, variant.arch_options, arch_option_names(variant.arch)),
            ("loss", variant.loss, variant.loss_options, loss_option_names(variant.loss))):
        why = unknown_option(given, accepted)
        if why is not None:
            raise BadVariant(f"variant {variant.name!r}: {kind} {name!r} takes {why}")


def check_variant(variant: Variant) -> None:
    for name, known in ((variant.arch, ARCH_SPECS), (variant.loss, LOSSES)):
        if name not in known:
            raise BadVariant(f"variant {variant.name!r}: {known.unknown_message(name)}")
    check_pairing(variant.arch, variant.loss)
    check_hparams(variant.hparams)
    check_pack_option(variant)
    check_options(variant)


def register_variant(variant: Variant) -> Variant:
    """Add `variant` under its name, remembering the module that registered it. An unknown
    architecture or loss, a pairing whose D outputs differ, bad hyperparameters, a
    `pack` the architecture or batch size cannot take, or an option that neither the
    architecture nor the loss takes raise `BadVariant`; a name another
    module registered, the registry's `RegistryError` (an `UnknownVariant` too)."""
    source = caller_source()
    if is_pairing(variant.name):
        raise BadVariant(f"variant {variant.name!r}: a name with {PAIRING_SEPARATOR!r} would hide the pairing of that "
                         "name; choose another")
    check_variant(variant)
    return VARIANTS.register(variant.name, replace(variant, source=source), source=source)


def list_variants() -> list[str]:
    return VARIANTS.names()


def get_variant(name: str) -> Variant:
    """A registered variant, or a pairing named ARCH+LOSS (see `combine`)."""
    if name not in VARIANTS and is_pairing(name):
        arch, _, loss = name.partition(PAIRING_SEPARATOR)
        return combine(arch.strip(), loss.strip())
    return VARIANTS.get(name)


# A pairing's name: `combine` names it so, and `get_variant` builds one from such a name, so
# a pairing can be listed wherever a variant name goes (`--variants dcgan+ls`).
PAIRING_SEPARATOR = "+"


def is_pairing(name: str) -> bool:
    return PAIRING_SEPARATOR in name


def combine(arch: str, loss: str) -> Variant:
    """An architecture and a loss paired as Lucic et al. compared them: the loss brings
    its recipe (optimizer, n_critic, penalty) from the named variant that uses it, the
    architecture its width and options from the named variant built on it."""
    ARCH_SPECS.get(arch), LOSSES.get(loss)  # an unknown name is the registry's error
    check_pairing(arch, loss)
    recipe = next((v for v in VARIANTS.values() if v.loss == loss), None)
    shape = next((v for v in VARIANTS.values() if v.arch == arch), None)
    # The architecture's own sizes (infogan: width and z 64) over the width of the named
    # variant built on it; a loss no named variant uses trains with the default recipe.
    sizes = {"width": shape.hparams.width} if shape else {}
    sizes.update(ARCH_SPECS[arch].hparams)
    hparams = replace(recipe.hparams if recipe else Hparams(), **sizes)
    # The architecture's own options (BEGAN's code size, G's start pixel, D's normalisation)
    # come from the named variant built on it too, so began+began trains the named began.
    arch_options = dict(shape.arch_options) if shape else {}
    # A per-sample gradient penalty needs a critic that does not normalize across the batch.
    if LOSSES[loss].double_backward and takes_option(arch, "d_norm"):
        arch_options["d_norm"] = "none"
    sources = [s for s in (LOSSES.source(loss), ARCH_SPECS.source(arch)) if s != BUILTIN]
    pairing = Variant(name=f"{arch}{PAIRING_SEPARATOR}{loss}", arch=arch, loss=loss, hparams=hparams,
                      paper=f"{LOSSES[loss].paper}; architecture " + (f"of {shape.name}" if shape else arch),
                      arch_options=arch_options, loss_options=dict(recipe.loss_options) if recipe else {},
                      source=sources[0] if sources else BUILTIN)
    # Its options come from two other variants: refused when the pairing is named, not when it trains.
    check_options(pairing)
    return pairing


def takes_option(arch: str, option: str) -> bool:
    return option in inspect.signature(ARCHS[arch]).parameters


def option_default(arch: str, option: str):
    """What an architecture's builder does when a variant leaves `option` out."""
    return inspect.signature(ARCHS[arch]).parameters[option].default


# Hyperparameters added after the first records and checkpoints were written: a config
# without one was trained with its default (every run used Adam before optimizers had names).
# Every config ever written holds every other field of `Hparams`.
ADDED_HPARAMS = ("optimizer",)


def variant_from_config(config: dict) -> Variant:
    """Rebuild the exact variant a record or checkpoint was made with (its `config`); a
    hyperparameter that only ADDED_HPARAMS may lack is `BadVariant`, never a default."""
    missing = [f.name for f in fields(Hparams) if f.name not in config["hparams"] and f.name not in ADDED_HPARAMS]
    if missing:
        raise BadVariant(f"config of variant {config['variant']!r} has no hparams {', '.join(missing)}")
    hparams = dict(config["hparams"], betas=tuple(config["hparams"]["betas"]))
    known = VARIANTS.get(config["variant"], None)
    return Variant(name=config["variant"], arch=config["arch"], loss=config["loss"], hparams=Hparams(**hparams),
                   paper=known.paper if known else "", arch_options=dict(config["arch_options"]),
                   loss_options=dict(config["loss_options"]), source=config.get("source", BUILTIN))


def pairings(archs: str, losses: str) -> list[str]:
    """Every ARCH+LOSS name of two comma-separated lists, architecture by architecture: the
    grid Lucic et al. trained (several losses on one architecture)."""
    split = lambda spec: [n.strip() for n in spec.split(",") if n.strip()]  # noqa: E731
    names = [f"{arch}{PAIRING_SEPARATOR}{loss}" for arch in split(archs) for loss in split(losses)]
    if not names:
        raise UnknownVariant("no pairing named; use --arch A[,A...] --loss L[,L...]")
    return names


def select_variants(spec: str, exclude: str | None = None) -> list[Variant]:
    """The variants `spec` names, in the order given: 'all', or a comma-separated list of
    registered names, fnmatch patterns over them ('wgan*') and ARCH+LOSS pairings, less
    those `exclude` names (names, patterns or pairings). A name or pattern that matches
    nothing, and an empty selection, raise `UnknownVariant`."""
    return [get_variant(name) for name in VARIANTS.select(spec, exclude, also=is_pairing)]


def count_params(net) -> int:
    """A network's number of parameters (the records' params_g and params_d)."""
    return sum(p.numel() for p in net.parameters())


def architectures_summary(data_shape=(1, 28, 28)) -> str:
    """One line per architecture: its D output and parameter counts at the sizes it trains
    with in a pairing (its own, else the named variant's built on it), for `gan-bench list`."""
    lines = ["architectures (parameters at the size a pairing trains them):"]
    for name, spec in sorted(ARCH_SPECS.items()):
        shape = next((v for v in VARIANTS.values() if v.arch == name), None)
        sizes = {"width": shape.hparams.width, "z_dim": shape.hparams.z_dim} if shape else {}
        sizes = {**Hparams().__dict__, **sizes, **spec.hparams}
        G, D = spec.builder(data_shape, sizes["z_dim"], sizes["width"])
        lines.append(f"  {name}: G {count_params(G):,}, D {count_params(D):,} (z {sizes['z_dim']}, width {sizes['width']}; "
                     f"D returns {D_OUTPUTS[spec.d_output]}){' - ' + spec.description if spec.description else ''}")
    return "\n".join(lines)
