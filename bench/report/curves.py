"""Per-run figures the reports average away: each record's curve, its stop, its final and
best fid_mnist, and for BEGAN the share of log points where k_t is above 0 and M's values at
the curve points. docs/variants.md and docs/published.md quote single seeds from these
(`gan-bench curves`, bench/cli/published.py)."""

from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError
from bench.report.loading import is_number, load_records


def run_figures(record: dict) -> dict:
    # A failed run has no metrics; it still gets its line, with its curve up to the failure.
    metrics, stop = record.get("metrics") or {}, record.get("convergence") or {}
    curve = [point for point in record.get("curve", []) if point.get("fid_mnist") is not None]
    logged = [point["diagnostics"] for point in record.get("curve", []) if "k" in point.get("diagnostics", {})]
    figures = {
        "variant": record["variant"], "seed": record["seed"],
        "stop": stop.get("status", "fixed budget"), "epochs": round(stop["epochs"], 1) if stop else None,
        "fid_mnist": round(metrics["fid_mnist"], 2) if is_number(metrics.get("fid_mnist")) else None,
        "fid_mnist_best": round(metrics["fid_mnist_best"], 2) if is_number(metrics.get("fid_mnist_best")) else None,
        "modes": metrics.get("modes_covered"),
        "curve": [(point["step"], round(point["fid_mnist"], 1)) for point in curve],
    }
    if logged:  # BEGAN: k_t and M are means over each log window
        figures |= {"k_above_0": f"{sum(d['k'] > 0 for d in logged)} of {len(logged)} log points",
                    "k_max": round(max(d["k"] for d in logged), 3),
                    "k_at_curve": [round(p["diagnostics"]["k"], 3) for p in curve],
                    "M_at_curve": [round(p["diagnostics"]["M"], 3) for p in curve]}
    return figures


def folder_figures(folder: Path, variants: str | None = None) -> tuple[list[dict], list[str]]:
    """run_figures of every record under `folder` (of `variants`, comma-separated names), by
    variant then seed, and one warning per file the loader skipped."""
    records, warnings = load_records(folder)
    wanted = set(variants.split(",")) if variants else None
    rows = [run_figures(r) for r in sorted(records, key=lambda r: (r["variant"], r["seed"]))
            if wanted is None or r["variant"] in wanted]
    if not rows:
        which = f" of {', '.join(sorted(wanted))}" if wanted else ""
        raise BenchError(f"no run records{which} under {folder}")
    return rows, warnings


def figures_text(rows: list[dict]) -> list[str]:
    """A paragraph per run: its stop and final figures, then each list on a line of its own."""
    lines = []
    for row in rows:
        stop = row["stop"] if row["epochs"] is None else f"{row['stop']} at {row['epochs']} epochs"
        lines.append(f"{row['variant']} seed {row['seed']}: {stop}; "
                     f"fid_mnist {row['fid_mnist']} (best point {row['fid_mnist_best']}), modes {row['modes']}")
        lines += [f"  {key}: {row[key]}" for key in ("curve", "k_above_0", "k_max", "k_at_curve", "M_at_curve")
                  if key in row]
    return lines
