"""Systems figures measured without slowing the loop down: step times, peak memory.

On CUDA a step is timed with CUDA events (recorded without waiting; read after the
next synchronization); on a CPU work is synchronous, so the wall clock is exact.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import torch


class StepTimer:
    """Per-step durations in milliseconds, collected without host syncs on CUDA."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.done_ms: list[float] = []
        self.pending: list[tuple] = []

    def start(self):
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def stop(self, begun) -> None:
        if self.cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            self.pending.append((begun, end))
        else:
            self.done_ms.append((time.perf_counter() - begun) * 1000)

    def drain(self) -> list[float]:
        """The durations since the last drain, forgotten here; call only after the device
        was synchronized (CUDA events can be read only once they have completed)."""
        done = self.done_ms + [start.elapsed_time(end) for start, end in self.pending]
        self.done_ms, self.pending = [], []
        return done


def percentile(values: list[float], q: float) -> float | None:
    return float(torch.tensor(values).quantile(q / 100).item()) if values else None


# ---------------------------------------------------------------- memory

def _proc_status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


class MemoryProbe:
    """Peak memory of one run. CUDA: max allocated and reserved bytes since the start.
    CPU: growth of the peak resident set since the start. Linux lets a process reset its
    own peak (VmHWM) by writing 5 to /proc/self/clear_refs, so each run in one process
    gets its own peak; where that fails, ru_maxrss is a process-lifetime peak and the
    figure is marked `approximate`."""

    def __init__(self, device: torch.device):
        self.device = device
        self.approximate = False
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            return
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            self.approximate = True
        self.start_kib = _proc_status_kib("VmRSS") or 0

    def peak(self) -> dict:
        if self.device.type == "cuda":
            return {"peak_mem_bytes": torch.cuda.max_memory_allocated(self.device),
                    "peak_mem_reserved_bytes": torch.cuda.max_memory_reserved(self.device),
                    "peak_mem_kind": "cuda_allocated"}
        peak_kib = None if self.approximate else _proc_status_kib("VmHWM")
        if peak_kib is None:
            peak_kib, self.approximate = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, True
        return {"peak_mem_bytes": max(0, peak_kib - self.start_kib) * 1024,
                "peak_mem_kind": "cpu_rss_growth" + ("_approximate" if self.approximate else "")}


def count_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
