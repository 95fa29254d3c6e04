"""Finishing a job: its usage row, its execution metadata and the `FetchOutput` it returns.

One path for both task families: the simple run tasks (`tasks`) and the robust fetch (`fetch`)
hand a `FinishedJob` to `afinish`, which records the job's usage row, builds its execution
metadata and returns its output. Nothing here talks to the service: the job's result and its
service report are already in hand.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .jobs import FetchOutput, JobStatus, PrimitiveName
from .usage import arecord_usage, usage_row

if TYPE_CHECKING:
    from collections.abc import Mapping

    from qiskit.primitives import PrimitiveResult

    from ._logging import Logger
    from ._runtime.native import ServiceReport
    from .jobs import JobReference


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


@dataclass(frozen=True)
class FinishedJob:
    """A job at its final status, with its result and the service's report in hand.

    Attributes:
        job: The client's job object (a ``RuntimeJobV2``, or an in-process local job).
        primitive: ``"sampler"`` or ``"estimator"``.
        backend_name: The backend the job ran on.
        status: The final job status.
        result: The native ``PrimitiveResult``.
        report: Timestamps and usage reported by the service.
        reference: The submit task's `JobReference` (robust mode, when the fetch got one).
        shots: The requested default shots (sampler), or ``None``.
        precision: The requested default precision (estimator), or ``None``.
    """

    job: Any
    primitive: PrimitiveName
    backend_name: str
    status: JobStatus
    result: Any
    report: ServiceReport
    reference: JobReference | None = None
    shots: int | None = None
    precision: float | None = None


async def afinish(
    done: FinishedJob,
    *,
    mode: str,
    execution_mode: str,
    num_pubs: int,
    submitted: datetime,
    started: float,
    logger: Logger,
) -> FetchOutput:
    """Record the job's usage row, then build and return its `FetchOutput`.

    Args:
        done: The finished job.
        mode: ``"simple"`` (``run_*_task``) or ``"robust"`` (the fetch task).
        execution_mode: The execution mode the job ran in (``"job"``, ``"batch"``, ...).
        num_pubs: How many pubs the job ran.
        submitted: When the job was submitted.
        started: ``time.monotonic()`` when the task began waiting for the job.
        logger: Where accounting failures are logged (they are never raised).

    Returns:
        The `FetchOutput`: the native result plus its execution metadata.
    """
    finished = utc_now()
    wall_seconds = time.monotonic() - started
    await arecord_usage(
        usage_row(
            done.job, primitive=done.primitive, backend_name=done.backend_name,
            report=done.report, shots=done.shots, precision=done.precision, status=done.status,
            reference=done.reference, mode=execution_mode,
        ),
        logger,
    )  # fmt: skip
    reference = done.reference
    metadata = execution_metadata(
        mode=mode, primitive=done.primitive, num_pubs=num_pubs, shots=done.shots,
        precision=done.precision, status=done.status, submitted=submitted, finished=finished,
        wall_seconds=wall_seconds, report=done.report,
        extra={"reused_job": reference.reused} if reference is not None else None,
    )  # fmt: skip
    return build_fetch_output(
        job_id=str(done.job.job_id()), backend_name=done.backend_name, primitive=done.primitive,
        status=done.status, result=done.result, metadata=metadata,
    )  # fmt: skip


__all__ = ["FinishedJob", "afinish", "build_fetch_output", "execution_metadata", "utc_now"]
