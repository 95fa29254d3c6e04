"""Robust submission: ``submit_sampler_job_task`` and ``submit_estimator_job_task``.

A quantum job is submitted **exactly once** per logical submission, whatever crashes, task or
flow retries, or concurrent identical runs (on one host or many) happen. Three layers, each
covering what the previous one cannot:

1. **Prefect's cache.** The task persists the small `JobReference` it returns. With an
   ``input_digest`` the default cache key is the digest, so an identical rerun is ``Cached``;
   without one it is the run identity (`_identity`), so task and flow retries are ``Cached``.
2. **The submit lock** (`locking`): one submitter per idempotency key at a time, on one host
   (``flock``) or across hosts (PostgreSQL advisory locks), released when its holder dies.
3. **An idempotency tag on the job** (``options.environment.job_tags``), looked up under the
   lock: a live or completed job with the tag is adopted instead of posting; after an ambiguous
   error the tag is looked up again; after a post, extra jobs with the tag (the client itself
   re-posts on 5xx) are cancelled. That last lookup is skipped when the client sent the post
   once and the lock was held from before the post until after it: nothing can have added one.

The protocol, as the steps of `_submit` below::

    resolve → validate → identify → lock → adopt-or-post → recover → deduplicate → reference

With ``channel="local"`` there is no server to tag or look up jobs: only layer 1 applies, jobs run
in-process, and a local job can be fetched only by the process that submitted it.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from prefect.context import TaskRunContext

from . import _finish, _reconcile
from ._cache_store import current_cache_entry, retry_torn_cache_read
from ._identity import SubmissionIdentity, identify, run_cache_key
from ._job_handles import JOB_HANDLES
from ._logging import Logger, run_logger
from ._naming import primitive_run_name
from ._prepare import JobRequest, aprepare_inputs, build_native
from ._runtime import native
from ._runtime.pool import (
    behind_waiting_calls,
    call_blocking,
    call_blocking_bounded,
    start_blocking,
    wait_bounded,
)
from ._runtime.translate import translate
from ._submit_task import submit_task
from .blocks import QiskitRuntimeConfig  # noqa: TC001  (task signature, read by Prefect)
from .cache import qiskit_estimator_submit_cache_key, qiskit_sampler_submit_cache_key
from .errors import (
    InvalidInputError,
    QCSCQiskitError,
    RuntimeApiError,
    SubmissionUnknownError,
    SubmitLockLostError,
)
from .execution_modes import aexecution_target
from .guards import guarded_post, post_tags
from .jobs import CacheLocation, JobReference, PrimitiveName
from .locking import DEFAULT_ACQUIRE_TIMEOUT, LockLease, SubmitLock, submit_lock_for
from .retry import classify
from .usage import current_flow_run_id
from .validation import INPUT_DIGEST, PRECISION, REPEAT, SHOTS, validated

if TYPE_CHECKING:
    import concurrent.futures

    from ._runtime.listing import ListedJob

#: Delays (seconds) between tag lookups after an ambiguous submit error: ~2.5 s in all.
RECONCILE_DELAYS: Final = (0.0, 0.25, 0.5, 0.75, 1.0)

#: How long a submitter waits for another submitter of the same input (seconds).
LOCK_ACQUIRE_TIMEOUT: Final = DEFAULT_ACQUIRE_TIMEOUT

#: How often the submit step posts when a transient failure provably left no job behind.
SUBMIT_POST_ATTEMPTS: Final = 2

#: Upper bound on one ``POST /jobs`` call (the client itself allows 900 s).
SUBMIT_CALL_TIMEOUT: Final = 300.0

#: Upper bound on one tag lookup or status call.
LOOKUP_CALL_TIMEOUT: Final = 60.0

#: HTTP statuses after which the service certainly created no job.
_REJECTED: Final = frozenset({400, 401, 403, 404, 409, 422})

_DIGEST_KEY_FNS: Final = {
    "sampler": qiskit_sampler_submit_cache_key,
    "estimator": qiskit_estimator_submit_cache_key,
}


# --------------------------------------------------------------------------- step data


@dataclass(frozen=True)
class _Submission:
    """Everything the steps after *validate* need: what to post, where, and with what key."""

    primitive: PrimitiveName
    pubs: Sequence[object]
    shots: int | None
    precision: float | None
    options: object | None
    input_digest: str | None
    config: QiskitRuntimeConfig
    backend: Any
    cache_key: str | None
    cache_location: CacheLocation | None
    program: bool


@dataclass
class _Hold:
    """The submit lock as held by one submission, plus a client call that must outlive it.

    When our wait for ``POST /jobs`` runs out, the client call goes on and may still create the
    job; the lock then stays held until that call ends, so that no other submitter of the same
    input posts a second job meanwhile.
    """

    lease: LockLease
    pending_call: concurrent.futures.Future[Any] | None = field(default=None)

    def release(self, tag: str, logger: Logger) -> None:
        call = self.pending_call
        if call is None or call.done():
            self.lease.release()
            return
        logger.warning(
            "The abandoned submission call for idempotency tag %s is still running; the submit "
            "lock stays held until it ends.",
            tag,
        )
        call.add_done_callback(lambda _: self.lease.release())


@dataclass(frozen=True)
class _Outcome:
    """The job the submission ended with, and whether it was adopted rather than posted."""

    job_id: str
    reused: bool
    job: Any | None = None
    """The client's job object, when this submission holds one (it posted the job)."""
    session_id: str | None = None
    sent_once: bool = False
    """The job was this submission's first post, and the client sent it in one HTTP attempt."""

    @classmethod
    def posted(cls, job: Any, *, sent_once: bool = False) -> _Outcome:
        """The job this submission posted."""
        return cls(str(job.job_id()), False, job, native.known_session_id(job), sent_once)

    @classmethod
    def adopted(cls, listed: ListedJob) -> _Outcome:
        """A job an earlier or concurrent submission created, as a tag lookup listed it."""
        return cls(listed.job_id, True, None, listed.session_id)


# --------------------------------------------------------------------------- the protocol


async def _submit(request: JobRequest, input_digest: str | None) -> JobReference:
    logger = run_logger()
    _check_cache_configuration(request.primitive, input_digest)
    config = await request.aconfig()
    submission = await _validate(request, config, input_digest)
    if config.channel == "local":
        return await _submit_local(submission, logger)
    with behind_waiting_calls():
        service = await call_blocking(config.get_service)
        identity = identify(request.primitive, input_digest, _task_parameters())
        lock = submit_lock_for(config.lock_url)
        hold = _Hold(await _lock(lock, identity))
        try:
            outcome = await _adopt_or_post(submission, service, identity, hold, logger)
        finally:
            hold.release(identity.tag, logger)
    return _reference(submission, identity, outcome)


async def _validate(
    request: JobRequest, config: QiskitRuntimeConfig, input_digest: str | None
) -> _Submission:
    """Resolve the backend and check the inputs against it; nothing is posted on failure."""
    prepared = await aprepare_inputs(request, config)
    cache_key, cache_location = current_cache_entry()
    return _Submission(
        primitive=request.primitive, pubs=prepared.pubs, shots=request.shots,
        precision=request.precision, options=request.options, input_digest=input_digest,
        config=config, backend=prepared.backend, cache_key=cache_key,
        cache_location=cache_location, program=prepared.program,
    )  # fmt: skip


def _task_parameters() -> Mapping[str, Any]:
    task_ctx = TaskRunContext.get()
    return task_ctx.parameters if task_ctx is not None else {}


async def _lock(lock: SubmitLock, identity: SubmissionIdentity) -> LockLease:
    """Take the submit lock of ``identity``, or explain who holds it."""
    lease = await lock.acquire(identity.lock_key, timeout=LOCK_ACQUIRE_TIMEOUT)
    if lease is not None:
        return lease
    holder = await lock.holder(identity.lock_key) or "another process"
    raise SubmissionUnknownError(
        f"another submission of the same input ({holder}) has held the submit lock "
        f"({lock.description}) for over {LOCK_ACQUIRE_TIMEOUT:g} s; nothing was submitted. "
        "Rerun once it has finished: the rerun adopts its job.",
        idempotency_tag=identity.tag,
    )


async def _adopt_or_post(
    submission: _Submission,
    service: Any,
    identity: SubmissionIdentity,
    hold: _Hold,
    logger: Logger,
) -> _Outcome:
    """Under the lock: adopt the job an earlier attempt left, else post one.

    A lock lost before posting (`SubmitLockLostError`: another host may hold it now) is taken
    again once, and the job tag looked up again before posting, since the other host may have
    posted meanwhile. Lost a second time, the error reaches the caller; nothing was posted.
    """
    look_up = identity.earlier_attempt_possible
    try:
        return await _adopt_or_post_held(submission, service, identity, hold, logger, look_up)
    except SubmitLockLostError as lost:
        logger.warning(
            "%s Taking the lock again; idempotency tag %s is looked up again before posting.",
            lost,
            identity.tag,
        )
    hold.lease = await _lock(submit_lock_for(submission.config.lock_url), identity)
    return await _adopt_or_post_held(submission, service, identity, hold, logger, True)


async def _adopt_or_post_held(
    submission: _Submission,
    service: Any,
    identity: SubmissionIdentity,
    hold: _Hold,
    logger: Logger,
    look_up: bool,
) -> _Outcome:
    """With the lock held: adopt the tagged job (looked up if ``look_up``), else post one."""
    if look_up:
        adopted = await _adopt_existing(service, identity.tag, logger)
        if adopted is not None:
            return adopted
    async with guarded_post(submission.config, service, logger):
        outcome = await _post(submission, service, identity.tag, hold, logger)
    if outcome.reused:
        return outcome
    logger.info(
        "Submitted Qiskit Runtime %s job %s on %s (idempotency tag %s).",
        submission.primitive,
        outcome.job_id,
        submission.backend.name,
        identity.tag,
    )
    if outcome.sent_once and await _still_held(hold.lease):
        return outcome  # one post, sent once, under a lock held throughout: nothing to cancel
    return await _deduplicate(service, identity.tag, outcome, logger)


async def _still_held(lease: LockLease) -> bool:
    """Whether the submit lock was held from before the post until now.

    Held before the post (`LockLease.confirm`) and held now means held throughout: no other
    submitter of this input could post meanwhile.
    """
    try:
        await lease.confirm()
    except SubmitLockLostError:
        return False
    return True


async def _find_tagged(service: Any, tag: str) -> _reconcile.TaggedJobs:
    found: _reconcile.TaggedJobs = await call_blocking_bounded(
        LOOKUP_CALL_TIMEOUT, "the job-tag lookup", _reconcile.find_tagged, service, tag
    )
    return found


async def _keep_winner(service: Any, found: _reconcile.TaggedJobs, logger: Logger) -> _Outcome:
    """Cancel the duplicates of a lookup's winner and adopt the winner."""
    assert found.winner is not None
    if found.others:
        await call_blocking(
            _reconcile.cancel_duplicates,
            service,
            [job.job_id for job in found.others],
            found.winner.job_id,
            logger,
        )
    return _Outcome.adopted(found.winner)


async def _adopt_existing(service: Any, tag: str, logger: Logger) -> _Outcome | None:
    """Adopt the live or completed job an earlier attempt created with ``tag``, if any."""
    found = await _find_tagged(service, tag)
    if found.winner is not None:
        logger.info(
            "Adopted existing Qiskit Runtime job %s (%s) with idempotency tag %s; nothing new "
            "was submitted.",
            found.winner.job_id,
            found.winner.status,
            tag,
        )
        return await _keep_winner(service, found, logger)
    if found.failed:
        logger.info(
            "%d earlier job(s) with idempotency tag %s ended in ERROR/CANCELLED; submitting a "
            "new one.",
            found.failed,
            tag,
        )
    return None


async def _post(
    submission: _Submission, service: Any, tag: str, hold: _Hold, logger: Logger
) -> _Outcome:
    """Post the job; after an error, reconcile by tag, and post again only when provably safe."""
    target = await aexecution_target(submission.config, submission.backend, logger)
    native_primitive = build_native(
        submission.primitive,
        submission.config,
        target.native_mode,
        _tagged_options(submission.options, tag, *post_tags(submission.config)),
        submission.program,
    )
    for attempt in range(1, SUBMIT_POST_ATTEMPTS + 1):
        await hold.lease.confirm()
        call = start_blocking(
            native.submit_watched,
            native_primitive,
            submission.pubs,
            shots=submission.shots,
            precision=submission.precision,
        )
        try:
            job, sent_once = await wait_bounded(call, SUBMIT_CALL_TIMEOUT, "the job submission")
            return _Outcome.posted(job, sent_once=sent_once and attempt == 1)
        except Exception as exc:
            if not call.done():
                hold.pending_call = call
            may_repost = hold.pending_call is None and attempt < SUBMIT_POST_ATTEMPTS
            adopted = await _recover_after_error(service, tag, exc, logger, may_repost=may_repost)
            if adopted is not None:
                return adopted
            await asyncio.sleep(_repost_pause(exc, attempt))
    raise AssertionError("unreachable: the last attempt never re-posts")  # pragma: no cover


def _repost_pause(exc: Exception, attempt: int) -> float:
    """Seconds to wait before posting again.

    The service's ``Retry-After`` if it sent one, else 1 s, 2 s, ...; at most a minute, since
    the submit lock is held meanwhile.
    """
    retry_after = classify(translate(exc) or exc).retry_after
    return min(max(float(attempt), retry_after or 0.0), 60.0)


def _certainly_rejected(ours: BaseException) -> bool:
    """Whether the service (or our own checks) certainly created no job."""
    if isinstance(ours, RuntimeApiError):
        return ours.http_status in _REJECTED
    return isinstance(ours, QCSCQiskitError)


async def _recover_after_error(
    service: Any, tag: str, exc: Exception, logger: Logger, *, may_repost: bool
) -> _Outcome | None:
    """After ``run()`` raised, find the job the failed call may have created.

    Returns:
        The job, or ``None`` when ``may_repost`` is set, the failure was transient (429, 5xx,
        no response) and a successful tag lookup showed that no job exists: posting again is
        then safe (the caller still holds the submit lock).

    Raises:
        The translated error for a certain rejection, else `SubmissionUnknownError`.
    """
    ours = translate(exc) or exc
    rejected = _certainly_rejected(ours)
    absent = False
    for delay in (0.0,) if rejected else RECONCILE_DELAYS:
        await asyncio.sleep(delay)
        try:
            found = await _find_tagged(service, tag)
        except QCSCQiskitError as lookup_error:
            logger.warning("Job-tag lookup after a submit error failed: %s", lookup_error)
            absent = False
            continue
        if found.winner is not None:
            logger.warning(
                "Submitting raised (%s), but the service did create job %s with idempotency "
                "tag %s; adopted it instead of submitting again.",
                ours,
                found.winner.job_id,
                tag,
            )
            return await _keep_winner(service, found, logger)
        absent = True
    if rejected:
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
        http_status=ours.http_status if isinstance(ours, RuntimeApiError) else None,
    ) from exc


async def _deduplicate(service: Any, tag: str, posted: _Outcome, logger: Logger) -> _Outcome:
    """After a successful post, keep one job with ``tag`` and cancel the rest."""
    try:
        found = await _find_tagged(service, tag)
    except QCSCQiskitError as exc:
        logger.warning(
            "Could not check for duplicate jobs with idempotency tag %s after submitting %s: %s",
            tag,
            posted.job_id,
            exc,
        )
        return posted
    if found.winner is None:
        return posted
    winner = found.winner.job_id
    # The posted job is usually listed among `found.others` too; each id is cancelled once.
    losers = [posted.job_id, *(job.job_id for job in found.others)]
    if any(job_id != winner for job_id in losers):
        await call_blocking(
            _reconcile.cancel_duplicates,
            service,
            losers,
            winner,
            logger,
            {posted.job_id: posted.job},
        )
    return posted if winner == posted.job_id else _Outcome.adopted(found.winner)


def _reference(
    submission: _Submission, identity: SubmissionIdentity | None, outcome: _Outcome
) -> JobReference:
    """The `JobReference` the task returns (and Prefect persists) for ``outcome``."""
    if outcome.job is not None:
        JOB_HANDLES.remember(outcome.job)
    return JobReference(
        job_id=outcome.job_id,
        primitive=submission.primitive,
        backend_name=submission.backend.name,
        channel=submission.config.channel,
        instance=submission.config.instance if identity is not None else None,
        input_digest=submission.input_digest,
        idempotency_tag=identity.tag if identity is not None else None,
        submitted_at=_finish.utc_now(),
        session_id=outcome.session_id,
        execution_mode=submission.config.execution_mode,
        flow_run_id=current_flow_run_id(),
        shots=submission.shots,
        precision=submission.precision,
        reused=outcome.reused,
        cache_key=submission.cache_key,
        cache_location=submission.cache_location,
    )


async def _submit_local(submission: _Submission, logger: Logger) -> JobReference:
    """Local mode: post in-process; only Prefect's cache protects against resubmission."""
    native_primitive = build_native(
        submission.primitive,
        submission.config,
        submission.backend,
        submission.options,
        submission.program,
    )
    job = await call_blocking(
        native.submit,
        native_primitive,
        submission.pubs,
        shots=submission.shots,
        precision=submission.precision,
    )
    logger.info(
        "Submitted local-mode %s job %s on %s. Local mode has no job tags or job lookup: only "
        "Prefect's cache prevents resubmission, and the job can be fetched only in this process.",
        submission.primitive,
        job.job_id(),
        submission.backend.name,
    )
    return _reference(submission, None, _Outcome.posted(job))


# --------------------------------------------------------------------------- checks and options


def _check_cache_configuration(primitive: PrimitiveName, input_digest: str | None) -> None:
    """Refuse to submit when the task's cache key cannot work.

    A digest key function without a digest would silently turn caching off; the other
    primitive's key function would reuse the wrong kind of job.
    """
    task_ctx = TaskRunContext.get()
    key_fn = task_ctx.task.cache_key_fn if task_ctx is not None else None
    for kind, digest_key_fn in _DIGEST_KEY_FNS.items():
        if key_fn is not digest_key_fn:
            continue
        if kind != primitive:
            raise InvalidInputError(
                f"the {primitive} submit task is configured with "
                f"`cache_key_fn={digest_key_fn.__name__}`, the {kind} key; use "
                f"`qiskit_{primitive}_submit_cache_key`.",
                argument="cache_key_fn",
            )
        if input_digest is None:
            raise InvalidInputError(
                f"`cache_key_fn={digest_key_fn.__name__}` needs `input_digest=`; build it with "
                f"`build_qiskit_{primitive}_input_digest(pubs, backend_name=..., ...)` and pass "
                "it to the submit task. Nothing was submitted.",
                argument="input_digest",
            )


def _tagged_options(options: object | None, tag: str, *more: str) -> object:
    """Return a deep copy of ``options`` with ``tag`` (and ``more``) added to ``job_tags``.

    The caller's options (dict or native options object) are never mutated.
    """
    if options is None:
        return {"environment": {"job_tags": [tag, *more]}}
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
        environment["job_tags"] = [*(environment.get("job_tags") or []), tag, *more]
        merged["environment"] = environment
        return merged
    copied = copy.deepcopy(options)
    environment = getattr(copied, "environment", None)
    if environment is None:
        raise InvalidInputError(
            f"`options` must be a dict or native primitive options, got {type(options).__name__}.",
            argument="options",
        )
    environment.job_tags = [*(environment.job_tags or []), tag, *more]
    return copied


# --------------------------------------------------------------------------- cache keys


def _default_submit_key(primitive: PrimitiveName, parameters: dict[str, Any]) -> str:
    if parameters.get("input_digest") is not None:
        return _DIGEST_KEY_FNS[primitive](None, parameters)
    return run_cache_key(primitive, parameters)


def _default_sampler_submit_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    return _default_submit_key("sampler", parameters)


def _default_estimator_submit_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    return _default_submit_key("estimator", parameters)


# --------------------------------------------------------------------------- tasks


@submit_task(
    "sampler",
    name="submit_sampler_job_task",
    task_run_name=primitive_run_name("submit", "sampler"),
    retries=1,
    retry_condition_fn=retry_torn_cache_read,
    cache_key_fn=_default_sampler_submit_key,
    persist_result=True,
)
@validated(shots=SHOTS, input_digest=INPUT_DIGEST, repeat=REPEAT)
async def submit_sampler_job_task(
    pubs: Sequence[object],
    *,
    runtime_config: QiskitRuntimeConfig | None = None,
    runtime_block_name: str | None = None,
    shots: int | None = None,
    options: object | None = None,
    input_digest: str | None = None,
    repeat: int | str | None = None,
) -> JobReference:
    """Submit a native ``SamplerV2`` job exactly once and return a reference to it.

    Pass exactly one of ``runtime_config`` and ``runtime_block_name``. The job carries an
    idempotency tag; a retry, a rerun or a concurrent identical run adopts the existing job
    instead of submitting another (see the module docstring). Submission is never retried
    blindly: the task retries only a cache lookup that read its record while another flow run
    rewrote it (``retries=1`` with `retry_torn_cache_read`), never its body; retry the fetch
    task instead.

    Args:
        pubs: Sampler pubs (ISA circuits, or ``(circuit, parameter_values[, shots])``).
        runtime_config: The runtime configuration, passed directly.
        runtime_block_name: The name of a saved `QiskitRuntimeConfig` Block.
        shots: Default shots per pub; ``None`` uses the primitive's default.
        options: Native ``SamplerV2`` options (dict or ``SamplerOptions``); never mutated.
        input_digest: From `build_qiskit_sampler_input_digest`. With it, identical reruns
            in any flow run reuse the job (the default cache key is the digest); without it,
            task and flow retries of this flow run do, and a new flow run submits a new job.
        repeat: Submit identical inputs again on purpose: each distinct value is its own job
            (exactly once per value, and reused on rerun under a digest); ``None`` is no
            repeat. See `repeated_digest`.

    Returns:
        The `JobReference` of the job; pass it to `fetch_qiskit_job_result_task`.

    Raises:
        RuntimeConfigError: Both or neither of ``runtime_config``/``runtime_block_name``.
        InvalidInputError: Bad pubs, shots, options or digest; nothing was submitted.
        SubmissionUnknownError: The submission failed ambiguously and no job appeared.
        RuntimeApiError: The service rejected the submission.
    """
    request = JobRequest(
        "sampler", pubs, runtime_config, runtime_block_name, shots=shots, options=options
    )
    return await _submit(request, input_digest)


@submit_task(
    "estimator",
    name="submit_estimator_job_task",
    task_run_name=primitive_run_name("submit", "estimator"),
    retries=1,
    retry_condition_fn=retry_torn_cache_read,
    cache_key_fn=_default_estimator_submit_key,
    persist_result=True,
)
@validated(precision=PRECISION, input_digest=INPUT_DIGEST, repeat=REPEAT)
async def submit_estimator_job_task(
    pubs: Sequence[object],
    *,
    runtime_config: QiskitRuntimeConfig | None = None,
    runtime_block_name: str | None = None,
    precision: float | None = None,
    options: object | None = None,
    input_digest: str | None = None,
    repeat: int | str | None = None,
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
        repeat: Submit identical inputs again on purpose (see `submit_sampler_job_task`).

    Returns:
        The `JobReference` of the job; pass it to `fetch_qiskit_job_result_task`.

    Raises:
        RuntimeConfigError: Both or neither of ``runtime_config``/``runtime_block_name``.
        InvalidInputError: Bad pubs, precision, options or digest; nothing was submitted.
        SubmissionUnknownError: The submission failed ambiguously and no job appeared.
        RuntimeApiError: The service rejected the submission.
    """
    request = JobRequest(
        "estimator", pubs, runtime_config, runtime_block_name, precision=precision, options=options
    )
    return await _submit(request, input_digest)


__all__ = ["submit_estimator_job_task", "submit_sampler_job_task"]
