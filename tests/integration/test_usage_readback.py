"""Reading usage tables back (sync and async), a Session's own usage, totals over flow runs."""

from __future__ import annotations

import asyncio
from typing import Any

from prefect import flow
from prefect.runtime import flow_run
from qiskit import QuantumCircuit
from qiskit_ibm_runtime import Session

from qcsc_prefect.integrations.qiskit import (
    QiskitRuntimeConfig,
    UsageTable,
    aread_usage_table,
    build_qiskit_sampler_input_digest,
    fetch_qiskit_job_result_task,
    qiskit_sampler_submit_cache_key,
    read_usage_table,
    submit_sampler_job_task,
    total_usage,
)


async def test_a_session_row_carries_the_services_usage_of_the_session(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    config = QiskitRuntimeConfig(backend_name="ibm_fez", execution_mode="session")

    @flow(name="usage-session-row")
    async def in_a_session() -> str:
        for shots in (10, 20):
            reference = await submit_sampler_job_task(
                [isa_bell], runtime_config=config, shots=shots
            )
            await fetch_qiskit_job_result_task(runtime_config=config, job_reference=reference)
        return str(flow_run.id)

    run_id = await in_a_session()
    table = await aread_usage_table(run_id)
    assert table == await asyncio.to_thread(read_usage_table, run_id)  # the sync form agrees
    assert [row["mode"] for row in table.jobs] == ["session", "session"]
    (session,) = table.sessions
    session_id = session["job_id"].removeprefix("SESSION ")
    service = config.get_service()
    assert {service.job(row["job_id"]).session_id for row in table.jobs} == {session_id}
    # The service reports the Session's usage itself (GET /sessions/{id}: elapsed_time).
    reported = Session.from_id(session_id, service).usage()
    assert isinstance(reported, float) and reported > 0
    assert session["qpu_seconds"] == reported
    assert table.totals["job_id"] == "TOTAL (2 jobs)"  # Session rows are not jobs
    totals = total_usage([table])
    assert totals.session_seconds == round(reported, 3)
    assert totals.billed_seconds == totals.session_seconds  # the jobs are inside the Session


async def test_total_usage_counts_a_job_reused_by_later_runs_once(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    config = QiskitRuntimeConfig(backend_name="ibm_fez")
    digest = build_qiskit_sampler_input_digest(
        [isa_bell], backend_name="ibm_fez", shots=77, cache_scope="global"
    )
    submit = submit_sampler_job_task.with_options(
        cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
    )

    @flow(name="usage-totals")
    async def cached_run() -> str:
        reference = await submit([isa_bell], runtime_config=config, shots=77, input_digest=digest)
        await fetch_qiskit_job_result_task(runtime_config=config, job_reference=reference)
        return str(flow_run.id)

    tables = [await aread_usage_table(await cached_run()) for _ in range(3)]
    assert [table.jobs[0]["origin"] for table in tables] == ["new", "cached", "cached"]
    assert runtime_emulator.control.job_count() == 1
    totals = total_usage(tables)
    seconds = tables[0].jobs[0]["qpu_seconds"]
    assert seconds > 0
    assert (totals.flow_runs, totals.jobs) == (3, 1)
    assert totals.qpu_seconds == totals.billed_seconds == round(seconds, 3)
    assert totals.session_seconds == 0


async def test_a_flow_run_without_jobs_has_an_empty_table(runtime_emulator: Any) -> None:
    @flow(name="usage-nothing")
    async def nothing() -> str:
        return str(flow_run.id)

    run_id = await nothing()
    assert await aread_usage_table(run_id) == UsageTable(run_id)
