"""Translate qiskit-ibm-runtime's error surface into the library's error tree, once.

qiskit-ibm-runtime raises different classes for the same HTTP failure depending on the call site
(``service.job()`` wraps it in ``IBMRuntimeError ... from None``; ``job.status()`` raises the raw
``RequestsApiError``). The HTTP status therefore has to be found by walking ``__cause__`` and
``__context__``. This module is the only place that knows the upstream exception classes.
"""

from __future__ import annotations

import errno
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final, Literal

from qiskit.providers.exceptions import QiskitBackendNotFoundError
from qiskit_ibm_runtime.accounts.exceptions import InvalidAccountError
from qiskit_ibm_runtime.api.exceptions import RequestsApiError
from qiskit_ibm_runtime.exceptions import (
    IBMError,
    IBMInputValueError,
    IBMNotAuthorizedError,
    JobError,
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
    RuntimeJobMaxTimeoutError,
    RuntimeJobNotFound,
)
from qiskit_ibm_runtime.exceptions import JobTimeoutError as QiskitJobTimeoutError

from ..errors import (
    NO_RESPONSE,
    RAN_TOO_LONG,
    BackendNotFoundError,
    InvalidInputError,
    JobCancelledError,
    JobFailedError,
    JobNotFoundError,
    JobRanTooLongError,
    JobTimeoutError,
    QCSCQiskitError,
    RuntimeApiError,
    RuntimeAuthError,
)

_REASON_CODE: Final = re.compile(r"[Ee]rror code:? *(\d{3,5})")

#: errno values of network failures (OSError subclasses without a dedicated class).
NETWORK_ERRNOS: Final[frozenset[int]] = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.ENETDOWN,
        errno.ENETUNREACH,
        errno.ENETRESET,
        errno.EHOSTDOWN,
        errno.EHOSTUNREACH,
    }
)

#: Transport exceptions of requests/urllib3 matched by ``module.Class`` anywhere in the MRO, so
#: that neither library has to be imported here.
NETWORK_EXCEPTION_NAMES: Final[frozenset[str]] = frozenset(
    {
        "requests.exceptions.ConnectionError",
        "requests.exceptions.Timeout",
        "requests.exceptions.ChunkedEncodingError",
        "urllib3.exceptions.ProtocolError",
        "urllib3.exceptions.NewConnectionError",
        "urllib3.exceptions.TimeoutError",
        "urllib3.exceptions.MaxRetryError",
        "http.client.RemoteDisconnected",
        "http.client.IncompleteRead",
    }
)


def network_failure(exc: BaseException) -> Literal["network", "timeout"] | None:
    """Say whether ``exc`` itself (not its chain) is a transport failure, and which kind.

    Returns:
        ``"network"`` for a connection failure (a class in `NETWORK_EXCEPTION_NAMES`,
        ``ConnectionError``, ``socket.gaierror``/``herror``, or an ``OSError`` with an errno in
        `NETWORK_ERRNOS`), ``"timeout"`` for any other ``TimeoutError``, else ``None``.
    """
    names = {f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__}
    if names & NETWORK_EXCEPTION_NAMES:
        return "network"
    if isinstance(exc, ConnectionError | socket.gaierror | socket.herror):
        return "network"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, OSError) and exc.errno in NETWORK_ERRNOS:
        return "network"
    return None


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """Yield ``exc`` and every exception reachable through ``__cause__``/``__context__``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


#: Attributes by which upstream exceptions keep the HTTP exchange that failed: IBM Cloud's
#: ``ApiException.http_response`` and ``requests``' ``request``/``response``. The request of an
#: IAM token exchange carries the API key in its body.
_EXCHANGES: Final = ("http_response", "request", "response")


def drop_http_exchanges(exc: BaseException) -> None:
    """Forget the HTTP requests and responses held by ``exc`` and its causes.

    Called once an upstream error has been read (status, retry-after, reason): the text of the
    errors stays, but nothing that prints, copies or pickles them can reach a request body or
    header with credentials in it.
    """
    for link in exception_chain(exc):
        for name in _EXCHANGES:
            if getattr(link, name, None) is None:
                continue
            try:
                setattr(link, name, None)
            except (AttributeError, TypeError):  # a read-only property: nothing kept there
                continue


def http_status(exc: BaseException) -> int | None:
    """Return the HTTP status behind ``exc``, walking its cause/context chain.

    Args:
        exc: Any exception raised by qiskit-ibm-runtime (or wrapping one).

    Returns:
        The first status found: a ``RequestsApiError.status_code`` (``-1`` when no response
        arrived), an ``ApiException.code`` from IBM Cloud's SDK, 401 for ``IBMNotAuthorizedError``,
        or ``None`` when the chain carries no status.
    """
    for link in exception_chain(exc):
        if isinstance(link, RuntimeApiError):
            return link.http_status
        if isinstance(link, RequestsApiError):
            status = link.status_code
            return NO_RESPONSE if status is None else int(status)
        if isinstance(link, IBMNotAuthorizedError):
            return 401
        if type(link).__name__ == "ApiException":  # ibm_cloud_sdk_core (IAM, search)
            code = getattr(link, "status_code", None)
            if isinstance(code, int):
                return code
    return None


def _retry_after(exc: BaseException) -> float | None:
    for link in exception_chain(exc):
        response = getattr(link, "response", None)
        headers = getattr(response, "headers", None)
        if headers is not None:
            value = headers.get("Retry-After")
            if value is not None:
                try:
                    return float(value)
                except ValueError:
                    return None
    return None


def reason_code(exc: BaseException) -> int | None:
    """Extract a Runtime job reason code (for example 1517) from an exception message."""
    match = _REASON_CODE.search(str(exc))
    return int(match.group(1)) if match else None


def _api_error(exc: BaseException, job_id: str | None) -> RuntimeApiError:
    status = http_status(exc)
    message = _describe_api_failure(status, str(exc))
    if status in (401, 403) or isinstance(exc, IBMNotAuthorizedError):
        return RuntimeAuthError(message, http_status=status, job_id=job_id)
    return RuntimeApiError(
        message, http_status=status, retry_after=_retry_after(exc), job_id=job_id
    )


def _describe_api_failure(status: int | None, detail: str) -> str:
    if status == NO_RESPONSE:
        hint = "no response from the Qiskit Runtime service (connection failed or retries ran out)"
    elif status == 429:
        hint = "the Qiskit Runtime service is rate limiting requests (HTTP 429)"
    elif status in (401, 403):
        hint = (
            f"the Qiskit Runtime service rejected the credentials (HTTP {status}); "
            "check the API key, instance and channel of the runtime configuration"
        )
    elif status is not None and status >= 500:
        hint = f"the Qiskit Runtime service failed (HTTP {status})"
    elif status is not None:
        hint = f"the Qiskit Runtime service rejected the request (HTTP {status})"
    else:
        hint = "the Qiskit Runtime service reported an error"
    return f"{hint}: {detail}"


def _account_error(exc: BaseException, job_id: str | None) -> QCSCQiskitError:
    status = http_status(exc)
    if status is None and any(network_failure(link) for link in exception_chain(exc)):
        status = NO_RESPONSE
    # Rate limiting (429), a server error (5xx) or no answer at all (-1) from IAM or instance
    # discovery says nothing about the credentials: keep it a transient API error, so that a
    # retried fetch tries again and the message does not send the user after their token.
    if status is not None and (status >= 500 or status in (429, NO_RESPONSE)):
        what = {429: "is rate limiting requests (HTTP 429)", NO_RESPONSE: "did not answer"}.get(
            status, f"failed (HTTP {status})"
        )
        return RuntimeApiError(
            f"the account service {what} while building the Qiskit Runtime service: {exc}",
            http_status=status,
            retry_after=_retry_after(exc),
            job_id=job_id,
        )
    return RuntimeAuthError(
        f"could not set up the Qiskit Runtime account: {exc}. Check the token, instance and "
        "channel (or the saved Qiskit account / QISKIT_IBM_* environment variables).",
        http_status=status,
        job_id=job_id,
    )


def _failed(exc: BaseException, job_id: str | None) -> QCSCQiskitError:
    code = reason_code(exc)
    return JobFailedError(
        f"Qiskit Runtime job {job_id or ''} failed: {exc}".replace("job  ", "job "),
        reason_code=code,
        job_id=job_id,
    )


def _ran_too_long(exc: BaseException, job_id: str | None) -> QCSCQiskitError:
    return JobRanTooLongError(
        f"Qiskit Runtime cancelled job {job_id} because it exceeded its maximum execution time "
        f"(reason code {RAN_TOO_LONG}): {exc}. Split the work into smaller jobs or raise "
        "max_execution_time.",
        reason_code=RAN_TOO_LONG,
        job_id=job_id,
    )


def _invalid_state(exc: BaseException, job_id: str | None) -> QCSCQiskitError:
    if http_status(exc) == 409:
        return RuntimeApiError(
            f"the job is in a state that does not allow this operation: {exc}",
            http_status=409,
            job_id=job_id,
        )
    return JobCancelledError(f"Qiskit Runtime job {job_id} was cancelled: {exc}", job_id=job_id)


def _not_found(exc: BaseException, job_id: str | None) -> QCSCQiskitError:
    return JobNotFoundError(
        f"Qiskit Runtime job {job_id} was not found on this instance: {exc}. It may belong to "
        "another instance, or the service no longer retains it.",
        job_id=job_id,
    )


def _timeout(exc: BaseException, job_id: str | None) -> QCSCQiskitError:
    return JobTimeoutError(f"timed out waiting for job {job_id}: {exc}", job_id=job_id)


def _backend_not_found(exc: BaseException, job_id: str | None) -> QCSCQiskitError:
    return BackendNotFoundError(f"backend not found: {exc}", backend_name="", job_id=job_id)


def _input(exc: BaseException, job_id: str | None) -> QCSCQiskitError:
    return InvalidInputError(f"Qiskit Runtime rejected the input: {exc}", argument="pubs")


_Translator = Callable[[BaseException, "str | None"], QCSCQiskitError]

#: Most specific first. Every upstream exception class maps to one entry.
_TRANSLATIONS: Final[tuple[tuple[type[BaseException], _Translator], ...]] = (
    (RuntimeJobNotFound, _not_found),
    (RuntimeJobMaxTimeoutError, _ran_too_long),
    (RuntimeInvalidStateError, _invalid_state),
    (QiskitJobTimeoutError, _timeout),
    (RuntimeJobFailureError, _failed),
    (InvalidAccountError, _account_error),
    (IBMInputValueError, _input),
    (QiskitBackendNotFoundError, _backend_not_found),
    (IBMError, _api_error),
    (JobError, _failed),
)


def translate(exc: BaseException, *, job_id: str | None = None) -> QCSCQiskitError | None:
    """Translate an upstream exception into the library's tree.

    Args:
        exc: The exception raised by qiskit-ibm-runtime (or qiskit).
        job_id: The job concerned, if known.

    Returns:
        The translated error (not yet raised, cause not yet set), ``exc`` itself when it is
        already ours, or ``None`` when ``exc`` is not an upstream Runtime error.
    """
    if isinstance(exc, QCSCQiskitError):
        return exc
    for theirs, make in _TRANSLATIONS:
        if isinstance(exc, theirs):
            return make(exc, job_id)
    return None


@contextmanager
def translating_errors(job_id: str | None = None) -> Iterator[None]:
    """Re-raise upstream Runtime errors as the library's errors, keeping the cause.

    Args:
        job_id: The job concerned, attached to the translated error.
    """
    try:
        yield
    except QCSCQiskitError:
        raise
    except Exception as exc:
        ours = translate(exc, job_id=job_id)
        drop_http_exchanges(exc)
        if ours is None:
            raise
        raise ours from exc
