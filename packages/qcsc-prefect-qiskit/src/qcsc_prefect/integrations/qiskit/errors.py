"""The one exception tree of qcsc-prefect-qiskit.

Every error the library raises derives from :class:`QCSCQiskitError`, so one ``except`` clause
catches them all. Errors coming from qiskit-ibm-runtime are translated once, at the service
boundary (``_runtime/translate.py``), with the original exception kept as ``__cause__``.

.. code-block:: text

    QCSCQiskitError
    ├── RuntimeConfigError      (ValueError)    bad or missing runtime configuration
    │   ├── BackendNotFoundError                the backend name is unknown
    │   └── SubmitLockError                     the configured submit lock cannot be used
    │       └── SubmitLockLostError             the lock was lost before posting
    ├── InvalidInputError       (ValueError)    bad pubs/shots/precision/options; nothing submitted
    ├── RuntimeApiError         .http_status    the service answered an error, or nothing
    │   ├── RuntimeAuthError                    401/403 or a rejected API key
    │   └── SubmissionUnknownError              a submit error after which a job may exist
    ├── JobFailedError          .reason_code    the job ended in ERROR
    │   └── JobRanTooLongError                  cancelled by the service: ran too long (1305)
    ├── JobCancelledError                       the job was cancelled
    ├── JobTimeoutError         (TimeoutError)  our own wait ran out; the job may still run
    ├── SessionClosedError                      the flow run's Session ended while in use
    ├── JobNotFoundError                        the job or its result is no longer retained
    ├── ResultCacheError                        a persisted result can no longer be loaded
    ├── QpuBudgetExceededError                  the flow run's QPU budget is committed
    └── UsageLimitReachedError                  the instance has reached its usage limit
"""

from __future__ import annotations

from typing import Final

#: Reason code the service reports when it cancels a job that exceeded its maximum run time.
RAN_TOO_LONG: Final = 1305

#: The HTTP status recorded when no response arrived (connection refused, reset, retries exhausted).
NO_RESPONSE: Final = -1


class QCSCQiskitError(Exception):
    """Base class of every error raised by qcsc-prefect-qiskit.

    Attributes:
        job_id: The Qiskit Runtime job concerned, when there is one.
    """

    def __init__(self, message: str, *, job_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.job_id = job_id

    def __reduce__(self) -> tuple[object, ...]:
        # Keep keyword-only attributes through pickling (Prefect persists failed states).
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type[QCSCQiskitError], message: str, state: dict[str, object]) -> QCSCQiskitError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


class RuntimeConfigError(QCSCQiskitError, ValueError):
    """The runtime configuration is missing, ambiguous or invalid.

    Raised, for example, when a task gets both or neither of ``runtime_config`` and
    ``runtime_block_name``, or when a saved Block does not exist.
    """


class BackendNotFoundError(RuntimeConfigError):
    """The configured backend does not exist for this account or channel.

    Attributes:
        backend_name: The name that was asked for.
        available: A few backend names that do exist, for the message.
    """

    def __init__(
        self,
        message: str,
        *,
        backend_name: str,
        available: tuple[str, ...] = (),
        job_id: str | None = None,
    ) -> None:
        super().__init__(message, job_id=job_id)
        self.backend_name = backend_name
        self.available = available


class SubmitLockError(RuntimeConfigError):
    """The configured submit lock backend is unreachable, misconfigured or was lost.

    Raised before anything is posted: a configured cross-host lock is never replaced silently by
    a weaker one. The message names the backend without its credentials.
    """


class SubmitLockLostError(SubmitLockError):
    """The submit lock was lost between taking it and posting; nothing was posted under it.

    Its connection to the lock database ended (the database restarted, the network dropped, or
    the session was terminated), so another host may hold the lock now. The submit step takes
    the lock again and looks the job tag up again before posting; this error reaches the caller
    only when the lock is lost a second time.
    """


class InvalidInputError(QCSCQiskitError, ValueError):
    """An argument is invalid; nothing was submitted.

    Attributes:
        argument: The name of the offending argument.
    """

    def __init__(self, message: str, *, argument: str, job_id: str | None = None) -> None:
        super().__init__(message, job_id=job_id)
        self.argument = argument


class RuntimeApiError(QCSCQiskitError):
    """The Qiskit Runtime service answered with an error, or did not answer.

    Attributes:
        http_status: The HTTP status, ``-1`` when no response arrived, ``None`` if unknown.
        retry_after: Seconds the service asked to wait (``Retry-After``), when it said so.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message, job_id=job_id)
        self.http_status = http_status
        self.retry_after = retry_after


class RuntimeAuthError(RuntimeApiError):
    """The service rejected the credentials (API key, instance or permissions)."""


class SubmissionUnknownError(RuntimeApiError):
    """Submitting failed in a way that may still have created a job.

    The library reconciles by idempotency tag before raising this; when it is raised, no job with
    the tag was found within the reconciliation window. Re-running the flow is safe: the next
    submit looks the tag up again before posting.

    Attributes:
        idempotency_tag: The job tag that identifies this submission.
    """

    def __init__(
        self,
        message: str,
        *,
        idempotency_tag: str,
        http_status: int | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, job_id=job_id)
        self.idempotency_tag = idempotency_tag


class JobFailedError(QCSCQiskitError):
    """The job ended in ``ERROR``.

    Attributes:
        reason_code: The service's reason code (for example 1517), when given.
    """

    def __init__(
        self, message: str, *, reason_code: int | None = None, job_id: str | None = None
    ) -> None:
        super().__init__(message, job_id=job_id)
        self.reason_code = reason_code


class JobRanTooLongError(JobFailedError):
    """The service cancelled the job because it exceeded its maximum execution time (1305)."""


class JobCancelledError(QCSCQiskitError):
    """The job was cancelled before it produced a result."""


class JobTimeoutError(QCSCQiskitError, TimeoutError):
    """Our own wait for the job ran out; the job itself may still be queued or running.

    Attributes:
        last_status: The last status observed before giving up.
    """

    def __init__(
        self, message: str, *, last_status: str | None = None, job_id: str | None = None
    ) -> None:
        super().__init__(message, job_id=job_id)
        self.last_status = last_status


class SessionClosedError(QCSCQiskitError):
    """The flow run's Session was closed by the service while the flow run was using it.

    Attributes:
        session_id: The closed Session's id.
    """

    def __init__(self, message: str, *, session_id: str | None = None) -> None:
        super().__init__(message)
        self.session_id = session_id


class JobNotFoundError(QCSCQiskitError):
    """The job, or its result, is not (or no longer) retained by the service."""


class ResultCacheError(QCSCQiskitError):
    """A persisted result exists but can no longer be loaded."""


class QpuBudgetExceededError(QCSCQiskitError):
    """The flow run has committed its QPU budget (``qpu_budget_seconds``); nothing was posted.

    Jobs already submitted keep running and are fetched normally.

    Attributes:
        budget_seconds: The flow run's budget.
        committed_seconds: Usage of its finished jobs plus the estimates of its pending ones.
    """

    def __init__(self, message: str, *, budget_seconds: float, committed_seconds: float) -> None:
        super().__init__(message)
        self.budget_seconds = budget_seconds
        self.committed_seconds = committed_seconds


class UsageLimitReachedError(QCSCQiskitError):
    """The instance has reached its usage limit: a new job would not run; nothing was posted.

    Attributes:
        limit_seconds: The instance's limit, when the service reports one.
        consumed_seconds: The seconds the instance has consumed, when reported.
    """

    def __init__(
        self, message: str, *, limit_seconds: float | None, consumed_seconds: float | None
    ) -> None:
        super().__init__(message)
        self.limit_seconds = limit_seconds
        self.consumed_seconds = consumed_seconds


#: The error tree (the package re-exports exactly these). The reason-code constants above are
#: importable by name but are not part of it.
__all__ = [
    "BackendNotFoundError",
    "InvalidInputError",
    "JobCancelledError",
    "JobFailedError",
    "JobNotFoundError",
    "JobRanTooLongError",
    "JobTimeoutError",
    "QCSCQiskitError",
    "QpuBudgetExceededError",
    "ResultCacheError",
    "RuntimeApiError",
    "RuntimeAuthError",
    "RuntimeConfigError",
    "SessionClosedError",
    "SubmissionUnknownError",
    "SubmitLockError",
    "SubmitLockLostError",
    "UsageLimitReachedError",
]
