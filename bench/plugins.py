"""Plug-ins: a user's own variants, losses, architectures and optimizers, without editing
gan-bench.

A plug-in is Python code that calls `variants.register_variant` (and, for something new,
`register_loss` / `register_arch` / `register_optimizer`) when imported. It reaches
gan-bench three ways:

- a file: `gan-bench run --plugin my_gans.py` (imported from its path);
- a module on the Python path: `gan-bench run --plugin my_package.gans`;
- an installed package's entry point in the group `gan_bench.variants`, loaded by every
  `gan-bench run` and `gan-bench list` without any option.

The registry remembers the module and file (and its sha256) behind each name, and every
record of a plug-in variant carries them in `config["source"]`. A plug-in that fails to
import, re-registers an existing name or registers a malformed variant is one `error:`
line naming it; the registry is left as it was before that plug-in.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path

from bench.errors import BenchError

ENTRY_POINT_GROUP = "gan_bench.variants"


def registry_snapshot() -> list[tuple]:
    """What plug-ins may register into: variants, losses, architectures and optimizers."""
    from variants.archs import ARCH_SPECS
    from variants.losses import LOSSES
    from variants.optimizers import OPTIMIZERS
    from variants.variant import VARIANTS

    return [(registry, registry.snapshot()) for registry in (VARIANTS, LOSSES, ARCH_SPECS, OPTIMIZERS)]


def restore(snapshot) -> None:
    for registry, saved in snapshot:
        registry.restore(saved)


def file_module_name(path: Path) -> str:
    """The module name a plug-in file is imported under, which its records' `config.source`
    names: the same file anywhere on disk is the same plug-in."""
    return f"gan_bench_plugin_{Path(path).stem.replace('-', '_')}"


def import_file(path: Path):
    """Import a plug-in file under a module name of its own (`gan_bench_plugin_<stem>`).
    Loading the same file again re-runs it: its registrations come from the same source,
    so they replace themselves."""
    name = file_module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_one(spec: str, load) -> None:
    snapshot = registry_snapshot()
    try:
        load()
    except BenchError:
        restore(snapshot)
        raise
    except SystemExit as error:
        restore(snapshot)
        raise BenchError(f"plug-in {spec} exited while loading (SystemExit {error.code})") from None
    except Exception as error:
        restore(snapshot)
        where = ""
        tb = error.__traceback__
        while tb is not None:  # the plug-in's own line, if the error came from there
            if tb.tb_frame.f_code.co_filename == spec or tb.tb_frame.f_globals.get("__name__") == spec:
                where = f" (line {tb.tb_lineno})"
            tb = tb.tb_next
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise BenchError(f"plug-in {spec}{where} failed to load: {type(error).__name__}: {message}") from None


def is_file_spec(spec: str) -> bool:
    return spec.endswith(".py") or Path(spec).suffix == ".py" or "/" in spec


def module_of(spec: str) -> str:
    """The module a plug-in spec (a file or a module name) is imported as."""
    return file_module_name(Path(spec)) if is_file_spec(spec) else spec


def entry_point_modules() -> set[str]:
    """The modules the installed packages' entry points name, found without importing them."""
    return {point.module for point in entry_points(group=ENTRY_POINT_GROUP)}


def is_source(value) -> bool:
    """A record's or checkpoint's `config.source` (variants.provenance): "builtin", or a
    plug-in's module, file and sha256 (file and sha256 null for a module without a file)."""
    from variants.provenance import BUILTIN

    return value == BUILTIN or (isinstance(value, dict) and set(value) == {"module", "file", "sha256"}
                                and isinstance(value["module"], str)
                                and all(value[k] is None or isinstance(value[k], str) for k in ("file", "sha256")))


def absolute_specs(specs: list[str] | None) -> list[str]:
    """File plug-ins as absolute paths, so a process started elsewhere (a Ray worker) finds them."""
    return [str(Path(spec).resolve()) if is_file_spec(spec) else spec for spec in specs or []]


def load_plugins(specs: list[str] | None = None, use_entry_points: bool = True) -> list[str]:
    """Import each plug-in (a .py file path or a module name), after the installed
    packages' entry points in the group `gan_bench.variants`; returns what was loaded."""
    loaded = []
    if use_entry_points:
        for point in entry_points(group=ENTRY_POINT_GROUP):
            load_one(f"entry point {point.name} ({point.value})", point.load)
            loaded.append(point.value)
    for spec in specs or []:
        path = Path(spec)
        if is_file_spec(spec):
            if not path.is_file():
                raise BenchError(f"plug-in {spec}: no such file")
            resolved = path.resolve()
            load_one(str(resolved), lambda: import_file(resolved))
        else:
            load_one(spec, lambda: importlib.import_module(spec))
        loaded.append(spec)
    return loaded
