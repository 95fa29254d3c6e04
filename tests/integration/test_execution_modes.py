"""Batch and Session modes: one per flow run, resumed after a crash, closed at the end."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit import (
    QiskitRuntimeConfig,
    RuntimeConfigError,
    build_qiskit_sampler_input_digest,
    fetch_qiskit_job_result_task,
    qiskit_sampler_submit_cache_key,
    run_sampler_task,
    submit_sampler_job_task,
)

WORKER = Path(__file__).with_name("batch_worker.py")


def _requests(control: Any, method: str, suffix: str) -> list[dict[str, Any]]:
    return [
        entry
        for entry in control.log()
        if entry["method"] == method and str(entry["path"]).endswith(suffix)
    ]


def _session_opens(control: Any) -> int:
    return len(_requests(control, "POST", "/sessions"))


def _session_closes(control: Any) -> list[dict[str, Any]]:
    return [
        entry
        for entry in control.log()
        if entry["method"] == "PATCH" and "/sessions/" in str(entry["path"])
    ]


async def test_batch_mode_opens_one_batch_and_closes_it_when_the_flow_ends(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    control = runtime_emulator.control
    config = QiskitRuntimeConfig(backend_name="ibm_fez", execution_mode="batch")

    @flow(name="batch-mode-ten-jobs")
    async def ten_jobs() -> list[Any]:
        references = []
        for index in range(10):
            references.append(
                await submit_sampler_job_task([isa_bell], runtime_config=config, shots=200 + index)
            )
        for reference in references:
            await fetch_qiskit_job_result_task(runtime_config=config, job_reference=reference)
        return references

    references = await ten_jobs()
    session_ids = {ref.session_id for ref in references}
    assert len(session_ids) == 1 and None not in session_ids
    assert {ref.execution_mode for ref in references} == {"batch"}
    assert _session_opens(control) == 1
    jobs = control.jobs()
    assert len(jobs) == 10
    (session_id,) = session_ids
    assert any(str(session_id) in str(entry["path"]) for entry in _session_closes(control))


async def test_simple_mode_runs_in_a_session(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    config = QiskitRuntimeConfig(backend_name="ibm_fez", execution_mode="session")

    @flow(name="session-mode-simple")
    async def two_runs() -> list[str]:
        first = await run_sampler_task([isa_bell], runtime_config=config, shots=50)
        second = await run_sampler_task([isa_bell], runtime_config=config, shots=51)
        return [first["job_id"], second["job_id"]]

    job_ids = await two_runs()
    service = runtime_emulator.service()
    sessions = {service.job(job_id).session_id for job_id in job_ids}
    assert len(sessions) == 1 and None not in sessions
    assert _session_opens(runtime_emulator.control) == 1


@pytest.mark.parametrize("mode", ["batch", "session"])
async def test_local_channel_cannot_hold_a_batch(mode: str, isa_bell: QuantumCircuit) -> None:
    config = QiskitRuntimeConfig(backend_name="fake_manila", channel="local", execution_mode=mode)  # type: ignore[arg-type]

    @flow
    async def local_batch() -> None:
        await run_sampler_task([isa_bell], runtime_config=config, shots=10)

    with pytest.raises(RuntimeConfigError, match="execution_mode='job'") as raised:
        await local_batch()
    assert "Nothing was submitted" in str(raised.value)


def test_killed_flow_rerun_resumes_its_batch_without_duplicates(
    runtime_emulator: Any, worker_env: dict[str, str]
) -> None:
    control = runtime_emulator.control
    control.configure(queue_delay=30.0)  # jobs stay queued: the kill lands mid-run
    victim = subprocess.Popen(
        [sys.executable, str(WORKER), "batch"],
        env=worker_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    submitted: list[dict[str, Any]] = []
    deadline = time.monotonic() + 150
    assert victim.stdout is not None
    while len(submitted) < 4:
        line = victim.stdout.readline()
        assert line, victim.stderr.read()[-3000:] if victim.stderr else "worker ended"  # type: ignore[union-attr]
        if line.startswith("{"):
            submitted.append(json.loads(line))
        assert time.monotonic() < deadline
    victim.kill()
    victim.wait()
    first_batch = submitted[0]["session_id"]
    assert first_batch is not None and {s["session_id"] for s in submitted} == {first_batch}
    control.configure(queue_delay=0.0)

    rerun = subprocess.run(
        [sys.executable, str(WORKER), "batch"],
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    events = [json.loads(line) for line in rerun.stdout.splitlines() if line.startswith("{")]
    resumed = [event for event in events if event["event"] == "submitted"]
    assert {event["session_id"] for event in resumed} == {first_batch}
    assert [e["job_id"] for e in resumed[: len(submitted)]] == [e["job_id"] for e in submitted]
    jobs = control.jobs()
    assert len(jobs) == 10, "the rerun created duplicate jobs"
    assert _session_opens(control) == 1, "the rerun opened another batch"


async def test_joining_a_given_batch_and_refusing_an_unknown_one(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    from qiskit_ibm_runtime import Batch

    control = runtime_emulator.control
    service = runtime_emulator.service()
    batch = Batch(backend=service.backend("ibm_fez"))
    given = QiskitRuntimeConfig(
        backend_name="ibm_fez", execution_mode="batch", session_id=batch.session_id
    )
    unknown = QiskitRuntimeConfig(
        backend_name="ibm_fez", execution_mode="batch", session_id="no-such-batch"
    )

    @flow(name="batch-mode-given")
    async def run_in(config: QiskitRuntimeConfig) -> str:
        output = await run_sampler_task([isa_bell], runtime_config=config, shots=12)
        return str(output["job_id"])

    job_id = await run_in(given)
    assert service.job(job_id).session_id == batch.session_id
    assert not _session_closes(control), "a caller's batch must not be closed by the flow"
    with pytest.raises(RuntimeConfigError, match="does not know") as raised:
        await run_in(unknown)
    assert "Nothing was submitted" in str(raised.value)
    assert control.job_count() == 1
    batch.close()


def _digest(pubs: list[Any], shots: int) -> str:
    return build_qiskit_sampler_input_digest(
        pubs, backend_name="ibm_fez", shots=shots, cache_scope="global"
    )


async def test_cached_submit_in_batch_mode_reuses_the_job(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    config = QiskitRuntimeConfig(backend_name="ibm_fez", execution_mode="batch")
    submit = submit_sampler_job_task.with_options(
        cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
    )

    @flow(name="batch-mode-cached")
    async def once() -> Any:
        pubs = [isa_bell]
        return await submit(pubs, runtime_config=config, shots=77, input_digest=_digest(pubs, 77))

    first = await once()
    second = await once()
    assert second.job_id == first.job_id
    assert runtime_emulator.control.job_count() == 1
