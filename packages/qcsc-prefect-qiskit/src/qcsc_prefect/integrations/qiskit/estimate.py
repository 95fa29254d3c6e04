"""Estimates before the bill: the service's QPU-time estimate of pubs, from a dry run.

`estimate_sampler_usage_task` and `estimate_estimator_usage_task` take the inputs of the submit
tasks and post them with ``dry_run=True``: the client sends the job to the device's ``mock_``
counterpart (``ibm_fez`` → ``mock_fez``), which returns mock data and the service's estimate;
nothing runs on the real device and no time of the instance is used. The estimate is what the
service returns with the job (``estimated_running_time_seconds``), in QPU seconds.
"""

from collections.abc import Sequence
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from ._logging import run_logger
from ._naming import primitive_run_name
from ._prepare import JobRequest, aprepare_inputs, build_native
from ._runtime.pool import call_blocking
from ._runtime.usage_calls import dry_run, usage_estimate
from .blocks import QiskitRuntimeConfig
from .errors import BackendNotFoundError, InvalidInputError, RuntimeApiError, RuntimeConfigError
from .jobs import PrimitiveName
from .validation import INPUT_DIGEST, PRECISION, REPEAT, SHOTS, validated


async def _dry_run(primitive: PrimitiveName, native_primitive: Any, pubs: Any, **kw: Any) -> Any:
    try:
        return await call_blocking(dry_run, native_primitive, pubs, **kw)
    except BackendNotFoundError as exc:
        raise BackendNotFoundError(
            f"cannot estimate the {primitive} job: the service offers no `mock_` counterpart of "
            f"the backend for dry runs, or this account may not use it ({exc}). Nothing was "
            "submitted; estimates need a backend with a mock device.",
            backend_name=exc.backend_name,
        ) from exc


async def _estimate(request: JobRequest) -> float:
    primitive, shots, precision = request.primitive, request.shots, request.precision
    logger = run_logger()
    config = await request.aconfig()
    if config.channel == "local":
        raise RuntimeConfigError(
            "the local channel has no service to estimate usage; estimates need the "
            'service (channel="ibm_quantum_platform")'
        )
    prepared = await aprepare_inputs(request, config)
    if prepared.program:
        raise InvalidInputError("estimates take pubs, not a QuantumProgram.", argument="pubs")
    native_primitive = await call_blocking(
        build_native, primitive, config, prepared.backend, request.options, False
    )
    job = await _dry_run(
        primitive, native_primitive, prepared.pubs, shots=shots, precision=precision
    )
    seconds = await call_blocking(usage_estimate, job)
    if seconds is None:
        raise RuntimeApiError(
            f"the service returned no usage estimate for dry-run job {job.job_id()}.",
            http_status=None,
            job_id=str(job.job_id()),
        )
    logger.info(
        "Estimated %s job on %s: %g QPU seconds (dry-run job %s on the mock device).",
        primitive, prepared.backend.name, seconds, job.job_id(),
    )  # fmt: skip
    return seconds


@task(
    retries=0,
    cache_policy=NO_CACHE,
    name="estimate_sampler_usage_task",
    task_run_name=primitive_run_name("estimate", "sampler"),
)
@validated(shots=SHOTS, input_digest=INPUT_DIGEST, repeat=REPEAT)
async def estimate_sampler_usage_task(
    pubs: Sequence[object],
    *,
    runtime_config: QiskitRuntimeConfig | None = None,
    runtime_block_name: str | None = None,
    shots: int | None = None,
    options: object | None = None,
    input_digest: str | None = None,
    repeat: int | str | None = None,
) -> float:
    """Estimate the QPU seconds of a sampler job without running it on the device.

    Takes the inputs of `submit_sampler_job_task` and posts them with ``dry_run=True`` to the
    backend's ``mock_`` counterpart; nothing runs on the real device.

    Args:
        pubs: Sampler pubs (ISA circuits, or ``(circuit, parameter_values[, shots])``).
        runtime_config: The runtime configuration, passed directly.
        runtime_block_name: The name of a saved `QiskitRuntimeConfig` Block.
        shots: Default shots per pub; ``None`` uses the primitive's default.
        options: Native sampler options (dict or options object); never mutated.
        input_digest: Accepted so that the submit task's arguments can be passed unchanged.
        repeat: Accepted so that the submit task's arguments can be passed unchanged.

    Returns:
        The service's estimate in QPU seconds.

    Raises:
        BackendNotFoundError: The backend has no ``mock_`` counterpart (or the account may not
            use it).
        InvalidInputError: Bad pubs, shots or options; nothing was submitted.

    Example:
        ```python
        seconds = await estimate_sampler_usage_task(pubs, runtime_config=config, shots=1000)
        ```
    """
    request = JobRequest(
        "sampler", pubs, runtime_config, runtime_block_name, shots=shots, options=options
    )
    return await _estimate(request)


@task(
    retries=0,
    cache_policy=NO_CACHE,
    name="estimate_estimator_usage_task",
    task_run_name=primitive_run_name("estimate", "estimator"),
)
@validated(precision=PRECISION, input_digest=INPUT_DIGEST, repeat=REPEAT)
async def estimate_estimator_usage_task(
    pubs: Sequence[object],
    *,
    runtime_config: QiskitRuntimeConfig | None = None,
    runtime_block_name: str | None = None,
    precision: float | None = None,
    options: object | None = None,
    input_digest: str | None = None,
    repeat: int | str | None = None,
) -> float:
    """Estimate the QPU seconds of an estimator job without running it on the device.

    Same as `estimate_sampler_usage_task`, with the inputs of `submit_estimator_job_task`.

    Args:
        pubs: Estimator pubs ``(circuit, observables[, parameter_values[, precision]])``.
        runtime_config: The runtime configuration, passed directly.
        runtime_block_name: The name of a saved `QiskitRuntimeConfig` Block.
        precision: Default target precision; ``None`` uses the primitive's default.
        options: Native estimator options (dict or options object); never mutated.
        input_digest: Accepted so that the submit task's arguments can be passed unchanged.
        repeat: Accepted so that the submit task's arguments can be passed unchanged.

    Returns:
        The service's estimate in QPU seconds.

    Raises:
        BackendNotFoundError: The backend has no ``mock_`` counterpart (or the account may not
            use it).
        InvalidInputError: Bad pubs, precision or options; nothing was submitted.
    """
    request = JobRequest(
        "estimator", pubs, runtime_config, runtime_block_name, precision=precision, options=options
    )
    return await _estimate(request)


__all__ = ["estimate_estimator_usage_task", "estimate_sampler_usage_task"]
