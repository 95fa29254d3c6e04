"""The many-host submit lock: PostgreSQL session-level advisory locks.

A session-level advisory lock lives exactly as long as the database connection that took it:

- a holder that exits or is killed closes its socket, and the server frees its locks at once;
- a holder whose machine is lost stops answering the server's TCP keepalives, and the server
  closes the connection, freeing its locks, after ``idle + interval * count`` seconds (set per
  connection below: 10 + 5 * 3 = 25 s).

Each process keeps one connection, owned by one background thread with its own event loop (a
"keeper"): Prefect may run a flow's async tasks on different event loops, and an asyncpg
connection belongs to the loop that opened it. Every lock of the process is taken on that
connection; an in-process table stops two submitters of the same process from sharing one
(advisory locks are re-entrant within a session). If the connection is lost, every lease taken
on it is void: `confirm` refuses to let its holder post.

`confirm` asks the server, on the lock's own connection and within `CONFIRM_TIMEOUT`, whether
this session still holds the lock (``pg_locks`` for the key and ``pg_backend_pid()``). That
catches a connection the server already closed (a restart, a terminated session, a host cut off
long enough for the server's keepalives to give up) and a pooler that ran the lock statement on
another server session (PgBouncer in transaction mode). A frozen holder's session stays alive:
PostgreSQL cannot tell a stopped process from a slow one, so its locks stay held until it
resumes or dies.

Only asyncpg is needed, which Prefect already installs for its own PostgreSQL support.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ._extras import require_extra
from ._redact import redact_url
from .errors import SubmitLockError, SubmitLockLostError

if TYPE_CHECKING:
    import concurrent.futures
    from collections.abc import Coroutine

T = TypeVar("T")

#: Server-side TCP keepalive settings for the lock connection: a lost holder is noticed after
#: 10 s idle + 3 probes 5 s apart, and unacknowledged data is given up after 25 s.
KEEPALIVE_SETTINGS: Final = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "25000",
}

#: Bound on connecting and on each lock statement (seconds).
STATEMENT_TIMEOUT: Final = 10.0

#: Bound on the check, right before posting, that a lock is still held (seconds).
CONFIRM_TIMEOUT: Final = 5.0

#: Whether this session holds the advisory lock whose key is split into ($1, $2).
_HELD_HERE: Final = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND pid = pg_backend_pid() AND classid = $1::bigint::oid AND objid = $2::bigint::oid "
    "AND objsubid = 1)"
)

_FIRST_PAUSE: Final = 0.05
_LONGEST_PAUSE: Final = 0.5


def advisory_key(key: str) -> int:
    """Map a lock key to PostgreSQL's signed 64-bit advisory lock key space."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def _oid_pair(number: int) -> tuple[int, int]:
    """The (classid, objid) under which ``pg_locks`` lists the advisory lock ``number``."""
    unsigned = number & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


class _Keeper:
    """A daemon thread running an event loop that owns the lock connection."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._guard = threading.Lock()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._guard:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="qcsc-qiskit-pglock", daemon=True
                )
                thread.start()
                self._loop = loop
            return self._loop

    @property
    def started(self) -> bool:
        """Whether the keeper loop runs (it starts on first use)."""
        return self._loop is not None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coroutine`` on the keeper loop (callable from any thread)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._ensure_loop())


class _PgLease:
    """A lock held on the keeper's connection ``epoch``."""

    def __init__(self, lock: PostgresAdvisoryLock, number: int, epoch: int) -> None:
        self._lock = lock
        self.number = number
        self.epoch = epoch
        self._released = False
        self._guard = threading.Lock()

    async def confirm(self) -> None:
        """Raise `SubmitLockLostError` unless this session still holds the lock on the server."""
        await asyncio.wrap_future(self._lock._keeper.run(self._lock._confirm(self)))

    def void(self) -> None:
        """Mark the lease released without unlocking: the lock it stood for is gone."""
        with self._guard:
            self._released = True

    def release(self) -> None:
        """Unlock (asynchronously on the keeper; idempotent; callable from any thread)."""
        with self._guard:
            if self._released:
                return
            self._released = True
        self._lock._keeper.run(self._lock._unlock(self))


class PostgresAdvisoryLock:
    """`SubmitLock` backed by PostgreSQL session-level advisory locks.

    Args:
        url: ``postgresql://user:password@host:port/database``; the password is never logged.
    """

    def __init__(self, url: str) -> None:
        self._url = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self._keeper = _Keeper()
        self._connection: Any | None = None
        self._epoch = 0
        self._held: set[int] = set()
        self._serial: asyncio.Lock | None = None  # made on the keeper loop, on first use
        atexit.register(self.close)

    @property
    def description(self) -> str:
        """The backend and its address, without credentials."""
        return f"PostgreSQL advisory lock at {redact_url(self._url)}"

    async def acquire(self, key: str, *, timeout: float) -> _PgLease | None:
        """Wait up to ``timeout`` seconds for the advisory lock on ``key``."""
        number = advisory_key(key)
        deadline = time.monotonic() + timeout
        pause = _FIRST_PAUSE
        while True:
            lease = await asyncio.wrap_future(self._keeper.run(self._try(number)))
            if lease is not None:
                return lease
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)

    async def holder(self, key: str) -> str | None:
        """Describe the session that holds ``key`` (its application name and address)."""
        return await asyncio.wrap_future(self._keeper.run(self._holder(advisory_key(key))))

    def close(self) -> None:
        """Close the lock connection, freeing its locks (blocking, at most a few seconds).

        Registered to run at interpreter exit, so that a finishing process says goodbye to
        the server instead of leaving the connection to be collected half torn down.
        """
        if not self._keeper.started:
            return
        with contextlib.suppress(Exception):
            self._keeper.run(self._close()).result(timeout=3.0)

    # ---------------------------------------------------------------- on the keeper loop

    async def _close(self) -> None:
        connection = self._connection
        if connection is not None and not connection.is_closed():
            await self._drop(connection)

    async def _connect(self) -> Any:
        if self._connection is not None and not self._connection.is_closed():
            return self._connection
        require_extra("postgres")
        import asyncpg  # type: ignore[import-untyped]

        name = f"qcsc-qiskit-lock {socket.gethostname()[:32]} pid {os.getpid()}"
        try:
            self._connection = await asyncpg.connect(
                self._url,
                timeout=STATEMENT_TIMEOUT,
                server_settings={**KEEPALIVE_SETTINGS, "application_name": name},
            )
        except Exception as exc:
            self._connection = None
            raise SubmitLockError(
                f"cannot reach the submit lock ({self.description}): {type(exc).__name__}. "
                "Check that the database is up and the lock URL is right; nothing was submitted."
            ) from None
        self._epoch += 1
        self._held.clear()
        return self._connection

    async def _query(self, sql: str, *args: object, timeout: float = STATEMENT_TIMEOUT) -> Any:
        # One statement at a time: an asyncpg connection runs a single operation at once.
        if self._serial is None:
            self._serial = asyncio.Lock()
        async with self._serial:
            return await self._query_now(sql, *args, timeout=timeout)

    async def _query_now(self, sql: str, *args: object, timeout: float) -> Any:
        connection = await self._connect()
        try:
            return await connection.fetchval(sql, *args, timeout=timeout)
        except Exception as exc:
            await self._drop(connection)
            raise SubmitLockError(
                f"the submit lock ({self.description}) failed: {type(exc).__name__}: "
                f"{str(exc)[:200]}. Nothing was submitted under it; rerun once the lock "
                "database is healthy."
            ) from None

    async def _drop(self, connection: Any) -> None:
        self._connection = None
        self._held.clear()
        try:
            await asyncio.wait_for(connection.close(), 2.0)
        except Exception:
            connection.terminate()

    async def _try(self, number: int) -> _PgLease | None:
        if number in self._held:
            return None  # held (or being taken) by another submitter of this process
        # Reserve the number before the first await: advisory locks are re-entrant within a
        # session, so two submitters of this process asking at once would both be granted it.
        self._held.add(number)
        try:
            taken = await self._query("SELECT pg_try_advisory_lock($1)", number)
        except BaseException:
            self._held.discard(number)
            raise
        if not taken:
            self._held.discard(number)
            return None
        self._held.add(number)  # again: a reconnect during the query emptied the table
        return _PgLease(self, number, self._epoch)

    def _current(self, lease: _PgLease) -> bool:
        """Whether ``lease`` was taken on the open connection and not released since."""
        alive = self._connection is not None and not self._connection.is_closed()
        return alive and lease.epoch == self._epoch and lease.number in self._held

    async def _confirm(self, lease: _PgLease) -> None:
        if self._current(lease):
            held = False
            with contextlib.suppress(SubmitLockError):  # the connection failed: lost
                held = await self._query(
                    _HELD_HERE, *_oid_pair(lease.number), timeout=CONFIRM_TIMEOUT
                )
            if held and self._current(lease):
                return
        if lease.epoch == self._epoch:
            self._held.discard(lease.number)  # the session lives but no longer holds it
        lease.void()
        raise SubmitLockLostError(
            f"the submit lock ({self.description}) was lost before posting: this session no "
            "longer holds it (the connection to the lock database ended, or a pooler in "
            "transaction mode sits in front of it), so another host may hold it now. Nothing "
            "was posted under it."
        )

    async def _unlock(self, lease: _PgLease) -> None:
        if lease.epoch != self._epoch or lease.number not in self._held:
            return  # the connection that held it is gone, and the lock with it
        self._held.discard(lease.number)
        try:
            await self._query("SELECT pg_advisory_unlock($1)", lease.number)
        except SubmitLockError:
            pass  # the connection dropped: the server released the lock with it

    async def _holder(self, number: int) -> str | None:
        row = await self._query(
            "SELECT a.application_name || ' from ' || coalesce(host(a.client_addr), 'local') "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid "
            "AND l.objid = $2::bigint::oid AND l.objsubid = 1 LIMIT 1",
            *_oid_pair(number),
        )
        return str(row) if row is not None else None


__all__ = ["CONFIRM_TIMEOUT", "KEEPALIVE_SETTINGS", "PostgresAdvisoryLock", "advisory_key"]
