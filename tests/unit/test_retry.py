"""Retry classification (table-driven), the Prefect retry condition, and retry delays."""

from __future__ import annotations

import errno
import inspect
import itertools
import socket
import uuid
from typing import Any

import pytest
import qiskit_ibm_runtime.accounts.exceptions as account_exceptions
import qiskit_ibm_runtime.api.exceptions as api_exceptions
import qiskit_ibm_runtime.exceptions as runtime_exceptions
import requests
from hypothesis import given
from hypothesis import strategies as st
from ibm_cloud_sdk_core import ApiException
from prefect import flow, task
from prefect.states import Completed, Failed
from prefect.task_engine import TaskRunTimeoutError
from qiskit.providers.exceptions import QiskitBackendNotFoundError
from qiskit_ibm_runtime.accounts.exceptions import InvalidAccountError
from qiskit_ibm_runtime.api.exceptions import RequestsApiError
from qiskit_ibm_runtime.exceptions import (
    IBMNotAuthorizedError,
    IBMRuntimeError,
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
    RuntimeJobMaxTimeoutError,
    RuntimeJobNotFound,
    RuntimeJobTimeoutError,
)

from qcsc_prefect.integrations.qiskit.errors import (
    BackendNotFoundError,
    InvalidInputError,
    JobCancelledError,
    JobFailedError,
    JobNotFoundError,
    JobRanTooLongError,
    JobTimeoutError,
    ResultCacheError,
    RuntimeApiError,
    RuntimeAuthError,
    RuntimeConfigError,
    SubmissionUnknownError,
)
from qcsc_prefect.integrations.qiskit.retry import (
    FailureDecision,
    classify,
    qiskit_retry_delays,
    should_retry_qiskit_fetch_failure,
)


def with_context(exc: BaseException, context: BaseException) -> BaseException:
    """Raise-and-catch so that ``__context__`` is set as the runtime sets it (``from None``)."""
    try:
        try:
            raise context
        except BaseException:
            raise exc from None
    except BaseException as caught:
        return caught


def api(status: int, retry_after: float | None = None) -> RuntimeApiError:
    return RuntimeApiError("x", http_status=status, retry_after=retry_after)


# ------------------------------------------------------------------------- our error tree

OURS: list[tuple[BaseException, str, str]] = [
    (api(-1), "transient", "no-response"),
    (api(429), "transient", "rate-limited"),
    *[(api(s), "transient", f"server-error-{s}") for s in (500, 502, 503, 504, 520, 521, 522, 524)],
    (api(507), "transient", "server-error-507"),
    (api(501), "terminal", "http-501"),
    (api(505), "terminal", "http-505"),
    (api(400), "terminal", "bad-request"),
    (api(401), "terminal", "not-authorized"),
    (api(403), "terminal", "forbidden"),
    (api(404), "terminal", "results-gone"),
    (api(409), "terminal", "conflict"),
    (api(422), "terminal", "http-422"),
    (
        RuntimeApiError("x"),
        "terminal",
        "unclassified: Runtime API error without HTTP status",
    ),
    (RuntimeAuthError("x", http_status=403), "terminal", "not-authorized"),
    (
        SubmissionUnknownError("x", idempotency_tag="t", http_status=502),
        "ambiguous",
        "submission-unknown",
    ),
    (JobTimeoutError("x"), "transient", "still-running"),
    (JobRanTooLongError("x", reason_code=1305), "terminal", "ran-too-long"),
    (JobFailedError("x", reason_code=1517), "terminal", "job-failed"),
    (JobCancelledError("x"), "terminal", "job-cancelled"),
    (JobNotFoundError("x"), "terminal", "job-not-found"),
    (BackendNotFoundError("x", backend_name="ibm_fez"), "transient", "backend-unavailable"),
    (InvalidInputError("x", argument="pubs"), "terminal", "invalid-input"),
    (RuntimeConfigError("x"), "terminal", "runtime-config"),
    (ResultCacheError("x"), "terminal", "result-cache"),
]


@pytest.mark.parametrize(("exc", "kind", "reason"), OURS, ids=lambda v: repr(v)[:40])
def test_our_errors(exc: BaseException, kind: str, reason: str) -> None:
    assert classify(exc) == FailureDecision(kind, reason, classify(exc).retry_after)  # type: ignore[arg-type]


def test_retry_after_is_carried() -> None:
    assert classify(api(429, retry_after=7.0)) == FailureDecision("transient", "rate-limited", 7.0)
    assert classify(api(503, retry_after=3.0)).retry_after == 3.0
    assert classify(api(429)).retry_after is None


# ------------------------------------------------------------- upstream, realistic contexts

UPSTREAM: list[tuple[BaseException, str, str]] = [
    (
        with_context(IBMRuntimeError("Failed to retrieve job"), RequestsApiError("m", 503)),
        "transient",
        "server-error-503",
    ),
    (
        with_context(IBMRuntimeError("Failed to retrieve job"), RequestsApiError("m", -1)),
        "transient",
        "no-response",
    ),
    (
        with_context(IBMRuntimeError("Failed to run program"), RequestsApiError("m", 429)),
        "transient",
        "rate-limited",
    ),
    (
        with_context(IBMRuntimeError("Failed to retrieve job"), RequestsApiError("m", 403)),
        "terminal",
        "not-authorized",
    ),
    (
        with_context(IBMRuntimeError("Failed to run program"), RequestsApiError("m", 409)),
        "terminal",
        "conflict",
    ),
    (
        with_context(IBMRuntimeError("Failed to run program"), RequestsApiError("m", 400)),
        "terminal",
        "bad-request",
    ),
    (RequestsApiError("m", 404), "terminal", "results-gone"),
    (RequestsApiError("m", 500), "transient", "server-error-500"),
    (RequestsApiError("m", 501), "terminal", "http-501"),
    (IBMNotAuthorizedError("401"), "terminal", "not-authorized"),
    (
        RuntimeJobFailureError("Unable to retrieve job result. Error code 1517; details"),
        "terminal",
        "job-failed",
    ),
    (RuntimeJobMaxTimeoutError("ran too long"), "terminal", "ran-too-long"),
    (RuntimeInvalidStateError("Job was cancelled."), "terminal", "job-cancelled"),
    (
        with_context(RuntimeInvalidStateError("cannot cancel"), RequestsApiError("m", 409)),
        "terminal",
        "conflict",
    ),
    (RuntimeJobNotFound("Job not found: x"), "terminal", "job-not-found"),
    (RuntimeJobTimeoutError("Timed out"), "transient", "still-running"),
    (
        QiskitBackendNotFoundError("No backend matches the criteria"),
        "transient",
        "backend-unavailable",
    ),
    (
        with_context(InvalidAccountError("Unable to retrieve instances"), ApiException(500)),
        "transient",
        "server-error-500",
    ),
    (
        with_context(InvalidAccountError("Unable to retrieve instances"), ApiException(503)),
        "transient",
        "server-error-503",
    ),
    (
        with_context(InvalidAccountError("Unable to retrieve instances"), ApiException(400)),
        "terminal",
        "not-authorized",
    ),
]


@pytest.mark.parametrize(("exc", "kind", "reason"), UPSTREAM, ids=lambda v: repr(v)[:50])
def test_upstream_errors(exc: BaseException, kind: str, reason: str) -> None:
    decision = classify(exc)
    assert (decision.kind, decision.reason) == (kind, reason)


# -------------------------------------------------------- builtins, network, anything else

OTHER: list[tuple[BaseException, str, str]] = [
    (ConnectionError("x"), "transient", "network"),
    (ConnectionResetError(errno.ECONNRESET, "reset"), "transient", "network"),
    (TimeoutError("x"), "transient", "timeout"),
    (TaskRunTimeoutError("Scope timed out after 1 second(s)."), "transient", "timeout"),
    (socket.gaierror(-2, "Name or service not known"), "transient", "network"),
    (OSError(errno.ENETUNREACH, "Network is unreachable"), "transient", "network"),
    (requests.exceptions.ConnectionError("x"), "transient", "network"),
    (requests.exceptions.ReadTimeout("x"), "transient", "network"),
    (FileNotFoundError(errno.ENOENT, "nope"), "terminal", "unclassified: FileNotFoundError"),
    (KeyError("x"), "terminal", "unclassified: KeyError"),
    (ValueError("x"), "terminal", "unclassified: ValueError"),
    (
        with_context(RuntimeError("wrapper"), RequestsApiError("m", 502)),
        "transient",
        "server-error-502 (via RequestsApiError)",
    ),
    (
        with_context(RuntimeError("wrapper"), JobFailedError("x")),
        "terminal",
        "job-failed (via JobFailedError)",
    ),
]


@pytest.mark.parametrize(("exc", "kind", "reason"), OTHER, ids=lambda v: repr(v)[:50])
def test_other_errors(exc: BaseException, kind: str, reason: str) -> None:
    decision = classify(exc)
    assert (decision.kind, decision.reason) == (kind, reason)


def test_cyclic_context_does_not_loop() -> None:
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__context__, b.__context__ = b, a
    assert classify(a) == FailureDecision("terminal", "unclassified: RuntimeError")


# ----------------------------------------------- every exported upstream class is classified

# Plain instantiation (message only; RequestsApiError's default status is -1). A new upstream
# class makes test_every_upstream_exception_class_is_classified fail until it is added here.
EXPECTED_UPSTREAM: dict[str, tuple[str, str]] = {
    "QiskitError": ("terminal", "unclassified: QiskitError"),
    "JobError": ("terminal", "job-failed"),
    "JobTimeoutError": ("transient", "still-running"),  # qiskit's own wait timeout
    "IBMError": ("terminal", "unclassified: Runtime API error without HTTP status"),
    "IBMAccountError": ("terminal", "unclassified: Runtime API error without HTTP status"),
    "IBMBackendError": ("terminal", "unclassified: Runtime API error without HTTP status"),
    "IBMBackendApiProtocolError": (
        "terminal",
        "unclassified: Runtime API error without HTTP status",
    ),
    "IBMBackendValueError": ("terminal", "unclassified: Runtime API error without HTTP status"),
    "IBMBackendApiError": ("terminal", "unclassified: Runtime API error without HTTP status"),
    "IBMInputValueError": ("terminal", "invalid-input"),
    "IBMNotAuthorizedError": ("terminal", "not-authorized"),
    "IBMApiError": ("terminal", "unclassified: Runtime API error without HTTP status"),
    "IBMRuntimeError": ("terminal", "unclassified: Runtime API error without HTTP status"),
    "RuntimeProgramNotFound": ("terminal", "unclassified: Runtime API error without HTTP status"),
    "RuntimeJobFailureError": ("terminal", "job-failed"),
    "RuntimeJobNotFound": ("terminal", "job-not-found"),
    "RuntimeInvalidStateError": ("terminal", "job-cancelled"),
    "RuntimeJobTimeoutError": ("transient", "still-running"),
    "RuntimeJobMaxTimeoutError": ("terminal", "ran-too-long"),
    "ApiError": ("terminal", "unclassified: Runtime API error without HTTP status"),
    "RequestsApiError": ("transient", "no-response"),
    "AuthenticationLicenseError": (
        "terminal",
        "unclassified: Runtime API error without HTTP status",
    ),
    "ApiIBMProtocolError": ("terminal", "unclassified: Runtime API error without HTTP status"),
    "UserTimeoutExceededError": (
        "terminal",
        "unclassified: Runtime API error without HTTP status",
    ),
    "AccountsError": ("terminal", "unclassified: Runtime API error without HTTP status"),
    "AccountAlreadyExistsError": (
        "terminal",
        "unclassified: Runtime API error without HTTP status",
    ),
    "AccountNotFoundError": ("terminal", "unclassified: Runtime API error without HTTP status"),
    "CloudResourceNameResolutionError": (
        "terminal",
        "unclassified: Runtime API error without HTTP status",
    ),
    "InvalidAccountError": ("terminal", "not-authorized"),
}


def upstream_exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module in (runtime_exceptions, api_exceptions, account_exceptions):
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException):
                if value.__module__.startswith(("qiskit", "builtins")) and value is not Exception:
                    found[name] = value
    return sorted(found.values(), key=lambda cls: cls.__name__)


def test_the_walk_finds_the_runtime_classes() -> None:
    names = {cls.__name__ for cls in upstream_exception_classes()}
    assert {"RequestsApiError", "RuntimeJobFailureError", "InvalidAccountError"} <= names
    assert len(names) >= 25


@pytest.mark.parametrize("exc_type", upstream_exception_classes(), ids=lambda c: c.__name__)
def test_every_upstream_exception_class_is_classified(exc_type: type[BaseException]) -> None:
    assert exc_type.__name__ in EXPECTED_UPSTREAM, (
        f"new upstream exception class {exc_type.__module__}.{exc_type.__name__}: decide its "
        "classification and add it to EXPECTED_UPSTREAM"
    )
    decision = classify(exc_type("message"))
    assert (decision.kind, decision.reason) == EXPECTED_UPSTREAM[exc_type.__name__]


# ------------------------------------------------------------------ retry condition, unit


def test_condition_reads_the_exception_from_a_failed_state() -> None:
    assert should_retry_qiskit_fetch_failure(None, None, Failed(data=api(503))) is True  # type: ignore[arg-type]
    assert should_retry_qiskit_fetch_failure(None, None, Failed(data=JobFailedError("x"))) is False  # type: ignore[arg-type]
    ambiguous = Failed(data=SubmissionUnknownError("x", idempotency_tag="t"))
    assert should_retry_qiskit_fetch_failure(None, None, ambiguous) is False  # type: ignore[arg-type]


def test_condition_never_raises() -> None:
    # A Completed state has no exception: get_state_exception raises ValueError inside.
    assert should_retry_qiskit_fetch_failure(None, None, Completed(data=1)) is False  # type: ignore[arg-type]
    assert should_retry_qiskit_fetch_failure(None, None, Failed(message="boom")) is False  # type: ignore[arg-type]
    assert should_retry_qiskit_fetch_failure(None, None, object()) is False  # type: ignore[arg-type]


def test_condition_is_a_plain_function() -> None:
    # Prefect 3.8.8 only calls retry conditions that pass inspect.isfunction.
    assert inspect.isfunction(should_retry_qiskit_fetch_failure)
    assert not inspect.iscoroutinefunction(should_retry_qiskit_fetch_failure)


# ------------------------------------------------- retry condition on a real Prefect task
# Uses the session-wide Prefect test harness of tests/conftest.py (ephemeral mode otherwise).

_ATTEMPTS: dict[str, int] = {}


def _failures(name: str) -> list[BaseException]:
    return {
        "transient": [api(503), with_context(IBMRuntimeError("x"), RequestsApiError("m", -1))],
        "terminal": [JobFailedError("x", reason_code=1517)],
        "upstream-terminal": [RuntimeJobNotFound("Job not found")],
    }[name]


@task(retries=3, retry_delay_seconds=0, retry_condition_fn=should_retry_qiskit_fetch_failure)
def _flaky_fetch(run_id: str, scenario: str) -> str:
    attempt = _ATTEMPTS[run_id] = _ATTEMPTS.get(run_id, 0) + 1
    failures = _failures(scenario)
    if attempt <= len(failures):
        raise failures[attempt - 1]
    return f"done after {attempt}"


@task(retries=3, retry_delay_seconds=0, retry_condition_fn=should_retry_qiskit_fetch_failure)
async def _flaky_fetch_async(run_id: str, scenario: str) -> str:
    return _flaky_fetch.fn(run_id, scenario)


@flow
def _fetch_flow(run_id: str, scenario: str) -> str:
    return _flaky_fetch(run_id, scenario, return_state=True).type.value


@flow
async def _fetch_flow_async(run_id: str, scenario: str) -> str:
    state = await _flaky_fetch_async(run_id, scenario, return_state=True)
    return state.type.value


@pytest.mark.parametrize(
    ("scenario", "final", "attempts"),
    [("transient", "COMPLETED", 3), ("terminal", "FAILED", 1)],
)
def test_condition_drives_real_prefect_retries(scenario: str, final: str, attempts: int) -> None:
    run_id = uuid.uuid4().hex
    assert _fetch_flow(run_id, scenario) == final
    assert _ATTEMPTS[run_id] == attempts


@pytest.mark.parametrize(
    ("scenario", "final", "attempts"),
    [("transient", "COMPLETED", 3), ("upstream-terminal", "FAILED", 1)],
)
async def test_condition_drives_real_prefect_retries_of_async_tasks(
    scenario: str, final: str, attempts: int
) -> None:
    run_id = uuid.uuid4().hex
    assert await _fetch_flow_async(run_id, scenario) == final
    assert _ATTEMPTS[run_id] == attempts


# ---------------------------------------------------------------------------- retry delays


def test_default_delays_and_worst_case() -> None:
    delays = qiskit_retry_delays(seed=1)
    assert len(delays) == 6
    nominal = [2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
    assert all(n * 0.5 <= d <= n for d, n in zip(delays, nominal, strict=True))
    assert sum(delays) <= 126.0
    assert qiskit_retry_delays(jitter=0.0) == nominal
    assert qiskit_retry_delays(seed=7) == qiskit_retry_delays(seed=7)
    assert qiskit_retry_delays(count=0) == []


@given(
    count=st.integers(0, 30),
    base=st.floats(0.01, 10),
    cap_factor=st.floats(1, 100),
    jitter=st.floats(0, 1),
    seed=st.integers(0, 2**32),
)
def test_delays_stay_within_their_nominal_bounds(
    count: int, base: float, cap_factor: float, jitter: float, seed: int
) -> None:
    cap = base * cap_factor
    delays = qiskit_retry_delays(count=count, base=base, cap=cap, jitter=jitter, seed=seed)
    assert len(delays) == count
    for attempt, delay in enumerate(delays):
        nominal = min(cap, base * 2**attempt)
        assert nominal * (1 - jitter) - 1e-9 <= delay <= nominal + 1e-9


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"count": -1}, "count"),
        ({"count": 101}, "count"),
        ({"count": True}, "count"),
        ({"count": 1.5}, "count"),
        ({"base": 0}, "base"),
        ({"base": float("nan")}, "base"),
        ({"cap": 1.0}, "cap"),
        ({"cap": float("inf")}, "cap"),
        ({"jitter": 1.5}, "jitter"),
        ({"jitter": -0.1}, "jitter"),
    ],
)
def test_delay_arguments_are_validated(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        qiskit_retry_delays(**kwargs)
    assert caught.value.argument == argument


def test_delays_grow_then_cap() -> None:
    delays = qiskit_retry_delays(count=10, base=1.0, cap=16.0, jitter=0.0)
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 16.0, 16.0, 16.0, 16.0, 16.0]
    assert list(itertools.accumulate(delays))[-1] == 111.0
