"""Find, adopt and de-duplicate Qiskit Runtime jobs by their idempotency tag.

Every job the robust submit step creates carries one idempotency tag. These helpers are blocking
(they run on the client thread pool). A lookup is one job-list request
(`listing.list_tagged_jobs`): the list response carries each job's status and creation time, so
no job object is built and no status is requested per job. Cancelling a duplicate uses the
client's ``job.cancel()``.

The winner rule is the same everywhere: among the jobs with the tag that have not ended in
``ERROR``/``CANCELLED``, the earliest created (ties broken by job id) is *the* job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ._runtime import listing
from ._runtime.translate import translating_errors
from .cache import IDEMPOTENCY_TAG_PREFIX

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterable, Mapping

    from ._runtime.listing import ListedJob

#: Prefix a tag gets when its job must no longer be adopted (its results are gone).
RETIRED_TAG_PREFIX: Final = "qcsc-retired"

#: How many tagged jobs a lookup reads at most; more than a handful means something is wrong.
LOOKUP_LIMIT: Final = 50

_FAILED: Final = frozenset({"ERROR", "CANCELLED"})


@dataclass(frozen=True)
class TaggedJobs:
    """The outcome of a tag lookup.

    Attributes:
        winner: The job to use, or ``None`` when no live or completed job carries the tag.
        others: Further live jobs with the tag (duplicates).
        failed: How many tagged jobs ended in ``ERROR``/``CANCELLED`` (never adopted).
    """

    winner: ListedJob | None
    others: tuple[ListedJob, ...]
    failed: int


def find_tagged(service: Any, tag: str) -> TaggedJobs:
    """Look up the jobs carrying ``tag`` and pick the winner (blocking).

    Args:
        service: The native ``QiskitRuntimeService``.
        tag: The idempotency tag.

    Raises:
        RuntimeApiError: The lookup failed.
    """
    with translating_errors():
        listed = listing.list_tagged_jobs(service, tag, LOOKUP_LIMIT)
    live = [job for job in listed if job.status not in _FAILED]
    live.sort(key=lambda job: (job.created, job.job_id))
    return TaggedJobs(
        winner=live[0] if live else None,
        others=tuple(live[1:]),
        failed=len(listed) - len(live),
    )


def cancel_duplicates(
    service: Any,
    job_ids: Iterable[str],
    keep: str,
    logger: logging.Logger | Any,
    handles: Mapping[str, Any] | None = None,
) -> int:
    """Cancel every job in ``job_ids`` except ``keep``; return how many were cancelled (blocking).

    ``handles`` holds client job objects already at hand by id; other jobs are retrieved first.
    Failures to cancel are logged, not raised: the winner's result is what matters.
    """
    cancelled = 0
    for job_id in dict.fromkeys(job_ids):
        if job_id == keep:
            continue
        try:
            with translating_errors(job_id):
                job = (handles or {}).get(job_id) or service.job(job_id)
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
