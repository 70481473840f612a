"""Registries: name -> object tables that replace closed lists of options.

Every choice a user names in a config or on the command line (a regrowth rule, a pruning method,
an optimizer, a study kind, an executor, ...) is looked up in a :class:`Registry`. Adding a
choice is one module plus one registration; config fields validate against the registry's
current names, and an unknown name gets a one-line error that suggests the closest one.

Entries may be *lazy*: registered as ``"module:attribute"`` strings and imported on first
lookup, so that optional dependencies (Ray) and heavy modules load only when chosen, and so that
a worker process that unpickles a study finds its kind without importing every plugin.

Examples
--------
>>> colours = Registry("colour")
>>> @colours.register("red")
... def red():
...     return "#f00"
>>> colours.names()
('red',)
>>> colours.get("red")()
'#f00'
>>> colours.get("rde")
Traceback (most recent call last):
...
prunelab.errors.ConfigError: unknown colour 'rde'; did you mean 'red'? choose one of 'red'
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator

from prunelab.errors import ConfigError

T = TypeVar("T")
_MISSING = object()


def _choices(names) -> str:
    """``'a', 'b' or 'c'``: the registered names as a sentence."""
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


class Registry(Generic[T]):
    """A named table of objects of one kind.

    Parameters
    ----------
    what : str
        What the entries are, for messages (``"regrowth rule"``, ``"study kind"``).
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, T | str] = {}
        self._help: dict[str, str] = {}

    # --- registering -------------------------------------------------------------------------
    def register(self, name: str, obj: T | str | None = None, help: str = "") -> Any:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator.

        ``obj`` may be a ``"package.module:attribute"`` string, imported on first :meth:`get`.
        Registering a name twice replaces the entry (so a test or plugin can override one).
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.what} name must be a non-empty string, got {name!r}")

        def add(value: T | str) -> T | str:
            self._entries[name] = value
            if help:
                self._help[name] = help
            elif not isinstance(value, str) and getattr(value, "__doc__", None):
                self._help[name] = (value.__doc__ or "").strip().splitlines()[0]
            return value

        if obj is None:
            return add
        add(obj)
        return obj

    def unregister(self, name: str) -> None:
        """Remove an entry (tests and plugins that clean up after themselves)."""
        self._entries.pop(name, None)
        self._help.pop(name, None)

    # --- looking up --------------------------------------------------------------------------
    def names(self) -> tuple[str, ...]:
        """Registered names, in registration order."""
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def help(self, name: str) -> str:
        """One-line description of an entry (its docstring's first line), or ``""``."""
        return self._help.get(name, "")

    def check(self, name: Any, what: str | None = None) -> str:
        """Return ``name`` if registered, else raise :class:`ConfigError` with a suggestion.

        ``what`` overrides the noun of the message (e.g. ``"pruning method"`` for a link score
        used as a pruning criterion).
        """
        if isinstance(name, str) and name in self._entries:
            return name
        close = difflib.get_close_matches(str(name), list(self._entries), n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"unknown {what or self.what} {name!r}; {hint}choose one of {_choices(self._entries)}"
        )

    def get(self, name: str, default: Any = _MISSING) -> T:
        """The object registered as ``name`` (imported now if it was registered lazily).

        With ``default``, a missing name returns it instead of raising (as ``dict.get``).
        """
        if default is not _MISSING and name not in self._entries:
            return default
        self.check(name)
        value = self._entries[name]
        if isinstance(value, str):
            module, _, attr = value.partition(":")
            value = getattr(importlib.import_module(module), attr)
            self._entries[name] = value
        return value  # type: ignore[return-value]

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __setitem__(self, name: str, obj: T) -> None:
        self.register(name, obj)

    def __delitem__(self, name: str) -> None:
        self.unregister(name)

    def items(self) -> list[tuple[str, T]]:
        """``(name, object)`` pairs (imports lazy entries)."""
        return [(n, self.get(n)) for n in self._entries]

    # --- config integration ------------------------------------------------------------------
    def field(self) -> Any:
        """An annotated ``str`` type for pydantic fields that must name an entry.

        The check happens at validation time against the names registered then, so plugins
        registered after the config class was defined are accepted. The value stays a plain
        string, so config hashes (run ids) do not depend on the registry.
        """

        def _validate(value: str) -> str:
            try:
                return self.check(value)
            except ConfigError as err:
                raise ValueError(str(err)) from None

        return Annotated[str, AfterValidator(_validate)]

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {list(self._entries)})"
