"""The client calls the cost guards make: instance usage, a flow run's jobs, and dry runs.

* `read_instance_usage`: ``service.usage()`` (``GET /instances/usage``): limit, consumed,
  remaining and whether the limit is reached.
* `list_jobs_with_tag`: the jobs carrying a tag, with what the job list says about their usage
  (measured seconds once finished, the service's estimate before), one request per 200 jobs.
* `dry_run` / `usage_estimate`: ``run(..., dry_run=True)`` on a primitive (the client posts to
  the device's ``mock_`` counterpart) and the estimate the service returned with that job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from qiskit.primitives import BaseSamplerV2

from .listing import _listed as parse_listed_job
from .translate import translating_errors

#: Jobs per job-list request.
PAGE_SIZE: Final = 200


@dataclass(frozen=True, slots=True)
class InstanceUsage:
    """What ``service.usage()`` says about the instance.

    Attributes:
        limit_reached: The service's ``usage_limit_reached``.
        limit_seconds: The limit (or allocation), when the instance has one.
        consumed_seconds: Seconds consumed, when reported.
        remaining_seconds: Seconds left under the limit, when there is one.
    """

    limit_reached: bool
    limit_seconds: float | None
    consumed_seconds: float | None
    remaining_seconds: float | None


@dataclass(frozen=True, slots=True)
class JobUsage:
    """One listed job and the seconds the list gives for it.

    Attributes:
        job_id: The job id.
        status: Its status in the client's vocabulary.
        usage_seconds: Measured QPU seconds, when the list reports them.
        estimate_seconds: The service's estimate (``estimated_running_time_seconds``), if any.
    """

    job_id: str
    status: str
    usage_seconds: float | None
    estimate_seconds: float | None


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def read_instance_usage(service: Any) -> InstanceUsage:
    """Read the instance's usage (blocking; errors translated)."""
    with translating_errors():
        doc: Mapping[str, Any] = service.usage()
    limit = doc.get("usage_limit_seconds", doc.get("usage_allocation_seconds"))
    return InstanceUsage(
        limit_reached=bool(doc.get("usage_limit_reached")),
        limit_seconds=_seconds(limit),
        consumed_seconds=_seconds(doc.get("usage_consumed_seconds")),
        remaining_seconds=_seconds(doc.get("usage_remaining_seconds")),
    )


def _job_usage(doc: Mapping[str, Any]) -> JobUsage:
    usage = doc.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}
    measured = _seconds(usage.get("quantum_seconds", usage.get("seconds")))
    return JobUsage(
        job_id=str(doc["id"]),
        status=parse_listed_job(doc).status,
        usage_seconds=measured,
        estimate_seconds=_seconds(doc.get("estimated_running_time_seconds")),
    )


def list_jobs_with_tag(service: Any, tag: str) -> list[JobUsage]:
    """Every job carrying ``tag``, read from the job list (blocking; errors translated)."""
    connection = service._active_api_client
    found: list[JobUsage] = []
    with translating_errors():
        while True:
            page = connection.jobs_get(limit=PAGE_SIZE, skip=len(found), job_tags=[tag])
            docs = page.get("jobs") or []
            found.extend(_job_usage(doc) for doc in docs)
            if len(docs) < PAGE_SIZE:
                return found


def dry_run(
    primitive: Any, pubs: Sequence[object], *, shots: int | None, precision: float | None
) -> Any:
    """Post ``pubs`` with ``dry_run=True`` and return the client's job (blocking; translated).

    The client swaps the backend for its ``mock_`` counterpart; without one it raises
    ``QiskitBackendNotFoundError``, translated to `BackendNotFoundError`.
    """
    with translating_errors():
        if isinstance(primitive, BaseSamplerV2):
            return primitive.run(pubs, shots=shots, dry_run=True)
        return primitive.run(pubs, precision=precision, dry_run=True)


def usage_estimate(job: Any) -> float | None:
    """The service's usage estimate of ``job`` in QPU seconds (blocking; translated)."""
    with translating_errors(str(job.job_id())):
        estimation: Mapping[str, Any] = job.usage_estimation
    return _seconds(estimation.get("quantum_seconds"))


__all__ = [
    "InstanceUsage",
    "JobUsage",
    "dry_run",
    "list_jobs_with_tag",
    "read_instance_usage",
    "usage_estimate",
]
