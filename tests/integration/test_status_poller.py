"""Many waiting jobs, one shared status poller: few status requests per job (emulator)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING, Any

from prefect import flow

from qcsc_prefect.integrations.qiskit import FetchOutput, QiskitRuntimeConfig, run_sampler_task

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

    from qcsc_runtime_emulator import RuntimeEmulator

FEZ = QiskitRuntimeConfig(backend_name="ibm_fez")
JOBS = 12


def status_reads(log: list[dict[str, Any]]) -> tuple[Counter[str], int]:
    """``GET /jobs/{id}`` requests per job id, and ``GET /jobs`` list requests."""
    per_job: Counter[str] = Counter()
    lists = 0
    for entry in log:
        path = (entry.get("route_path") or entry["path"]).split("?", 1)[0]
        if entry["method"] != "GET" or not path.startswith("/jobs"):
            continue
        parts = path.strip("/").split("/")
        if len(parts) == 1:
            lists += 1
        elif len(parts) == 2:
            per_job[parts[1]] += 1
    return per_job, lists


async def test_waiting_jobs_share_one_poller(
    runtime_emulator: RuntimeEmulator, isa_bell: QuantumCircuit
) -> None:
    runtime_emulator.control.configure(queue_delay=2.0)

    @flow
    async def many() -> list[FetchOutput]:
        return list(
            await asyncio.gather(
                *(
                    run_sampler_task([isa_bell], runtime_config=FEZ, shots=100 + n)
                    for n in range(JOBS)
                )
            )
        )

    runtime_emulator.control.clear_log()
    outputs = await many()
    assert [o["status"] for o in outputs] == ["DONE"] * JOBS
    per_job, lists = status_reads(runtime_emulator.control.log())
    # A job just submitted gets its first status from the shared list requests too; its own
    # status request comes when the list says it has left the queue (or none at all, when a
    # page of finished jobs already showed its final status).
    assert max(per_job.values()) <= 2, per_job
    assert sum(per_job.values()) < 2 * JOBS, per_job
    assert lists >= 1  # rounds of the shared poller, whatever the number of jobs
