"""Prefect tasks that run native Qiskit Runtime primitives.

Simple mode: one task creates the native ``SamplerV2``/``EstimatorV2`` on the configured
backend, submits, waits for the result and records artifacts. The tasks are ``async`` and never
block the event loop: every blocking client call runs in a worker thread. They are not retried
(``retries=0``): a retry after submission would submit a second, paid job. Use the robust
submit/fetch tasks when retries matter.

The annotations are evaluated at import time on purpose (no ``from __future__ import
annotations``): task parameter types stay real objects for Prefect and for introspection.
"""

import time
from collections.abc import Sequence
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from qiskit.primitives.containers.estimator_pub import EstimatorPubLike
from qiskit.primitives.containers.sampler_pub import SamplerPubLike

from . import _finish, waiting
from ._logging import Logger, run_logger
from ._naming import primitive_run_name
from ._prepare import JobRequest, aprepare_inputs, build_native
from ._programs import input_count
from ._runtime import native
from ._runtime.native import EstimatorOptions, SamplerOptions
from ._runtime.pool import behind_waiting_calls, call_blocking
from .artifacts import acreate_result_artifacts
from .blocks import QiskitRuntimeConfig
from .execution_modes import aexecution_target
from .guards import guarded_post, post_tags
from .jobs import FetchOutput, JobStatus, PrimitiveName
from .submit import _tagged_options
from .validation import ARTIFACT_KEY, PRECISION, REPEAT, SHOTS, validated


@task(
    retries=0,
    cache_policy=NO_CACHE,
    name="run_sampler_task",
    task_run_name=primitive_run_name("run", "sampler"),
)
@validated(shots=SHOTS, artifact_key=ARTIFACT_KEY, repeat=REPEAT)
async def run_sampler_task(
    pubs: Sequence[SamplerPubLike],
    *,
    runtime_config: QiskitRuntimeConfig | None = None,
    runtime_block_name: str | None = None,
    shots: int | None = None,
    options: SamplerOptions | dict[str, Any] | None = None,
    artifact_key: str | None = None,
    repeat: int | str | None = None,
) -> FetchOutput:
    """Run pubs with the native ``SamplerV2`` and wait for the result.

    Replaces ``SamplerV2(mode=backend).run(pubs, shots=...).result()``; the inputs and the
    returned ``PrimitiveResult`` are the native Qiskit objects.

    Args:
        pubs: Sampler pubs of ISA circuits (transpiled for the backend).
        runtime_config: The runtime configuration. Give this or ``runtime_block_name``.
        runtime_block_name: Name of a saved `QiskitRuntimeConfig` Block. Give this or
            ``runtime_config``.
        shots: Default shots per pub; ``None`` keeps the primitive's default.
        options: Native sampler options (a dict or ``SamplerOptions``).
        artifact_key: If given, create a summary artifact under this key and a per-pub
            table under ``f"{artifact_key}-pubs"``.
        repeat: Accepted so that code moves between simple and robust mode unchanged; simple
            mode submits a new job on every call, so it changes nothing here.

    Returns:
        A `FetchOutput` dict: ``job_id``, ``backend_name``, ``primitive``, ``status``,
        ``result`` (the native ``PrimitiveResult``) and JSON-compatible ``metadata``.

    Raises:
        RuntimeConfigError: Both or neither of ``runtime_config``/``runtime_block_name``, or
            no Block of that name.
        BackendNotFoundError: The backend does not exist.
        InvalidInputError: Bad pubs, shots, options or artifact key; nothing was submitted.
        JobFailedError: The job failed.

    Example:
        ```python
        output = await run_sampler_task(pubs, runtime_block_name="ibm-runtime", shots=100)
        counts = output["result"][0].data.meas.get_counts()
        ```
    """
    request = JobRequest(
        "sampler", pubs, runtime_config, runtime_block_name, shots=shots, options=options
    )
    return await _run_primitive(request, artifact_key)


@task(
    retries=0,
    cache_policy=NO_CACHE,
    name="run_estimator_task",
    task_run_name=primitive_run_name("run", "estimator"),
)
@validated(precision=PRECISION, artifact_key=ARTIFACT_KEY, repeat=REPEAT)
async def run_estimator_task(
    pubs: Sequence[EstimatorPubLike],
    *,
    runtime_config: QiskitRuntimeConfig | None = None,
    runtime_block_name: str | None = None,
    precision: float | None = None,
    options: EstimatorOptions | dict[str, Any] | None = None,
    artifact_key: str | None = None,
    repeat: int | str | None = None,
) -> FetchOutput:
    """Run pubs with the native ``EstimatorV2`` and wait for the result.

    Replaces ``EstimatorV2(mode=backend).run(pubs, precision=...).result()``; the inputs and
    the returned ``PrimitiveResult`` are the native Qiskit objects.

    Args:
        pubs: Estimator pubs ``(isa_circuit, observables[, parameter_values[, precision]])``;
            observables must already match the ISA circuit's layout.
        runtime_config: The runtime configuration. Give this or ``runtime_block_name``.
        runtime_block_name: Name of a saved `QiskitRuntimeConfig` Block. Give this or
            ``runtime_config``.
        precision: Default target precision per pub; ``None`` keeps the primitive's default.
        options: Native estimator options (a dict or ``EstimatorOptions``).
        artifact_key: If given, create a summary artifact under this key and a per-pub
            table under ``f"{artifact_key}-pubs"``.
        repeat: Accepted so that code moves between simple and robust mode unchanged; simple
            mode submits a new job on every call, so it changes nothing here.

    Returns:
        A `FetchOutput` dict: ``job_id``, ``backend_name``, ``primitive``, ``status``,
        ``result`` (the native ``PrimitiveResult``) and JSON-compatible ``metadata``.

    Raises:
        RuntimeConfigError: Both or neither of ``runtime_config``/``runtime_block_name``, or
            no Block of that name.
        BackendNotFoundError: The backend does not exist.
        InvalidInputError: Bad pubs, precision, options or artifact key; nothing was
            submitted.
        JobFailedError: The job failed.

    Example:
        ```python
        output = await run_estimator_task(pubs, runtime_block_name="ibm-runtime", precision=0.05)
        evs = output["result"][0].data.evs
        ```
    """
    request = JobRequest(
        "estimator", pubs, runtime_config, runtime_block_name, precision=precision, options=options
    )
    return await _run_primitive(request, artifact_key)


async def _run_primitive(request: JobRequest, artifact_key: str | None) -> FetchOutput:
    logger = run_logger()
    config = await request.aconfig()
    prepared = await aprepare_inputs(request, config)
    target = await aexecution_target(config, prepared.backend, logger)
    native_primitive = await call_blocking(
        build_native, request.primitive, config, target.native_mode,
        _guard_options(request.options, config), prepared.program,
    )  # fmt: skip
    return await _submit_and_wait(
        request.primitive,
        native_primitive,
        prepared.pubs,
        config=config,
        backend_name=str(prepared.backend.name),
        shots=request.shots,
        precision=request.precision,
        artifact_key=artifact_key,
        mode=target.mode,
        logger=logger,
    )


def _guard_options(options: object | None, config: QiskitRuntimeConfig) -> object | None:
    """``options`` with the job tags the cost guards need (`post_tags`), if any."""
    tags = post_tags(config)
    return _tagged_options(options, *tags) if tags else options


async def _submit_and_wait(
    primitive: PrimitiveName,
    native_primitive: Any,
    pubs: Sequence[object],
    *,
    config: QiskitRuntimeConfig,
    backend_name: str,
    shots: int | None,
    precision: float | None,
    artifact_key: str | None,
    mode: str,
    logger: Logger,
) -> FetchOutput:
    """Post the checked pubs, wait for the result, then build the output and its artifacts."""
    submitted = _finish.utc_now()
    started = time.monotonic()
    with behind_waiting_calls():
        service = await call_blocking(config.get_service)
        async with guarded_post(config, service, logger):
            job = await call_blocking(
                native.submit, native_primitive, pubs, shots=shots, precision=precision
            )
    job_id = str(job.job_id())
    logger.info(
        "Submitted %s job %s (%d pubs) to %s.", primitive, job_id, input_count(pubs), backend_name
    )
    status, result, report = await _wait_for_result(job, job_id, logger)
    done = _finish.FinishedJob(
        job, primitive, backend_name, status, result, report, shots=shots, precision=precision
    )
    output = await _finish.afinish(
        done, mode="simple", execution_mode=mode, num_pubs=input_count(pubs),
        submitted=submitted, started=started, logger=logger,
    )  # fmt: skip
    await acreate_result_artifacts(output, artifact_key)
    return output


async def _wait_for_result(
    job: Any, job_id: str, logger: Logger
) -> tuple[JobStatus, Any, native.ServiceReport]:
    """Poll on the event loop (no thread held while the job runs), then download the result.

    The job's timestamps and usage come from what the service already answered
    (`native.job_service_report`).
    """
    status = await waiting.wait_for_final_status(
        job,
        job_id,
        timeout=None,
        cancel_on_timeout=False,
        poll_interval=waiting.DEFAULT_POLL_INTERVAL,
        max_poll_interval=waiting.DEFAULT_MAX_POLL_INTERVAL,
        request_timeout=waiting.DEFAULT_REQUEST_TIMEOUT,
        progress=waiting.Progress(None, job_id, logger),
        logger=logger,
        just_submitted=True,
    )
    download = waiting.call_absorbing(
        f"the result download of job {job_id}",
        waiting.DEFAULT_REQUEST_TIMEOUT,
        logger,
        native.wait_for_result,
        job,
    )
    result = await download
    report = await call_blocking(native.job_service_report, job, result)
    return status, result, report


__all__ = ["run_estimator_task", "run_sampler_task"]
