"""Waiting for a Qiskit Runtime job without holding a thread, shared by simple and robust mode.

Each status check is one short request on the client thread pool (`_blocking`); between checks
the task sleeps on the event loop, with a pause that grows with the time waited. Transient service
trouble (429, 5xx, no response) is absorbed in place up to a bound; the rest is raised and
classified by `retry.classify`.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING, Any, Final

from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact

from . import _native
from ._blocking import call_blocking_bounded
from .errors import InvalidInputError, JobTimeoutError, QCSCQiskitError
from .jobs import TERMINAL_STATUSES, JobStatus
from .retry import classify

if TYPE_CHECKING:
    import logging
    from uuid import UUID

#: Shortest pause between status polls (seconds). The pause is `POLL_FRACTION` of the time
#: waited so far, between this and the maximum: checking costs few requests on long queues, and a
#: job is noticed at most about 10 % of its waiting time after it finished.
DEFAULT_POLL_INTERVAL: Final = 0.2
POLL_FRACTION: Final = 0.1
DEFAULT_MAX_POLL_INTERVAL: Final = 30.0

#: Bound on one status or result call (the client itself has no read timeout).
DEFAULT_REQUEST_TIMEOUT: Final = 120.0

#: Consecutive transient polling errors absorbed before the task fails (and may be retried).
MAX_CONSECUTIVE_POLL_ERRORS: Final = 6

_PROGRESS: Final[dict[str, float]] = {
    "INITIALIZING": 5.0,
    "QUEUED": 10.0,
    "RUNNING": 50.0,
    "DONE": 100.0,
    "ERROR": 100.0,
    "CANCELLED": 100.0,
}


def check_wait_arguments(
    timeout: float | None, poll_interval: float, max_poll_interval: float, request_timeout: float
) -> None:
    """Reject non-positive, non-finite or non-numeric waiting arguments (naming the argument)."""
    for name, value, optional in (
        ("timeout", timeout, True),
        ("poll_interval", poll_interval, False),
        ("max_poll_interval", max_poll_interval, False),
        ("request_timeout", request_timeout, False),
    ):
        if value is None and optional:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise InvalidInputError(
                f"`{name}` must be a positive number of seconds; got {value!r}.", argument=name
            )


class Progress:
    """A Prefect progress artifact kept while the job is queued or running (best effort)."""

    def __init__(self, key: str | None, job_id: str, logger: logging.Logger | Any) -> None:
        self._key = key
        self._job_id = job_id
        self._logger = logger
        self._artifact_id: UUID | None = None

    async def update(self, status: str) -> None:
        """Record ``status`` (created on first use; failures are logged, never raised)."""
        progress = _PROGRESS.get(status, 0.0)
        try:
            if self._artifact_id is None:
                self._artifact_id = await acreate_progress_artifact(
                    progress,
                    key=self._key,
                    description=f"Qiskit Runtime job {self._job_id}: {status}",
                )
            else:
                await aupdate_progress_artifact(
                    self._artifact_id,
                    progress,
                    description=f"Qiskit Runtime job {self._job_id}: {status}",
                )
        except Exception as exc:
            self._logger.warning("Could not update the progress artifact: %s", exc)


async def call_absorbing(
    what: str,
    request_timeout: float,
    logger: logging.Logger | Any,
    fn: Any,
    *args: Any,
) -> Any:
    """Make one idempotent client call, absorbing transient failures.

    Up to `MAX_CONSECUTIVE_POLL_ERRORS` failures classified transient (429, honouring
    ``Retry-After``; 5xx; no response) are retried in place with growing pauses.
    """
    pause = DEFAULT_POLL_INTERVAL
    for attempt in range(1, MAX_CONSECUTIVE_POLL_ERRORS + 2):
        try:
            return await call_blocking_bounded(request_timeout, what, fn, *args)
        except QCSCQiskitError as exc:
            decision = classify(exc)
            if decision.kind != "transient" or attempt > MAX_CONSECUTIVE_POLL_ERRORS:
                raise
            wait = max(pause, decision.retry_after or 0.0)
            logger.warning(
                "%s failed (%s: %s); trying again in %.1f s.",
                what[0].upper() + what[1:],
                decision.reason,
                exc,
                wait,
            )
            await asyncio.sleep(wait)
            pause = min(pause * 2, DEFAULT_MAX_POLL_INTERVAL)
    raise AssertionError("unreachable")  # pragma: no cover


async def wait_for_final_status(
    job: Any,
    job_id: str,
    *,
    timeout: float | None,
    cancel_on_timeout: bool,
    poll_interval: float,
    max_poll_interval: float,
    request_timeout: float,
    progress: Progress,
    logger: logging.Logger | Any,
) -> JobStatus:
    """Poll ``job`` until it reaches a final status, logging every change; return that status.

    Raises:
        JobTimeoutError: ``timeout`` ran out first (the job is cancelled if asked).
        QCSCQiskitError: A status request kept failing, or failed for good.
    """
    started = time.monotonic()
    deadline = None if timeout is None else started + timeout
    last: JobStatus | None = None
    while True:
        status: JobStatus = await call_absorbing(
            f"the status request for job {job_id}",
            request_timeout,
            logger,
            _native.native_job_status,
            job,
        )
        if status != last:
            logger.info(
                "Qiskit Runtime job %s is %s (after %.1f s).",
                job_id,
                status,
                time.monotonic() - started,
            )
            await progress.update(status)
            last = status
        if status in TERMINAL_STATUSES:
            return status
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            if cancel_on_timeout:
                try:
                    await call_blocking_bounded(request_timeout, "a job cancel request", job.cancel)
                    logger.warning("Cancelled job %s after waiting %.0f s.", job_id, timeout)
                except Exception as exc:
                    logger.warning("Could not cancel job %s after the timeout: %s", job_id, exc)
            raise JobTimeoutError(
                f"job {job_id} was still {status} after the fetch timeout of {timeout:g} s"
                + (" and was cancelled" if cancel_on_timeout else "")
                + ". Fetch again with the same job reference to keep waiting (nothing is "
                "resubmitted), or raise `timeout=`.",
                last_status=status,
                job_id=job_id,
            )
        interval = min(max(poll_interval, (now - started) * POLL_FRACTION), max_poll_interval)
        pause = interval if deadline is None else min(interval, max(deadline - now, 0.0))
        await asyncio.sleep(pause)


__all__ = [
    "DEFAULT_MAX_POLL_INTERVAL",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_REQUEST_TIMEOUT",
    "MAX_CONSECUTIVE_POLL_ERRORS",
    "POLL_FRACTION",
    "Progress",
    "call_absorbing",
    "check_wait_arguments",
    "wait_for_final_status",
]
