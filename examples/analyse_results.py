"""Read a published set of run records with pandas and reproduce its report's FID table.

    python examples/analyse_results.py [RUNS_FOLDER [REPORT_CSV]]

Defaults: the published quick set, results/cpu-amd-epyc-avx2/runs, and its committed report.csv.
The means over seeds come from the records (bench.load_runs, bench.summarize); the script
stops with an AssertionError if they differ from the report's."""

import sys
from pathlib import Path

import pandas as pd

import bench

ROOT = Path(__file__).resolve().parents[1]


def main(runs_folder: Path, report_csv: Path) -> pd.DataFrame:
    runs = bench.load_runs(runs_folder)
    print(f"{len(runs)} runs, {runs['variant'].nunique()} variants, preset {', '.join(runs['config.preset'].unique())}")

    # Any column works as a figure or a grouping, e.g. the training time per variant and device:
    # bench.summarize(runs, by=["variant", "env.device_slug"], figures=["systems.train_s"])
    table = bench.summarize(runs, figures=["fid_mnist"])
    print(table[["variant", "n_ok", "fid_mnist_mean", "fid_mnist_std", "fid_mnist_ci_lo", "fid_mnist_ci_hi"]]
          .sort_values("fid_mnist_mean").to_string(index=False, float_format="{:.2f}".format))

    published = pd.read_csv(report_csv, comment="#")  # the first line says how the report was made
    # The report's first row is the score of real data (variant "external:real-data"), not a run.
    published = published[~published["variant"].str.startswith("external:")]
    both = table.merge(published, on="variant", suffixes=("", "_published"))
    assert len(both) == len(published) == len(table), "the records and the report name different variants"
    pd.testing.assert_series_equal(both["fid_mnist_mean"], both["fid_mnist_mean_published"], check_names=False,
                                   rtol=1e-9)
    print(f"fid_mnist means of all {len(both)} variants equal {report_csv}'s")
    return both


if __name__ == "__main__":
    runs_folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "results/cpu-amd-epyc-avx2/runs"
    report_csv = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "results/cpu-amd-epyc-avx2/report.csv"
    main(runs_folder, report_csv)
