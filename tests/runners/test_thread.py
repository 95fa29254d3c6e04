"""The matrix under Prefect's default `ThreadPoolTaskRunner` (tasks in the flow's process)."""

from __future__ import annotations

from typing import Any

import pytest
from prefect import flow
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit.jobs import JobReference
from tests.runners.clusters import Runner, thread_pool
from tests.runners.matrix import RunnerMatrix, assert_distinct_jobs, submit_from_inside_a_task


@pytest.fixture(scope="module")
def runner() -> Runner:
    return thread_pool()


class TestThreadPool(RunnerMatrix):
    """Every scenario that applies to threads (no worker process to lose)."""

    def test_submits_inside_tasks_are_given_identities(
        self, runner: Runner, runtime_emulator: Any, isa_bell: QuantumCircuit
    ) -> None:
        # In a thread the calling task still runs in the flow's process, with its call order:
        # two identical nested calls are two submissions (unlike on a Dask or Ray worker).
        @flow(task_runner=runner.task_runner())
        def nested() -> list[JobReference]:
            futures = [submit_from_inside_a_task.submit([isa_bell]) for _ in range(2)]
            return [future.result() for future in futures]

        assert_distinct_jobs(runtime_emulator, nested())
