"""The names a variant's options may take: the parameters of the functions they go to.

A variant's `arch_options` go to its architecture's builder, its `loss_options` to its
loss's `d_loss` and `after_d_step`. Each function's signature is the list of what it takes,
so no list is kept by hand, and a name no function takes is refused when the variant is
registered or built: a builder that swallowed it would train as if the option were never
given (a misspelt `d_norm` trains a BatchNorm critic under a gradient penalty).

A function that takes `**kwargs` takes any name (a plug-in's may): its options are not checked.
"""

from __future__ import annotations

import difflib
import inspect

KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def option_names(fn, positional: int, reserved: tuple[str, ...] = ()) -> frozenset[str] | None:
    """The parameters of `fn` an option can fill: those after the first `positional` (which
    the caller passes itself, by position), less `reserved` (which it passes by name).
    None when `fn` takes **kwargs, so any name."""
    parameters = list(inspect.signature(fn).parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return frozenset(p.name for p in parameters[positional:] if p.kind in KEYWORD_KINDS and p.name not in reserved)


def options_taken(fn, positional: int, options: dict) -> dict:
    """The `options` that `fn` takes (all of them if it takes **kwargs): a loss's options are
    shared by its `d_loss` and its `after_d_step`, and each takes only its own."""
    names = option_names(fn, positional)
    return dict(options) if names is None else {k: v for k, v in options.items() if k in names}


def unknown_option(given: dict, accepted: frozenset[str] | None) -> str | None:
    """Why one of the `given` names is not an option (a did-you-mean and the names
    accepted), or None when every one is."""
    if accepted is None:
        return None
    for name in given:
        if name not in accepted:
            close = difflib.get_close_matches(str(name), sorted(accepted), n=3)
            guess = f"did you mean {' or '.join(close)}? " if close else ""
            known = f"its options are {', '.join(sorted(accepted))}" if accepted else "it takes no options"
            return f"no option {name!r}; {guess}{known}"
    return None
