"""Options of the smaller commands, as Annotated types made from the same declarations
as `run`'s settings (bench/train/settings.py), so no flag or help is spelled twice."""

from __future__ import annotations

from typing import Annotated

from bench.cli.settings import typer_info
from bench.options import declared
from bench.train.settings import RunSettings

_RUN = {name: (spec, kind) for name, spec, kind, _ in declared(RunSettings)}


def like_run(name: str):
    """`run`'s option `name`, for another command (its default goes after the `=`)."""
    spec, kind = _RUN[name]
    return Annotated[kind, typer_info(spec, kind, check=True)]


DataDir = like_run("data_dir")
Plugins = like_run("plugin")
Device = like_run("device")
Format = like_run("fmt")
Variants = like_run("variants")
Exclude = like_run("exclude")
