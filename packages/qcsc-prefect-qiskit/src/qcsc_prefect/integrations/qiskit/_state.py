"""The library's process-wide tables: each registered by the module that owns it, one reset.

A module that keeps state for the life of the process registers the table here when it is
imported, saying what it holds and what bounds it. `tables` lists them (docs/architecture.md
shows the same list; a test compares the two) and `reset` empties every table that can be
emptied safely, which is what the test suite does after each test. Tables that hold live
resources (lock connections, client threads, running pollers) have no reset: they release
those resources themselves.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, MutableMapping


@dataclass(frozen=True, slots=True)
class Table:
    """One process-wide table.

    Attributes:
        name: Where it lives, as ``module.attribute`` (relative to the package).
        holds: What it holds.
        bound: What bounds it.
        reset: Empties it; ``None`` when it holds live resources and is never emptied.
    """

    name: str
    holds: str
    bound: str
    reset: Callable[[], None] | None


_tables: dict[str, Table] = {}
_guard = threading.Lock()


def register(name: str, *, holds: str, bound: str, reset: Callable[[], None] | None) -> None:
    """Register the table ``name`` (called once, by the module that owns it)."""
    with _guard:
        _tables[name] = Table(name, holds, bound, reset)


def register_dict(
    name: str, table: MutableMapping[Any, Any], guard: threading.Lock, *, holds: str, bound: str
) -> None:
    """Register a dict-like ``table`` whose reset clears it under ``guard``."""

    def clear() -> None:
        with guard:
            table.clear()

    register(name, holds=holds, bound=bound, reset=clear)


def tables() -> tuple[Table, ...]:
    """Every table registered so far (by the modules imported so far), sorted by name."""
    with _guard:
        return tuple(sorted(_tables.values(), key=lambda table: table.name))


def reset() -> None:
    """Empty every table that has a reset (tests; a process that must forget its state)."""
    for table in tables():
        if table.reset is not None:
            table.reset()


__all__ = ["Table", "register", "register_dict", "reset", "tables"]
