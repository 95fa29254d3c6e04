"""Robust submission: ``submit_sampler_job_task`` and ``submit_estimator_job_task``.

A quantum job is submitted **exactly once** per logical submission, whatever crashes, task or
flow retries, or concurrent identical runs happen. Three layers, each sufficient for the faults the
previous one misses:

1. **Prefect's cache.** The task persists the small `JobReference` it returns. With an
   ``input_digest`` the default cache key is the digest, so an identical rerun is ``Cached``;
   without one it is the flow run and task identity, so task and flow retries are ``Cached``.
2. **An idempotency tag on the job** (``options.environment.job_tags``). Before posting, the
   tag is looked up and a live or completed job is adopted; after an ambiguous error (no response,
   5xx) the tag is looked up again for a bounded time; after a successful post, extra jobs with
   the tag (the client itself retries ``POST /jobs`` on 5xx) are cancelled.
3. **A lock per idempotency key** taken by the submit step itself (`locking.FlockLockManager`),
   so concurrent identical submitters post one at a time and the second adopts the first's job.
   It does not rely on Prefect's isolation, which ``with_options(cache_key_fn=...)`` drops, and it
   is released by the operating system when its holder dies.

With ``channel="local"`` there is no server to tag or look up jobs: only layer 1 applies, jobs run
in-process, and a local job can be fetched only by the process that submitted it.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import os
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from prefect import task
from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging import get_run_logger
from prefect.settings import PREFECT_TASKS_REFRESH_CACHE
from prefect.transactions import get_transaction

from . import _native, _reconcile
from ._blocking import _get_executor, call_blocking, call_blocking_bounded
from ._translate import translate
from .blocks import QiskitRuntimeConfig, aresolve_runtime_config
from .cache import (
    idempotency_tag,
    qiskit_estimator_submit_cache_key,
    qiskit_sampler_submit_cache_key,
)
from .digests import build_qiskit_estimator_input_digest, build_qiskit_sampler_input_digest
from .errors import (
    NO_RESPONSE,
    InvalidInputError,
    QCSCQiskitError,
    RuntimeApiError,
    SubmissionUnknownError,
)
from .jobs import JobReference, PrimitiveName
from .locking import SUBMIT_LOCK_MANAGER
from .retry import classify
from .validation import validate_inputs

if TYPE_CHECKING:
    import concurrent.futures
    import logging

#: Delays (seconds) between tag lookups after an ambiguous submit error: ~2.5 s in all.
RECONCILE_DELAYS: Final = (0.0, 0.25, 0.5, 0.75, 1.0)

#: How long a submitter waits for another submitter of the same input (seconds).
LOCK_ACQUIRE_TIMEOUT: Final = 600.0

#: How often the submit step posts when a transient failure provably left no job behind.
SUBMIT_POST_ATTEMPTS: Final = 2

#: Upper bound on one ``POST /jobs`` call (the client itself allows 900 s).
SUBMIT_CALL_TIMEOUT: Final = 300.0

#: Upper bound on one tag lookup or status call.
LOOKUP_CALL_TIMEOUT: Final = 60.0

#: HTTP statuses after which the service certainly created no job.
_REJECTED: Final = frozenset({400, 401, 403, 404, 409, 422})

#: Native job handles this process submitted or adopted, by id (oldest forgotten first). Local-mode
#: jobs can only be fetched through it; for service jobs it saves the fetch a lookup request.
_SUBMITTED_JOBS: dict[str, Any] = {}


def submitted_job(job_id: str) -> Any | None:
    """Return the native job handle ``job_id`` if this process submitted or adopted it."""
    return _SUBMITTED_JOBS.get(job_id)


def _remember(job: Any) -> None:
    _SUBMITTED_JOBS[str(job.job_id())] = job
    _forget_oldest(_SUBMITTED_JOBS)


# --------------------------------------------------------------------------- keys


#: Run identities already assigned, by task run id (a task retry keeps its task run id).
_RUN_IDENTITIES: dict[UUID, str] = {}
#: How often each input was submitted in one attempt of a flow run, by (flow run id, attempt).
_OCCURRENCES: dict[tuple[UUID, int], Counter[str]] = {}


#: How many task runs and flow-run attempts a long-lived worker remembers (oldest forgotten).
_MEMORY: Final = 10_000


def _forget_oldest(table: dict[Any, Any]) -> None:
    # Dicts keep insertion order: the first keys are the oldest. A forgotten entry only matters
    # for a retry of a run older than the last _MEMORY submissions of this process.
    while len(table) > _MEMORY:
        del table[next(iter(table))]


def _inputs_digest(primitive: PrimitiveName, parameters: Mapping[str, Any]) -> str:
    """A digest of what this call submits (scope "global": the flow run id is added outside)."""
    config = parameters.get("runtime_config")
    backend_name = config.backend_name if isinstance(config, QiskitRuntimeConfig) else "?"
    try:
        if primitive == "sampler":
            return build_qiskit_sampler_input_digest(
                parameters.get("pubs") or [],
                backend_name=backend_name,
                shots=parameters.get("shots"),
                cache_scope="global",
                options=parameters.get("options"),
            )
        return build_qiskit_estimator_input_digest(
            parameters.get("pubs") or [],
            backend_name=backend_name,
            precision=parameters.get("precision"),
            cache_scope="global",
            options=parameters.get("options"),
        )
    except InvalidInputError:
        return "invalid-input"  # the body rejects it before anything is submitted


def _run_identity(primitive: PrimitiveName, parameters: Mapping[str, Any]) -> tuple[str, bool]:
    """Return the idempotency key of a submission without digest, and whether it may repeat.

    The second value says whether an earlier attempt of the same submission may exist (a task
    or a flow retry).

    The key is the flow run, the inputs, and how many identical submissions this attempt of the
    flow run made before: stable across task retries (same task run) and flow retries (Prefect
    gives the retried task calls new ids, but the same flow run and the same call order), and
    new for every new flow run.
    """
    task_ctx = TaskRunContext.get()
    if task_ctx is None:  # not reachable from the task; kept for type narrowing
        return f"adhoc:{uuid.uuid4()}", False
    task_run = task_ctx.task_run
    flow_ctx = FlowRunContext.get()
    flow_run = flow_ctx.flow_run if flow_ctx is not None else None
    flow_attempt = flow_run.run_count if flow_run is not None else 0
    maybe_earlier = task_run.run_count > 1 or flow_attempt > 1
    known = _RUN_IDENTITIES.get(task_run.id)
    if known is not None:
        return known, maybe_earlier
    if task_run.flow_run_id is None:
        identity = f"{primitive}:task-run:{task_run.id}"
    else:
        inputs = _inputs_digest(primitive, parameters)
        counter = _OCCURRENCES.setdefault((task_run.flow_run_id, flow_attempt), Counter())
        occurrence = counter[inputs]
        counter[inputs] += 1
        identity = f"{primitive}:flow-run:{task_run.flow_run_id}:{inputs}:{occurrence}"
    _RUN_IDENTITIES[task_run.id] = identity
    _forget_oldest(_RUN_IDENTITIES)
    _forget_oldest(_OCCURRENCES)
    return identity, maybe_earlier


def _refresh_requested() -> bool:
    task_ctx = TaskRunContext.get()
    if task_ctx is None:
        return False
    return bool(task_ctx.task.refresh_cache) or bool(PREFECT_TASKS_REFRESH_CACHE.value())


def _idempotency_key(
    primitive: PrimitiveName, input_digest: str | None, parameters: Mapping[str, Any]
) -> tuple[str, bool]:
    if input_digest is None:
        return _run_identity(primitive, parameters)
    if _refresh_requested():
        # The user asked Prefect to refresh the cache: a new flow run gets a new job, while
        # retries inside this flow run still reattach.
        flow_ctx = FlowRunContext.get()
        flow_run = flow_ctx.flow_run if flow_ctx is not None else None
        run = flow_run.id if flow_run is not None else uuid.uuid4()
        return f"{input_digest}:refresh:{run}", True
    return input_digest, True


def _default_submit_key(primitive: PrimitiveName, parameters: Mapping[str, Any]) -> str:
    digest = parameters.get("input_digest")
    if digest is not None:
        key_fn = (
            qiskit_sampler_submit_cache_key
            if primitive == "sampler"
            else qiskit_estimator_submit_cache_key
        )
        return key_fn(None, dict(parameters))
    key, _ = _run_identity(primitive, parameters)
    return f"qcsc-qiskit-v1-{primitive}-submit-run-{hashlib.sha256(key.encode()).hexdigest()}"


def _default_sampler_submit_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    return _default_submit_key("sampler", parameters)


def _default_estimator_submit_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    return _default_submit_key("estimator", parameters)


_DIGEST_KEY_FNS: Final = {
    "sampler": qiskit_sampler_submit_cache_key,
    "estimator": qiskit_estimator_submit_cache_key,
}


def _check_cache_configuration(primitive: PrimitiveName, input_digest: str | None) -> None:
    """Refuse to submit when the task's cache key cannot work.

    A digest key function without a digest would silently turn caching off; the other
    primitive's key function would reuse the wrong kind of job.
    """
    task_ctx = TaskRunContext.get()
    key_fn = task_ctx.task.cache_key_fn if task_ctx is not None else None
    if key_fn is None:
        return
    for kind, digest_key_fn in _DIGEST_KEY_FNS.items():
        if key_fn is digest_key_fn and kind != primitive:
            raise InvalidInputError(
                f"the {primitive} submit task is configured with "
                f"`cache_key_fn={digest_key_fn.__name__}`, the {kind} key; use "
                f"`qiskit_{primitive}_submit_cache_key`.",
                argument="cache_key_fn",
            )
        if key_fn is digest_key_fn and input_digest is None:
            raise InvalidInputError(
                f"`cache_key_fn={digest_key_fn.__name__}` needs `input_digest=`; build it with "
                f"`build_qiskit_{primitive}_input_digest(pubs, backend_name=..., ...)` and pass "
                "it to the submit task. Nothing was submitted.",
                argument="input_digest",
            )
    if input_digest is not None and (
        not isinstance(input_digest, str)
        or len(input_digest) != 64
        or any(c not in "0123456789abcdef" for c in input_digest)
    ):
        raise InvalidInputError(
            "`input_digest` must be the 64-character hex string returned by "
            f"`build_qiskit_{primitive}_input_digest`; got {input_digest!r}.",
            argument="input_digest",
        )


# --------------------------------------------------------------------------- options


def _tagged_options(options: object | None, tag: str) -> object:
    """Return a deep copy of ``options`` with ``tag`` added to ``environment.job_tags``.

    The caller's options (dict or native options object) are never mutated.
    """
    if options is None:
        return {"environment": {"job_tags": [tag]}}
    if isinstance(options, Mapping):
        merged: dict[str, Any] = copy.deepcopy(dict(options))
        environment = merged.get("environment")
        if environment is None:
            environment = {}
        elif not isinstance(environment, Mapping):
            raise InvalidInputError(
                "`options['environment']` must be a mapping.", argument="options"
            )
        environment = dict(environment)
        user_tags = list(environment.get("job_tags") or [])
        environment["job_tags"] = [*user_tags, tag]
        merged["environment"] = environment
        return merged
    copied = copy.deepcopy(options)
    environment = getattr(copied, "environment", None)
    if environment is None:
        raise InvalidInputError(
            f"`options` must be a dict or native primitive options, got {type(options).__name__}.",
            argument="options",
        )
    environment.job_tags = [*(environment.job_tags or []), tag]
    return copied


# --------------------------------------------------------------------------- submit


async def _submit(
    primitive: PrimitiveName,
    pubs: Sequence[object],
    *,
    runtime_config: QiskitRuntimeConfig | None,
    runtime_block_name: str | None,
    shots: int | None,
    precision: float | None,
    options: object | None,
    input_digest: str | None,
) -> JobReference:
    logger = get_run_logger()
    _check_cache_configuration(primitive, input_digest)
    config = await aresolve_runtime_config(runtime_config, runtime_block_name)
    backend = await call_blocking(config.get_backend)
    # Off the event loop: checking large circuits against the target takes time.
    await call_blocking(
        validate_inputs, primitive, pubs, backend=backend, shots=shots, precision=precision
    )
    cache_key = _current_cache_key()

    if config.channel == "local":
        return await _submit_local(
            primitive,
            pubs,
            config,
            backend,
            shots,
            precision,
            options,
            input_digest,
            cache_key,
            logger,
        )

    service = await call_blocking(config.get_service)
    task_ctx = TaskRunContext.get()
    parameters = task_ctx.parameters if task_ctx is not None else {}
    key, earlier_attempt_possible = _idempotency_key(primitive, input_digest, parameters)
    tag = idempotency_tag(f"{primitive}-submit", key)
    lock_key = f"qcsc-qiskit-submit-{tag}"
    holder = f"{os.getpid()}-{uuid.uuid4().hex}"

    def reference(job: Any, *, reused: bool) -> JobReference:
        _remember(job)
        return JobReference(
            job_id=str(job.job_id()),
            primitive=primitive,
            backend_name=backend.name,
            channel=config.channel,
            instance=config.instance,
            input_digest=input_digest,
            idempotency_tag=tag,
            submitted_at=_native.utc_now(),
            session_id=None,
            shots=shots,
            precision=precision,
            reused=reused,
            cache_key=cache_key,
        )

    pending_call: concurrent.futures.Future[Any] | None = None
    if not await SUBMIT_LOCK_MANAGER.aacquire_lock(
        lock_key, holder, acquire_timeout=LOCK_ACQUIRE_TIMEOUT
    ):
        info = SUBMIT_LOCK_MANAGER.holder_info(lock_key) or {}
        raise SubmissionUnknownError(
            f"another submission of the same input (process {info.get('pid', '?')}) has been "
            f"in progress for over {LOCK_ACQUIRE_TIMEOUT:g} s; nothing was submitted. Rerun once "
            "it has finished: the rerun adopts its job.",
            idempotency_tag=tag,
        )
    try:
        if earlier_attempt_possible:
            found = await call_blocking_bounded(
                LOOKUP_CALL_TIMEOUT, "the job-tag lookup", _reconcile.find_tagged, service, tag
            )
            if found.winner is not None:
                job_id = str(found.winner.job_id())
                logger.info(
                    "Adopted existing Qiskit Runtime job %s (%s) with idempotency tag %s; "
                    "nothing new was submitted.",
                    job_id,
                    found.winner_status,
                    tag,
                )
                if found.others:
                    await call_blocking(_reconcile.cancel_duplicates, found.others, job_id, logger)
                return reference(found.winner, reused=True)
            if found.failed:
                logger.info(
                    "%d earlier job(s) with idempotency tag %s ended in ERROR/CANCELLED; "
                    "submitting a new one.",
                    found.failed,
                    tag,
                )

        native = _native.build_primitive(primitive, backend, _tagged_options(options, tag))
        for attempt in range(1, SUBMIT_POST_ATTEMPTS + 1):
            call = _get_executor().submit(
                _native.submit, native, pubs, shots=shots, precision=precision
            )
            try:
                job = await _await_submit_call(call)
                break
            except Exception as exc:
                if not call.done():
                    # Our wait ran out, but the client call goes on and may still post the
                    # job. Keep the lock until it ends, so that no other submitter of this
                    # input (a rerun, a retry, a concurrent run) posts a second job meanwhile.
                    pending_call = call
                adopted = await _reconcile_after_error(
                    service,
                    tag,
                    exc,
                    logger,
                    may_repost=pending_call is None and attempt < SUBMIT_POST_ATTEMPTS,
                )
                if adopted is not None:
                    return reference(adopted, reused=True)
                await asyncio.sleep(_repost_pause(exc, attempt))

        job_id = str(job.job_id())
        logger.info(
            "Submitted Qiskit Runtime %s job %s on %s (idempotency tag %s).",
            primitive,
            job_id,
            backend.name,
            tag,
        )
        winner = await _deduplicate(service, tag, job, logger)
        return reference(winner, reused=str(winner.job_id()) != job_id)
    finally:
        if pending_call is None or pending_call.done():
            SUBMIT_LOCK_MANAGER.release_lock(lock_key, holder)
        else:
            logger.warning(
                "The abandoned submission call for idempotency tag %s is still running; the "
                "submit lock stays held until it ends.",
                tag,
            )
            pending_call.add_done_callback(
                lambda _: SUBMIT_LOCK_MANAGER.release_lock(lock_key, holder)
            )


def _repost_pause(exc: Exception, attempt: int) -> float:
    """Seconds to wait before posting again.

    The service's ``Retry-After`` if it sent one, else 1 s, 2 s, ...; at most a minute, since
    the submit lock is held meanwhile.
    """
    retry_after = classify(translate(exc) or exc).retry_after
    return min(max(float(attempt), retry_after or 0.0), 60.0)


async def _await_submit_call(call: concurrent.futures.Future[Any]) -> Any:
    """Wait up to `SUBMIT_CALL_TIMEOUT` for the client call; it is not stopped on timeout."""
    try:
        return await asyncio.wait_for(
            asyncio.shield(asyncio.wrap_future(call)), SUBMIT_CALL_TIMEOUT
        )
    except TimeoutError:
        raise RuntimeApiError(
            f"the Qiskit Runtime service did not answer the job submission within "
            f"{SUBMIT_CALL_TIMEOUT:g} s (the client has no read timeout; the server may be "
            "stalled).",
            http_status=NO_RESPONSE,
        ) from None


async def _reconcile_after_error(
    service: Any, tag: str, exc: Exception, logger: logging.Logger | Any, *, may_repost: bool
) -> Any | None:
    """After ``run()`` raised, find the job the failed call may have created.

    Returns:
        The job, or ``None`` when ``may_repost`` is set, the failure was transient (429, 5xx,
        no response) and a successful tag lookup showed that no job exists: posting again is
        then safe (the caller still holds the submit lock).

    Raises:
        The translated error for a certain rejection, else `SubmissionUnknownError`.
    """
    ours = translate(exc) or exc
    absent = False
    status = ours.http_status if isinstance(ours, RuntimeApiError) else None
    certainly_rejected = status in _REJECTED or (
        isinstance(ours, QCSCQiskitError) and not isinstance(ours, RuntimeApiError)
    )
    delays = (0.0,) if certainly_rejected else RECONCILE_DELAYS
    for delay in delays:
        await asyncio.sleep(delay)
        try:
            found = await call_blocking_bounded(
                LOOKUP_CALL_TIMEOUT, "the job-tag lookup", _reconcile.find_tagged, service, tag
            )
        except QCSCQiskitError as lookup_error:
            logger.warning("Job-tag lookup after a submit error failed: %s", lookup_error)
            absent = False
            continue
        absent = found.winner is None
        if found.winner is not None:
            job_id = str(found.winner.job_id())
            logger.warning(
                "Submitting raised (%s), but the service did create job %s with idempotency "
                "tag %s; adopted it instead of submitting again.",
                ours,
                job_id,
                tag,
            )
            if found.others:
                await call_blocking(_reconcile.cancel_duplicates, found.others, job_id, logger)
            return found.winner
    if certainly_rejected:
        raise ours from exc
    if may_repost and absent and classify(ours).kind == "transient":
        logger.warning(
            "Submitting failed (%s) and the service holds no job with idempotency tag %s; "
            "submitting again.",
            ours,
            tag,
        )
        return None
    raise SubmissionUnknownError(
        f"submitting the job failed ({ours}) and no job with idempotency tag {tag} appeared "
        f"within {sum(RECONCILE_DELAYS):g} s. Rerunning is safe: the next attempt looks the tag "
        "up again before submitting.",
        idempotency_tag=tag,
        http_status=status,
    ) from exc


async def _deduplicate(service: Any, tag: str, job: Any, logger: logging.Logger | Any) -> Any:
    """After a successful post, keep one job with ``tag`` and cancel the rest."""
    try:
        found = await call_blocking_bounded(
            LOOKUP_CALL_TIMEOUT,
            "the job-tag lookup",
            _reconcile.find_tagged,
            service,
            tag,
            known_live=str(job.job_id()),
        )
    except QCSCQiskitError as exc:
        logger.warning(
            "Could not check for duplicate jobs with idempotency tag %s after submitting %s: %s",
            tag,
            job.job_id(),
            exc,
        )
        return job
    if found.winner is None:
        return job
    winner = found.winner
    # `job` (what run() returned) is usually among `found.others` too: one entry per job id.
    by_id = {str(j.job_id()): j for j in (job, *found.others)}
    by_id.pop(str(winner.job_id()), None)
    duplicates = tuple(by_id.values())
    if duplicates:
        await call_blocking(_reconcile.cancel_duplicates, duplicates, str(winner.job_id()), logger)
    return winner


async def _submit_local(
    primitive: PrimitiveName,
    pubs: Sequence[object],
    config: QiskitRuntimeConfig,
    backend: Any,
    shots: int | None,
    precision: float | None,
    options: object | None,
    input_digest: str | None,
    cache_key: str | None,
    logger: logging.Logger | Any,
) -> JobReference:
    native = _native.build_primitive(primitive, backend, options)
    job = await call_blocking(_native.submit, native, pubs, shots=shots, precision=precision)
    job_id = str(job.job_id())
    _remember(job)
    logger.info(
        "Submitted local-mode %s job %s on %s. Local mode has no job tags or job lookup: only "
        "Prefect's cache prevents resubmission, and the job can be fetched only in this process.",
        primitive,
        job_id,
        backend.name,
    )
    return JobReference(
        job_id=job_id,
        primitive=primitive,
        backend_name=backend.name,
        channel="local",
        instance=None,
        input_digest=input_digest,
        idempotency_tag=None,
        submitted_at=_native.utc_now(),
        shots=shots,
        precision=precision,
        cache_key=cache_key,
    )


def _current_cache_key() -> str | None:
    transaction = get_transaction()
    key = transaction.key if transaction is not None else None
    return key if isinstance(key, str) else None


# --------------------------------------------------------------------------- tasks


@task(
    name="submit_sampler_job_task",
    retries=0,
    cache_key_fn=_default_sampler_submit_key,
    persist_result=True,
)
async def submit_sampler_job_task(
    pubs: Sequence[object],
    *,
    runtime_config: QiskitRuntimeConfig | None = None,
    runtime_block_name: str | None = None,
    shots: int | None = None,
    options: object | None = None,
    input_digest: str | None = None,
) -> JobReference:
    """Submit a native ``SamplerV2`` job exactly once and return a reference to it.

    Pass exactly one of ``runtime_config`` and ``runtime_block_name``. The job carries an
    idempotency tag; a retry, a rerun or a concurrent identical run adopts the existing job
    instead of submitting another (see the module docstring). Submission is never retried
    blindly: the task runs with ``retries=0``; retry the fetch task instead.

    Args:
        pubs: Sampler pubs (ISA circuits, or ``(circuit, parameter_values[, shots])``).
        runtime_config: The runtime configuration, passed directly.
        runtime_block_name: The name of a saved `QiskitRuntimeConfig` Block.
        shots: Default shots per pub; ``None`` uses the primitive's default.
        options: Native ``SamplerV2`` options (dict or ``SamplerOptions``); never mutated.
        input_digest: From `build_qiskit_sampler_input_digest`. With it, identical reruns
            reuse the job (the default cache key is the digest); without it, only retries of
            this task run do.

    Returns:
        The `JobReference` of the job; pass it to `fetch_qiskit_job_result_task`.

    Raises:
        RuntimeConfigError: Both or neither of ``runtime_config``/``runtime_block_name``.
        InvalidInputError: Bad pubs, shots, options or digest; nothing was submitted.
        SubmissionUnknownError: The submission failed ambiguously and no job appeared.
        RuntimeApiError: The service rejected the submission.
    """
    return await _submit(
        "sampler",
        pubs,
        runtime_config=runtime_config,
        runtime_block_name=runtime_block_name,
        shots=shots,
        precision=None,
        options=options,
        input_digest=input_digest,
    )


@task(
    name="submit_estimator_job_task",
    retries=0,
    cache_key_fn=_default_estimator_submit_key,
    persist_result=True,
)
async def submit_estimator_job_task(
    pubs: Sequence[object],
    *,
    runtime_config: QiskitRuntimeConfig | None = None,
    runtime_block_name: str | None = None,
    precision: float | None = None,
    options: object | None = None,
    input_digest: str | None = None,
) -> JobReference:
    """Submit a native ``EstimatorV2`` job exactly once and return a reference to it.

    Same guarantees as `submit_sampler_job_task`, with ``precision`` instead of ``shots``.

    Args:
        pubs: Estimator pubs ``(circuit, observables[, parameter_values[, precision]])``.
        runtime_config: The runtime configuration, passed directly.
        runtime_block_name: The name of a saved `QiskitRuntimeConfig` Block.
        precision: Default target precision; ``None`` uses the primitive's default.
        options: Native ``EstimatorV2`` options (dict or ``EstimatorOptions``); never mutated.
        input_digest: From `build_qiskit_estimator_input_digest`.

    Returns:
        The `JobReference` of the job; pass it to `fetch_qiskit_job_result_task`.

    Raises:
        RuntimeConfigError: Both or neither of ``runtime_config``/``runtime_block_name``.
        InvalidInputError: Bad pubs, precision, options or digest; nothing was submitted.
        SubmissionUnknownError: The submission failed ambiguously and no job appeared.
        RuntimeApiError: The service rejected the submission.
    """
    return await _submit(
        "estimator",
        pubs,
        runtime_config=runtime_config,
        runtime_block_name=runtime_block_name,
        shots=None,
        precision=precision,
        options=options,
        input_digest=input_digest,
    )


__all__ = ["submit_estimator_job_task", "submit_sampler_job_task", "submitted_job"]
