"""Retry policy for fetching Qiskit Runtime results: one pure, table-driven classifier.

:func:`classify` maps any exception to a :class:`FailureDecision`:

============  ===============================================================================
kind          when
============  ===============================================================================
transient     HTTP -1 (no response), 429, 500, 502, 503, 504, 520, 521, 522, 524 and other
              5xx except 501/505; our ``JobTimeoutError`` (upstream ``RuntimeJobTimeoutError``,
              and Prefect's ``TaskRunTimeoutError``); ``BackendNotFoundError`` /
              ``QiskitBackendNotFoundError`` (during fetch it means the service was built during
              an outage); ``InvalidAccountError`` whose context is a 5xx ``ApiException``;
              network errors (``ConnectionError``, ``TimeoutError``, ``socket.gaierror``,
              ``OSError`` with a network errno, requests/urllib3 connection errors)
terminal      the job failed (``JobFailedError``), ran too long (1305, ``JobRanTooLongError``),
              was cancelled (``JobCancelledError``) or is gone (``JobNotFoundError``); HTTP
              400, 401, 403, 404 (results no longer retained), 409 and other 4xx;
              ``RuntimeAuthError``; ``InvalidInputError``; ``RuntimeConfigError``;
              ``ResultCacheError``; any other exception (reason ``unclassified: <Type>``)
ambiguous     ``SubmissionUnknownError``: a submit that may have created a job; never retry
              it blindly, reconcile by idempotency tag
============  ===============================================================================

Upstream (qiskit / qiskit-ibm-runtime) exceptions are first translated by
``_runtime.translate.translate``, which finds the HTTP status in the
``__cause__``/``__context__`` chain. An exception that is neither ours nor upstream nor a
network error is classified by the first link of its own cause/context chain that is.

:func:`should_retry_qiskit_fetch_failure` is the Prefect ``retry_condition_fn`` adapter and
:func:`qiskit_retry_delays` the matching ``retry_delay_seconds``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

from prefect.states import get_state_exception

from . import errors
from ._logging import run_logger
from ._runtime.translate import (
    NETWORK_ERRNOS,
    NETWORK_EXCEPTION_NAMES,
    exception_chain,
    network_failure,
    translate,
)
from .validation import (
    FINITE,
    FRACTION,
    OPTIONAL_SEED,
    POSITIVE,
    RETRY_COUNT,
    validated,
)

if TYPE_CHECKING:
    from prefect import State, Task
    from prefect.client.schemas.objects import TaskRun

#: What to do about a failure: retry it, give up, or reconcile before anything else.
FailureKind: TypeAlias = Literal["transient", "terminal", "ambiguous"]

#: HTTP statuses worth retrying (``-1``: no response at all). Other 5xx except 501/505 too.
TRANSIENT_HTTP_STATUSES: Final[frozenset[int]] = frozenset(
    {errors.NO_RESPONSE, 429, 500, 502, 503, 504, 520, 521, 522, 524}
)

#: 5xx statuses that will not change on retry.
PERMANENT_SERVER_STATUSES: Final[frozenset[int]] = frozenset({501, 505})

#: Named reasons of terminal HTTP statuses.
TERMINAL_HTTP_REASONS: Final[dict[int, str]] = {
    400: "bad-request",
    401: "not-authorized",
    403: "forbidden",
    404: "results-gone",
    409: "conflict",
}

_LOGGER: Final = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FailureDecision:
    """How a failure should be handled.

    Attributes:
        kind: ``"transient"`` (retry the fetch), ``"terminal"`` (give up) or ``"ambiguous"``
            (a submit that may have created a job: reconcile, never resubmit blindly).
        reason: A short, stable name of the rule that matched, e.g. ``"rate-limited"``.
        retry_after: Seconds the service asked to wait (``Retry-After``), when it said so.
    """

    kind: FailureKind
    reason: str
    retry_after: float | None = None


def _transient(reason: str) -> FailureDecision:
    return FailureDecision("transient", reason)


def _terminal(reason: str) -> FailureDecision:
    return FailureDecision("terminal", reason)


def _by_http_status(exc: BaseException) -> FailureDecision:
    assert isinstance(exc, errors.RuntimeApiError)
    status = exc.http_status
    if status is None:
        return _terminal("unclassified: Runtime API error without HTTP status")
    if status == errors.NO_RESPONSE:
        return _transient("no-response")
    if status == 429:
        return FailureDecision("transient", "rate-limited", exc.retry_after)
    if status in TRANSIENT_HTTP_STATUSES or (
        500 <= status < 600 and status not in PERMANENT_SERVER_STATUSES
    ):
        return FailureDecision("transient", f"server-error-{status}", exc.retry_after)
    return _terminal(TERMINAL_HTTP_REASONS.get(status, f"http-{status}"))


_Rule: TypeAlias = tuple[type[BaseException], Callable[[BaseException], FailureDecision]]

#: Our error tree, most specific class first. The first matching class decides.
_RULES: Final[tuple[_Rule, ...]] = (
    (errors.SubmissionUnknownError, lambda _: FailureDecision("ambiguous", "submission-unknown")),
    (errors.RuntimeAuthError, lambda _: _terminal("not-authorized")),
    (errors.RuntimeApiError, _by_http_status),
    (errors.JobTimeoutError, lambda _: _transient("still-running")),
    (errors.JobRanTooLongError, lambda _: _terminal("ran-too-long")),
    (errors.JobFailedError, lambda _: _terminal("job-failed")),
    (errors.JobCancelledError, lambda _: _terminal("job-cancelled")),
    (errors.JobNotFoundError, lambda _: _terminal("job-not-found")),
    (errors.BackendNotFoundError, lambda _: _transient("backend-unavailable")),
    (errors.InvalidInputError, lambda _: _terminal("invalid-input")),
    (errors.RuntimeConfigError, lambda _: _terminal("runtime-config")),
    (errors.ResultCacheError, lambda _: _terminal("result-cache")),
)


def _classify_link(exc: BaseException) -> FailureDecision | None:
    ours = translate(exc)
    if ours is not None:
        for cls, decide in _RULES:
            if isinstance(ours, cls):
                return decide(ours)
        if isinstance(ours, errors.QCSCQiskitError):
            return _terminal(f"unclassified: {type(ours).__name__}")
    kind = network_failure(exc)
    return None if kind is None else _transient(kind)


def classify(exc: BaseException) -> FailureDecision:
    """Classify a failure as transient, terminal or ambiguous (pure; never raises).

    Args:
        exc: The exception a task raised: one of ours, one from qiskit-ibm-runtime, a network
            error, or anything wrapping one of those through ``__cause__``/``__context__``.

    Returns:
        The decision of the first link in the exception chain that a rule recognises; a
        terminal ``"unclassified: <Type>"`` decision when none does.

    Example:
        ```python
        decision = classify(exc)
        if decision.kind == "transient":
            ...
        ```
    """
    for link in exception_chain(exc):
        decision = _classify_link(link)
        if decision is not None:
            if link is exc:
                return decision
            return replace(decision, reason=f"{decision.reason} (via {type(link).__name__})")
    return _terminal(f"unclassified: {type(exc).__name__}")


def _state_exception(state: State[Any]) -> BaseException:
    data = state.data
    if isinstance(data, BaseException):  # the engine wraps a raised exception as Failed(data=exc)
        return data
    # Otherwise (a returned Failed state, possibly with a persisted result) read it
    # synchronously: this condition may run inside the async engine's event loop.
    exc = get_state_exception(state, _sync=True)  # type: ignore[call-arg]  # async_dispatch
    if not isinstance(exc, BaseException):
        raise TypeError(f"could not read the exception of {state!r}")
    return exc


def should_retry_qiskit_fetch_failure(
    task: Task[..., Any], task_run: TaskRun, state: State[Any]
) -> bool:
    """Prefect ``retry_condition_fn``: retry the fetch task only for transient failures.

    A plain module-level function on purpose: Prefect 3.8 silently disables retries for a
    ``functools.partial``, a bound method or a callable object (``inspect.isfunction`` check in
    ``prefect/task_engine.py``; 3.9 accepts any callable). It never raises: if the state cannot
    be read it logs and returns ``False``.

    Args:
        task: The task that failed (unused).
        task_run: The failed task run; ``run_count`` is logged.
        state: The ``Failed`` state of the attempt.

    Returns:
        ``True`` when :func:`classify` says ``"transient"``.

    Example:
        ```python
        fetch_qiskit_job_result_task.with_options(
            retries=len(qiskit_retry_delays()),
            retry_delay_seconds=qiskit_retry_delays(),
            retry_condition_fn=should_retry_qiskit_fetch_failure,
        )
        ```
    """
    try:
        exc = _state_exception(state)
        decision = classify(exc)
        attempt = getattr(task_run, "run_count", None)
        run_logger().info(
            "Qiskit fetch attempt %s failed with %s (%s: %s); %s.",
            attempt,
            type(exc).__name__,
            decision.kind,
            decision.reason,
            "retrying" if decision.kind == "transient" else "not retrying",
        )
        return decision.kind == "transient"
    except Exception:
        _LOGGER.exception("Could not classify the failed fetch attempt; not retrying.")
        return False


@validated(count=RETRY_COUNT, base=POSITIVE, cap=FINITE, jitter=FRACTION, seed=OPTIONAL_SEED)
def qiskit_retry_delays(
    *,
    count: int = 6,
    base: float = 2.0,
    cap: float = 120.0,
    jitter: float = 0.5,
    seed: int | None = None,
) -> list[float]:
    """Return exponential retry delays with jitter, for ``retry_delay_seconds``.

    Delay ``i`` (from 0) has the nominal value ``min(cap, base * 2**i)`` and is drawn uniformly
    from ``[nominal * (1 - jitter), nominal]``: jitter only shortens delays, so the worst-case
    total wait is the sum of the nominal values. With the defaults that is 2 + 4 + 8 + 16 + 32
    + 64 = **126 s** over 6 retries (at most ~2 minutes), against 33 minutes for a fixed
    60...900 s list. ``count=8`` gives at most 126 + 120 + 120 = 366 s.

    Args:
        count: Number of retries (``0`` to ``100``). Use ``retries=len(delays)``.
        base: First nominal delay in seconds (> 0).
        cap: Upper bound of any nominal delay in seconds (>= ``base``).
        jitter: Fraction of each delay that is randomised, ``0`` (none) to ``1``.
        seed: Seed for reproducible delays; ``None`` draws fresh ones.

    Returns:
        ``count`` delays in seconds, non-decreasing in their nominal value.

    Raises:
        InvalidInputError: An argument is out of range.
    """
    if cap < base:
        raise errors.InvalidInputError(
            f"`cap` must be at least `base` ({base:g} s), got {cap!r}: it bounds every delay.",
            argument="cap",
        )
    rng = random.Random(seed)
    delays = []
    for attempt in range(count):
        nominal = min(cap, base * 2.0**attempt)
        delays.append(nominal * (1.0 - jitter * rng.random()))
    return delays


__all__ = [
    "NETWORK_ERRNOS",
    "NETWORK_EXCEPTION_NAMES",
    "PERMANENT_SERVER_STATUSES",
    "TERMINAL_HTTP_REASONS",
    "TRANSIENT_HTTP_STATUSES",
    "FailureDecision",
    "FailureKind",
    "classify",
    "qiskit_retry_delays",
    "should_retry_qiskit_fetch_failure",
]
