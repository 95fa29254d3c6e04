"""Robust fetch against the emulator: transient faults absorbed, terminal ones fail fast."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit.blocks import QiskitRuntimeConfig
from qcsc_prefect.integrations.qiskit.cache import (
    qiskit_result_fetch_cache_key,
    qiskit_sampler_submit_cache_key,
)
from qcsc_prefect.integrations.qiskit.digests import build_qiskit_sampler_input_digest
from qcsc_prefect.integrations.qiskit.errors import (
    JobFailedError,
    JobNotFoundError,
    JobRanTooLongError,
    JobTimeoutError,
    RuntimeApiError,
)
from qcsc_prefect.integrations.qiskit.fetch import fetch_qiskit_job_result_task
from qcsc_prefect.integrations.qiskit.jobs import JobReference
from qcsc_prefect.integrations.qiskit.retry import (
    qiskit_retry_delays,
    should_retry_qiskit_fetch_failure,
)
from qcsc_prefect.integrations.qiskit.submit import submit_sampler_job_task

FEZ = "ibm_fez"
JOB_PATH = r"/jobs/[^/]+$"


def _config() -> QiskitRuntimeConfig:
    return QiskitRuntimeConfig(backend_name=FEZ)


def _retrying_fetch(retries: int = 3) -> Any:
    return fetch_qiskit_job_result_task.with_options(
        retries=retries,
        retry_delay_seconds=0,
        retry_condition_fn=should_retry_qiskit_fetch_failure,
    )


async def _submit(pubs: list[QuantumCircuit], shots: int = 40) -> JobReference:
    @flow
    async def submit_only() -> JobReference:
        return await submit_sampler_job_task(pubs, runtime_config=_config(), shots=shots)

    return await submit_only()


async def _fetch(ref: JobReference, **options: Any) -> Any:
    retries = options.pop("retries", 0)

    @flow
    async def fetch_only() -> tuple[Any]:
        state = await _retrying_fetch(retries)(
            runtime_config=_config(), job_reference=ref, return_state=True, **options
        )
        return (state,)  # a bare state would become the flow's own final state

    (state,) = await fetch_only()
    return state


@pytest.mark.parametrize(
    "action",
    [
        {"status": 429},
        {"status": 429, "headers": {"Retry-After": "1"}},
        {"status": 503},
        {"status": 502},
        {"reset": True},
    ],
    ids=["429", "429-retry-after", "503", "502", "reset"],
)
async def test_fetch_rides_out_transient_faults(
    runtime_emulator: Any, isa_bell: QuantumCircuit, action: dict[str, Any]
) -> None:
    ref = await _submit([isa_bell])
    runtime_emulator.control.add_fault("GET", JOB_PATH, action, times=3)
    state = await _fetch(ref)
    assert state.is_completed(), state
    output = await state.result()
    assert sum(output["result"][0].data.meas.get_counts().values()) == 40
    assert runtime_emulator.control.job_count() == 1


async def test_many_429s_fail_an_attempt_and_the_retry_condition_retries(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    ref = await _submit([isa_bell])
    runtime_emulator.control.add_fault("GET", JOB_PATH, {"status": 429}, times=8)
    state = await _fetch(ref, retries=2)
    assert state.is_completed()
    task_run = await _task_run_of(state)
    assert task_run.run_count == 2
    assert runtime_emulator.control.job_count() == 1


async def test_terminal_failure_fails_fast_without_retry(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    runtime_emulator.control.configure(paused=True)
    ref = await _submit([isa_bell])
    runtime_emulator.control.set_job_state(
        ref.job_id, "Failed", reason="Error code 1517; bad circuit", reason_code=1517
    )
    started = time.monotonic()
    state = await _fetch(ref, retries=3)
    assert time.monotonic() - started < 10
    assert state.is_failed()
    with pytest.raises(JobFailedError) as caught:
        await state.result()
    assert caught.value.job_id == ref.job_id
    assert (await _task_run_of(state)).run_count == 1


async def test_ran_too_long_is_terminal(runtime_emulator: Any, isa_bell: QuantumCircuit) -> None:
    runtime_emulator.control.configure(paused=True)
    ref = await _submit([isa_bell])
    runtime_emulator.control.set_job_state(
        ref.job_id, "Cancelled", reason="Ran too long", reason_code=1305
    )
    state = await _fetch(ref, retries=3)
    with pytest.raises(JobRanTooLongError):
        await state.result()
    assert (await _task_run_of(state)).run_count == 1


async def test_wait_timeout_is_bounded_and_refetch_continues(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    runtime_emulator.control.configure(paused=True)
    ref = await _submit([isa_bell])
    started = time.monotonic()
    state = await _fetch(ref, timeout=1.5)
    assert time.monotonic() - started < 8
    with pytest.raises(JobTimeoutError) as caught:
        await state.result()
    assert caught.value.last_status == "QUEUED"
    runtime_emulator.control.configure(paused=False)
    state = await _fetch(ref)
    assert state.is_completed()
    assert runtime_emulator.control.job_count() == 1


async def test_cancel_on_timeout(runtime_emulator: Any, isa_bell: QuantumCircuit) -> None:
    runtime_emulator.control.configure(paused=True)
    ref = await _submit([isa_bell])
    state = await _fetch(ref, timeout=1.0, cancel_on_timeout=True)
    with pytest.raises(JobTimeoutError, match="cancelled"):
        await state.result()
    (job,) = runtime_emulator.control.jobs()
    assert job["status"] == "Cancelled"


async def test_stalled_server_ends_in_bounded_error(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    ref = await _submit([isa_bell])
    runtime_emulator.control.add_fault("GET", JOB_PATH, {"delay": 20}, times=50)
    started = time.monotonic()
    state = await _fetch(ref, request_timeout=0.5, timeout=30)
    elapsed = time.monotonic() - started
    runtime_emulator.control.clear_faults()
    assert elapsed < 25
    with pytest.raises(RuntimeApiError) as caught:
        await state.result()
    assert caught.value.http_status == -1


async def test_failed_job_is_not_reused_by_the_next_run(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    @flow
    async def cached_robust_flow() -> Any:
        pubs = [isa_bell]
        digest = build_qiskit_sampler_input_digest(
            pubs, backend_name=FEZ, shots=25, cache_scope="flow"
        )
        ref = await submit_sampler_job_task.with_options(
            cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
        )(pubs, runtime_config=_config(), shots=25, input_digest=digest)
        if runtime_emulator.control.config()["paused"]:
            runtime_emulator.control.set_job_state(ref.job_id, "Failed", reason_code=1517)
        return await fetch_qiskit_job_result_task(runtime_config=_config(), job_reference=ref)

    runtime_emulator.control.configure(paused=True)
    with pytest.raises(JobFailedError):
        await cached_robust_flow()
    runtime_emulator.control.configure(paused=False)
    output = await cached_robust_flow()
    jobs = runtime_emulator.control.jobs()
    assert len(jobs) == 2
    failed = [job for job in jobs if job["status"] == "Failed"]
    assert len(failed) == 1 and failed[0]["id"] != output["job_id"]


async def test_expired_results_fail_clearly_and_the_next_run_resubmits(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    @flow
    async def cached_robust_flow() -> Any:
        pubs = [isa_bell]
        digest = build_qiskit_sampler_input_digest(
            pubs, backend_name=FEZ, shots=26, cache_scope="flow"
        )
        ref = await submit_sampler_job_task.with_options(
            cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
        )(pubs, runtime_config=_config(), shots=26, input_digest=digest)
        return await fetch_qiskit_job_result_task(runtime_config=_config(), job_reference=ref)

    first = await cached_robust_flow()
    runtime_emulator.control.expire_job(first["job_id"])
    with pytest.raises(JobNotFoundError, match="no longer retains"):
        await cached_robust_flow()
    third = await cached_robust_flow()
    assert third["job_id"] != first["job_id"]
    assert runtime_emulator.control.job_count() == 2


@pytest.mark.parametrize("serializer", ["compressed/pickle", "qiskit-runtime-json"])
async def test_result_cache_restores_without_calling_the_service(
    runtime_emulator: Any, isa_bell: QuantumCircuit, serializer: str
) -> None:
    ref = await _submit([isa_bell], shots=30)

    @flow
    async def restore_flow() -> Any:
        return (
            await fetch_qiskit_job_result_task.with_options(
                cache_key_fn=qiskit_result_fetch_cache_key,
                persist_result=True,
                result_serializer=serializer,
                retries=len(qiskit_retry_delays()),
                retry_delay_seconds=qiskit_retry_delays(),
                retry_condition_fn=should_retry_qiskit_fetch_failure,
            )(runtime_config=_config(), job_reference=ref, return_state=True),
        )

    (first,) = await restore_flow()
    runtime_emulator.control.clear_log()
    (second,) = await restore_flow()
    assert (first.name, second.name) == ("Completed", "Cached")
    first_counts = (await first.result())["result"][0].data.meas.get_counts()
    second_counts = (await second.result())["result"][0].data.meas.get_counts()
    assert first_counts == second_counts
    # Only this job's requests count: a stalled handler of an earlier test may still log late.
    job_paths = [e["path"] for e in runtime_emulator.control.log() if ref.job_id in e["path"]]
    assert job_paths == []


async def test_emulator_restart_mid_job(
    isa_bell: QuantumCircuit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qcsc_runtime_emulator import RuntimeEmulator

    state_dir = tmp_path / "emulator-state"
    first = RuntimeEmulator(state_dir=state_dir, queue_delay=30).start()
    port = first.port
    for name, value in first.env().items():
        monkeypatch.setenv(name, value)
    try:
        ref = await _submit([isa_bell], shots=12)
    finally:
        first.stop()

    second = RuntimeEmulator(port=port, state_dir=state_dir, queue_delay=0).start()
    try:
        state = await _fetch(ref)
        assert state.is_completed()
        output = await state.result()
        assert sum(output["result"][0].data.meas.get_counts().values()) == 12
        assert second.control.job_count() == 1
    finally:
        second.stop()


async def _task_run_of(state: Any) -> Any:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return await client.read_task_run(state.state_details.task_run_id)
