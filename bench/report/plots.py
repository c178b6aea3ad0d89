"""The report's figures: convergence, sample grids, throughput and memory, and a study's FIDs.

Figures are built on matplotlib's object API (`Figure`, rendered by Agg when saved as PNG)
rather than pyplot, so drawing here changes no global backend or state of the caller.
Each function returns False, and writes nothing, when there is nothing to draw.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.image
import pandas as pd
from matplotlib.ticker import FuncFormatter, MaxNLocator
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


def sample_grids(grids: dict[str, Path], path: Path, caption: str, title: str | None = None) -> bool:
    """Each variant's sample grid, side by side."""
    if not grids:
        return False
    fig = Figure(figsize=(3.2 * len(grids), 3.6), layout="constrained")
    if title:
        fig.suptitle(title, fontsize=9)
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


def log_if_wide(ax, values) -> None:
    """A log axis where the values span more than a factor of ten, so the good ones stay readable."""
    values = [v for v in values if finite(v) and v > 0]
    if values and max(values) > 10 * min(values):
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 20, not 2 x 10^1
        # Labels at 2, 3 and 5 only: every minor tick labelled overprints the ones near the decade.
        ax.yaxis.set_minor_formatter(FuncFormatter(
            lambda v, _: f"{v:g}" if v > 0 and round(v / 10 ** math.floor(math.log10(v))) in (2, 3, 5) else ""))


def study_fid_distribution(fids: dict[str, list[float]], path: Path, caption: str, fid_key: str = "fid_mnist") -> bool:
    """Per variant, the final FID of each configuration of a study: a box with the points on it.
    Configurations without an FID (failed, diverged) are counted, never drawn as a number."""
    scored = {variant: [v for v in values if finite(v)] for variant, values in fids.items()}
    if not any(scored.values()):
        return False
    fig = Figure(figsize=(max(5.0, 1.3 * len(fids) + 2), 4.6), layout="constrained")
    ax = fig.subplots()
    positions = range(1, len(fids) + 1)
    drawn = [(p, values) for p, values in zip(positions, scored.values()) if values]
    ax.boxplot([values for _, values in drawn], positions=[p for p, _ in drawn], widths=0.5, showfliers=False,
               medianprops={"color": "black"})
    for i, (p, values) in enumerate(zip(positions, scored.values())):
        # Evenly spread rather than random jitter: the same records always give the same picture.
        offsets = [0.0] if len(values) == 1 else [0.3 * (j / (len(values) - 1) - 0.5) for j in range(len(values))]
        ax.scatter([p + o for o in offsets], sorted(values), s=14, color=colour(i), alpha=0.8, zorder=3)
    ax.set_xticks(list(positions), [f"{variant}\n{len(scored[variant])}/{len(values)} with FID"
                                    for variant, values in fids.items()])
    missing = sum(len(values) - len(scored[variant]) for variant, values in fids.items())
    total = sum(len(values) for values in fids.values())
    ax.set(ylabel=FID_AXIS.get(fid_key, fid_key),
           title=f"Final FID per configuration; {missing} of {total} without an FID (failed or diverged), not plotted")
    ax.title.set_fontsize(9)
    log_if_wide(ax, [v for values in scored.values() for v in values])
    ax.grid(axis="y", alpha=0.3)
    save(fig, path, caption)
    return True


def study_expected_best(curves: pd.DataFrame, path: Path, caption: str, fid_key: str = "fid_mnist") -> bool:
    """Lucic et al.'s budget figure: the expected best FID after k configurations tried, one line
    per variant with its bootstrap band. Infinite values (k draws may all have failed) are not drawn."""
    if not len(curves) or not curves["expected_best"].map(finite).any():
        return False
    fig = Figure(figsize=(7, 4.6), layout="constrained")
    ax = fig.subplots()
    shown = []
    for i, (variant, curve) in enumerate(curves.groupby("variant", sort=False)):
        line = curve[curve["expected_best"].map(finite)]
        band = curve[curve["band_lo"].map(finite) & curve["band_hi"].map(finite)]
        if len(line):
            ax.plot(line["k"], line["expected_best"], marker=".", color=colour(i),
                    label=f"{variant} ({int(curve['k'].max())} configurations)")
            shown += list(line["expected_best"])
        if len(band):
            ax.fill_between(band["k"], band["band_lo"], band["band_hi"], color=colour(i), alpha=0.2, linewidth=0)
            shown += list(band["band_lo"]) + list(band["band_hi"])
    ax.set(xlabel="hyperparameter configurations tried (k)",
           ylabel=f"expected best {FID_AXIS.get(fid_key, fid_key)}",
           title="Expected best FID for a budget of k configurations")
    log_if_wide(ax, shown)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(title="exact expectation, band: 95% bootstrap;\nnot drawn where k draws may all have failed",
              fontsize=8, title_fontsize=8)
    save(fig, path, caption)
    return True


def diagnostic_means(curves: list[list[dict]]) -> pd.DataFrame:
    """The losses' diagnostics (curve points' `diagnostics`) per log point, averaged over seeds:
    columns images_seen and one per diagnostic."""
    rows = [{"step": p["step"], "images_seen": p.get("images_seen"), **{k: v for k, v in p["diagnostics"].items()
                                                                       if finite(v)}}
            for curve in curves for p in curve if isinstance(p.get("diagnostics"), dict) and finite(p.get("step"))]
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).groupby("step").mean(numeric_only=True).reset_index()


def diagnostics(curves: dict[str, list[list[dict]]], descriptions: dict[str, str], path: Path, caption: str) -> bool:
    """A panel per variant: its loss's diagnostics (critic gap, D's probabilities, penalties,
    BEGAN's k_t and M) against images seen, mean over seeds."""
    means = {variant: diagnostic_means(runs) for variant, runs in curves.items()}
    means = {variant: frame for variant, frame in means.items() if len(frame)}
    if not means:
        return False
    columns = min(4, len(means))
    rows = math.ceil(len(means) / columns)
    fig = Figure(figsize=(3.6 * columns, 2.8 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, (variant, frame) in zip(axes, means.items()):
        for j, name in enumerate(c for c in frame.columns if c not in ("step", "images_seen")):
            ax.plot(frame["images_seen"], frame[name], color=f"C{j}", linewidth=1, label=name)
        ax.set_title(variant, fontsize=9)
        ax.set_xlabel("real images seen by D", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    for ax in axes[len(means):]:
        ax.set_axis_off()
    shown = sorted({c for frame in means.values() for c in frame.columns} - {"step", "images_seen"})
    fig.supxlabel("; ".join(f"{name}: {descriptions.get(name, name)}" for name in shown), fontsize=6, wrap=True)
    save(fig, path, caption)
    return True
