"""Scenario 3: many submitters at once.

* 50 tasks in one flow submit identical inputs (global scope), through the wrapper: one job.
* 10 processes submit identical inputs (global scope) at the same moment: one job.
* 50 distinct inputs at once in one flow: 50 jobs, all fetched, none mixed up. Each circuit
  prepares a different basis state and runs a different number of shots, so a result that
  belongs to another input is caught by its bit string and by its shot count.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from prefect import flow

from qcsc_prefect.integrations.qiskit import (
    QCSCSamplerV2,
    QiskitRuntimeConfig,
    fetch_qiskit_job_result_task,
    submit_sampler_job_task,
)

FEZ = "ibm_fez"


def _basis_state_circuit(index: int, width: int = 6) -> Any:
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(width)
    for bit in range(width):
        if (index >> bit) & 1:
            circuit.x(bit)
    circuit.measure_all()
    return circuit


async def test_fifty_identical_tasks_in_one_flow_make_one_job(
    runtime_emulator: Any, isa_bell: Any, scenario: Any
) -> None:
    runtime_emulator.control.configure(queue_delay=0.5)
    shots = 50 + uuid.uuid4().int % 1000  # a fresh global digest for this run
    sampler = QCSCSamplerV2(runtime_config=QiskitRuntimeConfig(backend_name=FEZ))

    @flow(name="reliability-fifty-identical")
    async def fifty() -> list[dict[str, Any]]:
        outputs = await asyncio.gather(
            *(
                sampler.arun_and_fetch(
                    [isa_bell], shots=shots, cache_submit=True, cache_scope="global"
                )
                for _ in range(50)
            )
        )
        return [dict(output) for output in outputs]

    outputs = await fifty()
    job_ids = {output["job_id"] for output in outputs}
    ok = all(
        sum(o["result"][0].data.meas.get_counts().values()) == shots
        and set(o["result"][0].data.meas.get_counts()) == {"00", "11"}
        for o in outputs
    )
    scenario.result(ok and len(outputs) == 50)
    jobs = scenario.jobs()
    assert len(job_ids) == 1, job_ids
    assert [job["id"] for job in jobs] == list(job_ids)


@pytest.mark.slow
def test_ten_identical_processes_make_one_job(
    runtime_emulator: Any, start_worker: Callable[..., Any], scenario: Any
) -> None:
    runtime_emulator.control.configure(queue_delay=0.5)
    shots = str(200 + uuid.uuid4().int % 1000)
    workers = [start_worker("--shots", shots, "--fetch", "--variant", "1") for _ in range(10)]
    fetched = []
    for worker in workers:
        worker.finish(timeout=300)
        assert worker.process.returncode == 0, worker.stderr[-3000:]
        fetched.append(worker.events()[-1])
    job_ids = {event["job_id"] for event in fetched}
    scenario.result(all(sum(e["counts"].values()) == int(shots) for e in fetched))
    jobs = scenario.jobs()
    assert len(job_ids) == 1, job_ids
    assert [job["id"] for job in jobs] == list(job_ids)


async def test_fifty_distinct_inputs_are_never_mixed_up(
    runtime_emulator: Any, pass_manager: Any, scenario: Any
) -> None:
    circuits = [pass_manager.run(_basis_state_circuit(i)) for i in range(50)]
    config = QiskitRuntimeConfig(backend_name=FEZ)

    @flow(name=f"reliability-fifty-distinct-{uuid.uuid4().hex[:8]}")
    async def fifty() -> list[tuple[int, str, dict[str, int]]]:
        async def one(index: int) -> tuple[int, str, dict[str, int]]:
            ref = await submit_sampler_job_task(
                [circuits[index]], runtime_config=config, shots=100 + index
            )
            output = await fetch_qiskit_job_result_task(
                runtime_config=config, job_reference=ref, pubs=[circuits[index]]
            )
            return index, output["job_id"], output["result"][0].data.meas.get_counts()

        return list(await asyncio.gather(*(one(i) for i in range(50))))

    results = await fifty()
    wrong = [
        (index, counts)
        for index, _, counts in results
        if counts != {format(index, "06b"): 100 + index}
    ]
    job_ids = {job_id for _, job_id, _ in results}
    scenario.result(not wrong and len(results) == 50)
    jobs = scenario.jobs(expected_live=50)
    assert not wrong, wrong[:5]
    assert len(job_ids) == 50
    assert {job["id"] for job in jobs} == job_ids
