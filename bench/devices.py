"""Turn `--device` into a torch.device, and name devices for records and folders."""

from __future__ import annotations

import platform
import re
from contextlib import contextmanager
from pathlib import Path

import torch

from bench.errors import BenchError


def resolve_device(spec: str) -> torch.device:
    """'auto' (CUDA when available, else CPU), 'cpu', 'cuda' or 'cuda:N'."""
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if not match:
        raise BenchError(f"unknown device {spec!r}; use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise BenchError(f"--device {spec}: no CUDA GPU is available here (torch.cuda.is_available() is False)")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise BenchError(f"--device {spec}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                         f"numbered 0 to {torch.cuda.device_count() - 1}")
    return torch.device("cuda", index)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


# The instruction-set flags that decide which float kernels torch and oneDNN run on a CPU:
# two CPUs that differ in these may train the same seed to different records.
ISA_FLAG_PREFIXES = ("sse", "ssse", "avx", "fma", "f16c", "amx", "bmi")


def cpu_isa_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return sorted(f for f in line.split(":", 1)[1].split() if f.startswith(ISA_FLAG_PREFIXES))
    except OSError:
        pass
    return []


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()


def device_slug(device: torch.device) -> str:
    """A folder name that tells machines apart: 'cpu-intel-xeon-...', 'cuda-nvidia-h100-...'."""
    name = re.sub(r"\((r|tm)\)|cpu @.*|@.*", "", device_name(device).lower())
    return re.sub(r"[^a-z0-9]+", "-", f"{device.type}-{name}").strip("-")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def use_device(device: torch.device):
    """Make `device` the current CUDA device for everything inside: CUDA events record on
    its stream and torch-fidelity's `.cuda()` lands on it, not on GPU 0. A no-op on CPU."""
    if device.type == "cuda":
        with torch.cuda.device(device):
            yield
    else:
        yield
