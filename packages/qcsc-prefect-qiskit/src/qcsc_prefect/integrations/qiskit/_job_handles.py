"""Native job handles this process submitted or adopted, by job id.

A documented, bounded, per-process cache. Local-mode jobs (``channel="local"``) exist only as
these in-process objects, so they can be fetched only through it; for service jobs it saves the
fetch step one lookup request.
"""

from __future__ import annotations

import threading
from typing import Any, Final

from . import _state

#: How many handles one process keeps (oldest forgotten first).
MEMORY: Final = 10_000


class JobHandles:
    """A bounded, thread-safe map from job id to native job handle."""

    def __init__(self, memory: int = MEMORY) -> None:
        self._memory = memory
        self._jobs: dict[str, Any] = {}
        self._guard = threading.Lock()

    def remember(self, job: Any) -> None:
        """Keep ``job`` (a ``RuntimeJobV2`` or local job) under its id."""
        with self._guard:
            self._jobs[str(job.job_id())] = job
            while len(self._jobs) > self._memory:
                del self._jobs[next(iter(self._jobs))]

    def get(self, job_id: str) -> Any | None:
        """Return the handle of ``job_id`` if this process holds it."""
        with self._guard:
            return self._jobs.get(job_id)

    def clear(self) -> None:
        """Forget everything (`_state.reset`)."""
        with self._guard:
            self._jobs.clear()


#: The process's job handles.
JOB_HANDLES: Final = JobHandles()
_state.register(
    "_job_handles.JOB_HANDLES",
    holds="native job handles this process submitted or adopted",
    bound=f"{MEMORY:,} jobs, oldest dropped first",
    reset=JOB_HANDLES.clear,
)

__all__ = ["JOB_HANDLES", "JobHandles"]
