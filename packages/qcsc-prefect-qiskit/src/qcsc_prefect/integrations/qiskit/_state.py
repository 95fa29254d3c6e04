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
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, MutableMapping
    from typing import Self

K = TypeVar("K")
V = TypeVar("V")


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


class LockedDict(dict[K, V], Generic[K, V]):
    """A process-wide table: a dict whose users hold `guard` while they touch it.

    Args:
        memory: How many entries `trim` keeps (insertion order: the oldest go first);
            ``None`` keeps all of them (something else bounds the table).
    """

    def __init__(self, memory: int | None = None) -> None:
        super().__init__()
        self.guard = threading.Lock()
        self._memory = memory

    def trim(self) -> None:
        """Drop the oldest entries beyond ``memory`` (the caller holds `guard`)."""
        if self._memory is None:
            return
        while len(self) > self._memory:
            del self[next(iter(self))]

    def reset(self) -> None:
        """Empty the table under `guard`."""
        with self.guard:
            self.clear()

    def registered(self, name: str, *, holds: str, bound: str, resettable: bool = True) -> Self:
        """Register this table as ``name`` (see `register`) and return it.

        Args:
            name: Where it lives, as ``module.attribute``.
            holds: What it holds.
            bound: What bounds it.
            resettable: ``False`` when it holds live resources that `reset` must not drop.
        """
        register(name, holds=holds, bound=bound, reset=self.reset if resettable else None)
        return self


def tables() -> tuple[Table, ...]:
    """Every table registered so far (by the modules imported so far), sorted by name."""
    with _guard:
        return tuple(sorted(_tables.values(), key=lambda table: table.name))


def reset() -> None:
    """Empty every table that has a reset (tests; a process that must forget its state)."""
    for table in tables():
        if table.reset is not None:
            table.reset()


__all__ = ["LockedDict", "Table", "register", "register_dict", "reset", "tables"]
