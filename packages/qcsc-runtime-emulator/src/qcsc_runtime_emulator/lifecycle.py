"""Job states and the transitions between them."""

from __future__ import annotations

from enum import Enum


class JobState(Enum):
    """Internal job state; wire names live in :mod:`qcsc_runtime_emulator.wire`."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """Whether the state is terminal."""
        return self in FINAL_STATES

    @property
    def pending(self) -> bool:
        """Whether the job is still queued or running."""
        return not self.final


FINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})

_ALLOWED: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}),
    JobState.RUNNING: frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED}),
    JobState.COMPLETED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


def can_transition(current: JobState, target: JobState) -> bool:
    """Return whether the service would move a job from ``current`` to ``target``.

    Args:
        current: The job's state now.
        target: The requested state.

    Returns:
        True for the transitions of a real job (Queued → Running → final, or a
        cancel/fail while pending).
    """
    return target in _ALLOWED[current]
