"""How close the `--dry-run` estimate comes to a published set's measured time, without
estimating a set from its own records (which would only give them back).

    python tools/estimate_check.py results/cpu-amd-epyc-avx2/runs --from-seeds 0
    python tools/estimate_check.py results/cpu-amd-epyc-avx2/runs --from results/cpu-intel-xeon-processor

The set's runs (its variants and seeds, preset and dataset) are estimated as `gan-bench run
--dry-run` estimates them (bench/estimate/costs.py), either from a subset of the set's own
records (--from-seeds: the records of those seeds only, so the other seeds' runs are out of
sample) or from another folder's records, another machine's say (--from: read as if they
were this device's). Measured: each record's training plus evaluation seconds, summed."""

import argparse
from pathlib import Path

from bench.data.datasets import get_dataset
from bench.estimate.costs import Measurements, Planned, estimate
from bench.estimate.dry_run import duration
from bench.report.loading import load_records
from bench.report.summary import dataset_of
from bench.train.plan import RunPlan, run_config
from variants import variant_from_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, help="A published set's records (one preset, dataset and device).")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-seeds", help="Estimate from the set's records of these seeds (comma list).")
    source.add_argument("--from", dest="other", type=Path, help="Estimate from the records under this folder.")
    args = parser.parse_args()

    records, _ = load_records(args.runs)
    first = records[0]
    slug, preset, dataset = first["env"]["device_slug"], first["config"]["preset"], dataset_of(first)
    if args.other is not None:
        # Every set under the folder (runs/<slug>/ folders at any depth), as a dry run reads a device's sets.
        reference = [r for folder in sorted(args.other.glob("**/runs/*")) for r in load_records(folder)[0]]
        told = f"the records under {args.other}"
    else:
        seeds = {int(s) for s in args.from_seeds.split(",")}
        reference, told = [r for r in records if r["seed"] in seeds], f"the set's seed(s) {args.from_seeds} only"
    measured = Measurements(slug, reference)

    n_train = get_dataset(dataset).train_size
    rows = []
    for record in sorted(records, key=lambda r: (r["variant"], r["seed"])):
        variant = variant_from_config(record["config"])
        plan = RunPlan(variants=[variant], seeds=[record["seed"]], preset=preset, dataset=dataset, device=None,
                       out=Path("."))
        config = run_config(variant, record["seed"], plan, n_train)
        row = estimate(Planned(config, record["run_id"], record["env"].get("threads") or 1), measured)
        systems = record.get("systems") or {}
        row["measured_s"] = systems.get("train_s", 0) + systems.get("eval_s", 0)
        row["in_sample"] = any(r is record or r["run_id"] == record["run_id"] for r in reference)
        rows.append(row)

    print(f"{args.runs}: {len(rows)} runs of {len({r['variant'] for r in rows})} variants on {slug}, preset {preset}; "
          f"estimated from {told}")
    print(f"{'variant':<10} {'seed':>4} {'estimated s':>12} {'measured s':>11}  from")
    for row in rows:
        shown = "-" if row["total_s"] is None else f"{row['total_s']:,.0f}"
        print(f"{row['variant']:<10} {row['seed']:>4} {shown:>12} {row['measured_s']:>11,.0f}  "
              f"{row['train_from'] or 'none'}{' (in sample)' if row['in_sample'] else ''}")
    for title, chosen in (("all runs", rows), ("runs out of sample", [r for r in rows if not r["in_sample"]])):
        known = [r for r in chosen if r["total_s"] is not None]
        if not known:
            continue
        estimated, actual = sum(r["total_s"] for r in known), sum(r["measured_s"] for r in known)
        print(f"{title}, {len(known)} of {len(chosen)} with an estimate: estimated {duration(estimated)}, "
              f"measured {duration(actual)} (estimate / measured = {estimated / actual:.2f})")


if __name__ == "__main__":
    main()
