"""Typer options made from a settings class's declarations (bench/options.py), so that a
command's signature is its settings class and nothing is spelled twice.

    @app.command()
    @takes(RunSettings)
    def run(settings: RunSettings): ...

typer reads the options from the wrapper's signature: each field becomes an Annotated
parameter whose typer.Option carries the field's flags, help and choices (shown in
--help). The values are checked once, when the settings object is made (`Checked`)."""

from __future__ import annotations

import functools
import inspect
from typing import Annotated, Optional

import typer

from bench.options import Spec, base_type, declared


def typer_info(spec: Spec, kind, show_default=True):
    """The typer option (or argument) of one declared field; --help shows its choices and
    limits. typer checks only that a value reads as its type: the settings object checks
    the rest when it is made, in the words a study file and the Python API get too."""
    extra, help = {}, spec.help
    # The choices go in the help, where rich wraps between words; as a metavar
    # ([tiny|quick|...]) a narrow terminal or a pipe (80 columns) cut them mid-name.
    if spec.choices is not None or spec.pattern is not None:
        extra["metavar"] = f"<{spec.key}>"
        forms = spec.pattern[1] if spec.choices is None else (
            spec.choices[0] if len(spec.choices) == 1 else f"{', '.join(spec.choices[:-1])} or {spec.choices[-1]}")
        help += f" [{forms}]"
    if spec.limits() is not None:
        help += f" [{spec.limits()}]"
    make = typer.Argument if spec.argument else typer.Option
    flags = () if spec.argument else spec.flags
    # typer reads help as rich markup, where [brackets] are tags.
    return make(*flags, help=help.replace("[", "\\["), show_default=show_default, **extra)


def parameters(cls, given_only: bool = False) -> list[inspect.Parameter]:
    """The typer parameters of a settings class. `given_only`: every default is None, so the
    command sees only what the user typed (a study file fills in the rest); --help still
    shows the real default."""
    params = []
    for name, spec, kind, default in declared(cls):
        if given_only:
            shown = default if default not in (None, False) else False
            kind = Optional[base_type(kind) if base_type(kind) is not list else kind]
            info, default = typer_info(spec, kind, show_default=str(shown) if shown is not False else False), None
        else:
            info = typer_info(spec, kind)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=Annotated[kind, info]))
    return params


def takes(cls, given_only: bool = False, extra: tuple[inspect.Parameter, ...] = ()):
    """Give a command the options of `cls`: it is called with a `cls` instance (or, with
    `given_only`, the dict of the options given, by field name, for the command to merge
    with a file before it makes one) and the `extra` parameters."""
    extra_names = {p.name for p in extra}

    def decorate(body):
        @functools.wraps(body)
        def command(**values):
            rest = {k: values.pop(k) for k in list(values) if k in extra_names}
            if given_only:
                return body({k: v for k, v in values.items() if v is not None and v != []}, **rest)
            return body(cls(**values), **rest)

        params = [*extra, *parameters(cls, given_only)]
        del command.__wrapped__  # typer must read the signature below, not body's
        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command
    return decorate
