"""Systems figures measured without slowing the loop down: step times, peak memory.

On CUDA a step is timed with CUDA events (recorded without waiting; read after the
next synchronization); on a CPU work is synchronous, so the wall clock is exact.
"""

from __future__ import annotations

import ctypes
import resource
import time
from contextlib import contextmanager
from pathlib import Path

import torch


class StepTimer:
    """Per-step durations in milliseconds, collected without host syncs on CUDA."""

    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"
        self.done_ms: list[float] = []
        self.pending: list[tuple] = []

    def start(self):
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record(torch.cuda.current_stream(self.device))  # the run's GPU, whichever is current
            return event
        return time.perf_counter()

    def stop(self, begun) -> None:
        if self.cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record(torch.cuda.current_stream(self.device))
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


def _release_freed_heap() -> None:
    """Hand memory that was freed but kept by glibc's allocator back to the system, so a
    training window does not inherit the resident pages of the evaluation before it."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class MemoryProbe:
    """Peak memory of a run's training steps, with everything else (evaluation, checkpoint
    writing) measured in windows of its own.

    The figure is the same on every device: the peak growth of memory in use over the
    baseline taken when the probe was made (before the nets are built, with the data set
    already resident). CUDA: `max_memory_allocated` minus the allocated bytes at the
    baseline (and the same for reserved). CPU: the peak resident set (VmHWM) minus the
    resident set at the baseline; Linux lets a process reset VmHWM by writing 5 to
    /proc/self/clear_refs, which starts each window afresh. Where that fails, ru_maxrss is
    a process-lifetime peak and the kind says `approximate`.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"
        self.approximate = False
        self.peaks: dict[str, int] = {}  # window name -> peak growth in bytes
        self.reserved_peaks: dict[str, int] = {}  # CUDA only
        if self.cuda:
            self.base = torch.cuda.memory_allocated(device)
            self.base_reserved = torch.cuda.memory_reserved(device)
        else:
            _release_freed_heap()
            self.base = (_proc_status_kib("VmRSS") or 0) * 1024
        self._begin()

    def _begin(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        _release_freed_heap()
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            self.approximate = True

    def _end(self, window: str) -> None:
        if self.cuda:
            peak = torch.cuda.max_memory_allocated(self.device) - self.base
            reserved = torch.cuda.max_memory_reserved(self.device) - self.base_reserved
            self.reserved_peaks[window] = max(self.reserved_peaks.get(window, 0), reserved)
        else:
            peak_kib = None if self.approximate else _proc_status_kib("VmHWM")
            if peak_kib is None:
                peak_kib, self.approximate = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, True
            peak = peak_kib * 1024 - self.base
        self.peaks[window] = max(self.peaks.get(window, 0), peak, 0)

    @contextmanager
    def window(self, name: str):
        """Measure what runs inside in a window of its own, apart from training."""
        self._end("training")
        self._begin()
        try:
            yield
        finally:
            self._end(name)
            self._begin()

    @property
    def kind(self) -> str:
        if self.cuda:
            return "cuda_allocated_growth"
        return "cpu_rss_growth" + ("_approximate" if self.approximate else "")

    def peak(self) -> dict:
        """The training window's figures (closing the current training window first)."""
        self._end("training")
        self._begin()
        figures = {"peak_mem_bytes": self.peaks.get("training"), "peak_mem_kind": self.kind}
        if self.cuda:
            figures["peak_mem_reserved_bytes"] = self.reserved_peaks.get("training")
        return figures

    def state_dict(self) -> dict:
        return {"peaks": dict(self.peaks), "reserved_peaks": dict(self.reserved_peaks)}

    def load_state_dict(self, state: dict) -> None:
        """Carry the peaks of the segments before a resume: the run's peak is the largest."""
        for mine, theirs in ((self.peaks, state.get("peaks", {})), (self.reserved_peaks, state.get("reserved_peaks", {}))):
            for window, value in theirs.items():
                mine[window] = max(mine.get(window, 0), value)


