"""Prefect orchestration around native Qiskit Runtime primitives.

Prefect imports this package for every ``prefect.collections`` entry point when it resolves
block types, so only the Block and the error tree are imported eagerly; names that pull in
qiskit-ibm-runtime are imported on first access.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .blocks import QiskitRuntimeConfig
from .errors import (
    BackendNotFoundError,
    InvalidInputError,
    JobCancelledError,
    JobFailedError,
    JobNotFoundError,
    JobRanTooLongError,
    JobTimeoutError,
    QCSCQiskitError,
    ResultCacheError,
    RuntimeApiError,
    RuntimeAuthError,
    RuntimeConfigError,
    SubmissionUnknownError,
)

if TYPE_CHECKING:
    from .jobs import FetchOutput, JobReference, JobStatus, PrimitiveName
    from .tasks import run_estimator_task, run_sampler_task

#: Public names imported on first access: name -> submodule.
_LAZY: dict[str, str] = {
    "FetchOutput": ".jobs",
    "JobReference": ".jobs",
    "JobStatus": ".jobs",
    "PrimitiveName": ".jobs",
    "run_estimator_task": ".tasks",
    "run_sampler_task": ".tasks",
}


def __getattr__(name: str) -> object:
    submodule = _LAZY.get(name)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(submodule, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "BackendNotFoundError",
    "FetchOutput",
    "InvalidInputError",
    "JobCancelledError",
    "JobFailedError",
    "JobNotFoundError",
    "JobRanTooLongError",
    "JobReference",
    "JobStatus",
    "JobTimeoutError",
    "PrimitiveName",
    "QCSCQiskitError",
    "QiskitRuntimeConfig",
    "ResultCacheError",
    "RuntimeApiError",
    "RuntimeAuthError",
    "RuntimeConfigError",
    "SubmissionUnknownError",
    "run_estimator_task",
    "run_sampler_task",
]
