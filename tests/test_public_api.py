"""The public API is a promise: changing it must change this file."""

from __future__ import annotations

from pathlib import Path

import qcsc_prefect.integrations.qiskit as api

EXPECTED = {
    # Blocks
    "QiskitRuntimeConfig",
    "AtomicLocalFileSystem",
    # Tasks (simple mode)
    "run_estimator_task",
    "run_sampler_task",
    # Wrappers
    "QCSCEstimatorV2",
    "QCSCPrimitiveJob",
    "QCSCSamplerV2",
    # Robust mode (submit once, fetch safely)
    "fetch_qiskit_job_result_task",
    "submit_estimator_job_task",
    "submit_sampler_job_task",
    # Cost guards (estimates before the bill)
    "estimate_estimator_usage_task",
    "estimate_sampler_usage_task",
    # Input digests, cache keys, retries, result serializer
    "CacheScope",
    "QiskitRuntimeJSONSerializer",
    "build_qiskit_estimator_input_digest",
    "build_qiskit_sampler_input_digest",
    "qiskit_estimator_submit_cache_key",
    "qiskit_result_fetch_cache_key",
    "qiskit_retry_delays",
    "qiskit_sampler_submit_cache_key",
    "should_retry_qiskit_fetch_failure",
    # Usage read back (per flow run, and totalled over runs)
    "UsageTable",
    "UsageTotals",
    "aread_usage_table",
    "read_usage_table",
    "total_usage",
    # Job values
    "FetchOutput",
    "JobReference",
    "JobStatus",
    "PrimitiveName",
    # Errors
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
}


def test_public_api_is_frozen() -> None:
    assert set(api.__all__) == EXPECTED
    assert len(api.__all__) == len(EXPECTED), "duplicates in __all__"


def test_every_public_name_resolves() -> None:
    for name in api.__all__:
        assert getattr(api, name) is not None, name
    assert set(api.__all__) <= set(dir(api))


def test_errors_share_one_root() -> None:
    for name in api.__all__:
        value = getattr(api, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, api.QCSCQiskitError), name


def test_namespace_packages_have_no_init() -> None:
    package_dir = Path(api.__file__).parent
    assert not (package_dir.parent / "__init__.py").exists()  # qcsc_prefect/integrations
    assert not (package_dir.parent.parent / "__init__.py").exists()  # qcsc_prefect


def test_unknown_attribute_raises_attribute_error() -> None:
    try:
        api.does_not_exist  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "does_not_exist" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")
