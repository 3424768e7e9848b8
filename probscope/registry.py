"""Registry[T]: named things (objectives, data formats, token classes, figures, benchmarks, commands ...)
that a new one joins with one decorator.

    OBJECTIVES: Registry[Objective] = Registry("objective")

    @OBJECTIVES.register("dft")
    def dft(...): ...

    OBJECTIVES.get("dtf")   # ProbscopeError: unknown objective 'dtf' (did you mean 'dft'?); known: dft, sft

A name registered twice is an error (two modules silently replacing each other's entry is a bug);
an unknown name gets the nearest known names.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from probscope.errors import ProbscopeError

T = TypeVar("T")


class Registry(Generic[T]):
    """An insertion-ordered mapping name -> T with checked registration and helpful lookups."""

    def __init__(self, kind: str):
        self.kind = kind                     # what the entries are, for error messages ("objective")
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if not isinstance(name, str) or not name:
            raise ProbscopeError(f"a {self.kind} needs a non-empty name, got {name!r}")
        if name in self._entries:
            raise ProbscopeError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of add: `@REGISTRY.register("name")`."""
        return lambda entry: self.add(name, entry)

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ProbscopeError(self.unknown_message(name)) from None

    def unknown_message(self, name: object) -> str:
        close = difflib.get_close_matches(str(name), list(self._entries), n=3, cutoff=0.5)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        return f"unknown {self.kind} {name!r}{hint}; known: {', '.join(self._entries) or 'none'}"

    def remove(self, name: str) -> T:
        """Take an entry out (tests that register a temporary one clean up with this)."""
        return self._entries.pop(name)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self):
        return self._entries.items()

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
