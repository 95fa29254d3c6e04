"""A cross-process lock manager whose locks die with their holder.

Prefect's ``FileSystemLockManager`` writes an expiration into a lock file; with no hold timeout
(which is how Prefect's transactions call it) a killed holder blocks every later submitter forever.
This manager uses ``flock(2)`` on one file per key instead: the operating system releases the lock
the moment the holding process dies, however it dies, so a rerun after ``kill -9`` never waits on a
dead lock. A live but stuck holder is bounded by ``acquire_timeout``.

It implements Prefect's ``LockManager`` protocol, so it serves both as the ``lock_manager`` of the
submit tasks' ``SERIALIZABLE`` cache policy and as the submit step's own lock (which must exist
because ``task.with_options(cache_key_fn=...)`` silently drops a policy's isolation).

Scope: processes on one machine that share the lock directory (``QCSC_QISKIT_LOCK_DIR``, default
``$PREFECT_HOME/qcsc-qiskit-locks``). Across machines the submit step's job-tag lookup remains the
guard; ``flock`` on network file systems is not relied on.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from prefect.settings import PREFECT_HOME

#: Environment variable that overrides the lock directory.
LOCK_DIR_ENV: Final = "QCSC_QISKIT_LOCK_DIR"

#: How long a submitter waits for another submitter of the same input by default (seconds).
DEFAULT_ACQUIRE_TIMEOUT: Final = 600.0

_POLL_SECONDS: Final = 0.05


def default_lock_directory() -> Path:
    """Return ``$QCSC_QISKIT_LOCK_DIR``, else ``$PREFECT_HOME/qcsc-qiskit-locks``."""
    override = os.environ.get(LOCK_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(PREFECT_HOME.value()).expanduser() / "qcsc-qiskit-locks"


@dataclass
class _Held:
    holder: str
    fd: int


class FlockLockManager:
    """Prefect ``LockManager`` backed by ``flock(2)``: locks are released when the holder dies.

    Args:
        lock_files_directory: Where lock files live; resolved lazily from the environment when
            ``None`` so that settings changed after import (tests, ``PREFECT_HOME``) apply.
        default_acquire_timeout: Seconds to wait when Prefect asks without a timeout; ``None``
            waits forever. After it runs out ``acquire_lock`` returns ``False``.
    """

    def __init__(
        self,
        lock_files_directory: Path | None = None,
        *,
        default_acquire_timeout: float | None = DEFAULT_ACQUIRE_TIMEOUT,
    ) -> None:
        self._directory = lock_files_directory
        self.default_acquire_timeout = default_acquire_timeout
        self._held: dict[str, _Held] = {}
        self._guard = threading.Lock()

    @property
    def lock_files_directory(self) -> Path:
        """The directory that holds the lock files."""
        return self._directory if self._directory is not None else default_lock_directory()

    def _path(self, key: str) -> Path:
        # Hash the key: keys may hold characters that are not valid in file names.
        name = hashlib.sha256(key.encode()).hexdigest()[:40]
        return self.lock_files_directory / f"{name}.lock"

    def _try_lock(self, key: str, holder: str) -> bool:
        with self._guard:
            held = self._held.get(key)
            if held is not None:
                return held.holder == holder
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            info = {"key": key, "holder": holder, "pid": os.getpid(), "since": time.time()}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
            self._held[key] = _Held(holder=holder, fd=fd)
            return True

    def _timeout(self, acquire_timeout: float | None) -> float | None:
        return self.default_acquire_timeout if acquire_timeout is None else acquire_timeout

    def acquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        """Acquire the lock for ``key``, waiting up to ``acquire_timeout`` seconds.

        ``hold_timeout`` is accepted for protocol compatibility; it is unnecessary because the
        lock ends with its holder.
        """
        timeout = self._timeout(acquire_timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._try_lock(key, holder):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_SECONDS)
        return True

    async def aacquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        """Asynchronous :meth:`acquire_lock`; waits without blocking the event loop."""
        timeout = self._timeout(acquire_timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._try_lock(key, holder):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL_SECONDS)
        return True

    def release_lock(self, key: str, holder: str) -> None:
        """Release the lock on ``key`` held by ``holder``.

        Raises:
            ValueError: ``holder`` does not hold the lock.
        """
        with self._guard:
            held = self._held.get(key)
            if held is None or held.holder != holder:
                raise ValueError(f"No lock held by {holder} for key {key}")
            del self._held[key]
            fcntl.flock(held.fd, fcntl.LOCK_UN)
            os.close(held.fd)

    def is_locked(self, key: str) -> bool:
        """Return whether any process (this one included) holds the lock on ``key``."""
        with self._guard:
            if key in self._held:
                return True
        path = self._path(key)
        if not path.exists():
            return False
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    def is_lock_holder(self, key: str, holder: str) -> bool:
        """Return whether ``holder`` (in this process) holds the lock on ``key``."""
        with self._guard:
            held = self._held.get(key)
            return held is not None and held.holder == holder

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        """Wait until ``key`` is free; return ``False`` if ``timeout`` ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_SECONDS)
        return True

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        """Asynchronous :meth:`wait_for_lock`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL_SECONDS)
        return True

    def holder_info(self, key: str) -> dict[str, object] | None:
        """Return what the current holder wrote (pid, holder, since), for error messages."""
        try:
            text = self._path(key).read_text()
            info = json.loads(text) if text else None
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) else None


#: The process-wide lock manager used by the submit tasks.
SUBMIT_LOCK_MANAGER: Final = FlockLockManager()

__all__ = ["DEFAULT_ACQUIRE_TIMEOUT", "LOCK_DIR_ENV", "SUBMIT_LOCK_MANAGER", "FlockLockManager"]
