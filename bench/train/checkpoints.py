"""Checkpoints: everything a run needs to continue as if it had never stopped.

Written atomically (temporary file, fsync, rename): a kill at any moment leaves the
previous checkpoint or the new one, never a torn file.

A checkpoint is data, and people share them ("evaluate my generator"): it is read with
torch's weights-only unpickler, which builds tensors, plain containers, numbers and
strings and refuses everything else, so opening a file never runs code from it. Its
shape is then checked against SCHEMA before any of it is used, so a malformed file is
one clear error instead of a failure somewhere in the middle of a resume.
"""

from __future__ import annotations

import io
import math
import pickle
import re
import warnings
from pathlib import Path

import torch

from bench.errors import BenchError, brief
from bench.files import atomic_write
from bench.plugins import is_source
from variants.variant import ADDED_HPARAMS

START_OVER = "delete it, or rerun with --resume --force to start that run over"


def save_checkpoint(path: Path, payload: dict) -> None:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write(path, buffer.getvalue())


# ---------------------------------------------------------------- checks


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def is_str(value) -> bool:
    return isinstance(value, str)


def is_dict(value) -> bool:
    return isinstance(value, dict)


def is_tensor(value) -> bool:
    return isinstance(value, torch.Tensor)


def is_count(value) -> bool:
    return is_int(value) and value >= 0


def is_positive_int(value) -> bool:
    return is_int(value) and value >= 1


def is_tensor_dict(value) -> bool:
    """A module's state_dict, or a loss's per-run tensors."""
    return is_dict(value) and all(is_str(k) and is_tensor(v) for k, v in value.items())


def is_optimizer_state(value) -> bool:
    return (is_dict(value) and is_dict(value.get("state")) and isinstance(value.get("param_groups"), list)
            and all(is_dict(group) for group in value["param_groups"]))


def is_list_of(check):
    return lambda value: isinstance(value, list) and all(check(item) for item in value)


def is_rng_state(value) -> bool:
    return is_tensor(value) and value.dtype == torch.uint8 and value.dim() == 1


def is_batches(value) -> bool:
    """`Batches.state_dict()`: the data stream's position."""
    return (is_dict(value) and is_count(value.get("epoch")) and is_count(value.get("position"))
            and (value.get("order") is None or (is_tensor(value["order"]) and value["order"].dim() == 1)))


def is_betas(value) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(is_number(b) for b in value)


def is_curve(value) -> bool:
    return is_list_of(is_dict)(value)


# The hyperparameters `variants.Hparams` takes, each with its check and what it must be;
# anything else would not rebuild the variant. Every checkpoint ever written holds all of
# them but those `variants.variant.ADDED_HPARAMS` names, whose defaults are what runs
# written before them used (`variant_from_config` fills them in).
HPARAMS = {
    "z_dim": (is_positive_int, "a positive integer"), "batch_size": (is_positive_int, "a positive integer"),
    "lr_g": (is_number, "a number"), "lr_d": (is_number, "a number"), "betas": (is_betas, "a list of two numbers"),
    "n_critic": (is_positive_int, "a positive integer"), "width": (is_positive_int, "a positive integer"),
    "optimizer": (is_str, "a string"),
}


def is_best(value) -> bool:
    """The best curve point's generator and where it was (bench.train.protocol.keep_if_best)."""
    return (is_dict(value) and is_tensor_dict(value.get("G"))
            and all(is_number(value.get(k)) for k in ("step", "images_seen", "train_s", "fid")))


def is_hparams(value) -> bool:
    """An object of known hyperparameters; each one's presence and type is a line of SCHEMA."""
    return is_dict(value) and set(value) <= set(HPARAMS)


def is_plain_options(value) -> bool:
    return is_dict(value) and all(is_str(k) for k in value)


def known_dataset(value) -> bool:
    from bench.data.datasets import DATASETS

    return is_str(value) and value in DATASETS


REQUIRED, OPTIONAL = True, False

# The one schema of a checkpoint: (key path, required?, check, what it must be). Keys not
# listed are ignored, so a newer gan-bench may add optional ones: a line each here. The
# state's keys follow `GanState.load_state_dict` (bench/train/protocol.py).
SCHEMA = (
    (("run_id",), REQUIRED, is_str, "a string"),
    (("config_hash",), REQUIRED, is_str, "a string"),
    # The machine a run trains on (`--resume` continues it there only); older checkpoints lack it.
    (("device_slug",), OPTIONAL, is_str, "a string"),
    (("history",), REQUIRED, is_list_of(is_dict), "a list of objects"),
    (("config",), REQUIRED, is_dict, "an object"),
    (("config", "variant"), REQUIRED, is_str, "a string"),
    (("config", "arch"), REQUIRED, is_str, "a string"),
    (("config", "loss"), REQUIRED, is_str, "a string"),
    (("config", "preset"), REQUIRED, is_str, "a string"),
    (("config", "hparams"), REQUIRED, is_hparams, f"an object of {', '.join(HPARAMS)}"),
    *((("config", "hparams", key), key not in ADDED_HPARAMS, check, what) for key, (check, what) in HPARAMS.items()),
    (("config", "arch_options"), REQUIRED, is_plain_options, "an object"),
    (("config", "loss_options"), REQUIRED, is_plain_options, "an object"),
    # Checkpoints from before Stacked MNIST name no dataset: they are MNIST's.
    (("config", "dataset"), OPTIONAL, known_dataset, "a dataset's name"),
    # Checkpoints from before plug-ins name no source: their variants are built in.
    (("config", "source"), OPTIONAL, is_source, "\"builtin\" or an object of module, file and sha256"),
    (("state",), REQUIRED, is_dict, "an object"),
    (("state", "G"), REQUIRED, is_tensor_dict, "a state dict of tensors"),
    (("state", "D"), REQUIRED, is_tensor_dict, "a state dict of tensors"),
    (("state", "opt_g"), REQUIRED, is_optimizer_state, "an optimizer state"),
    (("state", "opt_d"), REQUIRED, is_optimizer_state, "an optimizer state"),
    (("state", "batches"), REQUIRED, is_batches, "the data stream's epoch, position and order"),
    (("state", "step"), REQUIRED, is_count, "a non-negative integer"),
    (("state", "since_log"), REQUIRED, is_count, "a non-negative integer"),
    (("state", "loss_sum"), REQUIRED, lambda v: is_tensor(v) and v.numel() == 2, "a tensor of 2 losses"),
    (("state", "first_bad"), REQUIRED, lambda v: is_tensor(v) and v.numel() == 1, "a one-element tensor"),
    (("state", "curve"), REQUIRED, is_curve, "a list of objects"),
    (("state", "step_ms"), REQUIRED, is_list_of(is_number), "a list of numbers"),
    (("state", "train_s"), REQUIRED, is_number, "a number"),
    (("state", "warmup_s"), REQUIRED, is_number, "a number"),
    (("state", "eval_s"), REQUIRED, is_number, "a number"),
    (("state", "rng_cpu"), REQUIRED, is_rng_state, "a uint8 RNG state tensor"),
    (("state", "rng_cuda"), REQUIRED, lambda v: v is None or is_list_of(is_rng_state)(v),
     "null or a list of uint8 RNG state tensors"),
    # Checkpoints from before peak memory or per-run loss state lack these.
    (("state", "memory"), OPTIONAL, is_dict, "an object"),
    (("state", "loss_state"), OPTIONAL, is_tensor_dict, "an object of tensors"),
    # The convergence budget's: summed loss diagnostics, and the best curve point's generator.
    (("state", "diag_sum"), OPTIONAL, is_tensor_dict, "an object of tensors"),
    (("state", "best"), OPTIONAL, lambda v: v is None or is_best(v),
     "null or an object with a G state dict and the numbers step, images_seen, train_s and fid"),
)


def payload_problem(payload) -> str | None:
    """What is wrong with an unpickled checkpoint, or None if SCHEMA accepts it."""
    if not is_dict(payload):
        return f"it holds {type(payload).__name__}, not an object"
    for keys, required, check, what in SCHEMA:
        value, missing = payload, False
        for key in keys:
            if not is_dict(value) or key not in value:
                missing = True
                break
            value = value[key]
        name = ".".join(keys)
        if missing:
            if required:
                return f"it has no '{name}'"
            continue
        if not check(value):
            return f"'{name}' must be {what}, got {type(value).__name__}"
    return None


# ---------------------------------------------------------------- loading


def refused_global(error: Exception) -> str | None:
    """The code or class a refused pickle asked for, from torch's message."""
    match = re.search(r"GLOBAL (\S+)", str(error))
    return match.group(1) if match else None


def load_checkpoint(path: Path) -> dict:
    """The checkpoint at `path` as plain data, checked against SCHEMA; a BenchError otherwise."""
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols: not the user's concern
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        wanted = refused_global(error)
        if wanted is not None:
            raise BenchError(f"refused checkpoint {path}: it asks to run or build {wanted}, and gan-bench "
                             "reads checkpoints as data only (tensors, numbers, strings, lists and objects); "
                             "do not use a file from a source you do not trust") from None
        raise BenchError(f"checkpoint {path} is corrupt or not a torch checkpoint (UnpicklingError); "
                         f"{START_OVER}") from None
    except Exception as error:  # torch raises many types for a torn or foreign file
        raise BenchError(f"checkpoint {path} is corrupt ({type(error).__name__}); {START_OVER}") from None
    problem = payload_problem(payload)
    if problem is not None:
        raise BenchError(f"checkpoint {path} is not a gan-bench checkpoint: {problem}; {START_OVER}")
    payload["config"].setdefault("dataset", "mnist")  # checkpoints from before Stacked MNIST are MNIST's
    return payload


# ---------------------------------------------------------------- using one


def restore_state(state, payload: dict, path: Path) -> None:
    """A checkpoint's training state into a fresh `GanState`. The schema checks types;
    weights of another shape only show here."""
    try:
        state.load_state_dict(payload["state"])
    except (TypeError, ValueError, KeyError, RuntimeError, IndexError) as error:
        raise BenchError(f"checkpoint {path} does not fit this run ({brief(error)}); "
                         "delete it or use --force") from None


def restore_generator(variant, payload: dict, path: Path, shape: tuple, best: bool = False) -> torch.nn.Module:
    """The checkpoint's G (`best`: the generator of its best curve point), rebuilt as
    `variant` (from its config) on data of `shape`."""
    if best and payload["state"].get("best") is None:
        raise BenchError(f"checkpoint {path} holds no best curve point (written before one was kept, or before "
                         "the first curve point); evaluate its last generator without --best")
    try:
        G, _ = variant.build(shape)
        G.load_state_dict(payload["state"]["best"]["G"] if best else payload["state"]["G"])
    except (TypeError, ValueError, KeyError, RuntimeError, IndexError) as error:  # options or weights that do not fit
        raise BenchError(f"checkpoint {path}: its generator does not fit its variant {variant.name} "
                         f"({brief(error)})") from None
    return G
