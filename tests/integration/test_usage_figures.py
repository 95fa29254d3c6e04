"""Usage rows are the service's own figures (issue 22 item 6): one row per job, never doubled.

Every cost guard and every total reads the QPU seconds of the usage table, so each row is
compared with what the service says about that job: the emulator's record of how long the job
ran (``usage_seconds`` in the control API) and the job's reported usage (``RuntimeJobV2.usage()``).
A row counted twice, a doubled figure or a missing row fails `assert_rows_are_the_services`; the
last test shows it does.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from prefect import flow
from prefect.runtime import flow_run
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qcsc_prefect.integrations.qiskit import (
    QiskitRuntimeConfig,
    UsageTable,
    aread_usage_table,
    build_qiskit_sampler_input_digest,
    fetch_qiskit_job_result_task,
    qiskit_sampler_submit_cache_key,
    run_estimator_task,
    run_sampler_task,
    submit_estimator_job_task,
    submit_sampler_job_task,
)

#: Each job stays Running this long on the emulator, so that its usage is well above zero.
RUN_DELAY = 0.2


def assert_rows_are_the_services(
    table: UsageTable, service_jobs: list[dict[str, Any]], origins: list[str]
) -> None:
    """Each job of ``service_jobs`` has exactly one row, whose QPU seconds are the service's.

    Args:
        table: The flow run's usage table.
        service_jobs: The emulator's records of the jobs the flow run used (control API).
        origins: The expected ``origin`` of each row, in the order of ``service_jobs``.
    """
    by_id = {job["id"]: job for job in service_jobs}
    assert sorted(row["job_id"] for row in table.jobs) == sorted(by_id), table.jobs
    for row, origin in zip(sorted(table.jobs, key=_order(service_jobs)), origins, strict=True):
        used = by_id[row["job_id"]]["usage_seconds"]
        assert used > 0, by_id[row["job_id"]]  # a doubled zero would go unseen
        assert row["qpu_seconds"] == used, (row, used)
        assert row["origin"] == origin, row
    total = round(sum(job["usage_seconds"] for job in service_jobs), 3)
    assert table.totals["qpu_seconds"] == total, (table.totals, total)
    assert table.totals["job_id"] == f"TOTAL ({len(service_jobs)} jobs)"


def _order(service_jobs: list[dict[str, Any]]) -> Any:
    positions = {job["id"]: index for index, job in enumerate(service_jobs)}
    return lambda row: positions.get(row["job_id"], len(positions))


def assert_reported_usage_agrees(runtime_emulator: Any, table: UsageTable) -> None:
    """Each row's QPU seconds are also what the client reports for the job (``job.usage()``)."""
    service = runtime_emulator.service()
    for row in table.jobs:
        assert row["qpu_seconds"] == service.job(row["job_id"]).usage(), row


@pytest.mark.parametrize("api", ["v2", "executor"])
@pytest.mark.parametrize("mode", ["simple", "robust"])
async def test_each_new_jobs_row_is_the_services_usage(
    runtime_emulator: Any,
    isa_bell: QuantumCircuit,
    isa_estimator_pub: tuple[QuantumCircuit, list[SparsePauliOp]],
    mode: str,
    api: str,
) -> None:
    runtime_emulator.control.configure(run_delay=RUN_DELAY)
    config = QiskitRuntimeConfig(backend_name="ibm_fez", primitive_api=api)  # type: ignore[arg-type]

    @flow(name=f"usage-figures-{mode}-{api}")
    async def sampler_and_estimator() -> str:
        if mode == "simple":
            await run_sampler_task([isa_bell], runtime_config=config, shots=16)
            await run_estimator_task([isa_estimator_pub], runtime_config=config, precision=0.1)
        else:
            sampled = await submit_sampler_job_task([isa_bell], runtime_config=config, shots=16)
            estimated = await submit_estimator_job_task(
                [isa_estimator_pub], runtime_config=config, precision=0.1
            )
            for reference in (sampled, estimated):
                await fetch_qiskit_job_result_task(runtime_config=config, job_reference=reference)
        return str(flow_run.id)

    table = await aread_usage_table(await sampler_and_estimator())
    jobs = runtime_emulator.control.jobs()
    assert len(jobs) == 2
    assert_rows_are_the_services(table, jobs, ["new", "new"])
    assert_reported_usage_agrees(runtime_emulator, table)


@pytest.mark.parametrize("api", ["v2", "executor"])
async def test_adopted_and_cached_jobs_rows_are_the_services_usage(
    runtime_emulator: Any, isa_bell: QuantumCircuit, api: str
) -> None:
    """A job adopted after a dropped connection, restored from the cache, adopted on rerun."""
    runtime_emulator.control.configure(run_delay=RUN_DELAY)
    # The job is created, then the connection drops: the submit task finds it by its tag.
    runtime_emulator.control.add_fault("POST", r"/jobs$", {"create_then_reset": True})
    config = QiskitRuntimeConfig(backend_name="ibm_fez", primitive_api=api)  # type: ignore[arg-type]
    pubs = [isa_bell]
    digest = build_qiskit_sampler_input_digest(
        pubs, backend_name="ibm_fez", shots=24, cache_scope="global"
    )
    submit = submit_sampler_job_task.with_options(
        cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
    )

    @flow(name=f"usage-figures-rerun-{api}")
    async def rerun(bypass_cache: bool) -> str:
        task = (
            submit.with_options(cache_key_fn=lambda _c, _p: f"fresh-{uuid.uuid4().hex}")
            if bypass_cache
            else submit
        )
        reference = await task(pubs, runtime_config=config, shots=24, input_digest=digest)
        await fetch_qiskit_job_result_task(runtime_config=config, job_reference=reference)
        return str(flow_run.id)

    for bypass_cache, origin in [(False, "reused"), (False, "cached"), (True, "reused")]:
        table = await aread_usage_table(await rerun(bypass_cache))
        (job,) = runtime_emulator.control.jobs()  # one job, whatever each run did
        assert_rows_are_the_services(table, [job], [origin])
    assert_reported_usage_agrees(runtime_emulator, table)


def test_the_check_fails_on_a_doubled_or_repeated_row() -> None:
    """The positive control: the check above rejects what a wrong table would show."""
    jobs = [{"id": "a", "usage_seconds": 0.2}, {"id": "b", "usage_seconds": 0.3}]
    rows = [
        {"job_id": "a", "qpu_seconds": 0.2, "origin": "new"},
        {"job_id": "b", "qpu_seconds": 0.3, "origin": "new"},
    ]
    totals = {"job_id": "TOTAL (2 jobs)", "qpu_seconds": 0.5}
    assert_rows_are_the_services(UsageTable("run", rows, [], totals), jobs, ["new", "new"])
    doubled = [rows[0], {**rows[1], "qpu_seconds": 0.6}]
    doubled_totals = {**totals, "qpu_seconds": 0.8}
    repeated = [*rows, rows[1]]
    repeated_totals = {"job_id": "TOTAL (3 jobs)", "qpu_seconds": 0.8}
    for bad_rows, bad_totals in [(doubled, doubled_totals), (repeated, repeated_totals)]:
        with pytest.raises(AssertionError):
            assert_rows_are_the_services(
                UsageTable("run", bad_rows, [], bad_totals), jobs, ["new", "new"]
            )


async def test_a_job_two_submitters_share_has_one_row(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    """Two submit calls of one flow run with one digest share a job; both fetch it."""
    runtime_emulator.control.configure(run_delay=RUN_DELAY)
    config = QiskitRuntimeConfig(backend_name="ibm_fez")
    pubs = [isa_bell]
    digest = build_qiskit_sampler_input_digest(
        pubs, backend_name="ibm_fez", shots=12, cache_scope="global"
    )

    @flow(name="usage-figures-shared")
    async def shared() -> str:
        for _ in range(2):
            reference = await submit_sampler_job_task(
                pubs, runtime_config=config, shots=12, input_digest=digest
            )
            await fetch_qiskit_job_result_task(runtime_config=config, job_reference=reference)
        return str(flow_run.id)

    table = await aread_usage_table(await shared())
    (job,) = runtime_emulator.control.jobs()
    assert_rows_are_the_services(table, [job], ["new"])
