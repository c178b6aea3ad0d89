"""The record of a score: a run's record without the training sections, of kind `external`.

Its `variant` is `external:NAME`, so every table that lists variants (the report, the
DataFrame of `bench.load_runs`, compare-machines) shows it beside the trained ones and says
what it is, and its `seed` is 0 (a score is one observation; the latent seed of a generator
file or plug-in is `input.seed`); `input` names the file scored (kind, name, size, sha256), `config` the dataset,
the sample count and the input's range, so that two scores of one input and setting share a
configuration hash and a repeated score counts once.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import torch

from bench.records import SCHEMA_VERSION, config_hash, environment, new_run_id, write_json_atomic

KIND = "external"
PRESET = "external"  # what the report groups by; an external record has no training preset
VARIANT_PREFIX = "external:"


def label(name: str) -> str:
    """A variant name for the input: `external:` and the name's letters, digits, dots and dashes."""
    return VARIANT_PREFIX + (re.sub(r"[^A-Za-z0-9._+-]+", "-", name).strip("-") or "samples")


def file_safe(variant: str) -> str:
    """The variant as part of a file name (no colon: some file systems and tools refuse one)."""
    return variant.replace(":", "-", 1)


def external_record(name: str, samples, metrics: dict, dataset, device: torch.device, eval_s: float,
                    reference=None, feature_nets: dict | None = None) -> dict:
    from bench.data import assets
    from bench.train.protocol import PROTOCOL_VERSION

    source = dict(samples.source)
    config = {"kind": KIND, "variant": label(name), "dataset": dataset.name, "preset": PRESET, "budget": "external",
              "protocol_version": PROTOCOL_VERSION, "samples": int(metrics.get("n_fake", len(samples.images))),
              "input_sha256": source.get("sha256"), "range": source.get("range"),
              "reference_sha256": (reference.describe()["sha256"] if reference is not None else None)}
    cfg_hash = config_hash(config)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "schema_version": SCHEMA_VERSION, "kind": KIND, "run_id": new_run_id(file_safe(label(name)), 0, cfg_hash),
        "variant": label(name), "seed": 0, "status": "ok", "config": config,
        "config_hash": cfg_hash, "env": environment(device),
        "data": {"dataset": dataset.name, "mnist_sha256": assets.MNIST_SHA256},
        "input": source, "reference": reference.describe() if reference is not None else None,
        "metrics": metrics, "feature_nets": feature_nets or {}, "curve": [], "history": [],
        "systems": {"eval_s": eval_s}, "paths": {}, "error": None, "diverged_at_step": None,
        "started_at": stamp, "finished_at": stamp,
    }


def write_external(record: dict, out: Path) -> Path:
    path = Path(out) / "runs" / record["env"]["device_slug"] / f"{record['run_id']}.json"
    write_json_atomic(path, record)
    return path
