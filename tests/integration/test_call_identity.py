"""Call identities without a digest, on the thread runner: every way of calling a submit task.

Distinct calls are distinct jobs; the same call keeps its job across a flow retry. The other
task runners (Dask, Ray) are in tests/runners.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task, unmapped
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit.blocks import QiskitRuntimeConfig
from qcsc_prefect.integrations.qiskit.jobs import JobReference
from qcsc_prefect.integrations.qiskit.submit import submit_sampler_job_task

FEZ = "ibm_fez"


def _config() -> QiskitRuntimeConfig:
    return QiskitRuntimeConfig(backend_name=FEZ)


def _tags(runtime_emulator: Any) -> list[str]:
    return sorted(tag for job in runtime_emulator.control.jobs() for tag in job.get("tags") or [])


async def test_map_over_identical_items_submits_one_job_each(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    @flow
    def mapped() -> list[str]:
        futures = submit_sampler_job_task.map(
            [[isa_bell], [isa_bell]], runtime_config=unmapped(_config()), shots=unmapped(16)
        )
        return [future.result().job_id for future in futures]

    job_ids = mapped()
    assert len(set(job_ids)) == 2
    assert runtime_emulator.control.job_count() == 2
    assert len(set(_tags(runtime_emulator))) == 2


async def test_with_options_keeps_the_call_identity(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    named = submit_sampler_job_task.with_options(name="named_submit", retries=0)
    assert type(named) is type(submit_sampler_job_task)

    @flow(retries=1, retry_delay_seconds=0)
    def twice(attempts: list[int]) -> list[str]:
        futures = [named.submit([isa_bell], runtime_config=_config(), shots=16) for _ in range(2)]
        job_ids = [future.result().job_id for future in futures]
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("the flow failed after submitting")
        return job_ids

    job_ids = twice([])
    assert len(set(job_ids)) == 2
    assert runtime_emulator.control.job_count() == 2  # the retried attempt reused both


async def test_pubs_from_an_upstream_future_are_distinct_and_kept_on_flow_retry(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    @task
    def build() -> list[QuantumCircuit]:
        return [isa_bell]

    @flow(retries=1, retry_delay_seconds=0)
    def from_futures(attempts: list[int]) -> list[str]:
        built = build.submit()
        futures = [
            submit_sampler_job_task.submit(built, runtime_config=_config(), shots=16)
            for _ in range(2)
        ]
        references: list[JobReference] = [future.result() for future in futures]
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("the flow failed after submitting")
        return [reference.job_id for reference in references]

    job_ids = from_futures([])
    assert len(set(job_ids)) == 2
    assert runtime_emulator.control.job_count() == 2


async def test_direct_calls_and_submits_in_one_flow_are_all_distinct(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    @flow
    async def mixed() -> list[str]:
        called = await submit_sampler_job_task([isa_bell], runtime_config=_config(), shots=16)
        submitted = submit_sampler_job_task.submit([isa_bell], runtime_config=_config(), shots=16)
        return [called.job_id, submitted.result().job_id]

    job_ids = await mixed()
    assert len(set(job_ids)) == 2
    assert runtime_emulator.control.job_count() == 2


async def test_subflow_submissions_are_distinct_and_kept_on_a_parent_retry(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    @flow
    def child() -> list[str]:
        futures = [
            submit_sampler_job_task.submit([isa_bell], runtime_config=_config(), shots=16)
            for _ in range(2)
        ]
        return [future.result().job_id for future in futures]

    @flow(retries=1, retry_delay_seconds=0)
    def parent(attempts: list[int]) -> list[str]:
        job_ids = child() + child()
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("the parent failed after its subflows submitted")
        return job_ids

    job_ids = parent([])
    assert len(set(job_ids)) == 4
    assert runtime_emulator.control.job_count() == 4
