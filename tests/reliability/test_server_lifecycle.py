"""Scenario 4: the service restarts, forgets results, fails or cancels jobs.

Each terminal outcome must be: terminal (no fetch retry), a message naming the job and what
happened, and the cached submit entry invalidated so that the next run submits a new job
(which must then succeed), while the failed job is never adopted again.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.filesystems import LocalFileSystem
from prefect.results import ResultStore

from qcsc_prefect.integrations.qiskit import (
    JobCancelledError,
    JobFailedError,
    JobNotFoundError,
    JobRanTooLongError,
    QiskitRuntimeConfig,
    build_qiskit_sampler_input_digest,
    fetch_qiskit_job_result_task,
    qiskit_sampler_submit_cache_key,
    should_retry_qiskit_fetch_failure,
    submit_sampler_job_task,
)

FEZ = "ibm_fez"


def _cached_flow(pubs: list[Any], shots: int, *, fetch: bool = True) -> Any:
    config = QiskitRuntimeConfig(backend_name=FEZ)
    name = f"reliability-lifecycle-{uuid.uuid4().hex[:10]}"

    async def body(do_fetch: bool) -> Any:
        digest = build_qiskit_sampler_input_digest(
            pubs, backend_name=FEZ, shots=shots, cache_scope="flow"
        )
        ref = await submit_sampler_job_task.with_options(
            cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
        )(pubs, runtime_config=config, shots=shots, input_digest=digest)
        if not do_fetch:
            return ref
        state = await fetch_qiskit_job_result_task.with_options(
            retries=3, retry_delay_seconds=0.2, retry_condition_fn=should_retry_qiskit_fetch_failure
        )(runtime_config=config, job_reference=ref, return_state=True)
        return ref, state

    return flow(name=name)(body)


async def _runs_of(state: Any) -> int:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        task_run = await client.read_task_run(state.state_details.task_run_id)
    return int(task_run.run_count)


@pytest.mark.parametrize(
    ("outcome", "error", "words"),
    [
        ("expired", JobNotFoundError, "no longer retains"),
        ("failed-1517", JobFailedError, "1517"),
        ("cancelled", JobCancelledError, "cancel"),
        ("ran-too-long-1305", JobRanTooLongError, "1305"),
    ],
    ids=["expired", "failed-1517", "cancelled", "ran-too-long-1305"],
)
async def test_terminal_outcome(
    runtime_emulator: Any,
    isa_bell: Any,
    scenario: Any,
    state_dir: Path,
    outcome: str,
    error: type[Exception],
    words: str,
) -> None:
    control = runtime_emulator.control
    shots = 60
    run = _cached_flow([isa_bell], shots)
    if outcome == "expired":
        first_ref, first_state = await run(True)
        assert first_state.is_completed()
        control.expire_job(first_ref.job_id)
    else:
        control.configure(paused=True)
        first_ref = await run(False)
        status, reason, code = {
            "failed-1517": ("Failed", "instruction not supported", 1517),
            "cancelled": ("Cancelled", "cancelled by the user", None),
            "ran-too-long-1305": ("Cancelled", "ran too long", 1305),
        }[outcome]
        control.set_job_state(first_ref.job_id, status, reason, code)
        control.configure(paused=False)
    assert first_ref.cache_key is not None
    store = ResultStore(result_storage=LocalFileSystem(basepath=str(state_dir / "prefect-storage")))
    assert await store.aexists(first_ref.cache_key)

    ref, state = await run(True)
    assert ref.job_id == first_ref.job_id  # the cached reference, as documented
    assert state.is_failed()
    with pytest.raises(error) as info:
        await state.result()
    message = str(info.value)
    assert first_ref.job_id in message and words in message.lower(), message
    assert await _runs_of(state) == 1, "a terminal outcome must not be retried"
    assert not await store.aexists(first_ref.cache_key), "the submit cache entry still answers"

    third_ref, third_state = await run(True)
    assert third_ref.job_id != first_ref.job_id
    assert third_state.is_completed()
    counts = (await third_state.result())["result"][0].data.meas.get_counts()
    scenario.result(sum(counts.values()) == shots and set(counts) == {"00", "11"})
    # The dead job stays dead: a fourth run reuses the new job, never the old one.
    fourth_ref, _ = await run(True)
    assert fourth_ref.job_id == third_ref.job_id
    failed_live = 0 if outcome in ("cancelled", "ran-too-long-1305") else 1
    scenario.jobs(expected_live=1 + failed_live, forced={first_ref.job_id})
    assert scenario.row.jobs_created == 2


async def test_restart_mid_queue_while_fetching(
    isa_bell: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: Any
) -> None:
    """The service goes down and comes back (same state) while the fetch is polling."""
    from qcsc_runtime_emulator import RuntimeEmulator

    state = tmp_path / "emulator-state"
    first = RuntimeEmulator(state_dir=state).start()
    port = first.port
    for name, value in first.env().items():
        monkeypatch.setenv(name, value)
    first.control.configure(paused=True)
    run = _cached_flow([isa_bell], 61)
    second = None
    try:
        fetching = asyncio.ensure_future(run(True))
        while not any("/jobs/" in e["path"] for e in first.control.log()):
            assert not fetching.done(), fetching.result()
            await asyncio.sleep(0.1)
        await asyncio.to_thread(first.stop)
        await asyncio.sleep(1.0)  # the fetch now meets a refused connection
        second = await asyncio.to_thread(
            lambda: RuntimeEmulator(port=port, state_dir=state).start()
        )
        ref, fetch_state = await asyncio.wait_for(fetching, 120)
        assert fetch_state.is_completed()
        counts = (await fetch_state.result())["result"][0].data.meas.get_counts()
        scenario.result(sum(counts.values()) == 61)
        jobs = scenario.jobs(second)
        assert [job["id"] for job in jobs] == [ref.job_id]
    finally:
        if second is not None:
            second.stop()
        first.stop()
