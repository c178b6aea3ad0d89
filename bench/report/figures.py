"""The figures a report shows, by record section: their keys, labels and formats."""

from __future__ import annotations

from dataclasses import dataclass

STATUSES = ("ok", "diverged", "failed")


@dataclass(frozen=True)
class Figure:
    key: str  # the key in the record's `metrics` or `systems`
    label: str
    fmt: str = "{:.3f}"
    scale: float = 1.0  # for display only (bytes to MiB); the CSV keeps the record's unit
    # The dataset whose tables always have this column; None: a column only when some ok run has it.
    dataset: str | None = None


# A table of MNIST runs shows the MNIST figures, one of Stacked MNIST runs the Stacked MNIST
# figures (the report never mixes datasets), and either shows fid_inception where a run has it.
QUALITY = (
    Figure("fid_mnist", "FID (MNIST) ↓", "{:.2f}", dataset="mnist"),
    Figure("kid_mnist", "KID (MNIST) ↓", "{:.4f}", dataset="mnist"),
    Figure("precision_mnist", "precision ↑", dataset="mnist"),
    Figure("recall_mnist", "recall ↑", dataset="mnist"),
    Figure("is_mnist", "IS (MNIST) ↑", "{:.2f}", dataset="mnist"),
    Figure("modes_covered", "modes ↑", "{:.1f}", dataset="mnist"),
    Figure("class_kl", "class KL ↓", dataset="mnist"),
    Figure("confidence", "confidence ↑", dataset="mnist"),
    Figure("fid_stacked", "FID (stacked) ↓", "{:.2f}", dataset="stacked-mnist"),
    Figure("stacked_modes", "modes of 1,000 ↑", "{:.1f}", dataset="stacked-mnist"),
    Figure("stacked_kl", "mode KL ↓", dataset="stacked-mnist"),
    Figure("digit_confidence", "digit confidence ↑", dataset="stacked-mnist"),
    Figure("fid_inception", "FID (Inception) ↓", "{:.2f}"),
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
BUDGET = (
    Figure("g_steps", "G updates", "{:.0f}"),
    Figure("d_steps", "D updates", "{:.0f}"),
)


def metric_keys(figures) -> list[str]:
    return [f.key for f in figures]

