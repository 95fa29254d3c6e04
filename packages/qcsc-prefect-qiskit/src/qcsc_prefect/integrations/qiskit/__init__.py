"""Prefect orchestration around native Qiskit Runtime primitives.

Prefect imports this package for every ``prefect.collections`` entry point when it resolves
block types, so only the Blocks and the error tree are imported eagerly; names that pull in
qiskit-ibm-runtime are imported on first access.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from . import (
    errors,
    serializers,  # noqa: F401  (registers the "qiskit-runtime-json" result serializer)
)
from ._extras import warn_if_prefect38_without_fastapi_bound
from .blocks import QiskitRuntimeConfig
from .errors import *  # noqa: F403  (the error tree: exactly errors.__all__)
from .storage import AtomicLocalFileSystem

if TYPE_CHECKING:
    from .accounting import (
        UsageTable,
        UsageTotals,
        aread_usage_table,
        read_usage_table,
        total_usage,
    )
    from .cache import (
        qiskit_estimator_submit_cache_key,
        qiskit_result_fetch_cache_key,
        qiskit_sampler_submit_cache_key,
    )
    from .digests import (
        CacheScope,
        build_qiskit_estimator_input_digest,
        build_qiskit_sampler_input_digest,
    )
    from .estimate import estimate_estimator_usage_task, estimate_sampler_usage_task
    from .fetch import fetch_qiskit_job_result_task
    from .jobs import FetchOutput, JobReference, JobStatus, PrimitiveName
    from .primitives import QCSCEstimatorV2, QCSCPrimitiveJob, QCSCSamplerV2
    from .retry import qiskit_retry_delays, should_retry_qiskit_fetch_failure
    from .serializers import QiskitRuntimeJSONSerializer
    from .submit import submit_estimator_job_task, submit_sampler_job_task
    from .tasks import run_estimator_task, run_sampler_task

#: Public names imported on first access: name -> submodule.
_LAZY: dict[str, str] = {
    "FetchOutput": ".jobs",
    "JobReference": ".jobs",
    "JobStatus": ".jobs",
    "PrimitiveName": ".jobs",
    "run_estimator_task": ".tasks",
    "run_sampler_task": ".tasks",
    "submit_estimator_job_task": ".submit",
    "submit_sampler_job_task": ".submit",
    "estimate_estimator_usage_task": ".estimate",
    "estimate_sampler_usage_task": ".estimate",
    "fetch_qiskit_job_result_task": ".fetch",
    "CacheScope": ".digests",
    "build_qiskit_estimator_input_digest": ".digests",
    "build_qiskit_sampler_input_digest": ".digests",
    "qiskit_estimator_submit_cache_key": ".cache",
    "qiskit_result_fetch_cache_key": ".cache",
    "qiskit_sampler_submit_cache_key": ".cache",
    "qiskit_retry_delays": ".retry",
    "should_retry_qiskit_fetch_failure": ".retry",
    "QiskitRuntimeJSONSerializer": ".serializers",
    "QCSCEstimatorV2": ".primitives",
    "QCSCPrimitiveJob": ".primitives",
    "QCSCSamplerV2": ".primitives",
    "UsageTable": ".accounting",
    "UsageTotals": ".accounting",
    "aread_usage_table": ".accounting",
    "read_usage_table": ".accounting",
    "total_usage": ".accounting",
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
    "AtomicLocalFileSystem",
    "CacheScope",
    "FetchOutput",
    "JobReference",
    "JobStatus",
    "PrimitiveName",
    "QCSCEstimatorV2",
    "QCSCPrimitiveJob",
    "QCSCSamplerV2",
    "QiskitRuntimeConfig",
    "QiskitRuntimeJSONSerializer",
    "UsageTable",
    "UsageTotals",
    "aread_usage_table",
    "build_qiskit_estimator_input_digest",
    "build_qiskit_sampler_input_digest",
    "estimate_estimator_usage_task",
    "estimate_sampler_usage_task",
    "fetch_qiskit_job_result_task",
    "qiskit_estimator_submit_cache_key",
    "qiskit_result_fetch_cache_key",
    "qiskit_retry_delays",
    "qiskit_sampler_submit_cache_key",
    "read_usage_table",
    "run_estimator_task",
    "run_sampler_task",
    "should_retry_qiskit_fetch_failure",
    "submit_estimator_job_task",
    "submit_sampler_job_task",
    "total_usage",
]
__all__ += errors.__all__  # the error tree

warn_if_prefect38_without_fastapi_bound()
