"""One driver per study folder.

Two drivers on one folder (a double click, a retried job) would each see the same runs
left and each write a record for them. The driver holds an exclusive `flock` on a file in
the folder while it runs; the kernel drops the lock when the process ends, however it
ends, so a lock a dead driver left behind is simply taken by the next one. The file names
its holder (pid, host, start time) so that the one refused can say who holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from bench.errors import BenchError

LOCK_FILE = ".driver.lock"


def holder_of(path: Path) -> str:
    """Who holds the lock, as its file says; the holder writes it just after locking."""
    for _ in range(20):
        try:
            holder = json.loads(path.read_text() or "null")
        except (OSError, ValueError):
            holder = None
        if isinstance(holder, dict):
            return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, since {holder.get('since', '?')}"
        time.sleep(0.05)
    return "a process that has not said who it is"


def refuse_if_held(out: Path) -> None:
    """Refuse now, before Ray starts, if a live driver holds `out`; creates nothing."""
    path = Path(out) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # no lock file (or none we can read): hold_folder will say
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise BenchError(refusal(out, path)) from None
    finally:
        os.close(fd)


def refusal(out: Path, path: Path) -> str:
    return (f"another gan-bench study drives {out} ({holder_of(path)}); wait for it to end or stop it, "
            "then run the same command again")


@contextmanager
def hold_folder(out: Path):
    """Hold `out` for this driver, or refuse if a live driver holds it."""
    path = Path(out) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BenchError(refusal(out, path)) from None
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        os.fsync(fd)
        yield
    finally:
        os.close(fd)  # closing releases the lock
