"""The service's job list: one page parsed in one place, for tag lookups and the status poller.

A listed job is read from the list response itself (no client job object is built, no status is
requested per job). `parse_listed_job` applies the service's status vocabulary and its one
special case: a job the service cancelled because it failed (reason code 1305) is ``ERROR``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from qiskit_ibm_runtime.runtime_job_v2 import API_TO_JOB_STATUS

from .answers import recent_document
from .native import known_session_id, native_job_status, text_or_none
from .translate import translating_errors

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True, slots=True)
class ListedJob:
    """A job as the service's job list describes it; no client job object is built for it.

    Attributes:
        job_id: The job id.
        status: Its status in the client's vocabulary (``"QUEUED"``, ``"DONE"``, ...).
        created: When the service created it (UTC; the epoch when not reported).
        session_id: The Batch/Session it belongs to, if any.
    """

    job_id: str
    status: str
    created: datetime
    session_id: str | None


#: The service's reason code for a job it cancelled because it failed (the client reports ERROR).
_FAILED_CANCEL_REASON: Final = 1305
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def list_tagged_jobs(service: Any, tag: str, limit: int) -> list[ListedJob]:
    """The jobs carrying ``tag``, from one job-list request (blocking; errors untranslated).

    ``service.jobs()`` would build a client job object, with its own copy of the backend's
    configuration, for every listed job, and each status would cost one request more; the
    list response already holds what a tag lookup needs. Falls back to the public calls when
    the client has no job-list connection.
    """
    connection = getattr(service, "_active_api_client", None)
    if not callable(getattr(connection, "jobs_get", None)):
        jobs = service.jobs(job_tags=[tag], limit=limit)
        return [
            ListedJob(
                str(job.job_id()),
                native_job_status(job),
                _as_utc(_moment(job.creation_date)),
                known_session_id(job),
            )
            for job in jobs
        ]
    assert connection is not None
    page: Mapping[str, Any] = connection.jobs_get(limit=limit, job_tags=[tag])
    return [_listed(doc) for doc in page.get("jobs") or []]


#: Statuses a recent document may stand in for a first status request with (not final ones:
#: those the job's own read answers from memory, which also tells the client job object).
_STILL_PENDING: Final = frozenset({"INITIALIZING", "QUEUED", "RUNNING"})


def recent_pending_status(job: Any, max_age: float) -> str | None:
    """The job's status as read at most ``max_age`` seconds ago, if it was still pending.

    No request is made: the document is the one the job's connection last read (`answers`),
    by a job read or a tag lookup that listed the job.
    """
    doc = recent_document(job, max_age)
    if doc is None or "id" not in doc:
        return None
    status = _listed(doc).status
    return status if status in _STILL_PENDING else None


def job_connection(job: Any) -> Any | None:
    """The client connection ``job`` was submitted through, if it can list jobs.

    ``None`` for local-mode jobs. The shared status poller lists pending jobs through it, so
    that jobs submitted through different accounts are never mixed up.
    """
    connection = getattr(job, "_api_client", None)
    return connection if callable(getattr(connection, "jobs_get", None)) else None


def list_pending_jobs(connection: Any, *, skip: int, limit: int) -> Mapping[str, Any]:
    """One page of the pending jobs, as the service lists them (blocking; errors translated).

    Args:
        connection: From `job_connection`.
        skip: Jobs to skip (the page offset).
        limit: Jobs per page at most.

    Returns:
        The list response: ``jobs`` (each with ``id`` and ``state.status``) and ``count``.
    """
    with translating_errors():
        page: Mapping[str, Any] = connection.jobs_get(limit=limit, skip=skip, pending=True)
    return page


def list_finished_jobs(connection: Any, *, limit: int) -> Mapping[str, Any]:
    """The newest finished jobs, one page (blocking; errors translated).

    The connection remembers the final documents it lists (`answers`), so the status reads of
    those jobs that follow are answered without a request.
    """
    with translating_errors():
        page: Mapping[str, Any] = connection.jobs_get(limit=limit, pending=False)
    return page


def read_page(page: Mapping[str, Any], statuses: dict[str, str]) -> tuple[int, int]:
    """Add a list page's job statuses to ``statuses``; return the page's length and total count.

    The statuses are those a tag lookup sees (`ListedJob.status`): the client's vocabulary, with
    a job the service cancelled because it failed reported as ``"ERROR"``.
    """
    jobs = page.get("jobs") or []
    for doc in jobs:
        listed = _listed(doc)
        statuses[listed.job_id] = listed.status
    return len(jobs), int(page.get("count", 0))


def _listed(doc: Mapping[str, Any]) -> ListedJob:
    state = doc.get("state") or {}
    raw = str(state.get("status") or doc.get("status") or "").upper()
    status: str = API_TO_JOB_STATUS.get(raw, raw)
    reason_code = state.get("reasonCode") or state.get("reason_code")
    if status == "CANCELLED" and reason_code == _FAILED_CANCEL_REASON:
        status = "ERROR"
    return ListedJob(
        job_id=str(doc["id"]),
        status=status,
        created=_as_utc(_moment(doc.get("created"))),
        session_id=text_or_none(doc.get("session_id")),
    )


def _moment(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _as_utc(moment: datetime | None) -> datetime:
    if moment is None:
        return _EPOCH
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


__all__ = [
    "ListedJob",
    "job_connection",
    "list_finished_jobs",
    "list_pending_jobs",
    "list_tagged_jobs",
    "read_page",
    "recent_pending_status",
]
