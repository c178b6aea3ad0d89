"""Where each registered name came from.

Every registry (`variants.registry.Registry`) remembers the module (and file) that registered
each name, as timm remembers a model's module. Names registered by gan-bench's own
packages (`variants`, `bench`) are "builtin"; anything else (a plug-in file, module or
installed package) is described by its module name, file path and the file's sha256, and
that description goes into every record trained with it (`config["source"]`), so a
plug-in's results cannot pass for built-in ones.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

BUILTIN = "builtin"
PACKAGE_DIR = Path(__file__).resolve().parent
# gan-bench's own packages, installed side by side (pyproject: bench*, variants*).
OWN_DIRS = (PACKAGE_DIR, PACKAGE_DIR.parent / "bench")

# The modules whose functions register on a caller's behalf: the caller is the source.
REGISTERING = {"variants.provenance", "variants.registry", "variants.variant", "variants.archs", "variants.losses",
               "variants.optimizers"}


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def module_source(module: str, file: str | None):
    if file is not None and any(Path(file).resolve().is_relative_to(own) for own in OWN_DIRS):
        return BUILTIN
    if file is None:
        return {"module": module, "file": None, "sha256": None}
    path = Path(file).resolve()
    return {"module": module, "file": str(path), "sha256": file_sha256(path)}


def caller_source():
    """The source of the first frame outside the registering modules: the module whose
    code called `register_variant`, `register_loss`, `register_arch`, `register_optimizer`
    or a registry's `register`."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module not in REGISTERING or frame.f_code.co_name == "<module>":
            # A builtin module such as variants.losses registering its own losses at import.
            return module_source(module, frame.f_globals.get("__file__"))
        frame = frame.f_back
    return BUILTIN


def describe_source(source) -> str:
    return source if isinstance(source, str) else source["file"] or source["module"]
