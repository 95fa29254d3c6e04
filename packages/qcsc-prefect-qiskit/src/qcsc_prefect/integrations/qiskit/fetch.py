"""Robust fetch: ``fetch_qiskit_job_result_task``.

The fetch task reattaches to an existing job by id and never submits anything. It waits without
holding an OS thread: each status call is a short request on the client thread pool, and the
task sleeps on the event loop in between, with a pause that grows with the time waited. Transient
service trouble (429, 5xx, no response) while polling is absorbed in place, up to a bound; what
remains is classified by `retry.classify`, so that
``retry_condition_fn=should_retry_qiskit_fetch_failure`` retries only what is worth retrying.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence  # noqa: TC003  (task signature, read by Prefect)
from dataclasses import dataclass
from typing import Any

from prefect import task

from . import _finish, _reconcile
from ._cache_store import invalidate_submit_cache
from ._job_handles import JOB_HANDLES
from ._logging import Logger, run_logger
from ._naming import fetch_run_name
from ._programs import input_count
from ._runtime import native
from ._runtime.pool import call_blocking, call_blocking_bounded
from ._runtime.translate import translate, translating_errors
from .artifacts import acreate_result_artifacts
from .blocks import QiskitRuntimeConfig, aresolve_runtime_config
from .errors import (
    JobCancelledError,
    JobFailedError,
    JobNotFoundError,
    RuntimeApiError,
)
from .jobs import FetchOutput, JobReference, JobStatus, parse_job_reference
from .validation import (
    ARTIFACT_KEY,
    FLAG,
    OPTIONAL_SECONDS,
    SECONDS,
    check_wait_arguments,
    validate_artifact_key,
    validated,
)
from .waiting import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_REQUEST_TIMEOUT,
    Progress,
    call_absorbing,
    wait_for_final_status,
)


@dataclass(frozen=True)
class _Fetch:
    """What the fetch steps share: the job, how it was referenced, and the wait settings."""

    config: QiskitRuntimeConfig
    reference: JobReference | str
    job_id: str
    pubs: Sequence[object] | None
    artifact_key: str | None
    request_timeout: float
    started: float

    @property
    def submitted_reference(self) -> JobReference | None:
        """The submit task's reference, when the caller passed one (not a bare job id)."""
        return self.reference if isinstance(self.reference, JobReference) else None


async def _fetch(
    *,
    runtime_config: QiskitRuntimeConfig | None,
    runtime_block_name: str | None,
    job_reference: object,
    pubs: Sequence[object] | None,
    artifact_key: str | None,
    timeout: float | None,
    cancel_on_timeout: bool,
    poll_interval: float,
    max_poll_interval: float,
    request_timeout: float,
) -> FetchOutput:
    logger = run_logger()
    fetch = await _resolve(
        runtime_config, runtime_block_name, job_reference, pubs, artifact_key,
        (timeout, poll_interval, max_poll_interval, request_timeout),
    )  # fmt: skip
    job = await _attach(fetch, logger)
    status = await wait_for_final_status(
        job,
        fetch.job_id,
        timeout=timeout,
        cancel_on_timeout=cancel_on_timeout,
        poll_interval=poll_interval,
        max_poll_interval=max_poll_interval,
        request_timeout=request_timeout,
        progress=Progress(
            f"{artifact_key}-progress" if artifact_key else None, fetch.job_id, logger
        ),
        logger=logger,
    )
    result = await _download(fetch, job, status, logger)
    output = await _output(fetch, job, status, result, logger)
    await acreate_result_artifacts(output, artifact_key)
    return output


async def _resolve(
    runtime_config: QiskitRuntimeConfig | None,
    runtime_block_name: str | None,
    job_reference: object,
    pubs: Sequence[object] | None,
    artifact_key: str | None,
    wait: tuple[float | None, float, float, float],
) -> _Fetch:
    """Check every argument, then resolve the configuration; nothing is requested before."""
    reference = parse_job_reference(job_reference)
    check_wait_arguments(*wait)
    if artifact_key is not None:
        validate_artifact_key(artifact_key)
    config = await aresolve_runtime_config(runtime_config, runtime_block_name)
    return _Fetch(
        config=config,
        reference=reference,
        job_id=reference.job_id if isinstance(reference, JobReference) else reference,
        pubs=pubs,
        artifact_key=artifact_key,
        request_timeout=wait[3],
        started=time.monotonic(),
    )


async def _attach(fetch: _Fetch, logger: Logger) -> Any:
    """Reattach to the job; a job the service forgot invalidates its submit-cache entry."""
    try:
        return await attach_job(
            fetch.config, fetch.job_id, request_timeout=fetch.request_timeout, logger=logger
        )
    except JobNotFoundError:
        if fetch.submitted_reference is not None:
            await invalidate_submit_cache(fetch.submitted_reference, logger)
        raise


async def _download(fetch: _Fetch, job: Any, status: JobStatus, logger: Logger) -> Any:
    """Download the result of a finished job; a job that can never give one is forgotten."""
    try:
        return await call_absorbing(
            f"the result download of job {fetch.job_id}",
            fetch.request_timeout,
            logger,
            native.wait_for_result,
            job,
        )
    except (JobFailedError, JobCancelledError):
        if fetch.submitted_reference is not None:
            await invalidate_submit_cache(fetch.submitted_reference, logger)
        raise
    except RuntimeApiError as exc:
        if status == "DONE" and exc.http_status == 404:
            await _results_gone(job, fetch.submitted_reference, logger)
            raise JobNotFoundError(
                f"job {fetch.job_id} completed, but the service no longer retains its results "
                "(they expire, and private jobs can be read only once). Rerun the flow to "
                "submit a new job: this one will not be adopted again.",
                job_id=fetch.job_id,
            ) from exc
        raise


async def _output(
    fetch: _Fetch, job: Any, status: JobStatus, result: Any, logger: Logger
) -> FetchOutput:
    """Build the task's output: the native result plus execution metadata."""
    primitive, backend_name, submitted_at = _job_facts(fetch.reference, job, fetch.config)
    reference = fetch.submitted_reference
    num_pubs = len(result)
    if fetch.pubs is not None and input_count(fetch.pubs) != num_pubs:
        logger.warning(
            "Job %s returned %d pub results but %d pubs were passed to the fetch task; is the "
            "job reference the one submitted for these pubs?",
            fetch.job_id,
            num_pubs,
            input_count(fetch.pubs),
        )
    report = await call_blocking(native.job_service_report, job, result)
    done = _finish.FinishedJob(
        job, primitive, backend_name, status, result, report, reference,
        shots=reference.shots if reference is not None else None,
        precision=reference.precision if reference is not None else None,
    )  # fmt: skip
    return await _finish.afinish(
        done,
        mode="robust",
        execution_mode=(
            reference.execution_mode if reference is not None else fetch.config.execution_mode
        ),
        num_pubs=num_pubs,
        submitted=submitted_at,
        started=fetch.started,
        logger=logger,
    )


async def attach_job(
    config: QiskitRuntimeConfig,
    job_id: str,
    *,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    logger: Logger,
) -> Any:
    """Return the native job ``job_id`` (a ``RuntimeJobV2``, or an in-process local job).

    A handle this process already holds (it submitted or adopted the job) is reused; otherwise
    the service is asked for the job by id.

    Raises:
        JobNotFoundError: The service does not know the job, or a local job belongs to
            another process.
    """
    job = JOB_HANDLES.get(job_id)
    if config.channel == "local":
        if job is None:
            raise JobNotFoundError(
                f"local-mode job {job_id} is not known to this process. Local mode keeps jobs in "
                "the submitting process only; fetch in the same flow run, or use a Qiskit Runtime "
                "service (or the qcsc-runtime-emulator) for cross-process fetches.",
                job_id=job_id,
            )
        return job
    if job is not None:
        return job
    service = await call_blocking(config.get_service)
    return await call_absorbing(
        f"the lookup of job {job_id}", request_timeout, logger, _retrieve, service, job_id
    )


async def job_status(config: QiskitRuntimeConfig, job_id: str, *, logger: Logger) -> JobStatus:
    """Return the current status of job ``job_id`` (one lookup, transient errors absorbed)."""
    job = await attach_job(config, job_id, logger=logger)
    status: JobStatus = await call_absorbing(
        f"the status request for job {job_id}",
        DEFAULT_REQUEST_TIMEOUT,
        logger,
        native.native_job_status,
        job,
    )
    return status


async def cancel_job(config: QiskitRuntimeConfig, job_id: str, *, logger: Logger) -> bool:
    """Ask the service to cancel job ``job_id``; return whether the request was accepted.

    A job that already finished cannot be cancelled: that returns ``False`` with a log line.
    """
    job = await attach_job(config, job_id, logger=logger)
    try:
        with translating_errors(job_id):
            accepted = await call_blocking_bounded(
                DEFAULT_REQUEST_TIMEOUT, "the cancel request", job.cancel
            )
    except RuntimeApiError as exc:
        if exc.http_status == 409:
            logger.info("Job %s could not be cancelled: it already finished.", job_id)
            return False
        raise
    return accepted is not False


def _retrieve(service: Any, job_id: str) -> Any:
    with translating_errors(job_id):
        return service.job(job_id)


async def _results_gone(job: Any, reference: JobReference | None, logger: Logger) -> None:
    """Forget a job whose results expired: invalidate its cache entry and retire its tag."""
    if reference is None:
        return
    await invalidate_submit_cache(reference, logger)
    if reference.idempotency_tag:
        try:
            await call_blocking(_reconcile.retire_tag, job, reference.idempotency_tag)
        except Exception as exc:
            logger.warning(
                "Could not retire idempotency tag %s of job %s: %s",
                reference.idempotency_tag,
                reference.job_id,
                translate(exc) or exc,
            )


def _job_facts(
    reference: JobReference | str, job: Any, config: QiskitRuntimeConfig
) -> tuple[Any, str, Any]:
    if isinstance(reference, JobReference):
        return reference.primitive, reference.backend_name, reference.submitted_at
    program = str(job.primitive_id) if hasattr(job, "primitive_id") else "sampler"
    primitive = "estimator" if "estimator" in program else "sampler"
    backend = job.backend()
    name = backend.name if backend is not None else config.backend_name
    created = getattr(job, "creation_date", None) or _finish.utc_now()
    return primitive, name, created


@task(name="fetch_qiskit_job_result_task", task_run_name=fetch_run_name, retries=0)
@validated(
    artifact_key=ARTIFACT_KEY,
    timeout=OPTIONAL_SECONDS,
    cancel_on_timeout=FLAG,
    poll_interval=SECONDS,
    max_poll_interval=SECONDS,
    request_timeout=SECONDS,
)
async def fetch_qiskit_job_result_task(
    *,
    runtime_config: QiskitRuntimeConfig | None = None,
    runtime_block_name: str | None = None,
    job_reference: JobReference | Mapping[str, Any] | str,
    pubs: Sequence[object] | None = None,
    artifact_key: str | None = None,
    timeout: float | None = None,
    cancel_on_timeout: bool = False,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
) -> FetchOutput:
    """Wait for an already submitted job and return its native result; never resubmits.

    Pass exactly one of ``runtime_config`` and ``runtime_block_name``. Retry this task (not the
    submit task) with ``retries=len(qiskit_retry_delays())``,
    ``retry_delay_seconds=qiskit_retry_delays()`` and
    ``retry_condition_fn=should_retry_qiskit_fetch_failure``; persist its result with
    ``cache_key_fn=qiskit_result_fetch_cache_key`` to restore it without calling the service.

    Args:
        runtime_config: The runtime configuration, passed directly.
        runtime_block_name: The name of a saved `QiskitRuntimeConfig` Block.
        job_reference: The `JobReference` returned by a submit task (or a job id).
        pubs: The pubs that were submitted; used to check the result's length.
        artifact_key: Key for the result artifacts (summary, ``-pubs`` table and
            ``-progress``); lowercase letters, digits and dashes.
        timeout: Seconds to wait for the job to finish; ``None`` waits as long as it takes.
            When it runs out, `JobTimeoutError` is raised (a transient failure: a retried fetch
            keeps waiting on the same job).
        cancel_on_timeout: Cancel the job when ``timeout`` runs out.
        poll_interval: Shortest pause between status checks; the pause grows to a tenth of
            the time waited so far.
        max_poll_interval: Longest pause between status checks.
        request_timeout: Bound on each single request to the service (the client has none).

    Returns:
        The `FetchOutput` dict: ``job_id``, ``backend_name``, ``primitive``, ``status``,
        ``result`` (the native ``PrimitiveResult``) and ``metadata``.

    Raises:
        JobFailedError: The job ended in ERROR (`JobRanTooLongError` for reason code 1305).
        JobCancelledError: The job was cancelled.
        JobNotFoundError: The job, or its results, are not retained by the service.
        JobTimeoutError: ``timeout`` ran out while the job was still queued or running.
        RuntimeApiError: The service kept failing (after absorbing transient errors).
    """
    return await _fetch(
        runtime_config=runtime_config,
        runtime_block_name=runtime_block_name,
        job_reference=job_reference,
        pubs=pubs,
        artifact_key=artifact_key,
        timeout=timeout,
        cancel_on_timeout=cancel_on_timeout,
        poll_interval=poll_interval,
        max_poll_interval=max_poll_interval,
        request_timeout=request_timeout,
    )


__all__ = ["attach_job", "cancel_job", "fetch_qiskit_job_result_task", "job_status"]
