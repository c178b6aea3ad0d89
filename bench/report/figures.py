"""The figures a report shows, by record section: their keys, labels and formats."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

STATUSES = ("ok", "diverged", "failed")


@dataclass(frozen=True)
class Figure:
    key: str  # the key in the record's `metrics` or `systems`
    label: str
    fmt: str = "{:.3f}"
    scale: float = 1.0  # for display only (bytes to MiB); the CSV keeps the record's unit
    # The dataset whose tables always have this column; None: a column only when some ok run has it.
    dataset: str | None = None
    # The values the figure can take: an interval over seeds is clipped to them.
    lo: float = 0.0
    hi: float = math.inf
    # Dotted record keys whose product is the most one run can reach (its budget's cap), where
    # the run records them: an interval over seeds is clipped to the largest of its runs' caps.
    cap: tuple[str, ...] = ()


# A table of MNIST runs shows the MNIST figures, one of Stacked MNIST runs the Stacked MNIST
# figures (the report never mixes datasets), and either shows fid_inception where a run has it.
QUALITY = (
    Figure("fid_mnist", "FID (MNIST) ↓", "{:.2f}", dataset="mnist"),
    # KID is a squared distance, but the figure is its unbiased estimate, which dips below 0 when
    # the two sample sets are close: its mean and interval are shown as they are, never cut at 0.
    Figure("kid_mnist", "KID (MNIST) ↓", "{:.4f}", dataset="mnist", lo=-math.inf),
    Figure("precision_mnist", "precision ↑", dataset="mnist", hi=1.0),
    Figure("recall_mnist", "recall ↑", dataset="mnist", hi=1.0),
    # IS on 10 classes lies in [1, 10]; the mean max-probability over 10 classes in [0.1, 1].
    Figure("is_mnist", "IS (MNIST) ↑", "{:.2f}", dataset="mnist", lo=1.0, hi=10.0),
    Figure("modes_covered", "modes ↑", "{:.1f}", dataset="mnist", hi=10.0),
    Figure("class_kl", "class KL ↓", dataset="mnist", hi=math.log(10)),
    Figure("confidence", "confidence ↑", dataset="mnist", lo=0.1, hi=1.0),
    Figure("fid_stacked", "FID (stacked) ↓", "{:.2f}", dataset="stacked-mnist"),
    Figure("stacked_modes", "modes of 1,000 ↑", "{:.1f}", dataset="stacked-mnist", hi=1000.0),
    Figure("stacked_kl", "mode KL ↓", dataset="stacked-mnist", hi=math.log(1000)),
    Figure("digit_confidence", "digit confidence ↑", dataset="stacked-mnist", lo=0.1, hi=1.0),
    Figure("fid_inception", "FID (Inception) ↓", "{:.2f}"),
)
# What FID misses (bench/eval/beyond.py, docs/figures.md "Beyond FID"): copies of the training
# set, density and coverage, FID without its sample-size bias. Their own table in a report.
BEYOND = (
    Figure("copy_rate_mnist", "copy rate ↓", hi=1.0),
    Figure("copy_rate_pixels", "copy rate, pixels ↓", hi=1.0),
    # C_T is a weighted mean of z-scores: below 0 copying, near 0 like unseen data, above 0 under-fitting.
    Figure("ct_mnist", "C_T (0: like unseen data)", "{:.2f}", lo=-math.inf),
    Figure("density_mnist", "density (1: like real)"),
    Figure("coverage_mnist", "coverage ↑", hi=1.0),
    # The intercept of a line fitted to FIDs at several N: a little below 0 where the samples are real.
    Figure("fid_mnist_inf", "FID∞ (MNIST) ↓", "{:.2f}", lo=-math.inf),
)
SYSTEMS = (
    Figure("train_images_per_s", "images/s ↑", "{:.0f}"),
    Figure("step_ms_p50", "step p50 (ms) ↓", "{:.2f}"),
    Figure("peak_mem_bytes", "training peak memory (MiB) ↓", "{:.1f}", scale=1 / 2**20),
    Figure("eval_peak_mem_bytes", "evaluation peak memory (MiB)", "{:.1f}", scale=1 / 2**20),
    Figure("train_s", "train time (s)", "{:.1f}"),
)
# What each run's budget came to in every unit: under an epoch budget n_critic 5 means a
# fifth of the G updates, which a table must show next to the figures.
# The planned G updates cap a run's (a time budget plans none); each G update takes n_critic D updates.
G_STEPS_CAP = ("budget.g_steps_planned",)
D_STEPS_CAP = ("budget.g_steps_planned", "config.hparams.n_critic")
BUDGET = (
    Figure("g_steps", "G updates", "{:.0f}", cap=G_STEPS_CAP),
    Figure("d_steps", "D updates", "{:.0f}", cap=D_STEPS_CAP),
)


# Under --until-converged: where each run stopped (the record's `convergence` section).
# A time budget ends at the first step boundary after it, so training seconds have no cap.
CONVERGENCE = (
    Figure("epochs", "epochs at stop", "{:.1f}", cap=("convergence.rule.max_epochs",)),
    Figure("g_steps", "G updates at stop", "{:.0f}", cap=G_STEPS_CAP),
    Figure("d_steps", "D updates at stop", "{:.0f}", cap=D_STEPS_CAP),
    Figure("train_s", "training s at stop", "{:.0f}"),
)
CLIPPED_MARK = "*"
CLIPPED_NOTE = ("Intervals are clipped to what each figure can take (FID ≥ 0, precision ≤ 1, modes ≤ 10, a "
                f"budget's cap on updates and epochs, ...); a bound marked {CLIPPED_MARK} was cut there (a t-interval "
                "over few seeds easily leaves that range). KID is its unbiased estimate, which can be below 0: shown "
                "as it is.")


def best_figure(figure: Figure) -> Figure:
    """The figure scored for the generator of the best curve point (metrics `<key>_best`)."""
    return replace(figure, key=f"{figure.key}_best", label=figure.label.replace(" ↓", " at best ↓")
                   .replace(" ↑", " at best ↑"))


def metric_keys(figures) -> list[str]:
    return [f.key for f in figures]

