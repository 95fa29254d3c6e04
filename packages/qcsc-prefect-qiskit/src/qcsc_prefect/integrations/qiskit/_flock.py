"""The single-host submit lock: ``flock(2)`` on one file per key.

The operating system releases an ``flock`` the moment the holding process dies, however it dies,
so a rerun after ``kill -9`` never waits on a dead lock. Every acquisition opens its own file
descriptor, and ``flock`` locks belong to the open file, so two submitters in one process
exclude each other just like two processes do. Scope: the processes of one machine that share
the lock directory (``flock`` on network file systems is not relied on).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Final

from prefect.settings import PREFECT_HOME

#: Environment variable that overrides the lock directory.
LOCK_DIR_ENV: Final = "QCSC_QISKIT_LOCK_DIR"

_POLL_SECONDS: Final = 0.05


def default_lock_directory() -> Path:
    """Return ``$QCSC_QISKIT_LOCK_DIR``, else ``$PREFECT_HOME/qcsc-qiskit-locks``."""
    override = os.environ.get(LOCK_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(PREFECT_HOME.value()).expanduser() / "qcsc-qiskit-locks"


class _FlockLease:
    """An open, locked file descriptor."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd
        self._guard = threading.Lock()

    async def confirm(self) -> None:
        """An ``flock`` cannot be lost while its holder lives: nothing to check."""

    def release(self) -> None:
        """Unlock and close the file (idempotent, thread-safe)."""
        with self._guard:
            fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class FlockSubmitLock:
    """`SubmitLock` backed by ``flock(2)`` in a local directory.

    Args:
        directory: Where lock files live; ``None`` resolves `default_lock_directory` at each
            acquisition, so settings changed after import (tests, ``PREFECT_HOME``) apply.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory

    @property
    def directory(self) -> Path:
        """The directory that holds the lock files."""
        return self._directory if self._directory is not None else default_lock_directory()

    @property
    def description(self) -> str:
        """What the lock is, for logs."""
        return f"flock in {self.directory}"

    def _path(self, key: str) -> Path:
        # Keys may hold characters that are not valid in file names: hash them.
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()[:40]}.lock"

    def _try(self, key: str) -> _FlockLease | None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        info = {"key": key, "pid": os.getpid(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        return _FlockLease(fd)

    async def acquire(self, key: str, *, timeout: float) -> _FlockLease | None:
        """Wait up to ``timeout`` seconds for the lock on ``key`` without blocking the loop."""
        deadline = time.monotonic() + timeout
        while (lease := self._try(key)) is None:
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(_POLL_SECONDS)
        return lease

    async def holder(self, key: str) -> str | None:
        """Return ``process <pid>`` as written by the current holder, if readable."""
        try:
            info = json.loads(self._path(key).read_text() or "null")
        except (OSError, ValueError):
            return None
        return f"process {info.get('pid', '?')}" if isinstance(info, dict) else None


__all__ = ["LOCK_DIR_ENV", "FlockSubmitLock", "default_lock_directory"]
