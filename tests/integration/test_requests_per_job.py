"""Requests per job at or below the native client's (issue 23 item 1).

The native client pays 5 requests for a later job in a process: the instance's usage and the
backend's status before posting, the post, at least one status read and the result. The
library must not cost more: the instance-usage and backend-status answers the process already
has are reused for `answers.FRESH_FOR` seconds, a job's final status read (or a job-list page
that showed it final) answers later reads of that job, and the usage record comes from that
document instead of ``GET /jobs/{id}/metrics``.

Every figure is counted from the emulator's request log, for the jobs after the first one in
the process (the first pays the service's construction and the first answers).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from prefect import flow
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit import (
    QiskitRuntimeConfig,
    fetch_qiskit_job_result_task,
    run_sampler_task,
    submit_sampler_job_task,
)
from qcsc_prefect.integrations.qiskit._runtime import answers

LATER_JOBS = 3


def kind(entry: dict[str, Any]) -> str:
    """The request's kind, as the benchmarks count them."""
    method = entry["method"]
    path = (entry.get("route_path") or entry["path"]).split("?")[0]
    if entry.get("kind") == "other":
        return "auth"
    if path.startswith("/instances"):
        return "usage"
    if path == "/backends":
        return "backend-list"
    if path.startswith("/backends") and path.endswith("/status"):
        return "backend-status"
    if path.startswith("/backends"):
        return "backend"
    if path == "/jobs":
        return "submit" if method == "POST" else "list"
    if path.endswith("/metrics"):
        return "metrics"
    if path.endswith("/results"):
        return "results"
    return "status" if path.count("/") == 2 else "other"


def service_requests(runtime_emulator: Any) -> Counter[str]:
    """The client's requests since the log was cleared (control calls left out)."""
    return Counter(
        kind(entry) for entry in runtime_emulator.control.log() if entry.get("kind") != "control"
    )


async def later_jobs(runtime_emulator: Any, run_jobs: Any) -> Counter[str]:
    """Run one job to warm the process, then `LATER_JOBS` more; their requests."""
    await run_jobs(1, 0)
    runtime_emulator.control.clear_log()
    await run_jobs(LATER_JOBS, 1)
    return service_requests(runtime_emulator)


def native_later_jobs(runtime_emulator: Any, isa_bell: QuantumCircuit) -> Counter[str]:
    """The reference: the same jobs with the plain client, one after the other."""
    from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2

    sampler = SamplerV2(mode=QiskitRuntimeService().backend("ibm_fez"))
    sampler.run([isa_bell], shots=99).result()
    runtime_emulator.control.clear_log()
    for index in range(LATER_JOBS):
        sampler.run([isa_bell], shots=300 + index).result()
    return service_requests(runtime_emulator)


def simple_jobs(circuit: QuantumCircuit, *, shots: int) -> Any:
    """``run_jobs(count, first)``: a flow running ``count`` simple-mode jobs one after another."""
    config = QiskitRuntimeConfig(backend_name="ibm_fez")

    @flow
    async def simple(count: int, first: int) -> None:
        for index in range(first, first + count):
            await run_sampler_task([circuit], runtime_config=config, shots=shots + index)

    return simple


@pytest.fixture
def queued(runtime_emulator: Any) -> Any:
    """Jobs wait in the queue a moment, so that each needs at least one status read."""
    runtime_emulator.control.configure(queue_delay=0.3)
    return runtime_emulator


async def test_simple_mode_later_jobs_cost_no_more_than_native(
    queued: Any, isa_bell: QuantumCircuit
) -> None:
    counts = await later_jobs(queued, simple_jobs(isa_bell, shots=100))
    assert counts["submit"] == LATER_JOBS
    assert counts["metrics"] == 0
    assert counts["usage"] == 0 and counts["backend-status"] == 0  # answers still fresh
    assert counts["results"] == LATER_JOBS
    assert counts["status"] >= LATER_JOBS  # each waited in the queue and asked
    native = native_later_jobs(queued, isa_bell)
    assert native["usage"] == native["backend-status"] == LATER_JOBS  # what the reference pays
    assert sum(counts.values()) <= sum(native.values()), (counts, native)


async def test_robust_mode_later_jobs_cost_no_more_than_native(
    queued: Any, isa_bell: QuantumCircuit
) -> None:
    config = QiskitRuntimeConfig(backend_name="ibm_fez")

    @flow
    async def robust(count: int, first: int) -> None:
        for index in range(first, first + count):
            reference = await submit_sampler_job_task(
                [isa_bell], runtime_config=config, shots=100 + index
            )
            await fetch_qiskit_job_result_task(runtime_config=config, job_reference=reference)

    async def run_jobs(count: int, first: int) -> None:
        await robust(count, first)

    counts = await later_jobs(queued, run_jobs)
    assert counts["submit"] == LATER_JOBS
    assert counts["metrics"] == 0
    assert counts["usage"] == 0 and counts["backend-status"] == 0
    # Each post was sent once, under a submit lock held from before it until after it: no job
    # the client or another submitter could have added, so no duplicate check (a post the
    # client retried is checked: tests/reliability/test_transport_faults.py).
    assert counts["list"] == 0
    native = native_later_jobs(queued, isa_bell)
    assert sum(counts.values()) <= sum(native.values()), (counts, native)


async def test_stale_answers_are_asked_again(
    queued: Any, isa_bell: QuantumCircuit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The control: with answers never fresh, every post reads the usage and the status again.
    monkeypatch.setattr(answers, "FRESH_FOR", 0.0)
    counts = await later_jobs(queued, simple_jobs(isa_bell, shots=200))
    assert counts["usage"] >= LATER_JOBS and counts["backend-status"] == LATER_JOBS


async def test_usage_record_comes_from_the_final_status_read(
    queued: Any, isa_bell: QuantumCircuit
) -> None:
    config = QiskitRuntimeConfig(backend_name="ibm_fez")

    @flow
    async def one() -> Any:
        return await run_sampler_task([isa_bell], runtime_config=config, shots=100)

    output = await one()
    (job,) = [j for j in queued.control.jobs() if j["id"] == output["job_id"]]
    usage = output["metadata"]["usage"]
    assert usage["quantum_seconds"] == pytest.approx(job["usage_seconds"])
    timings = output["metadata"]["timings"]
    assert timings["started"] is not None  # the sampler result's execution spans
    assert timings["finished"] is not None


async def test_jobs_in_flight_take_their_final_status_from_a_shared_list(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    # Eight jobs wait at once: the shared poller lists the pending jobs each round, and when
    # several have left that list in one round, one page of finished jobs answers their final
    # status reads. The emulator holds the queue until every job waits, then runs them together.
    # (The first-status reads of freshly posted jobs are left out: see below.)
    control = runtime_emulator.control
    config = QiskitRuntimeConfig(backend_name="ibm_fez")
    jobs = 8

    @flow
    async def in_flight(first: int, count: int) -> list[Any]:
        return await asyncio.gather(
            *(
                run_sampler_task([isa_bell], runtime_config=config, shots=500 + first + index)
                for index in range(count)
            )
        )

    await in_flight(0, 1)
    control.configure(paused=True)
    control.clear_log()
    running = asyncio.create_task(in_flight(1, jobs))
    while sum(job["status"] == "Queued" for job in control.jobs()) < jobs:
        await asyncio.sleep(0.2)
    # Every task waits on the poller, whose rounds are now about 0.5 s apart (a tenth of the
    # time waited): the jobs, run one after another, leave the pending list several a round.
    await asyncio.sleep(4.0)
    submitted = service_requests(runtime_emulator)
    # Only the final statuses are counted: a task whose post returned before any other task
    # watched the poller read its first status itself (all eight may, when the posts finish
    # together), and that read is not what this test is about.
    control.clear_log()
    control.configure(paused=False)
    outputs = await running
    counts = service_requests(runtime_emulator)
    assert {output["status"] for output in outputs} == {"DONE"}
    assert submitted["submit"] == jobs and counts["results"] == jobs, (submitted, counts)
    assert counts["status"] < jobs // 2, counts  # final statuses came from the finished list
    assert counts["list"] >= 1, counts
    for output, job in zip(
        outputs, sorted(control.jobs(), key=lambda j: j["created"])[1:], strict=True
    ):
        assert output["metadata"]["usage"]["quantum_seconds"] >= 0, job


async def test_the_backend_list_the_service_read_while_built_is_not_read_again(
    runtime_emulator: Any,
) -> None:
    # Building the service lists the backends; the client's `service.backend(name)` lists them
    # again (and `service.job(id)` once more). The library's service answers both from the list
    # read while it was built.
    from qiskit_ibm_runtime import QiskitRuntimeService

    runtime_emulator.control.clear_log()
    config = QiskitRuntimeConfig(backend_name="ibm_fez")
    config.get_backend()
    ours = service_requests(runtime_emulator)
    runtime_emulator.control.clear_log()
    QiskitRuntimeService().backend("ibm_fez")
    native = service_requests(runtime_emulator)
    assert (ours["backend-list"], native["backend-list"]) == (1, 2), (ours, native)
