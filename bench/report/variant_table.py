"""The registered variants as the rows and columns `gan-bench list` shows."""

from __future__ import annotations

from variants import get_variant, list_variants
from variants.variant import count_params
from bench.report.tables import Column


def count(n: int) -> str:
    return f"{n:,}"


VARIANT_COLUMNS = [
    Column("name", "name", essential=True), Column("arch", "arch", essential=True),
    Column("loss", "loss", essential=True),
    Column("params_g", "params G", count, justify="right"), Column("params_d", "params D", count, justify="right"),
    Column("n_critic", "n_critic", justify="right"), Column("optimizer", "optimizer"),
    Column("z_dim", "z", justify="right"), Column("batch_size", "batch", justify="right"),
    Column("lr_g", "lr G", lambda x: f"{x:g}"), Column("lr_d", "lr D", lambda x: f"{x:g}"),
    Column("betas", "betas", lambda b: f"({b[0]:g}, {b[1]:g})"), Column("arch_options", "arch options"),
    Column("paper", "paper"),
    Column("source", "source"),
]


def variant_rows() -> list[dict]:
    """One row per registered variant: its recipe, defaults, parameter counts and source."""
    rows = []
    for name in list_variants():
        v = get_variant(name)
        hp = v.hparams
        G, D = v.build((1, 28, 28))
        options = ", ".join(f"{k}={x}" for k, x in v.arch_options.items())
        rows.append({"name": name, "arch": v.arch, "arch_options": options, "loss": v.loss,
                     "params_g": count_params(G), "params_d": count_params(D), "n_critic": hp.n_critic,
                     "z_dim": hp.z_dim, "batch_size": hp.batch_size, "optimizer": hp.optimizer,
                     "lr_g": hp.lr_g, "lr_d": hp.lr_d, "betas": list(hp.betas), "paper": v.paper,
                     "source": v.source})
    return rows
