"""Generator files: a run's trained G, kept after the run so anyone can sample or re-score it.

A generator file is a safetensors file: the generator's tensors and a JSON header of
strings, nothing that unpickles, so opening one never runs code. The header carries what
rebuilds and samples the network exactly as its run did: the run's `config` section (the
variant's architecture, loss, options and hyperparameters, its preset and dataset), the run
id, which generator it is (`last`, or `best`: the best curve point's) and the step it was
taken at, and a sha256 of the tensors, checked on every load, so a damaged or edited file is
refused rather than scored.

Every run writes its last generator, and its best curve point's where that differs, beside
its record (`<run id>.G.safetensors`, `<run id>.G-best.safetensors`); the record's
`generators` section names each file with its sha256.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.errors import BenchError, brief
from bench.files import atomic_write, file_sha256

FORMAT = "gan-bench-generator"
FORMAT_VERSION = "1"
LAST, BEST = "last", "best"
SUFFIX = {LAST: ".G.safetensors", BEST: ".G-best.safetensors"}
HEADER_ENTRY = "gan-bench"  # the safetensors metadata key holding the header
HEADER_KEYS = ("format", "format_version", "run_id", "which", "step", "config", "tensors_sha256")


@dataclass
class GeneratorFile:
    """A loaded generator file: its header and its tensors (on the CPU)."""

    path: Path
    run_id: str
    which: str
    step: int
    config: dict
    state: dict[str, torch.Tensor]

    @property
    def variant(self):
        import variants

        return variants.variant_from_config(self.config)

    @property
    def dataset(self) -> str:
        return self.config.get("dataset", "mnist")

    def build(self, shape: tuple, device: torch.device) -> torch.nn.Module:
        """The generator, rebuilt from its config with these weights, in eval mode on `device`."""
        variant = self.variant
        try:
            # Building draws a random initialisation, which the weights replace: the global RNG stays put.
            with torch.random.fork_rng(devices=[]):
                G, _ = variant.build(shape)
            G.load_state_dict(self.state)
        except (TypeError, ValueError, KeyError, RuntimeError, IndexError) as error:
            raise BenchError(f"generator file {self.path}: its weights do not fit its variant {variant.name} "
                             f"({brief(error)})") from None
        return G.to(device).eval()


def tensors_sha256(state: dict[str, torch.Tensor]) -> str:
    """A digest of every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def generator_path(runs_dir: Path, run_id: str, which: str) -> Path:
    return Path(runs_dir) / f"{run_id}{SUFFIX[which]}"


def save_generator(path: Path, state: dict[str, torch.Tensor], run_id: str, which: str, step: int,
                   config: dict) -> dict:
    """Write one generator file atomically; returns the record's entry for it."""
    from safetensors.torch import save

    tensors = {name: value.detach().cpu().contiguous().clone() for name, value in state.items()}
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "run_id": run_id, "which": which,
              "step": str(step), "config": json.dumps(config, sort_keys=True),
              "tensors_sha256": tensors_sha256(tensors)}
    # One metadata entry holding sorted JSON: safetensors writes several entries in a random
    # order, and a run's files must be byte-identical when its computation is.
    atomic_write(path, save(tensors, metadata={HEADER_ENTRY: json.dumps(header, sort_keys=True)}))
    return {"file": Path(path).name, "sha256": file_sha256(path), "step": step,
            "tensors_sha256": header["tensors_sha256"]}


def header_problem(header) -> str | None:
    """Why a safetensors header is not a gan-bench generator's, or None."""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return "it is a safetensors file, but not a gan-bench generator (no 'format: gan-bench-generator' header)"
    if header.get("format_version") != FORMAT_VERSION:
        return f"generator format version {header.get('format_version')!r}; this gan-bench reads {FORMAT_VERSION}"
    missing = [key for key in HEADER_KEYS if key not in header]
    if missing:
        return f"its header lacks {', '.join(missing)}"
    if header["which"] not in SUFFIX:
        return f"'which' must be {LAST} or {BEST}, got {header['which']!r:.40}"
    if not header["step"].isdigit():
        return f"'step' must be a non-negative integer, got {header['step']!r:.40}"
    return None


def config_problem(config) -> str | None:
    """Why a header's config would not rebuild a variant: the checkpoint schema's config rows, so
    both files are held to one schema."""
    from bench.train.checkpoints import SCHEMA

    rows = [row for row in SCHEMA if row[0][0] == "config"]
    if not isinstance(config, dict):
        return "its config is not an object"
    for keys, required, check, what in rows:
        value, missing = {"config": config}, False
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                missing = True
                break
            value = value[key]
        if missing and required:
            return f"its config has no '{'.'.join(keys[1:])}'"
        if not missing and not check(value):
            return f"its config's '{'.'.join(keys[1:])}' must be {what}"
    return None


def load_generator(path: Path) -> GeneratorFile:
    """A generator file as data, checked: header, config and tensor digest; a BenchError otherwise."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise BenchError(f"no generator file at {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        state = load_file(str(path))
        header = json.loads(metadata[HEADER_ENTRY]) if HEADER_ENTRY in metadata else None
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise BenchError(f"{path} is not a readable safetensors file ({brief(error)}); gan-bench's generator "
                         "files are written by `gan-bench run` beside each record") from None
    problem = header_problem(header)
    if problem is None and not all(isinstance(header[key], str) for key in HEADER_KEYS):
        problem = "its header's entries must be strings"
    if problem is None:
        try:
            config = json.loads(header["config"])
        except ValueError:
            config, problem = None, "its config is not JSON"
        problem = problem or config_problem(config)
    if problem is None and tensors_sha256(state) != header["tensors_sha256"]:
        problem = "its tensors do not match the sha256 in its header (damaged or edited)"
    if problem is not None:
        raise BenchError(f"refused generator file {path}: {problem}")
    return GeneratorFile(path, header["run_id"], header["which"], int(header["step"]), config, state)
