"""Per-run figures the reports average away: each record's curve, its stop, its final and
best fid_mnist, and for BEGAN the share of log points where k_t is above 0 and M's first and
last values. docs/variants.md and docs/published.md quote single seeds from this output.

    python scripts/run_curves.py results/cpu-intel-xeon-processor-avx512/converged --variants began
    python scripts/run_curves.py results/cpu-intel-xeon-processor-avx512/converged --format json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.report.loading import load_records


def run_figures(record: dict) -> dict:
    metrics, stop = record["metrics"], record.get("convergence") or {}
    curve = [point for point in record.get("curve", []) if point.get("fid_mnist") is not None]
    logged = [point["diagnostics"] for point in record.get("curve", []) if "k" in point.get("diagnostics", {})]
    figures = {
        "variant": record["variant"], "seed": record["seed"],
        "stop": stop.get("status", "fixed budget"), "epochs": round(stop["epochs"], 1) if stop else None,
        "fid_mnist": round(metrics["fid_mnist"], 2),
        "fid_mnist_best": round(metrics["fid_mnist_best"], 2) if metrics.get("fid_mnist_best") else None,
        "modes": metrics.get("modes_covered"),
        "curve": [(point["step"], round(point["fid_mnist"], 1)) for point in curve],
    }
    if logged:  # BEGAN: k_t and M are means over each log window
        figures |= {"k_above_0": f"{sum(d['k'] > 0 for d in logged)} of {len(logged)} log points",
                    "k_max": round(max(d["k"] for d in logged), 3),
                    "k_at_curve": [round(p["diagnostics"]["k"], 3) for p in curve],
                    "M_at_curve": [round(p["diagnostics"]["M"], 3) for p in curve]}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    parser.add_argument("--variants", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    records, warnings = load_records(args.results)
    wanted = set(args.variants.split(",")) if args.variants else None
    rows = [run_figures(r) for r in sorted(records, key=lambda r: (r["variant"], r["seed"]))
            if wanted is None or r["variant"] in wanted]
    if args.format == "json":
        print(json.dumps(rows, indent=1))
        return
    for warning in warnings:
        print(f"warning: {warning}")
    for row in rows:
        stop = row["stop"] if row["epochs"] is None else f"{row['stop']} at {row['epochs']} epochs"
        print(f"{row['variant']} seed {row['seed']}: {stop}; "
              f"fid_mnist {row['fid_mnist']} (best point {row['fid_mnist_best']}), modes {row['modes']}")
        for key in ("curve", "k_above_0", "k_max", "k_at_curve", "M_at_curve"):
            if key in row:
                print(f"  {key}: {row[key]}")


if __name__ == "__main__":
    main()
