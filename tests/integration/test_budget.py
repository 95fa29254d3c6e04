"""The QPU budget per flow run (issue 22): refused at the budget, nothing posted, rest fetched."""

from __future__ import annotations

from typing import Any

import pytest
from prefect import flow
from prefect.context import get_run_context
from prefect.task_runners import ThreadPoolTaskRunner
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit import (
    QiskitRuntimeConfig,
    QpuBudgetExceededError,
    aread_usage_table,
    fetch_qiskit_job_result_task,
    run_sampler_task,
    submit_sampler_job_task,
)

#: Each job stays Running this long on the emulator: it uses about a third of BUDGET.
RUN_DELAY = 0.4
BUDGET = round(3 * RUN_DELAY, 3)  # 1.2, not 1.2000000000000002: three 0.4 s jobs reach it


def _flow_run_id() -> str:
    return str(get_run_context().flow_run.id)  # type: ignore[union-attr]


async def test_robust_flow_stops_at_the_budget_and_fetches_what_it_submitted(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    runtime_emulator.control.configure(run_delay=RUN_DELAY)
    config = QiskitRuntimeConfig(backend_name="ibm_fez", qpu_budget_seconds=BUDGET)

    @flow
    async def sweep() -> tuple[int, QpuBudgetExceededError | None, str]:
        fetched = 0
        for shots in range(10, 16):
            try:
                ref = await submit_sampler_job_task([isa_bell], runtime_config=config, shots=shots)
            except QpuBudgetExceededError as exc:
                return fetched, exc, _flow_run_id()
            await fetch_qiskit_job_result_task(job_reference=ref, runtime_config=config)
            fetched += 1
        return fetched, None, _flow_run_id()

    fetched, refused, flow_run_id = await sweep()
    jobs = runtime_emulator.control.jobs()
    assert fetched == len(jobs) >= 2  # every job submitted was fetched
    used = [job["usage_seconds"] for job in jobs]
    # Refused exactly when the committed total (the service's own usage) reached the budget.
    assert sum(used[:-1]) < BUDGET <= sum(used)
    assert refused is not None
    assert refused.budget_seconds == BUDGET and refused.committed_seconds >= BUDGET
    assert "qpu_budget_seconds" in str(refused) and f"{BUDGET:g}" in str(refused)
    table = await aread_usage_table(flow_run_id)
    [budget_row] = [row for row in table.guards if row["job_id"] == "BUDGET"]
    assert budget_row["status"] == "left=0 s"


async def test_without_a_budget_every_job_is_submitted(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    runtime_emulator.control.configure(run_delay=RUN_DELAY)
    config = QiskitRuntimeConfig(backend_name="ibm_fez")

    @flow
    async def sweep() -> int:
        refs = [
            await submit_sampler_job_task([isa_bell], runtime_config=config, shots=s)
            for s in range(10, 15)
        ]
        return len(
            [
                await fetch_qiskit_job_result_task(job_reference=ref, runtime_config=config)
                for ref in refs
            ]
        )

    assert await sweep() == 5
    assert runtime_emulator.control.job_count() == 5
    assert all("qcsc-flow-run:" not in " ".join(j["tags"]) for j in runtime_emulator.control.jobs())


def test_concurrent_submissions_do_not_overshoot(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    """Eight threads at once, jobs held Queued: the estimates alone reach the budget."""
    runtime_emulator.control.configure(run_delay=RUN_DELAY, paused=True)
    config = QiskitRuntimeConfig(backend_name="ibm_fez", qpu_budget_seconds=BUDGET)

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=8))
    def burst() -> list[BaseException | None]:
        futures = [
            submit_sampler_job_task.submit([isa_bell], runtime_config=config, shots=10 + i)
            for i in range(8)
        ]
        outcomes: list[BaseException | None] = []
        for future in futures:
            future.wait()
            state = future.state
            outcomes.append(None if state.is_completed() else state.result(raise_on_failure=False))
        return outcomes

    outcomes = burst()
    # Each estimate is RUN_DELAY + 10 shots' worth: three reach the budget, the fourth is refused.
    assert runtime_emulator.control.job_count() == 3
    assert sum(isinstance(o, QpuBudgetExceededError) for o in outcomes) == 5
    runtime_emulator.control.configure(paused=False)


async def test_simple_mode_stops_at_the_budget(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    runtime_emulator.control.configure(run_delay=RUN_DELAY)
    config = QiskitRuntimeConfig(
        backend_name="ibm_fez", primitive_api="executor", qpu_budget_seconds=BUDGET
    )

    @flow
    async def loop() -> int:
        done = 0
        with pytest.raises(QpuBudgetExceededError):
            for shots in range(10, 16):
                await run_sampler_task([isa_bell], runtime_config=config, shots=shots)
                done += 1
        return done

    done = await loop()
    used = [job["usage_seconds"] for job in runtime_emulator.control.jobs()]
    assert len(used) == done >= 2, used
    assert sum(used[:-1]) < BUDGET <= sum(used), used


def _runtime_posts(runtime_emulator: Any) -> list[str]:
    """Paths of the POSTs to the Runtime API (jobs, sessions), not to IAM or the control API."""
    return [
        str(e["path"])
        for e in runtime_emulator.control.log()
        if e["method"] == "POST" and "/api/v1/" in str(e["path"])
    ]


async def test_the_budget_refuses_inside_a_batch_with_nothing_posted(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    runtime_emulator.control.configure(run_delay=RUN_DELAY)

    @flow
    async def batched(budget: float) -> tuple[int, QpuBudgetExceededError | None]:
        config = QiskitRuntimeConfig(
            backend_name="ibm_fez", execution_mode="batch", qpu_budget_seconds=budget
        )
        for done, shots in enumerate(range(10, 13)):
            try:
                ref = await submit_sampler_job_task([isa_bell], runtime_config=config, shots=shots)
            except QpuBudgetExceededError as exc:
                return done, exc
            await fetch_qiskit_job_result_task(job_reference=ref, runtime_config=config)
        return 3, None

    # Half a job's usage: the first job runs inside the Batch, the second is refused.
    done, refused = await batched(RUN_DELAY / 2)
    assert done == 1 and refused is not None
    (job,) = runtime_emulator.control.jobs()
    assert job["session_id"] is not None  # it ran inside the flow run's Batch
    posts = _runtime_posts(runtime_emulator)
    assert [p.endswith("/sessions") for p in posts] == [True, False], posts  # Batch, one job

    # A budget of 0: refused before the Batch is even opened.
    runtime_emulator.control.clear_log()
    done, refused = await batched(0.0)
    assert done == 0 and refused is not None
    assert _runtime_posts(runtime_emulator) == []
    assert runtime_emulator.control.job_count() == 1
