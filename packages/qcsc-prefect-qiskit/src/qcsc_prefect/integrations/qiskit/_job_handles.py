"""Native job handles this process submitted or adopted, by job id.

A documented, bounded, per-process cache. Local-mode jobs (``channel="local"``) exist only as
these in-process objects, so they can be fetched only through it; for service jobs it saves the
fetch step one lookup request.
"""

from __future__ import annotations

from typing import Any, Final

from . import _state

#: How many handles one process keeps (oldest forgotten first).
MEMORY: Final = 10_000


class JobHandles(_state.LockedDict[str, Any]):
    """A bounded, thread-safe map from job id to native job handle."""

    def __init__(self, memory: int = MEMORY) -> None:
        super().__init__(memory)

    def remember(self, job: Any) -> None:
        """Keep ``job`` (a ``RuntimeJobV2`` or local job) under its id."""
        with self.guard:
            self[str(job.job_id())] = job
            self.trim()


#: The process's job handles (``JOB_HANDLES.get(job_id)``: the handle, if this process holds it).
JOB_HANDLES: Final = JobHandles().registered(
    "_job_handles.JOB_HANDLES",
    holds="native job handles this process submitted or adopted",
    bound=f"{MEMORY:,} jobs, oldest dropped first",
)

__all__ = ["JOB_HANDLES", "JobHandles"]
