"""Search spaces: what a study may vary, over which ranges, and for which variants.

The named spaces follow Lucic et al. 2018, "Are GANs Created Equal?" (arXiv:1711.10337),
and its code, google/compare_gan v1: `lucic-wide` is their wide random search, `lucic-narrow`
the narrow one around the usual settings. compare_gan fixes batch 64 and z 64; a study here
keeps each variant's own batch size and z, so that configuration 0 is the variant itself.

A user's own space comes from a TOML study file:

    [space]
    lr = { log-uniform = [1e-4, 1e-3] }
    beta1 = { uniform = [0.0, 0.9] }
    n_critic = { choice = [1, 5] }
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.errors import BenchError
from variants import LOSSES, Variant
from variants.registry import Registry
from variants.variant import option_default, takes_option

KINDS = ("log-uniform", "uniform", "choice")


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # one of KINDS
    values: tuple  # (lo, hi) for the two ranges; the options for a choice
    # A named space ties a parameter to the losses it was searched for: BEGAN's gamma is not
    # R1's gamma (a penalty weight), though both are the loss option `gamma`.
    losses: tuple[str, ...] | None = None

    def describe(self) -> dict:
        return {"kind": self.kind, "values": list(self.values),
                **({"losses": list(self.losses)} if self.losses else {})}


@dataclass(frozen=True)
class Space:
    name: str  # a named space, or "custom"
    params: tuple[Param, ...] = field(default_factory=tuple)

    def describe(self) -> dict:
        return {"name": self.name, "params": {p.name: p.describe() for p in self.params}}


def log_uniform(name, lo, hi, losses=None):
    return Param(name, "log-uniform", (lo, hi), losses)


def uniform(name, lo, hi, losses=None):
    return Param(name, "uniform", (lo, hi), losses)


def choice(name, *values, losses=None):
    return Param(name, "choice", tuple(values), losses)


SPACES: Registry[Space] = Registry("search space", hint="or give your own ranges in a study file")
for _space in (
    Space("lucic-wide", (
        log_uniform("lr", 1e-5, 1e-2), uniform("beta1", 0.0, 1.0), choice("beta2", 0.999),
        choice("n_critic", 1, 5), choice("d_norm", "batch", "none"),
        log_uniform("gp_weight", 1e-1, 1e2), log_uniform("clip", 1e-3, 1.0),
        log_uniform("lambda_k", 1e-4, 1e-2, losses=("began",)), uniform("gamma", 0.0, 1.0, losses=("began",)),
    )),
    Space("lucic-narrow", (
        log_uniform("lr", 1e-4, 1e-3), choice("beta1", 0.5), choice("n_critic", 1),
        log_uniform("gp_weight", 1e-1, 1e1),
    )),
    Space("defaults"),
):
    SPACES.register(_space.name, _space)

HPARAM_NAMES = ("lr", "beta1", "beta2", "n_critic")
ARCH_OPTION_NAMES = ("d_norm",)
D_NORMS = ("batch", "none")


def get_space(name: str) -> Space:
    """The named space; an unknown name is a `variants.RegistryError` with close matches."""
    return SPACES.get(name)


def applies(param: Param, variant: Variant) -> bool:
    """Whether a variant uses the parameter: a parameter it does not use is not sampled for it."""
    if param.losses is not None and variant.loss not in param.losses:
        return False
    hp = variant.hparams
    if param.name in ("beta1", "beta2"):
        return hp.optimizer == "adam"  # RMSprop (WGAN) has no betas
    if param.name in HPARAM_NAMES:
        return True
    if param.name == "d_norm":
        # A gradient penalty is per sample: batch norm in its D would mix the samples, so a
        # penalized loss keeps "none"; spectral normalization replaces batch norm in SNGAN.
        return (takes_option(variant.arch, "d_norm") and not LOSSES[variant.loss].double_backward
                and not variant.arch_options.get("spectral_norm"))
    return param.name in variant.loss_options


def default_value(name: str, variant: Variant):
    """The variant's own value of a parameter: configuration 0's `params`."""
    hp = variant.hparams
    if name == "lr":
        return hp.lr_d if hp.lr_g == hp.lr_d else {"g": hp.lr_g, "d": hp.lr_d}
    if name in ("beta1", "beta2"):
        return hp.betas[0 if name == "beta1" else 1]
    if name == "n_critic":
        return hp.n_critic
    if name == "d_norm":
        return variant.arch_options.get("d_norm", option_default(variant.arch, "d_norm"))
    return variant.loss_options[name]


def apply(variant: Variant, params: dict) -> Variant:
    """The variant with the sampled values put in: its name stays, its config changes."""
    hp = variant.hparams
    changes, arch_options, loss_options = {}, dict(variant.arch_options), dict(variant.loss_options)
    betas = list(hp.betas)
    for name, value in params.items():
        if name == "lr":
            # Configuration 0 of a variant whose G and D rates differ carries both.
            pair = value if isinstance(value, dict) else {"g": value, "d": value}
            changes.update(lr_g=pair["g"], lr_d=pair["d"])
        elif name in ("beta1", "beta2"):
            betas[0 if name == "beta1" else 1] = value
        elif name == "n_critic":
            changes["n_critic"] = int(value)
        elif name == "d_norm":
            arch_options["d_norm"] = value
        else:
            loss_options[name] = value
    return replace(variant, hparams=replace(hp, betas=tuple(betas), **changes),
                   arch_options=arch_options, loss_options=loss_options)


def known_names() -> set[str]:
    from variants import VARIANTS

    return {*HPARAM_NAMES, *ARCH_OPTION_NAMES, *(k for v in VARIANTS.values() for k in v.loss_options)}


# ---------------------------------------------------------------- study files


def line_of(text: str, key: str) -> int | None:
    """The line a key is set on: tomllib's values carry no position, and an error in a
    value should point at its line."""
    pattern = re.compile(rf"^\s*(\[\s*)?[\"']?{re.escape(key)}[\"']?\s*(=|\])", re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def read_study_file(path: Path) -> tuple[dict, str]:
    """The file's settings as a dict and its text; a file TOML cannot parse is a BenchError
    that names the file and tomllib's line and column."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise BenchError(f"cannot read study file {path}: {error.strerror or error}") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as error:
        raise BenchError(f"study file {path} is not valid TOML: {error}") from None


def parse_space(table: dict, path: Path, text: str) -> Space:
    """A `[space]` table: each parameter one distribution."""
    def fail(key, message):
        line = line_of(text, key)
        raise BenchError(f"{path}{f', line {line}' if line else ''}: {message}")

    if not table:
        fail("space", "the [space] table names no parameter")
    known, params = known_names(), []
    for name, spec in table.items():
        if name not in known:
            fail(name, f"unknown parameter {name!r}; known: {', '.join(sorted(known))}")
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in KINDS:
            fail(name, f"{name} must be one of {', '.join(f'{{ {k} = [...] }}' for k in KINDS)}")
        kind, values = next(iter(spec.items()))
        if not isinstance(values, list) or not values:
            fail(name, f"{name}: {kind} takes a non-empty list")
        if kind == "choice":
            check_choices(name, values, lambda m: fail(name, m))
            params.append(choice(name, *values))
            continue
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
        if len(values) != 2 or not numeric or values[0] > values[1]:
            fail(name, f"{name}: {kind} takes [lo, hi] with lo <= hi, got {values}")
        if kind == "log-uniform" and values[0] <= 0:
            fail(name, f"{name}: log-uniform needs lo > 0, got {values[0]}")
        params.append(Param(name, kind, (float(values[0]), float(values[1]))))
    return Space("custom", tuple(params))


def check_choices(name: str, values: list, fail) -> None:
    if name == "d_norm" and not all(isinstance(v, str) and v in D_NORMS for v in values):
        fail(f"d_norm choices are {', '.join(D_NORMS)}, got {values}")
    if name == "n_critic" and not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        fail(f"n_critic choices must be positive integers, got {values}")
    if name != "d_norm" and not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                    for v in values):
        fail(f"{name} choices must be finite numbers, got {values}")
