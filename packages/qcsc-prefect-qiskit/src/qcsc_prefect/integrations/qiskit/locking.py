"""The submit lock: one submitter at a time per idempotency key, released when its holder dies.

The robust submit step holds this lock around "look the job tag up, then post": two submitters of
the same input never post at the same moment, and the second one finds the first one's job. The
lock is taken by the submit step itself, never through Prefect's transaction isolation (which
``task.with_options(cache_key_fn=...)`` silently drops).

Two backends implement the `SubmitLock` protocol; configuration picks one:

``flock`` (default, one host)
    ``flock(2)`` on one file per key in ``$QCSC_QISKIT_LOCK_DIR`` (default
    ``$PREFECT_HOME/qcsc-qiskit-locks``). The operating system releases it the moment the holding
    process dies. It protects the processes of one machine only.
``postgresql://user:password@host:port/database`` (many hosts)
    A PostgreSQL session-level advisory lock (`_pglock`). It is released when the holder's
    connection ends: at once when the process dies, and within ~25 s (TCP keepalives) when its
    machine is lost.

The backend comes from ``QiskitRuntimeConfig.lock_url`` or else the ``QCSC_QISKIT_LOCK_URL``
environment variable; neither set means ``flock``. A configured backend that cannot be reached
raises `SubmitLockError` before anything is posted: it never falls back to a weaker lock.

Right before posting, the holder confirms that it still holds the lock (`LockLease.confirm`).
A lock lost meanwhile (its connection ended, so another host may have taken it over) is never
posted under: the submit step takes the lock again and looks the job tag up again first.

A holder that is frozen (``SIGSTOP``, a hung machine that still answers TCP keepalives) keeps
its lock. Other submitters of the same input wait ``$QCSC_QISKIT_LOCK_TIMEOUT`` seconds (600 by
default), then fail without posting, naming the holder.

Whatever the lock, the job-tag lookup done under it stays the last line of defence: a lock
cannot tell whether a holder that died had already posted.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import TYPE_CHECKING, Final, Protocol
from urllib.parse import urlsplit

from . import _state
from ._flock import FlockSubmitLock
from ._redact import redact_url
from .errors import SubmitLockError

if TYPE_CHECKING:
    from pydantic import SecretStr

#: Environment variable naming the submit lock backend (a URL; unset means ``flock``).
LOCK_URL_ENV: Final = "QCSC_QISKIT_LOCK_URL"

#: Environment variable: how long a submitter waits for another holder of the same input
#: (seconds; read once, when the library is imported).
LOCK_TIMEOUT_ENV: Final = "QCSC_QISKIT_LOCK_TIMEOUT"

#: The lock wait when ``$QCSC_QISKIT_LOCK_TIMEOUT`` is not set (seconds).
STANDARD_ACQUIRE_TIMEOUT: Final = 600.0


def _acquire_timeout_from_environment() -> float:
    raw = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    if not raw:
        return STANDARD_ACQUIRE_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if math.isfinite(seconds) and seconds > 0:
        return seconds
    warnings.warn(
        f"{LOCK_TIMEOUT_ENV}={raw!r} is not a positive number of seconds; the submit lock waits "
        f"{STANDARD_ACQUIRE_TIMEOUT:g} s instead.",
        RuntimeWarning,
        stacklevel=2,
    )
    return STANDARD_ACQUIRE_TIMEOUT


#: How long a submitter waits for another submitter of the same input (seconds):
#: ``$QCSC_QISKIT_LOCK_TIMEOUT`` when set, else 600.
DEFAULT_ACQUIRE_TIMEOUT: Final = _acquire_timeout_from_environment()


class LockLease(Protocol):
    """A held submit lock."""

    async def confirm(self) -> None:
        """Check that the lock is still held, just before posting.

        Raises:
            SubmitLockLostError: The lock was lost (for example the lock server dropped the
                connection, and another host may hold it now); nothing must be posted under
                it. The lease is void afterwards: releasing it does nothing.
        """

    def release(self) -> None:
        """Release the lock; safe to call twice and from any thread."""


class SubmitLock(Protocol):
    """A mutual-exclusion lock per key that every submitter of that key sees."""

    @property
    def description(self) -> str:
        """What the lock is, for logs and errors (never holds credentials)."""

    async def acquire(self, key: str, *, timeout: float) -> LockLease | None:
        """Wait up to ``timeout`` seconds for the lock on ``key``.

        Returns:
            The lease, or ``None`` when another holder kept it for the whole time.

        Raises:
            SubmitLockError: The backend is unreachable or misconfigured.
        """

    async def holder(self, key: str) -> str | None:
        """Describe who holds ``key`` now (process, host), if the backend can tell."""


_locks: Final = _state.LockedDict[str, SubmitLock]().registered(
    "locking._locks",
    holds="the submit lock of each lock URL (PostgreSQL: its open connections)",
    bound="the lock URLs the process configures",
    resettable=False,
)


def configured_lock_url(lock_url: SecretStr | str | None) -> str | None:
    """Return the lock URL to use: ``lock_url`` if given, else ``$QCSC_QISKIT_LOCK_URL``."""
    if lock_url is not None:
        value = lock_url if isinstance(lock_url, str) else lock_url.get_secret_value()
    else:
        value = os.environ.get(LOCK_URL_ENV, "")
    value = value.strip()
    return value or None


def submit_lock_for(lock_url: SecretStr | str | None = None) -> SubmitLock:
    """Return the process-wide submit lock for a configuration (built once per URL).

    Args:
        lock_url: ``QiskitRuntimeConfig.lock_url``; ``None`` reads ``$QCSC_QISKIT_LOCK_URL``.

    Raises:
        SubmitLockError: The URL names no supported backend.
    """
    url = configured_lock_url(lock_url)
    key = url or "flock"
    with _locks.guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _build(url)
            _locks[key] = lock
        return lock


def _build(url: str | None) -> SubmitLock:
    if url is None or url == "flock":
        return FlockSubmitLock()
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("postgresql", "postgres"):
        from ._pglock import PostgresAdvisoryLock

        return PostgresAdvisoryLock(url)
    raise SubmitLockError(
        f"the submit lock URL {redact_url(url)!r} names no supported backend. Use "
        "`postgresql://user:password@host:port/database` for a lock shared by many hosts, or "
        f"leave `lock_url`/`{LOCK_URL_ENV}` unset for the single-host flock lock."
    )


__all__ = [
    "DEFAULT_ACQUIRE_TIMEOUT",
    "LOCK_TIMEOUT_ENV",
    "LOCK_URL_ENV",
    "STANDARD_ACQUIRE_TIMEOUT",
    "LockLease",
    "SubmitLock",
    "configured_lock_url",
    "redact_url",
    "submit_lock_for",
]
