"""Waiting for a Qiskit Runtime job without holding a thread, shared by simple and robust mode.

A job waiting alone polls its own status. As soon as two jobs of a connection wait, the
process's shared status poller (`_runtime.poller`) watches them with one job-list request per
round, so requests grow with rounds, not with jobs; each job reads its own status when it left
the pending list (answered without a request when a page of finished jobs already showed it:
`_runtime.answers`). Jobs whose connection cannot list jobs (local mode) poll their own status.
Each request is one short call on the client thread pool (`_runtime.pool`); between checks the
task sleeps on the event loop, with a pause that grows with the time waited. Transient service
trouble (429, 5xx, no response) is absorbed in place up to a bound; the rest is raised and
classified by `retry.classify`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
import weakref
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact

from . import _state
from ._runtime import listing, native
from ._runtime.listing import read_page
from ._runtime.poller import (
    MAX_PAGES,
    PAGE_SIZE,
    Listing,
    StatusPoller,
    poller_busy,
    poller_for,
)
from ._runtime.pool import call_blocking_bounded
from .errors import InvalidInputError, JobTimeoutError, QCSCQiskitError
from .jobs import TERMINAL_STATUSES, JobStatus
from .retry import classify

if TYPE_CHECKING:
    from uuid import UUID

_LOGGER: Final = logging.getLogger(__name__)

#: Shortest pause between status polls (seconds). The pause is `POLL_FRACTION` of the time
#: waited so far, between this and the maximum: checking costs few requests on long queues, and a
#: job is noticed at most about 10 % of its waiting time after it finished.
DEFAULT_POLL_INTERVAL: Final = 0.2
POLL_FRACTION: Final = 0.1
DEFAULT_MAX_POLL_INTERVAL: Final = 30.0

#: Bound on one status or result call (the client itself has no read timeout).
DEFAULT_REQUEST_TIMEOUT: Final = 120.0

#: Seconds a pending status read by this process (the post's acceptance, a tag lookup that
#: listed the job, attaching to it) stands in for a waiting task's first status request.
RECENT_STATUS_AGE: Final = 10.0

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


#: Statuses the pending-job list can report, as this library names them.
_LISTED: Final[dict[str, JobStatus]] = {
    "INITIALIZING": "INITIALIZING",
    "QUEUED": "QUEUED",
    "RUNNING": "RUNNING",
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


#: Progress-artifact writes to the Prefect API in flight at once, per event loop. Unbounded, a
#: thousand waiting jobs queue a thousand requests inside the HTTP client's connection pool, whose
#: bookkeeping grows with its queue and keeps the event loop busy.
MAX_PROGRESS_WRITES: Final = 8

_write_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
_write_slots_guard = threading.Lock()
_background_writes: set[asyncio.Task[None]] = set()
_state.register(
    "waiting._write_slots",
    holds="the progress-artifact write slots of each event loop",
    bound="one semaphore per live event loop (weak keys)",
    reset=None,
)
_state.register(
    "waiting._background_writes",
    holds="the progress-artifact writes still running (held so they are not collected)",
    bound="the writes in flight; each leaves when it ends",
    reset=None,
)


def _write_slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    with _write_slots_guard:
        slot = _write_slots.get(loop)
        if slot is None:
            slot = _write_slots[loop] = asyncio.Semaphore(MAX_PROGRESS_WRITES)
        return slot


#: Seconds of waiting after which each status change is logged at INFO (before: DEBUG, except
#: ERROR and CANCELLED). A quick job's "QUEUED" and "DONE" lines say nothing the task's own
#: "Submitted" and "Finished" lines do not, and a flow with a thousand jobs paid for them.
QUIET_WAIT: Final = 10.0


#: Seconds a status that is not final must hold before it is written: a job that finishes
#: within that time costs one artifact write (none without a key), not one per status it went
#: through. The threshold of the INFO status lines: a flow with a thousand jobs that each waited
#: a few seconds paid two Prefect API writes per job when it was 2 s.
PROGRESS_SETTLE: Final = QUIET_WAIT


class Progress:
    """A Prefect progress artifact kept while the job is queued or running (best effort).

    Writes go out in the background, at most `MAX_PROGRESS_WRITES` at once per event loop. A
    status that is not final is written once it has held for `PROGRESS_SETTLE` seconds, and only
    the newest status is written when several arrived meanwhile: waiting never stalls on the
    Prefect API except for the final status, which is written at once, before the wait returns.
    Without a ``key``, a job that finishes before its first write gets no artifact at all (it
    would show nothing but "finished", which the task's state already says).
    """

    def __init__(self, key: str | None, job_id: str, logger: logging.Logger | Any) -> None:
        self._key = key
        self._job_id = job_id
        self._logger = logger
        self._artifact_id: UUID | None = None
        self._wanted: str | None = None
        self._written: str | None = None
        self._writer: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()  # set: write without settling (final status, or a flush)

    async def update(self, status: str) -> None:
        """Record ``status``; wait for the write only when the status is final."""
        self._wanted = status
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_newest())
            _background_writes.add(self._writer)
            self._writer.add_done_callback(_background_writes.discard)
        if status in TERMINAL_STATUSES:
            await self.flush()

    async def flush(self) -> None:
        """Write the newest recorded status now and wait until it is written (or failed)."""
        self._hurry.set()
        if self._writer is not None:
            await asyncio.shield(self._writer)

    async def _write_newest(self) -> None:
        if not self._hurry.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), PROGRESS_SETTLE)
        if self._key is None and self._artifact_id is None and self._wanted in TERMINAL_STATUSES:
            return  # an unkeyed artifact that would only say "finished": nobody waited on it
        async with _write_slot():
            for _ in range(len(_PROGRESS) + 1):  # each pass writes a newer status
                status = self._wanted
                if status is None or status == self._written:
                    return
                await self._write(status)
                self._written = status

    async def _write(self, status: str) -> None:
        """Create the artifact on first use, else update it; failures are logged, never raised."""
        progress = _PROGRESS.get(status, 0.0)
        description = f"Qiskit Runtime job {self._job_id}: {status}"
        try:
            if self._artifact_id is None:
                self._artifact_id = await acreate_progress_artifact(
                    progress, key=self._key, description=description
                )
            else:
                await aupdate_progress_artifact(
                    self._artifact_id, progress, description=description
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


async def _status_request(
    job: Any, job_id: str, request_timeout: float, logger: logging.Logger | Any
) -> JobStatus:
    status: JobStatus = await call_absorbing(
        f"the status request for job {job_id}",
        request_timeout,
        logger,
        native.native_job_status,
        job,
    )
    return status


async def _list_pending(client: Any, request_timeout: float) -> Listing:
    """One round of the shared poller: read the pending jobs, page by page (bounded)."""
    statuses: dict[str, str] = {}
    read = 0
    for _ in range(MAX_PAGES):
        page = await call_absorbing(
            "the pending-job list request",
            request_timeout,
            _LOGGER,
            partial(listing.list_pending_jobs, client, skip=read, limit=PAGE_SIZE),
        )
        size, count = read_page(page, statuses)
        read += size
        if read >= count:
            return Listing(statuses, complete=True)
        if size == 0:
            break
    return Listing(statuses, complete=False)


async def _list_finished(client: Any, request_timeout: float, gone: int) -> None:
    """One page of the newest finished jobs, read for ``gone`` jobs that left the pending list.

    A few more than ``gone`` are asked for, since jobs created later may have finished first.
    """
    limit = min(PAGE_SIZE, 2 * gone + 10)
    await call_blocking_bounded(
        request_timeout,
        "the finished-job list request",
        partial(listing.list_finished_jobs, client, limit=limit),
    )


async def _timed_out(
    job: Any,
    job_id: str,
    status: JobStatus,
    *,
    timeout: float | None,
    cancel_on_timeout: bool,
    request_timeout: float,
    logger: logging.Logger | Any,
) -> JobTimeoutError:
    """Cancel the job if asked; return the error to raise."""
    if cancel_on_timeout:
        try:
            await call_blocking_bounded(request_timeout, "a job cancel request", job.cancel)
            logger.warning("Cancelled job %s after waiting %.0f s.", job_id, timeout)
        except Exception as exc:
            logger.warning("Could not cancel job %s after the timeout: %s", job_id, exc)
    return JobTimeoutError(
        f"job {job_id} was still {status} after the fetch timeout of {timeout:g} s"
        + (" and was cancelled" if cancel_on_timeout else "")
        + ". Fetch again with the same job reference to keep waiting (nothing is "
        "resubmitted), or raise `timeout=`.",
        last_status=status,
        job_id=job_id,
    )


@dataclass(slots=True)
class _Watch:
    """What one waiting job knows between checks."""

    job: Any
    job_id: str
    client: Any | None
    request_timeout: float
    logger: logging.Logger | Any
    seen: str = ""
    """The status last seen, as the list or the status request spelt it."""
    trust_list: bool = True
    """Whether a job missing from the pending list is taken as finished (wakes the waiter)."""

    async def check(self, pause: float, remaining: float | None) -> JobStatus | None:
        """Wait for the next status: from the shared poller, or by a request of our own.

        Returns:
            The status, or ``None`` when only the raw listed status changed (nothing to report).
        """
        poller = self.poller()
        if poller is None or not poller.shared:
            await asyncio.sleep(pause)
            return await self.request()
        limit = (
            remaining if self.trust_list else pause if remaining is None else min(pause, remaining)
        )
        update = await poller.watch(
            self.job_id, self.seen, timeout=limit, interval=pause, report_gone=self.trust_list
        )
        if update is not None and update.kind == "status" and update.status is not None:
            self.seen = update.status
            self.trust_list = True
            return _LISTED.get(update.status)
        status = await self.request()
        # Missing from the list yet still pending (not listed, or the pages shifted): poll this
        # job on its own pace until the next request, then trust the list again.
        gone = update is not None and update.kind == "gone"
        self.trust_list = not (gone and status not in TERMINAL_STATUSES)
        return status

    def poller(self) -> StatusPoller | None:
        """The shared poller of this job's connection (``None``: poll on our own)."""
        if self.client is None:
            return None
        return poller_for(
            self.client,
            partial(_list_pending, self.client, self.request_timeout),
            partial(_list_finished, self.client, self.request_timeout),
        )

    def recent(self) -> JobStatus | None:
        """The pending status this job's connection read moments ago, if any (no request)."""
        status = listing.recent_pending_status(self.job, RECENT_STATUS_AGE)
        if status is None:
            return None
        self.seen = status
        return _LISTED.get(status)

    async def request(self) -> JobStatus:
        """Ask the service for this job's status (transient failures absorbed)."""
        status = await _status_request(self.job, self.job_id, self.request_timeout, self.logger)
        self.seen = status
        return status


def _status_log_level(status: JobStatus, waited: float) -> int:
    if status in ("ERROR", "CANCELLED") or waited >= QUIET_WAIT:
        return logging.INFO
    return logging.DEBUG


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
    just_submitted: bool = False,
) -> JobStatus:
    """Wait until ``job`` reaches a final status, logging every change; return that status.

    The first status is the one this process read moments ago (`RECENT_STATUS_AGE`: the post's
    acceptance, a tag lookup, attaching to the job), else a request; a job ``just_submitted``
    asks at once (a quick one is noticed without a pause), unless other jobs already wait on
    the shared poller, whose rounds then give its first status too. In between, the job is
    served by that poller while other jobs of its connection wait, and polls on its own
    otherwise; the final status comes from its own read (or a finished-jobs page).

    Raises:
        JobTimeoutError: ``timeout`` ran out first (the job is cancelled if asked).
        QCSCQiskitError: A status request kept failing, or failed for good.
    """
    started = time.monotonic()
    watch = _Watch(job, job_id, listing.job_connection(job), request_timeout, logger)
    member = watch.poller()
    if member is not None:
        member.join()
    try:
        return await _wait(
            watch, started, timeout, cancel_on_timeout, poll_interval, max_poll_interval,
            progress, just_submitted,
        )  # fmt: skip
    finally:
        if member is not None:
            member.leave()


async def _first_status(watch: _Watch, just_submitted: bool) -> JobStatus | None:
    """The status a wait starts from; ``None`` leaves it to the shared poller's rounds.

    A task that has just posted asks at once (a quick job is noticed without a pause), unless
    other jobs already wait on the poller; one that takes over a job this process read moments
    ago starts from that status.
    """
    if just_submitted and watch.client is not None and poller_busy(watch.client):
        return None
    return (None if just_submitted else watch.recent()) or await watch.request()


async def _wait(
    watch: _Watch,
    started: float,
    timeout: float | None,
    cancel_on_timeout: bool,
    poll_interval: float,
    max_poll_interval: float,
    progress: Progress,
    just_submitted: bool,
) -> JobStatus:
    """The loop of `wait_for_final_status`."""
    job, job_id, request_timeout, logger = (
        watch.job,
        watch.job_id,
        watch.request_timeout,
        watch.logger,
    )
    deadline = None if timeout is None else started + timeout
    last: JobStatus | None = None
    status = await _first_status(watch, just_submitted)
    while True:
        if status is not None and status != last:
            waited = time.monotonic() - started
            logger.log(
                _status_log_level(status, waited),
                "Qiskit Runtime job %s is %s (after %.1f s).",
                job_id,
                status,
                waited,
            )
            await progress.update(status)
            last = status
        if last in TERMINAL_STATUSES:
            return last
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            if last is None:  # nothing listed yet: ask once before giving up
                status = await watch.request()
                continue
            await progress.flush()
            raise await _timed_out(
                job, job_id, last, timeout=timeout, cancel_on_timeout=cancel_on_timeout,
                request_timeout=request_timeout, logger=logger,
            )  # fmt: skip
        interval = min(max(poll_interval, (now - started) * POLL_FRACTION), max_poll_interval)
        remaining = None if deadline is None else max(deadline - now, 0.0)
        status = await watch.check(
            interval if remaining is None else min(interval, remaining), remaining
        )


__all__ = [
    "DEFAULT_MAX_POLL_INTERVAL",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_REQUEST_TIMEOUT",
    "MAX_CONSECUTIVE_POLL_ERRORS",
    "MAX_PROGRESS_WRITES",
    "POLL_FRACTION",
    "PROGRESS_SETTLE",
    "QUIET_WAIT",
    "RECENT_STATUS_AGE",
    "Progress",
    "call_absorbing",
    "check_wait_arguments",
    "wait_for_final_status",
]
