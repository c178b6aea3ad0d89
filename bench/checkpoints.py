"""Checkpoints: everything a run needs to continue as if it had never stopped.

Written atomically (temporary file, fsync, rename): a kill at any moment leaves the
previous checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from bench.errors import BenchError
from bench.files import atomic_write


def save_checkpoint(path: Path, payload: dict) -> None:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise BenchError(f"checkpoint {path} is corrupt ({type(error).__name__}); delete it, "
                         "or rerun with --resume --force to start that run over") from None
    if not isinstance(payload, dict) or "state" not in payload:
        raise BenchError(f"checkpoint {path} is not a gan-bench checkpoint; delete it, "
                         "or rerun with --resume --force to start that run over")
    return payload
