"""Does a code change move any run's numbers? Trains seed-0 runs and saves their
deterministic views (the record without clock readings), or compares them with views
saved before the change.

    python tools/repro_check.py --save before.json                # on the old code
    python tools/repro_check.py --compare before.json             # on the new code
    python tools/repro_check.py --preset quick --variants dcgan,vanilla --save q.json

A key the new code adds (a new section, a new curve field) is listed but is no change;
a value that differs in a key both have is. Compare on one machine: CPU records of one
seed are bit-identical only on the same CPU kernels and thread count.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

from bench.devices import resolve_device
from bench.records import deterministic_view
from bench.train.plan import RunPlan
from bench.train.runner import run_benchmark
from variants import select_variants


def views(variants: str, preset: str, threads: int) -> dict:
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as out:
        plan = RunPlan(variants=select_variants(variants), seeds=[0], preset=preset,
                       device=resolve_device("cpu"), out=Path(out))
        records = run_benchmark(plan)
    # The config hash changes whenever the config gains a key; the computation is what counts.
    return {r["variant"]: {k: v for k, v in deterministic_view(r).items() if k not in ("config_hash",)}
            for r in records}


def differences(old, new, where="") -> tuple[list[str], list[str]]:
    """(changed values, keys only the new view has), as dotted paths."""
    changed, added = [], []
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old:
            if key not in new:
                changed.append(f"{where}{key} (removed)")
            else:
                c, a = differences(old[key], new[key], f"{where}{key}.")
                changed += c
                added += a
        added += [f"{where}{key}" for key in new if key not in old]
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (o, n) in enumerate(zip(old, new)):
            c, a = differences(o, n, f"{where}{i}.")
            changed += c
            added += a
    elif old != new:
        changed.append(f"{where.rstrip('.')}: {old!r} -> {new!r}")
    return changed, added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="all")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--threads", type=int, default=1)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--save", type=Path)
    action.add_argument("--compare", type=Path)
    args = parser.parse_args()
    current = views(args.variants, args.preset, args.threads)
    if args.save:
        args.save.write_text(json.dumps(current, indent=1, sort_keys=True))
        print(f"saved the deterministic views of {len(current)} runs to {args.save}")
        return
    saved = json.loads(args.compare.read_text())
    failed = False
    for variant, old in sorted(saved.items()):
        if variant not in current:
            continue
        # The code version, the record format and the config (which gains keys with new options) say
        # what ran and how it is written, not what came out.
        changed, added = differences(
            {k: v for k, v in old.items() if k not in ("env", "config", "schema_version")},
            {k: v for k, v in current[variant].items() if k not in ("env", "config", "schema_version")},
        )
        print(f"{variant}: {'identical' if not changed else f'{len(changed)} values changed'}"
              f"{f'; new keys: {len(added)}' if added else ''}")
        for line in changed[:20]:
            print(f"  {line}")
        failed |= bool(changed)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
