"""One registry shape for every kind of named thing gan-bench knows: variants,
architectures, losses, optimizers, datasets, presets and search spaces.

In the manner of timm's model registry, a `Registry` is a read-only mapping from name to
object (`name in R`, `R[name]`, iteration in registration order, `len`, `.items()`) that
only `register` adds to. It remembers where each name came from (`source`: "builtin" or
the plug-in's module, file and sha256), refuses a second registration of a name from
elsewhere, and answers a name it does not know with close matches and the known names.
`select` reads what a user types on the command line: 'all', or names and shell-style
patterns separated by commas (`wgan*`), minus an `exclude` of the same kind.

It lives in `variants` because `bench` builds on `variants`, never the reverse; so its
error is not `bench.errors.BenchError` but `RegistryError`, which the CLI catches (as
`variants.UnknownVariant`) and prints as one `error:` line with exit code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from fnmatch import fnmatchcase
from typing import TypeVar

from variants.provenance import caller_source, describe_source

T = TypeVar("T")

PATTERN_CHARS = "*?["
# A name the command line could not pick out on its own: a comma splits lists, the pattern
# characters would make it a pattern.
RESERVED_CHARS = "," + PATTERN_CHARS
_NO_DEFAULT = object()


class RegistryError(KeyError):
    """An unknown name, a pattern that matches none, a selection left empty, or a refused
    registration: a mistake the user can fix, so one line with no traceback."""

    def __str__(self):
        # KeyError's own str is the repr of its argument: quotes around the whole message.
        return str(self.args[0]) if self.args else ""


class Registry(Mapping[str, T]):
    """The named objects of one kind (see the module's docstring)."""

    def __init__(self, kind: str, hint: str = ""):
        self.kind = kind  # "variant", "search space": the word every message uses
        self.hint = hint  # appended to an unknown name's message, e.g. what else may be given
        self._items: dict[str, T] = {}
        self._sources: dict[str, object] = {}

    # ------------------------------------------------------------ the read-only mapping

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise RegistryError(self.unknown_message(name)) from None

    def __contains__(self, name) -> bool:
        try:
            return name in self._items
        except TypeError:  # unhashable: not a name
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._items)})"

    # ------------------------------------------------------------ registering

    def register(self, name: str, obj: T, source=None) -> T:
        """Add `obj` under `name`; `source` defaults to the module that called. The same
        source may register a name again (a plug-in file loaded twice replaces its own
        entries); another source may not."""
        source = caller_source() if source is None else source
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise RegistryError(f"a {self.kind} name must be a non-empty string without surrounding spaces, "
                                f"got {name!r}")
        if any(char in name for char in RESERVED_CHARS):
            raise RegistryError(f"{self.kind} {name!r}: a name with any of {' '.join(RESERVED_CHARS)} could not be "
                                "selected on the command line; choose another")
        if name in self._items and self._sources[name] != source:
            first = describe_source(self._sources[name])
            raise RegistryError(f"{self.kind} {name!r} is already registered (by {first})")
        self._items[name] = obj
        self._sources[name] = source
        return obj

    def snapshot(self) -> tuple[dict, dict]:
        return dict(self._items), dict(self._sources)

    def restore(self, snapshot: tuple[dict, dict]) -> None:
        """Back to a `snapshot`: a plug-in that failed halfway leaves nothing behind."""
        items, sources = snapshot
        self._items, self._sources = dict(items), dict(sources)

    # ------------------------------------------------------------ looking up

    def get(self, name: str, default=_NO_DEFAULT):
        """The object registered as `name`. Without a default, an unknown name is a
        `RegistryError` with close matches and the known names; with one, as `dict.get`."""
        if name in self:
            return self._items[name]
        if default is not _NO_DEFAULT:
            return default
        raise RegistryError(self.unknown_message(name))

    def names(self) -> list[str]:
        return sorted(self._items)

    def source(self, name: str):
        """Who registered `name`: "builtin" or {"module", "file", "sha256"}."""
        self[name]  # an unknown name is the usual error
        return self._sources[name]

    def unknown_message(self, name) -> str:
        """Why `name` is not a registered name, for messages that wrap it (a variant's unknown loss)."""
        return f"unknown {self.kind} {name!r}; {self._suggest(str(name))}"

    def _suggest(self, typed: str) -> str:
        close = difflib.get_close_matches(typed, self.names(), n=3, cutoff=0.4)
        guess = f"did you mean {', '.join(close)}? " if close else ""
        known = f"choose one of {', '.join(self.names())}" if self._items else f"no {self.kind} is registered"
        return guess + known + (f"; {self.hint}" if self.hint else "")

    # ------------------------------------------------------------ selecting

    def select(self, spec: str, exclude: str | None = None, also: Callable[[str], bool] | None = None) -> list[str]:
        """The names `spec` picks, in the order given, each once: 'all' (every name, sorted),
        or names and fnmatch patterns separated by commas ('wgan*' picks wgan and wgan-gp),
        less those `exclude` picks (names or patterns too). A name or pattern that picks
        nothing, and a selection left empty, are `RegistryError`s. `also` accepts names the
        registry does not hold but the caller resolves itself (a variant's ARCH+LOSS pairing)."""
        chosen = self._pick(spec, also)
        if exclude is not None and exclude.strip():
            dropped = set(self._pick(exclude, also))
            chosen = [name for name in chosen if name not in dropped]
            if not chosen:
                raise RegistryError(f"{spec!r} without {exclude!r} leaves no {self.kind}")
        return chosen

    def _pick(self, spec: str, also: Callable[[str], bool] | None) -> list[str]:
        if spec.strip() == "all":
            if not self._items:
                raise RegistryError(f"'all' picks nothing: no {self.kind} is registered")
            return self.names()
        items = [item.strip() for item in spec.split(",") if item.strip()]
        if not items:
            raise RegistryError(f"no {self.kind} named; use 'all' or NAME[,NAME...]")
        picked: list[str] = []
        for item in items:
            if any(char in item for char in PATTERN_CHARS):
                matched = [name for name in self.names() if fnmatchcase(name, item)]
                if not matched:
                    bare = item.translate(str.maketrans("", "", "*?[]"))
                    raise RegistryError(f"no {self.kind} matches {item!r}; {self._suggest(bare)}")
                picked += matched
            elif item in self._items or (also is not None and also(item)):
                picked.append(item)
            else:
                raise RegistryError(self.unknown_message(item))
        return list(dict.fromkeys(picked))
