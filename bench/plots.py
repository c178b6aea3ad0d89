"""The report's figures: convergence, sample grids, throughput and memory.

Figures are built on matplotlib's object API (`Figure`, rendered by Agg when saved as PNG)
rather than pyplot, so drawing here changes no global backend or state of the caller.
Each function returns False, and writes nothing, when there is nothing to draw.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.image
import pandas as pd
from matplotlib.figure import Figure

MIB = 2**20


def colour(index: int) -> str:
    """The same colour for a variant in every figure (its position in the sorted list)."""
    return f"C{index % 10}"


def save(fig: Figure, path: Path, caption: str) -> None:
    """Save with the regenerating command both visible and in the PNG's metadata.

    A suptitle rather than free text: the constrained layout makes room for it."""
    fig.suptitle(caption, x=0.005, ha="left", fontsize=6, color="0.4")
    fig.savefig(path, dpi=110, metadata={"Description": caption, "Software": "gan-bench"})


def seed_band(curves: list[list[dict]], fid_key: str = "fid_mnist") -> pd.DataFrame:
    """The FID (`fid_key`) per evaluation step across seeds: mean x positions, mean / min / max FID.

    Seeds of one config evaluate at the same steps, so points are aligned by step; the
    x positions (images seen, training seconds) are averaged over seeds at that step.
    """
    rows = [{"step": p.get("step"), "images_seen": p.get("images_seen"), "train_s": p.get("train_s"),
             "fid": p.get(fid_key)}
            for curve in curves for p in curve if finite(p.get(fid_key)) and finite(p.get("step"))]
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows).astype(float)
    return frame.groupby("step").agg(images_seen=("images_seen", "mean"), train_s=("train_s", "mean"),
                                     mean=("fid", "mean"), lo=("fid", "min"), hi=("fid", "max"),
                                     seeds=("fid", "size")).reset_index()


def finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


FID_AXIS = {"fid_mnist": "FID (MNIST classifier), lower is better",
            "fid_stacked": "FID (stacked, MNIST classifier per channel), lower is better"}


def convergence(curves: dict[str, list[list[dict]]], path: Path, caption: str, fid_key: str = "fid_mnist") -> bool:
    """The FID (`fid_key`) against images seen and against training seconds, one line per
    variant, the band spanning min to max over seeds."""
    bands = {variant: seed_band(runs, fid_key) for variant, runs in curves.items()}
    if not any(len(band) for band in bands.values()):
        return False
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for i, (variant, band) in enumerate(bands.items()):  # i counts empty ones too: colours match other figures
        if not len(band):
            continue
        for ax, x in zip(axes, ("images_seen", "train_s")):
            part = band.dropna(subset=[x])
            if not len(part):
                continue
            ax.plot(part[x], part["mean"], marker=".", color=colour(i),
                    label=f"{variant} ({int(part['seeds'].max())} seed{'s' if part['seeds'].max() > 1 else ''})")
            ax.fill_between(part[x], part["lo"], part["hi"], color=colour(i), alpha=0.2, linewidth=0)
    axes[0].set(xlabel="real images seen by D", ylabel=FID_AXIS.get(fid_key, fid_key),
                title="FID against images seen")
    axes[1].set(xlabel="training seconds", title="FID against training time")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(title="mean, band: min-max over seeds", fontsize=8, title_fontsize=8)
    save(fig, path, caption)
    return True


def sample_grids(grids: dict[str, Path], path: Path, caption: str) -> bool:
    """Each variant's sample grid, side by side."""
    if not grids:
        return False
    fig = Figure(figsize=(3.2 * len(grids), 3.6), layout="constrained")
    axes = fig.subplots(1, len(grids), squeeze=False)[0]
    for ax, (variant, png) in zip(axes, grids.items()):
        ax.set_axis_off()
        ax.set_title(variant)
        try:
            ax.imshow(matplotlib.image.imread(png), cmap="gray", interpolation="nearest")
        except (OSError, ValueError, SyntaxError):  # a damaged PNG shows as such, not as a crash
            ax.text(0.5, 0.5, f"unreadable:\n{png.name}", ha="center", va="center", fontsize=7,
                    transform=ax.transAxes)
    save(fig, path, caption)
    return True


# (summary column, axis label, scale): the systems figures worth a bar each.
BARS = (
    ("train_images_per_s", "training throughput (images/s), higher is better", 1.0),
    ("peak_mem_bytes", "training peak memory (MiB), lower is better", 1 / MIB),
)


def systems_bars(summary: pd.DataFrame, path: Path, caption: str) -> bool:
    """Throughput and peak memory per variant: mean over ok seeds, error bar one std."""
    panels = [(column, label, scale) for column, label, scale in BARS
              if f"{column}_mean" in summary and summary[f"{column}_mean"].notna().any()]
    if not panels:
        return False
    fig = Figure(figsize=(5 * len(panels), 0.5 * len(summary) + 2), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    variants = list(summary["variant"])
    for ax, (column, label, scale) in zip(axes, panels):
        means = summary[f"{column}_mean"].astype(float) * scale
        stds = summary[f"{column}_std"].astype(float).fillna(0) * scale
        ax.barh(variants, means.fillna(0), xerr=stds, capsize=3,
                color=[colour(i) for i in range(len(variants))])
        ax.invert_yaxis()  # first variant on top, as in the tables
        ax.set(xlabel=label)
        ax.grid(axis="x", alpha=0.3)
    save(fig, path, caption)
    return True
