"""One status poller per event loop and service connection, serving every waiting job.

Instead of each waiting job asking for its own status, waiters register here. A poller lists the
service's pending jobs (``GET /jobs?pending=true``, a page at a time) once per round and wakes
each waiter whose job shows a new status, or has left the pending list (it is then final, or
at least not listed: the waiter confirms with one request of its own). Requests per round grow
with the number of pending jobs divided by the page size, not with the number of waiters.

Bounds: one round at a time per poller, at most `MAX_PAGES` pages per round, and a poller exists
only while a job waits on it. When listing fails for good, the poller wakes every waiter with
``"stopped"`` (they fall back to polling their own job) and no poller serves that connection for
`PAUSE_AFTER_FAILURE` seconds.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from .. import _state

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

#: Jobs asked for per list request (the service's largest page).
PAGE_SIZE: Final = 200

#: Pages read per round at most; beyond that, a job missing from the list is not judged.
MAX_PAGES: Final = 25

#: Seconds during which a connection whose listing failed for good is not served by a poller.
PAUSE_AFTER_FAILURE: Final = 60.0


@dataclass(frozen=True, slots=True)
class Listing:
    """The pending jobs one round saw."""

    statuses: dict[str, str]
    """Listed status (``"QUEUED"``, ``"RUNNING"``, ...; see `listing.read_page`) by job id."""

    complete: bool
    """Every pending job was listed, so a job missing from `statuses` is no longer pending."""


@dataclass(frozen=True, slots=True)
class Update:
    """What woke a waiter."""

    kind: Literal["status", "gone", "stopped"]
    """``"status"``: listed with a new status; ``"gone"``: no longer listed as pending;
    ``"stopped"``: the poller gave up (poll the job directly)."""

    status: str | None = None
    """The listed status, for ``"status"``."""


@dataclass(eq=False, slots=True)
class _Waiter:
    job_id: str
    known: str
    report_gone: bool
    interval: float
    since: float
    future: asyncio.Future[Update] = field(repr=False)


class StatusPoller:
    """Lists pending jobs in rounds on one event loop and wakes the waiters it concerns."""

    def __init__(
        self,
        list_pending: Callable[[], Awaitable[Listing]],
        on_idle: Callable[[], None],
        read_finished: Callable[[int], Awaitable[object]] | None = None,
    ) -> None:
        """Serve waiters with ``list_pending``, which returns one round's listing or raises.

        ``on_idle`` is called when the round loop ends because no job waits any more.
        ``read_finished(n)``, when given, is awaited before waking ``n`` >= 2 waiters whose jobs
        left the pending list: one list of the newest finished jobs, whose documents then
        answer those waiters' own status reads (`answers`). Its failures are ignored.
        """
        self._list_pending = list_pending
        self._read_finished = read_finished
        self._on_idle = on_idle
        self._waiters: set[_Waiter] = set()
        self._task: asyncio.Task[None] | None = None
        self.failed_at: float | None = None
        self.rounds = 0
        self.members = 0
        """Jobs waiting with this poller's connection, whether or not they watch it now."""

    @property
    def running(self) -> bool:
        """Whether the round loop is alive."""
        return self._task is not None and not self._task.done()

    @property
    def busy(self) -> bool:
        """Whether jobs wait on this poller (its rounds are shared with them)."""
        return bool(self._waiters)

    @property
    def idle(self) -> bool:
        """Whether no job waits and no round loop runs."""
        return not self._waiters and not self.running and self.members == 0

    @property
    def shared(self) -> bool:
        """Whether several jobs wait, so that one list per round beats a request per job."""
        return self.members > 1

    def join(self) -> None:
        """Count a job that waits with this connection (call `leave` when it stops)."""
        self.members += 1

    def leave(self) -> None:
        """Stop counting a job `join` counted."""
        self.members -= 1
        if self.idle:
            self._on_idle()

    async def watch(
        self,
        job_id: str,
        known: str,
        *,
        timeout: float | None,
        interval: float,
        report_gone: bool = True,
    ) -> Update | None:
        """Wait until a round sees ``job_id`` with a status other than ``known``.

        Args:
            job_id: The job.
            known: Its listed status as last seen by the waiter.
            timeout: Seconds to wait at most; ``None``: until an update.
            interval: The pause between rounds this waiter wants.
            report_gone: Wake up when the job is missing from a complete listing.

        Returns:
            The update, or ``None`` when ``timeout`` ran out first.
        """
        loop = asyncio.get_running_loop()
        waiter = _Waiter(job_id, known, report_gone, interval, loop.time(), loop.create_future())
        self._waiters.add(waiter)
        if not self.running:
            self._task = loop.create_task(self._run(), name="qcsc-qiskit-status-poller")
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        except TimeoutError:
            return None
        finally:
            self._waiters.discard(waiter)

    def _pause(self) -> float:
        return min((w.interval for w in self._waiters), default=0.0)

    async def _run(self) -> None:
        try:
            while self._waiters:
                await asyncio.sleep(self._pause())
                if not self._waiters:
                    break
                started = asyncio.get_running_loop().time()
                listing = await self._list_pending()
                self.rounds += 1
                await self._read_finished_for(self._gone(listing, started))
                self._deliver(listing, started)
            self._task = None
            self._on_idle()
        except Exception:
            self.failed_at = time.monotonic()
            self._release(Update("stopped"))
        except BaseException:
            self._release(Update("stopped"))
            raise

    def _gone(self, listing: Listing, started: float) -> int:
        """How many waiters this round will wake because their job left the pending list."""
        if not listing.complete:
            return 0
        return sum(
            1
            for w in self._waiters
            if w.report_gone
            and w.since <= started
            and not w.future.done()
            and w.job_id not in listing.statuses
        )

    async def _read_finished_for(self, gone: int) -> None:
        if self._read_finished is None or gone < 2:
            return
        try:
            await self._read_finished(gone)
        except Exception:
            return  # each waiter asks for its own job instead

    def _deliver(self, listing: Listing, started: float) -> None:
        """Wake the waiters registered before the round started whose job changed."""
        for waiter in list(self._waiters):
            if waiter.since > started or waiter.future.done():
                continue  # registered after the list was read: the listing may predate its status
            status = listing.statuses.get(waiter.job_id)
            if status is None:
                if listing.complete and waiter.report_gone:
                    waiter.future.set_result(Update("gone"))
            elif status != waiter.known:
                waiter.future.set_result(Update("status", status))

    def _release(self, update: Update) -> None:
        for waiter in list(self._waiters):
            if not waiter.future.done():
                waiter.future.set_result(update)


@dataclass(frozen=True, slots=True)
class _Entry:
    """A registered poller, holding its loop and connection so that their ids stay unique."""

    loop: asyncio.AbstractEventLoop
    client: object
    poller: StatusPoller


#: Live pollers by (event loop, connection); a poller leaves when its last waiter has gone, a
#: failed one once its pause is over.
_pollers: Final = _state.LockedDict[tuple[int, int], _Entry]().registered(
    "_runtime.poller._pollers",
    holds="the running status pollers, by event loop and service connection",
    bound="one per event loop and connection while a job waits on it",
    resettable=False,
)


def _key(client: object) -> tuple[int, int]:
    """The registry key of ``client``'s poller on the running event loop."""
    return (id(asyncio.get_running_loop()), id(client))


def poller_for(
    client: object,
    list_pending: Callable[[], Awaitable[Listing]],
    read_finished: Callable[[int], Awaitable[object]] | None = None,
) -> StatusPoller | None:
    """Return the poller of ``client`` on the running event loop, creating it if needed.

    Args:
        client: The connection the jobs were submitted through (one poller per connection).
        list_pending: Lists the pending jobs through ``client`` (used by a new poller).
        read_finished: Lists the newest finished jobs through ``client`` (see `StatusPoller`).

    Returns:
        The poller, or ``None`` while listing through ``client`` is paused after a failure.
    """
    loop = asyncio.get_running_loop()
    key = _key(client)
    now = time.monotonic()
    with _pollers.guard:
        for other, old in list(_pollers.items()):
            failed_at = old.poller.failed_at
            if failed_at is not None and now - failed_at >= PAUSE_AFTER_FAILURE:
                del _pollers[other]
        entry = _pollers.get(key)
        if entry is None:
            entry = _pollers[key] = _Entry(
                loop, client, StatusPoller(list_pending, lambda: _forget(key), read_finished)
            )
        return None if entry.poller.failed_at is not None else entry.poller


def poller_busy(client: object) -> bool:
    """Whether jobs of ``client`` already wait on its poller on the running event loop.

    Looks only: unlike `poller_for`, it never creates a poller.
    """
    with _pollers.guard:
        entry = _pollers.get(_key(client))
    return entry is not None and entry.poller.failed_at is None and entry.poller.busy


def _forget(key: tuple[int, int]) -> None:
    with _pollers.guard:
        entry = _pollers.get(key)
        if entry is not None and entry.poller.failed_at is None and entry.poller.idle:
            del _pollers[key]


__all__ = [
    "MAX_PAGES",
    "PAGE_SIZE",
    "PAUSE_AFTER_FAILURE",
    "Listing",
    "StatusPoller",
    "Update",
    "poller_busy",
    "poller_for",
]
