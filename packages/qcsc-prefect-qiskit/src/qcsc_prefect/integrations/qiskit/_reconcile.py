"""Find, adopt and de-duplicate Qiskit Runtime jobs by their idempotency tag.

Every job the robust submit step creates carries one idempotency tag. These helpers are blocking
(they run on the client thread pool) and use only public methods of ``QiskitRuntimeService`` and
``RuntimeJobV2``: ``service.jobs(job_tags=...)``, ``job.status()``, ``job.cancel()``,
``job.update_tags()``.

The winner rule is the same everywhere: among the jobs with the tag that have not ended in
``ERROR``/``CANCELLED``, the earliest created (ties broken by job id) is *the* job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from ._translate import translating_errors
from .cache import IDEMPOTENCY_TAG_PREFIX

if TYPE_CHECKING:
    import logging

#: Prefix a tag gets when its job must no longer be adopted (its results are gone).
RETIRED_TAG_PREFIX: Final = "qcsc-retired"

#: How many tagged jobs a lookup reads at most; more than a handful means something is wrong.
LOOKUP_LIMIT: Final = 50

_FAILED: Final = frozenset({"ERROR", "CANCELLED"})
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TaggedJobs:
    """The outcome of a tag lookup.

    Attributes:
        winner: The job to use, or ``None`` when no live or completed job carries the tag.
        winner_status: Its status when it was checked.
        others: Further live jobs with the tag (duplicates).
        failed: How many tagged jobs ended in ``ERROR``/``CANCELLED`` (never adopted).
    """

    winner: Any | None
    winner_status: str | None
    others: tuple[Any, ...]
    failed: int


def _created(job: Any) -> datetime:
    created: datetime | None = job.creation_date
    if created is None:
        return _EPOCH
    if created.tzinfo is None:
        return created.replace(tzinfo=UTC)
    return created.astimezone(UTC)


def find_tagged(service: Any, tag: str, *, known_live: str | None = None) -> TaggedJobs:
    """Look up the jobs carrying ``tag`` and pick the winner (blocking).

    Args:
        service: The native ``QiskitRuntimeService``.
        tag: The idempotency tag.
        known_live: A job id known to be live (just submitted): its status is not requested.

    Raises:
        RuntimeApiError: The lookup failed.
    """
    with translating_errors():
        jobs = service.jobs(job_tags=[tag], limit=LOOKUP_LIMIT)
    ordered = sorted(jobs, key=lambda job: (_created(job), str(job.job_id())))
    winner: Any | None = None
    winner_status: str | None = None
    others: list[Any] = []
    failed = 0
    for job in ordered:
        if str(job.job_id()) == known_live:
            status = "QUEUED"
        else:
            with translating_errors(str(job.job_id())):
                status = str(job.status())
        if status in _FAILED:
            failed += 1
        elif winner is None:
            winner, winner_status = job, status
        else:
            others.append(job)
    return TaggedJobs(
        winner=winner, winner_status=winner_status, others=tuple(others), failed=failed
    )


def cancel_duplicates(jobs: tuple[Any, ...], keep: str, logger: logging.Logger | Any) -> int:
    """Cancel every job in ``jobs`` except ``keep``; return how many were cancelled (blocking).

    Failures to cancel are logged, not raised: the winner's result is what matters.
    """
    cancelled = 0
    for job in jobs:
        job_id = str(job.job_id())
        if job_id == keep:
            continue
        try:
            with translating_errors(job_id):
                job.cancel()
            cancelled += 1
            logger.warning(
                "Cancelled duplicate Qiskit Runtime job %s (same idempotency tag as %s; the "
                "client's own POST retry or a concurrent submitter created it).",
                job_id,
                keep,
            )
        except Exception as exc:
            logger.warning(
                "Could not cancel duplicate Qiskit Runtime job %s (keeping %s): %s",
                job_id,
                keep,
                exc,
            )
    return cancelled


def retire_tag(job: Any, tag: str) -> None:
    """Replace ``tag`` on ``job`` so that later lookups no longer adopt it (blocking).

    Used when a job's results are gone: the next submission of the same input must create a new
    job instead of adopting this one forever.
    """
    retired = RETIRED_TAG_PREFIX + tag.removeprefix(IDEMPOTENCY_TAG_PREFIX)
    tags = [t for t in (job.tags or []) if t != tag] + [retired]
    with translating_errors(str(job.job_id())):
        job.update_tags(tags)


__all__ = [
    "RETIRED_TAG_PREFIX",
    "TaggedJobs",
    "cancel_duplicates",
    "find_tagged",
    "retire_tag",
]
