"""The table `gan-bench run` ends with: one row per run, the columns a newcomer needs first."""

from __future__ import annotations

from bench.report.tables import Column, fixed


def summary_row(record: dict) -> dict:
    metrics, systems = record.get("metrics") or {}, record.get("systems") or {}
    peak = systems.get("peak_mem_bytes")
    return {"variant": record["variant"], "seed": record["seed"], "status": record["status"],
            "fid_mnist": metrics.get("fid_mnist"), "fid_stacked": metrics.get("fid_stacked"),
            "is_mnist": metrics.get("is_mnist"),
            "modes_covered": metrics.get("modes_covered"), "stacked_modes": metrics.get("stacked_modes"),
            "stacked_kl": metrics.get("stacked_kl"), "train_images_per_s": systems.get("train_images_per_s"),
            "peak_mem_mib": None if peak is None else peak / 2**20, "train_s": systems.get("train_s"),
            "g_steps": (record.get("budget") or {}).get("g_steps"),
            "d_steps": (record.get("budget") or {}).get("d_steps")}


# Short headers so the columns a newcomer needs fit 80 columns; the legend line says what they
# are. The quality columns are the dataset's own figures.
QUALITY_COLUMNS = {
    "mnist": [Column("fid_mnist", "FID", fixed(2), True, "right"),
              Column("is_mnist", "IS", fixed(2), True, "right"),
              Column("modes_covered", "modes", essential=True, justify="right")],
    "stacked-mnist": [Column("fid_stacked", "FID", fixed(2), True, "right"),
                      Column("stacked_modes", "modes", essential=True, justify="right"),
                      Column("stacked_kl", "KL", fixed(2), True, "right")],
}


def summary_columns(dataset: str) -> list[Column]:
    return [
        Column("variant", "variant", essential=True), Column("seed", "seed", essential=True, justify="right"),
        Column("status", "status", essential=True), *QUALITY_COLUMNS[dataset],
        Column("train_images_per_s", "img/s", fixed(0), True, "right"),
        Column("peak_mem_mib", "MiB", fixed(0), True, "right"),
        Column("train_s", "train s", fixed(1), True, "right"),
        Column("g_steps", "G steps", justify="right"), Column("d_steps", "D steps", justify="right"),
        Column("record", "record"),
    ]


SUMMARY_SYSTEMS_LEGEND = ("img/s: real images per training second; MiB: training peak memory; train s: training "
                          "seconds (evaluation excluded)")
SUMMARY_LEGEND = {
    "mnist": "FID, IS: fid_mnist and is_mnist (MNIST-classifier features); modes: digit classes covered; "
             + SUMMARY_SYSTEMS_LEGEND,
    "stacked-mnist": "FID: fid_stacked (MNIST-classifier features of each channel); modes: distinct digit triples "
                     "of the 1,000; KL: stacked_kl, mode histogram vs uniform (nats); " + SUMMARY_SYSTEMS_LEGEND,
}
