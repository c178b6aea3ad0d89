"""A study's settings from a TOML study file and the command line: the file's keys are the
command's long options without the dashes; an option given on the command line wins."""

from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError
from bench.study.spaces import Space, get_space, line_of, parse_space, read_study_file
from variants import pairings

DEFAULTS = {
    "variants": None, "arch": None, "loss": None, "space": None, "configs": None, "seeds": 1, "preset": "quick",
    "dataset": "mnist",
    "steps": None, "train-seconds": None, "device": "auto", "out": None, "name": None, "address": None,
    "cpus-per-run": 1.0, "gpus-per-run": 0.0, "checkpoint-dir": None, "max-retries": 3, "data-dir": None,
    "checkpoint-every": None, "plugin": None,
}
TYPES = {
    "variants": (str, list), "arch": (str, list), "loss": (str, list), "space": (str, dict), "configs": int,
    "seeds": int, "preset": str, "dataset": str,
    "steps": int, "train-seconds": (int, float), "device": str, "out": str, "name": str, "address": str,
    "cpus-per-run": (int, float), "gpus-per-run": (int, float), "checkpoint-dir": str, "max-retries": int,
    "data-dir": str, "checkpoint-every": int, "plugin": (str, list),
}


SEARCH_NEEDS = ("variants", "space", "configs", "out")


def merge(file: Path | None, flags: dict, needs: tuple[str, ...] = SEARCH_NEEDS) -> tuple[dict, Space | None]:
    """Settings (defaults < file < flags) and the search space they name, if any."""
    settings, text = dict(DEFAULTS), ""
    if file is not None:
        table, text = read_study_file(file)
        for key, value in table.items():
            where = f"{file}, line {line_of(text, key) or '?'}"
            if key not in DEFAULTS:
                raise BenchError(f"{where}: unknown key {key!r}; known: {', '.join(DEFAULTS)}")
            if not isinstance(value, TYPES[key]) or isinstance(value, bool):
                raise BenchError(f"{where}: {key} has the wrong type ({type(value).__name__})")
            settings[key] = value
    settings.update({k: v for k, v in flags.items() if v is not None})
    if isinstance(settings["plugin"], str):
        settings["plugin"] = [settings["plugin"]]
    for key in ("variants", "arch", "loss"):
        if isinstance(settings[key], list):
            settings[key] = ",".join(settings[key])
    if (settings["arch"] is None) != (settings["loss"] is None):
        raise BenchError("--arch and --loss go together (every architecture is paired with every loss)")
    if settings["arch"] is not None:
        # Pairings join the named variants: a study may hold both.
        named = [settings["variants"]] if settings["variants"] else []
        settings["variants"] = ",".join(named + pairings(settings["arch"], settings["loss"]))
    for key in needs:
        if settings[key] is None:
            alternative = " (or --arch with --loss)" if key == "variants" else ""
            raise BenchError(f"a study needs --{key}{alternative} (on the command line or in a study file)")
    space = settings["space"]
    if space is None:
        return settings, None
    if isinstance(space, dict):
        space = parse_space(space, file, text)
    else:
        space = get_space(space)
    settings["name"] = settings["name"] or space.name
    return settings, space
