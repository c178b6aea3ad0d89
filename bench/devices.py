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


def name_slug(device_type: str, name: str) -> str:
    """'cpu-amd-epyc', 'cuda-nvidia-h100-80gb-hbm3': the device's model name alone."""
    name = re.sub(r"\((r|tm)\)|cpu @.*|@.*", "", name.lower())
    return re.sub(r"[^a-z0-9]+", "-", f"{device_type}-{name}").strip("-")


def capability_tag(device_type: str | None, cpu_capability=None, cuda_capability=None) -> str | None:
    """What decides which kernels run, beside the model name: torch's CPU capability on a CPU
    ('avx2', 'avx512': two EPYCs of one name may differ in it and train a seed to different
    records at different speeds), the compute capability on a GPU ('sm90'). None where it is
    not known (a record written before gan-bench recorded it)."""
    if device_type == "cuda":
        value = f"sm{cuda_capability.replace('.', '')}" if isinstance(cuda_capability, str) else None
    else:
        value = cpu_capability if isinstance(cpu_capability, str) else None
    tag = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-") if value else ""
    return tag or None


def with_tag(slug: str, tag: str | None) -> str:
    return slug if tag is None or slug.endswith(f"-{tag}") else f"{slug}-{tag}"


def device_slug(device: torch.device) -> str:
    """The machine's identity, and the folder name its records go in: the model name and
    what decides its kernels, 'cpu-amd-epyc-avx2', 'cuda-nvidia-h100-80gb-hbm3-sm90'."""
    cuda = device.type == "cuda"
    tag = capability_tag(device.type, torch.backends.cpu.get_cpu_capability(),
                         ".".join(map(str, torch.cuda.get_device_capability(device))) if cuda else None)
    return with_tag(name_slug(device.type, device_name(device)), tag)


def identity_slug(env: dict) -> str:
    """The identity of the machine a record's `env` describes, as device_slug names it today.
    A record written when the slug was the model name alone gets the capability it recorded
    (env.cpu_capability, or env.capability on a GPU); one that recorded none keeps its slug,
    which then names no capability and matches no machine's slug of today."""
    slug = env["device_slug"]
    device_type = env.get("device_type") or slug.split("-", 1)[0]
    return with_tag(slug, capability_tag(device_type, env.get("cpu_capability"), env.get("capability")))


def identity_known(env: dict) -> bool:
    """Whether a record's env says what decides its kernels (records from before it did do not)."""
    device_type = env.get("device_type") or env["device_slug"].split("-", 1)[0]
    return capability_tag(device_type, env.get("cpu_capability"), env.get("capability")) is not None


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
