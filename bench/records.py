"""One JSON record per run: what ran, where, on which data, and what came out.

Records are written atomically (temporary file, fsync, rename), so a crash leaves
either the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import platform
import secrets
import subprocess
import time
from importlib import metadata
from pathlib import Path

import torch

from bench.devices import cpu_isa_flags, cpu_name, device_name, device_slug
from bench.files import atomic_write

# 2: systems.peak_mem_bytes covers training steps only (evaluation: eval_peak_mem_bytes);
#    budget holds g_steps, d_steps and images_seen done, and the budget's label.
# 3: a run of a study carries a `study` section (its study, configuration and sampled
#    hyperparameters); a reader that predates it would pool a study's configurations.
# 4: a `best` section and `<figure>_best` metrics (the generator of the best curve point,
#    scored again on the final samples); curve points carry the loss's `diagnostics`; a
#    run under --until-converged carries a `convergence` section.
SCHEMA_VERSION = 4
READABLE_SCHEMAS = (1, 2, 3, 4)
# `study.phase`: a run of the search, or a rerun of a variant's best configuration.
SEARCH, RERUN_BEST = "search", "rerun-best"
STUDY_PHASES = (SEARCH, RERUN_BEST)

# Keys whose values depend on the clock or the moment, not on the computation.
# Everything else in a CPU record is a pure function of (code, config, seed).
# The generator files' names and sha256s carry the run id (a timestamp), as paths do.
TIMING_KEYS = ("run_id", "started_at", "finished_at", "systems", "paths", "history", "generators")
CURVE_TIMING_KEYS = ("train_s",)


def config_hash(config: dict) -> str:
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def new_run_id(variant: str, seed: int, cfg_hash: str) -> str:
    """Unique even for two runs of one config started in the same second."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{variant}-s{seed}-{cfg_hash}-{stamp}-{secrets.token_hex(3)}"


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


# What computes a record: a change to any of these, committed or not, is a change of code. Records,
# reports and docs written while a published set trains are not (they are committed as runs land).
CODE_PATHS = ("bench", "variants", "pyproject.toml", "constraints.txt")


ROOT = Path(__file__).resolve().parent.parent


def git_state(root: Path = ROOT) -> dict:
    """The commit a run's code is, and whether that code has uncommitted changes (new files
    included): a dirty record cannot be regenerated from any commit."""

    def git(*args):
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=normal", "--", *CODE_PATHS)
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def code_is_clean() -> bool:
    """Whether the code here is exactly a commit's (what publishing a set requires)."""
    return git_state()["dirty"] is False


def environment(device: torch.device) -> dict:
    cuda = device.type == "cuda"
    return {
        "device_type": device.type,
        "device_name": device_name(device),
        "device_slug": device_slug(device),
        "cpu": cpu_name(),
        # What decides whether two CPU records of one seed can be bit-identical: the kernels
        # torch dispatches to (its capability level and the ISA flags) and the thread count.
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_flags": cpu_isa_flags(),
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torchvision": package_version("torchvision"),
        "torch_fidelity": package_version("torch-fidelity"),
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "capability": ".".join(map(str, torch.cuda.get_device_capability(device))) if cuda else None,
        "git": git_state(),
    }


def write_json_atomic(path: Path, data: dict) -> None:
    atomic_write(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def load_record(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def deterministic_view(record: dict) -> dict:
    """The record without clock-dependent values: two CPU runs of one config and seed
    must agree on this exactly."""
    view = {k: v for k, v in record.items() if k not in TIMING_KEYS}
    view["curve"] = [{k: v for k, v in point.items() if k not in CURVE_TIMING_KEYS} for point in record["curve"]]
    view["env"] = {k: v for k, v in record["env"].items() if k != "git"}
    # A generator file's weights are computation; its name and the file's digest carry the run id.
    if isinstance(record.get("generators"), dict):
        view["generators"] = {which: {k: v for k, v in entry.items() if k in ("step", "tensors_sha256")}
                              for which, entry in record["generators"].items() if isinstance(entry, dict)}
    # The step and images of these are computation; their training seconds are not.
    for section in ("time_to_fid", "best", "convergence"):
        if isinstance(record.get(section), dict):
            view[section] = {k: v for k, v in record[section].items() if k not in CURVE_TIMING_KEYS}
    return view
