"""Each user-facing option declared once, as a field of a settings dataclass.

A field made with `option(...)` carries its flags, help, limits and choices. From that
one declaration come the command line's typer options (bench/cli/settings.py builds
them), the study file's keys and the types they may hold, and `problem()`, the one check
of a value. A settings class that is `Checked` runs it on every option when an object is
made, so the command line, the Python API and study files refuse a value in the same
words, once. The settings classes themselves live with the layer that uses them
(bench/train/settings.py, bench/study/settings.py, bench/scoring/settings.py, ...)."""

from __future__ import annotations

import difflib
import math
import re
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from bench.errors import BenchError

# Output formats of every command that prints a table (a script parses json or csv).
FORMATS = ("table", "json", "csv")
# What --device takes: `cuda:N` is a pattern, so it is checked by form, not by a list.
DEVICE_FORMS = ("auto", "cpu", "cuda", "cuda:N")  # said as "auto, cpu, cuda or cuda:N"
DEVICE_PATTERN = r"auto|cpu|cuda(:\d+)?"


@dataclass(frozen=True)
class Spec:
    flags: tuple[str, ...]
    help: str
    minimum: float | None = None  # the value must be >= minimum
    above: float | None = None  # ... > above
    below: float | None = None  # ... < below
    choices: tuple[str, ...] | None = None
    pattern: tuple[str, str] | None = None  # (regex, metavar) for values checked by form
    file_types: tuple[type, ...] | None = None  # what a study file may hold, when more than the option's type
    in_file: bool = True  # False: the command line only (what to print, whether to resume)
    argument: bool = False  # a positional argument rather than an option

    @property
    def key(self) -> str:
        """The long option without its dashes: a study file's key."""
        return self.flags[0].lstrip("-")

    def limits(self) -> str | None:
        if self.above is not None and self.below is not None:
            return f"between {self.above:g} and {self.below:g}"
        if self.above == 0:
            return "a positive number"
        if self.above is not None:
            return f"above {self.above:g}"
        if self.minimum is not None:
            return "0 or more" if self.minimum == 0 else f"at least {self.minimum:g}"
        return None


def option(default, *flags: str, help: str, **limits) -> typing.Any:
    """A settings field that is also an option (see `Spec` for the limits it takes)."""
    return field(default=default, metadata={"option": Spec(tuple(flags), help, **limits)})


def same_as(cls, name: str, default=MISSING) -> typing.Any:
    """Option `name` of the settings class `cls`, for another command: its flags, help and
    limits stay one declaration (with another default where given)."""
    source = next(f for f in fields(cls) if f.name == name)
    return field(default=source.default if default is MISSING else default, metadata=source.metadata)


def declared(cls) -> list[tuple[str, Spec, typing.Any, typing.Any]]:
    """(field name, spec, type, default) of every option field of a settings class, in order."""
    hints = typing.get_type_hints(cls)
    return [(f.name, f.metadata["option"], hints[f.name], None if f.default is MISSING else f.default)
            for f in fields(cls) if "option" in f.metadata]


def base_type(kind) -> type:
    """int for Optional[int], str for Optional[str], list for list[str], ..."""
    origin = typing.get_origin(kind)
    if origin is typing.Union or str(origin) == "types.UnionType":
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
        origin = typing.get_origin(kind)
    return origin or kind


TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", list: "a list of strings", dict: "a table",
              bool: "true or false"}


def accepted_types(spec: Spec, kind) -> tuple[type, ...]:
    if spec.file_types is not None:
        return spec.file_types
    base = base_type(kind)
    return {float: (int, float), Path: (str,)}.get(base, (base,))


def type_problem(spec: Spec, kind, value) -> str | None:
    """Why a study file's value has the wrong type for the option, or None."""
    kinds = accepted_types(spec, kind)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):  # True is an int
        wanted = " or ".join(dict.fromkeys(TYPE_NAMES[k] for k in kinds if k is not int or float not in kinds))
        return f"{spec.key} must be {wanted}, got {type(value).__name__}"
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        return f"{spec.key} must be a list of strings, got {value!r:.60}"
    return None


def problem(spec: Spec, value) -> str | None:
    """Why a value is outside the option's limits or choices, or None (None values pass:
    they mean "not given")."""
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return f"{spec.flags[0]} must be {spec.limits() or 'a finite number'}, got {value}"
        if ((spec.minimum is not None and value < spec.minimum) or (spec.above is not None and value <= spec.above)
                or (spec.below is not None and value >= spec.below)):
            return f"{spec.flags[0]} must be {spec.limits()}, got {value:g}"
    if isinstance(value, str):
        if spec.choices is not None and value not in spec.choices:
            near = difflib.get_close_matches(value, spec.choices, n=3)
            return (f"unknown {spec.key} {value!r}; {'did you mean ' + ', '.join(near) + '? ' if near else ''}"
                    f"choose one of {', '.join(spec.choices)}")
        if spec.pattern is not None and not re.fullmatch(spec.pattern[0], value.strip().lower()):
            return f"unknown {spec.key} {value!r}; use {spec.pattern[1]}"
    return None


def check(settings) -> None:
    """Every option of a settings object within its limits and choices, or one BenchError."""
    for name, spec, _, _ in declared(type(settings)):
        reason = problem(spec, getattr(settings, name))
        if reason is not None:
            raise BenchError(reason)


class Checked:
    """A settings class whose objects are checked as they are made (`check`): whoever made
    one, the command line, a study file or a Python caller, holds values within limits."""

    def __post_init__(self):
        check(self)


def values_of(settings, *pieces) -> dict:
    """The fields of the settings classes `pieces` (of which `settings` is one, or holds
    their fields), by name: what one object hands on to another made of the same pieces."""
    return {f.name: getattr(settings, f.name) for piece in pieces for f in fields(piece)}


def defaults(cls) -> dict:
    """The file keys of a settings class with their defaults."""
    return {spec.key: default for _, spec, _, default in declared(cls) if spec.in_file}
