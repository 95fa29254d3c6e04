"""Wire names and JSON shapes of the Qiskit Runtime REST API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .errors import ApiError
from .lifecycle import JobState

if TYPE_CHECKING:
    from .state import JobRecord, SessionRecord

STATUS_TO_WIRE: dict[JobState, str] = {
    JobState.QUEUED: "Queued",
    JobState.RUNNING: "Running",
    JobState.COMPLETED: "Completed",
    JobState.FAILED: "Failed",
    JobState.CANCELLED: "Cancelled",
}
WIRE_TO_STATUS: dict[str, JobState] = {v.lower(): k for k, v in STATUS_TO_WIRE.items()}


def status_to_wire(state: JobState) -> str:
    """Return the wire name of a job state (``Queued``, ``Running``, ...)."""
    return STATUS_TO_WIRE[state]


def parse_status(name: str) -> JobState:
    """Parse a wire (or upper/lower-case) status name.

    Args:
        name: e.g. ``"Completed"``, ``"FAILED"``, ``"cancelled"``.

    Returns:
        The job state.

    Raises:
        ApiError: 400 for an unknown name.
    """
    try:
        return WIRE_TO_STATUS[str(name).lower()]
    except KeyError:
        raise ApiError(400, f"Unknown job status {name!r}") from None


def iso(ts: float | None) -> str | None:
    """Format an epoch timestamp as the service does (UTC, ``Z`` suffix)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> float:
    """Parse an ISO 8601 time sent by the client into an epoch timestamp.

    Args:
        text: e.g. ``2025-01-01T00:00:00+00:00`` or ``...Z``.

    Returns:
        Seconds since the epoch; naive times are taken as UTC.

    Raises:
        ApiError: 400 if the text is not a time.
    """
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"Invalid date-time {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def job_to_wire(job: JobRecord, *, exclude_params: bool = True) -> dict[str, Any]:
    """Render a job as ``GET /jobs/{id}`` returns it.

    Args:
        job: The job record.
        exclude_params: Omit ``params`` (always omitted for private jobs).

    Returns:
        The JSON-able job document.
    """
    state: dict[str, Any] = {"status": status_to_wire(job.status)}
    if job.reason is not None:
        state["reason"] = job.reason
    if job.reason_code is not None:
        state["reason_code"] = job.reason_code
    doc: dict[str, Any] = {
        "id": job.id,
        "backend": job.backend,
        "state": state,
        "status": status_to_wire(job.status),
        "program": {"id": job.program},
        "created": iso(job.created),
        "tags": list(job.tags),
        "session_id": job.session_id,
        "private": job.private,
        "user_id": "emulator-user",
        "cost": job.cost,
        "runtime": "",
        "estimated_running_time_seconds": job.estimated_seconds,
        "usage": {"seconds": job.usage_seconds(), "quantum_seconds": job.usage_seconds()},
    }
    if job.finished is not None:
        doc["ended"] = iso(job.finished)
    if not exclude_params and not job.private:
        doc["params"] = job.params
    return doc


def job_summary(job: JobRecord) -> dict[str, Any]:
    """Render a job for the control API's ``GET /_emulator/jobs``."""
    return {
        "id": job.id,
        "program": job.program,
        "backend": job.backend,
        "tags": list(job.tags),
        "status": status_to_wire(job.status),
        "reason": job.reason,
        "reason_code": job.reason_code,
        "session_id": job.session_id,
        "private": job.private,
        "created": iso(job.created),
        "running": iso(job.running),
        "finished": iso(job.finished),
        "expired": job.expired,
        "result_reads": job.result_reads,
        "usage_seconds": job.usage_seconds(),
        "estimated_seconds": job.estimated_seconds,
    }


def job_metrics(job: JobRecord) -> dict[str, Any]:
    """Render ``GET /jobs/{id}/metrics``."""
    seconds = job.usage_seconds()
    return {
        "timestamps": {
            "created": iso(job.created),
            "running": iso(job.running),
            "finished": iso(job.finished),
        },
        "bss": {"seconds": seconds},
        "usage": {
            "quantum_seconds": seconds,
            "seconds": seconds,
            "qpu_charge_time_seconds": seconds,
            "status": "completed" if job.status.final else "pending",
        },
        "executions": 1 if job.status is JobState.COMPLETED else 0,
        "num_circuits": job.num_pubs(),
        "num_qubits": [],
        "circuit_depths": [],
        "qiskit_version": "emulator",
        "estimated_start_time": iso(job.created),
        "estimated_completion_time": iso(job.finished),
        "position_in_queue": 0,
        "position_in_provider": 0,
    }


def session_to_wire(session: SessionRecord, state: str, elapsed: float) -> dict[str, Any]:
    """Render ``GET /sessions/{id}``.

    Args:
        session: The session record.
        state: ``open``, ``active``, ``inactive`` or ``closed``.
        elapsed: Seconds of QPU time used by the session's jobs.

    Returns:
        The session document.
    """
    return {
        "id": session.id,
        "backend_name": session.backend,
        "mode": session.mode,
        "state": state,
        "accepting_jobs": session.accepting_jobs and state != "closed",
        "interactive_ttl": session.interactive_ttl,
        "max_ttl": session.max_ttl,
        "active_ttl": session.max_ttl,
        "started_at": iso(session.created),
        "activated_at": iso(session.activated),
        "closed_at": iso(session.closed),
        "last_job_started": iso(session.last_job_started),
        "last_job_completed": iso(session.last_job_completed),
        "elapsed_time": elapsed,
        "timestamps": [],
        "user_id": "emulator-user",
    }
