"""The scenarios every task runner must pass, as test classes the runner modules subclass.

A module provides a ``runner`` fixture (a `clusters.Runner`, started once per module) and
subclasses `RunnerMatrix` (any runner) or `ProcessRunnerMatrix` (runners whose tasks run in
other processes). The flows are real Prefect flows against the Runtime emulator: the submit and
fetch tasks run wherever the runner puts them.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cloudpickle
import pytest
from prefect import flow, task, unmapped
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit.blocks import QiskitRuntimeConfig
from qcsc_prefect.integrations.qiskit.digests import build_qiskit_sampler_input_digest
from qcsc_prefect.integrations.qiskit.errors import InvalidInputError
from qcsc_prefect.integrations.qiskit.fetch import fetch_qiskit_job_result_task
from qcsc_prefect.integrations.qiskit.jobs import JobReference
from qcsc_prefect.integrations.qiskit.submit import submit_sampler_job_task
from tests.runners.clusters import Runner

FEZ = "ibm_fez"
SHOTS = 64

# A runner ships each flow (in its run context) to the workers, which cannot import this test
# module: cloudpickle sends its functions by value, as it does for a user's ``__main__`` script.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _config() -> QiskitRuntimeConfig:
    # No token: the worker finds the emulator through the account variables it was started with.
    return QiskitRuntimeConfig(backend_name=FEZ)


def _posts(emulator: Any) -> int:
    return sum(
        1
        for entry in emulator.control.log()
        if entry["method"] == "POST" and entry["path"].endswith("/jobs")
    )


def assert_distinct_jobs(
    emulator: Any, refs: Sequence[JobReference], outputs: Sequence[Any] = ()
) -> None:
    """Each reference names its own live job, with its own tag, and each output its job."""
    ids = [ref.job_id for ref in refs]
    tags = [ref.idempotency_tag for ref in refs]
    assert len(set(ids)) == len(refs), f"references share jobs: {ids}"
    assert len(set(tags)) == len(refs), f"references share idempotency tags: {tags}"
    jobs = {job["id"]: job for job in emulator.control.jobs()}
    assert sorted(jobs) == sorted(ids), f"the service holds {sorted(jobs)}, expected {ids}"
    for ref in refs:
        job = jobs[ref.job_id]
        assert job["status"] != "Cancelled", f"job {ref.job_id} was cancelled"
        assert ref.idempotency_tag in job["tags"]
        assert not ref.reused
    assert [output["job_id"] for output in outputs] == ids[: len(outputs)]
    for output in outputs:
        counts = output["result"][0].data.meas.get_counts()
        assert sum(counts.values()) == SHOTS and set(counts) <= {"00", "11"}


@task
async def submit_from_inside_a_task(pubs: list[QuantumCircuit]) -> JobReference:
    """A user task that calls the submit task itself (a nested task run where it runs)."""
    return await submit_sampler_job_task(pubs, runtime_config=_config(), shots=SHOTS)


def run_in_thread(call: Callable[[], Any]) -> Any:
    """Start a sync flow in a thread (with this test's Prefect settings); return its future."""
    pool = ThreadPoolExecutor(1)
    future = pool.submit(contextvars.copy_context().run, call)
    pool.shutdown(wait=False)
    return future


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class RunnerMatrix:
    """Exactly-once submission under one task runner (the ``runner`` fixture)."""

    def test_identical_submits_without_digest_are_two_jobs(
        self, runner: Runner, runtime_emulator: Any, isa_bell: QuantumCircuit
    ) -> None:
        # The flow: two identical calls are two submissions, each with its own job.
        @flow(task_runner=runner.task_runner())
        def twice() -> tuple[list[JobReference], list[Any]]:
            cfg = _config()
            pubs = [isa_bell]
            futures = [
                submit_sampler_job_task.submit(pubs, runtime_config=cfg, shots=SHOTS)
                for _ in range(2)
            ]
            refs = [future.result() for future in futures]
            outputs = [
                fetch_qiskit_job_result_task.submit(
                    runtime_config=cfg, job_reference=ref, pubs=pubs
                ).result()
                for ref in refs
            ]
            return refs, outputs

        refs, outputs = twice()
        assert_distinct_jobs(runtime_emulator, refs, outputs)

    def test_mapped_identical_submits_without_digest_are_two_jobs(
        self, runner: Runner, runtime_emulator: Any, isa_bell: QuantumCircuit
    ) -> None:
        @flow(task_runner=runner.task_runner())
        def mapped() -> list[JobReference]:
            pubs = [isa_bell]
            futures = submit_sampler_job_task.map(
                [pubs, pubs], runtime_config=unmapped(_config()), shots=SHOTS
            )
            return [future.result() for future in futures]

        assert_distinct_jobs(runtime_emulator, mapped())

    def test_direct_call_and_identical_submit_are_two_jobs(
        self, runner: Runner, runtime_emulator: Any, isa_bell: QuantumCircuit
    ) -> None:
        # A direct call runs in the flow's process, the submitted one where the runner puts it.
        @flow(task_runner=runner.task_runner())
        async def mixed() -> list[JobReference]:
            pubs = [isa_bell]
            future = submit_sampler_job_task.submit(pubs, runtime_config=_config(), shots=SHOTS)
            direct = await submit_sampler_job_task(pubs, runtime_config=_config(), shots=SHOTS)
            return [direct, future.result()]

        assert_distinct_jobs(runtime_emulator, asyncio.run(mixed()))

    def test_identical_submits_with_one_digest_are_one_job(
        self, runner: Runner, runtime_emulator: Any, isa_bell: QuantumCircuit
    ) -> None:
        # Both calls start at once (two workers or threads); the submit lock lets one post.
        @flow(task_runner=runner.task_runner())
        def same_input() -> list[JobReference]:
            pubs = [isa_bell]
            digest = build_qiskit_sampler_input_digest(
                pubs, backend_name=FEZ, shots=SHOTS, cache_scope="global"
            )
            futures = [
                submit_sampler_job_task.submit(
                    pubs, runtime_config=_config(), shots=SHOTS, input_digest=digest
                )
                for _ in range(2)
            ]
            return [future.result() for future in futures]

        first, second = same_input()
        assert first.job_id == second.job_id
        assert first.idempotency_tag == second.idempotency_tag
        assert first.input_digest == second.input_digest is not None
        assert [job["id"] for job in runtime_emulator.control.jobs()] == [first.job_id]
        assert _posts(runtime_emulator) == 1

    def test_flow_retry_after_submits_submits_nothing(
        self, runner: Runner, runtime_emulator: Any, isa_bell: QuantumCircuit
    ) -> None:
        attempts: list[list[JobReference]] = []

        @flow(task_runner=runner.task_runner(), retries=1, retry_delay_seconds=0)
        def flaky() -> list[JobReference]:
            pubs = [isa_bell]
            futures = [
                submit_sampler_job_task.submit(pubs, runtime_config=_config(), shots=SHOTS)
                for _ in range(2)
            ]
            refs = [future.result() for future in futures]
            attempts.append(refs)
            if len(attempts) == 1:
                raise RuntimeError("the flow failed after its submits")
            return refs

        refs = flaky()
        assert len(attempts) == 2
        assert [ref.job_id for ref in attempts[0]] == [ref.job_id for ref in refs]
        assert_distinct_jobs(runtime_emulator, attempts[0])
        assert _posts(runtime_emulator) == 2

    def test_submits_from_subflows(
        self, runner: Runner, runtime_emulator: Any, isa_bell: QuantumCircuit
    ) -> None:
        # Each subflow call is a flow run of its own: its calls are new submissions. A retry of
        # the parent runs the subflows again as new subflow runs, which reuse the first jobs.
        @flow(task_runner=runner.task_runner())
        def child() -> list[JobReference]:
            pubs = [isa_bell]
            futures = [
                submit_sampler_job_task.submit(pubs, runtime_config=_config(), shots=SHOTS)
                for _ in range(2)
            ]
            return [future.result() for future in futures]

        attempts: list[list[JobReference]] = []

        @flow(task_runner=runner.task_runner(), retries=1, retry_delay_seconds=0)
        def parent() -> list[JobReference]:
            refs = child() + child()
            attempts.append(refs)
            if len(attempts) == 1:
                raise RuntimeError("the parent failed after its subflows")
            return refs

        refs = parent()
        assert [ref.job_id for ref in attempts[0]] == [ref.job_id for ref in refs]
        assert_distinct_jobs(runtime_emulator, refs)
        assert _posts(runtime_emulator) == 4

    def test_the_qpu_budget_holds_wherever_the_runner_puts_the_submits(
        self, runner: Runner, runtime_emulator: Any, isa_bell: QuantumCircuit
    ) -> None:
        # The budget reads the flow run's jobs from the service by the flow run's tag, so a
        # worker sees what another worker (or the flow's process) committed: the first job
        # fits a tiny budget, the second submission is refused before anything is posted.
        @flow(task_runner=runner.task_runner())
        def spend() -> tuple[JobReference, str]:
            cfg = QiskitRuntimeConfig(backend_name=FEZ, qpu_budget_seconds=0.001)
            first = submit_sampler_job_task.submit([isa_bell], runtime_config=cfg, shots=SHOTS)
            reference = first.result()
            second = submit_sampler_job_task.submit([isa_bell], runtime_config=cfg, shots=SHOTS)
            second.wait()
            return reference, type(second.state.result(raise_on_failure=False)).__name__

        reference, refused = spend()
        assert refused == "QpuBudgetExceededError"
        assert [job["id"] for job in runtime_emulator.control.jobs()] == [reference.job_id]
        assert _posts(runtime_emulator) == 1


class ProcessRunnerMatrix(RunnerMatrix):
    """The scenarios of a runner whose tasks run in worker processes it can lose."""

    def test_worker_killed_after_post_task_reruns_and_adopts(
        self, runner: Runner, runtime_emulator: Any, isa_bell: QuantumCircuit
    ) -> None:
        # The service creates the job, then its answer to the POST is slow: the worker process
        # is killed while it waits, before Prefect stored the reference. The runner runs the
        # task again on a worker; that run must find the job by its tag, not post a second one.
        assert runner.kill_task_process is not None
        control = runtime_emulator.control
        control.add_fault("POST", r"/jobs$", {"create_then_delay": 30})

        @flow(task_runner=runner.task_runner())
        def once() -> JobReference:
            future = submit_sampler_job_task.submit([isa_bell], runtime_config=_config(), shots=64)
            return future.result()

        running = run_in_thread(once)
        wait_until(lambda: control.job_count() > 0 or running.done(), "the POST")
        assert not running.done(), running.exception()
        runner.kill_task_process()
        control.clear_faults()
        ref = running.result(timeout=150)
        jobs = control.jobs()
        posted = [(job["id"], job["status"]) for job in jobs]
        # (The first POST is still being answered: the emulator logs it only when it ends.)
        assert len(jobs) == 1, f"the task's rerun posted again: {posted}"
        (job,) = jobs
        assert ref.job_id == job["id"] and ref.reused
        assert ref.idempotency_tag in job["tags"]

    def test_submit_inside_a_task_on_a_worker_is_refused(
        self, runner: Runner, runtime_emulator: Any, isa_bell: QuantumCircuit
    ) -> None:
        # On a worker the flow's call order is unknown: such a call has no identity that would
        # survive a retry, so it is refused before anything is posted.
        @flow(task_runner=runner.task_runner())
        def nested() -> JobReference:
            return submit_from_inside_a_task.submit([isa_bell]).result()

        with pytest.raises(InvalidInputError, match="remote task-runner worker") as caught:
            nested()
        assert caught.value.argument == "input_digest"
        assert _posts(runtime_emulator) == 0
        assert runtime_emulator.control.job_count() == 0
