"""Where each registered variant, loss and architecture came from.

The registry remembers the module (and file) that called `register_*` for each name,
as timm remembers a model's module. Names registered by gan-bench's own `variants`
package are "builtin"; anything else (a plug-in file, module or installed package)
is described by its module name, file path and the file's sha256, and that
description goes into every record trained with it (`config["source"]`), so a
plug-in's results cannot pass for built-in ones.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

BUILTIN = "builtin"
PACKAGE_DIR = Path(__file__).resolve().parent

# ("variant" | "loss" | "arch", name) -> BUILTIN or {"module", "file", "sha256"}
SOURCES: dict[tuple[str, str], object] = {}


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def module_source(module: str, file: str | None):
    if file is not None and Path(file).resolve().parent == PACKAGE_DIR:
        return BUILTIN
    if file is None:
        return {"module": module, "file": None, "sha256": None}
    path = Path(file).resolve()
    return {"module": module, "file": str(path), "sha256": file_sha256(path)}


def caller_source():
    """The source of the first frame outside the registry's own modules: the module
    whose code called `register_variant`, `register_loss` or `register_arch`."""
    frame = sys._getframe(1)
    own = {"variants.provenance", "variants.registry", "variants.archs", "variants.losses"}
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module not in own or frame.f_code.co_name == "<module>":
            # A builtin module such as variants.losses registering its own losses at import.
            return module_source(module, frame.f_globals.get("__file__"))
        frame = frame.f_back
    return BUILTIN
