"""Building what a finished job returns: its execution metadata and its `FetchOutput`.

Shared by the simple run tasks (`tasks`) and the robust fetch (`fetch`); nothing here talks to
the service.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .jobs import FetchOutput, JobStatus, PrimitiveName

if TYPE_CHECKING:
    from collections.abc import Mapping

    from qiskit.primitives import PrimitiveResult

    from ._runtime.native import ServiceReport


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def execution_metadata(
    *,
    mode: str,
    primitive: PrimitiveName,
    num_pubs: int,
    shots: int | None,
    precision: float | None,
    status: JobStatus,
    submitted: datetime,
    finished: datetime,
    wall_seconds: float,
    report: ServiceReport,
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """Build the JSON-compatible ``metadata`` of a `FetchOutput`.

    Args:
        mode: ``"simple"`` for ``run_*_task``; robust fetch passes its own mode name.
        primitive: ``"sampler"`` or ``"estimator"``.
        num_pubs: How many pubs the job ran.
        shots: The requested default shots (sampler), or ``None``.
        precision: The requested default precision (estimator), or ``None``.
        status: The final job status.
        submitted: When the job was submitted (observed by us).
        finished: When the result was in hand (observed by us).
        wall_seconds: Seconds from submission to result, measured with a monotonic clock.
        report: Timestamps and usage reported by the service.
        extra: Further JSON-compatible entries to merge in.

    Returns:
        A dict with ``mode``, ``primitive``, ``num_pubs``, ``shots`` or ``precision``,
        ``job_status``, ``timings`` (``submitted``, ``started``, ``finished``,
        ``wall_seconds``) and ``usage`` (``None`` when the service reports none).
    """
    metadata: dict[str, object] = {"mode": mode, "primitive": primitive, "num_pubs": num_pubs}
    if primitive == "sampler":
        metadata["shots"] = shots
    else:
        metadata["precision"] = precision
    metadata["job_status"] = status
    metadata["timings"] = {
        "submitted": submitted.isoformat(),
        "started": report.started,
        "finished": report.finished or finished.isoformat(),
        "wall_seconds": round(wall_seconds, 6),
    }
    metadata["usage"] = report.usage
    if extra:
        metadata.update(extra)
    return metadata


def build_fetch_output(
    *,
    job_id: str,
    backend_name: str,
    primitive: PrimitiveName,
    status: JobStatus,
    result: PrimitiveResult,
    metadata: dict[str, object],
) -> FetchOutput:
    """Assemble the `FetchOutput` dict the run and fetch tasks return."""
    return FetchOutput(
        job_id=job_id,
        backend_name=backend_name,
        primitive=primitive,
        status=status,
        result=result,
        metadata=metadata,
    )


__all__ = ["build_fetch_output", "execution_metadata", "utc_now"]
