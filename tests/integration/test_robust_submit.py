"""Robust submission against the emulator: exactly one job under faults, retries and reruns."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from prefect import flow
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit.blocks import QiskitRuntimeConfig
from qcsc_prefect.integrations.qiskit.cache import qiskit_sampler_submit_cache_key
from qcsc_prefect.integrations.qiskit.digests import build_qiskit_sampler_input_digest
from qcsc_prefect.integrations.qiskit.errors import (
    InvalidInputError,
    RuntimeConfigError,
    SubmissionUnknownError,
)
from qcsc_prefect.integrations.qiskit.fetch import fetch_qiskit_job_result_task
from qcsc_prefect.integrations.qiskit.jobs import JobReference
from qcsc_prefect.integrations.qiskit.submit import (
    submit_estimator_job_task,
    submit_sampler_job_task,
)

FEZ = "ibm_fez"


def _config() -> QiskitRuntimeConfig:
    # No token, no channel: qiskit-ibm-runtime's account discovery finds the emulator via env.
    return QiskitRuntimeConfig(backend_name=FEZ)


def _assert_bell(counts: dict[str, int], shots: int) -> None:
    assert sum(counts.values()) == shots
    assert set(counts) <= {"00", "11"}
    assert len(counts) == 2


async def test_sampler_submit_then_fetch(runtime_emulator: Any, isa_bell: QuantumCircuit) -> None:
    @flow
    async def robust_sampler_flow() -> tuple[JobReference, dict[str, Any]]:
        ref = await submit_sampler_job_task([isa_bell], runtime_config=_config(), shots=100)
        out = await fetch_qiskit_job_result_task(
            runtime_config=_config(), job_reference=ref, pubs=[isa_bell]
        )
        return ref, dict(out)

    ref, output = await robust_sampler_flow()
    jobs = runtime_emulator.control.jobs()
    assert [job["id"] for job in jobs] == [ref.job_id]
    assert ref.idempotency_tag in jobs[0]["tags"]
    assert ref.backend_name == FEZ and ref.primitive == "sampler" and not ref.reused
    assert output["job_id"] == ref.job_id and output["status"] == "DONE"
    _assert_bell(output["result"][0].data.meas.get_counts(), 100)
    assert output["metadata"]["shots"] == 100
    assert output["metadata"]["mode"] == "robust"


async def test_estimator_submit_then_fetch(
    runtime_emulator: Any, isa_estimator_pub: tuple[Any, Any]
) -> None:
    @flow
    async def robust_estimator_flow() -> dict[str, Any]:
        ref = await submit_estimator_job_task(
            [isa_estimator_pub], runtime_config=_config(), precision=0.05
        )
        return dict(await fetch_qiskit_job_result_task(runtime_config=_config(), job_reference=ref))

    output = await robust_estimator_flow()
    evs = output["result"][0].data.evs
    assert evs.shape == (2,)
    assert evs[0] == pytest.approx(1.0, abs=0.2)  # ZZ on a Bell state
    assert evs[1] == pytest.approx(1.0, abs=0.2)  # XX on a Bell state
    assert output["metadata"]["precision"] == 0.05
    assert runtime_emulator.control.job_count() == 1


async def test_user_options_are_merged_not_mutated(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    options = {"environment": {"job_tags": ["my-experiment"]}}

    @flow
    async def tagged_flow() -> JobReference:
        return await submit_sampler_job_task(
            [isa_bell], runtime_config=_config(), shots=10, options=options
        )

    ref = await tagged_flow()
    assert options == {"environment": {"job_tags": ["my-experiment"]}}
    (job,) = runtime_emulator.control.jobs()
    assert set(job["tags"]) == {"my-experiment", ref.idempotency_tag}


async def test_client_post_retry_duplicate_is_cancelled(
    runtime_emulator: Any, live_jobs: Callable[[], list[dict[str, Any]]], isa_bell: QuantumCircuit
) -> None:
    # The job is created, then the client sees 502 and posts again: the service holds two jobs.
    runtime_emulator.control.configure(queue_delay=1.0)
    runtime_emulator.control.add_fault("POST", r"/jobs$", {"create_then_status": 502})

    @flow
    async def dup_flow() -> tuple[JobReference, dict[str, Any]]:
        ref = await submit_sampler_job_task([isa_bell], runtime_config=_config(), shots=50)
        out = await fetch_qiskit_job_result_task(runtime_config=_config(), job_reference=ref)
        return ref, dict(out)

    ref, output = await dup_flow()
    jobs = runtime_emulator.control.jobs()
    assert len(jobs) == 2  # what the client itself created
    (live,) = live_jobs()
    cancelled = [job for job in jobs if job["status"] == "Cancelled"]
    assert len(cancelled) == 1 and cancelled[0]["running"] is None  # cancelled before running
    assert live["id"] == ref.job_id == output["job_id"]
    # The winner is the earliest job with the tag, whatever run() returned.
    assert live["created"] <= cancelled[0]["created"]
    _assert_bell(output["result"][0].data.meas.get_counts(), 50)


async def test_connection_dropped_after_create_adopts_the_job(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    runtime_emulator.control.add_fault("POST", r"/jobs$", {"create_then_reset": True})

    @flow
    async def reset_flow() -> JobReference:
        return await submit_sampler_job_task([isa_bell], runtime_config=_config(), shots=20)

    ref = await reset_flow()
    (job,) = runtime_emulator.control.jobs()
    assert job["id"] == ref.job_id and ref.reused


async def test_persistent_5xx_raises_ambiguous_then_rerun_submits_once(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    runtime_emulator.control.add_fault("POST", r"/jobs$", {"status": 500}, times=100)

    @flow
    async def digest_flow() -> JobReference:
        pubs = [isa_bell]
        digest = build_qiskit_sampler_input_digest(
            pubs, backend_name=FEZ, shots=39, cache_scope="global"
        )
        return await submit_sampler_job_task.with_options(
            cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
        )(pubs, runtime_config=_config(), shots=39, input_digest=digest)

    started = time.monotonic()
    with pytest.raises(SubmissionUnknownError) as caught:
        await digest_flow()
    assert time.monotonic() - started < 60
    assert caught.value.idempotency_tag.startswith("qcsc-idem-v1-")
    assert runtime_emulator.control.job_count() == 0

    runtime_emulator.control.clear_faults()
    ref = await digest_flow()
    assert [job["id"] for job in runtime_emulator.control.jobs()] == [ref.job_id]


async def test_task_retry_after_ambiguous_failure_reattaches(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    # The POST creates the job but the connection drops, and every reconciliation lookup fails:
    # the first attempt gives up; Prefect's task retry must find the job, not post again.
    runtime_emulator.control.add_fault("POST", r"/jobs$", {"create_then_reset": True})
    runtime_emulator.control.add_fault("GET", r"/jobs$", {"status": 501}, times=5)

    @flow
    async def retry_flow() -> JobReference:
        return await submit_sampler_job_task.with_options(retries=1, retry_delay_seconds=0)(
            [isa_bell], runtime_config=_config(), shots=20
        )

    ref = await retry_flow()
    (job,) = runtime_emulator.control.jobs()
    assert job["id"] == ref.job_id and ref.reused
    posts = [
        e
        for e in runtime_emulator.control.log()
        if e["method"] == "POST" and e["path"].endswith("/jobs")
    ]
    assert len(posts) == 1


async def test_flow_retry_does_not_resubmit(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    seen: list[str] = []

    @flow(retries=1, retry_delay_seconds=0)
    async def flaky_flow() -> str:
        ref = await submit_sampler_job_task([isa_bell], runtime_config=_config(), shots=20)
        seen.append(ref.job_id)
        if len(seen) == 1:
            raise RuntimeError("the flow failed after submitting")
        return ref.job_id

    job_id = await flaky_flow()
    assert seen == [job_id, job_id]
    assert runtime_emulator.control.job_count() == 1


async def test_rerun_with_digest_is_cached_and_new_flow_run_without_digest_is_not(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    @flow
    async def cached_flow(with_digest: bool) -> tuple[JobReference, str]:
        pubs = [isa_bell]
        kwargs: dict[str, Any] = {}
        task = submit_sampler_job_task
        if with_digest:
            kwargs["input_digest"] = build_qiskit_sampler_input_digest(
                pubs, backend_name=FEZ, shots=40, cache_scope="flow"
            )
            task = submit_sampler_job_task.with_options(
                cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
            )
        state = await task(pubs, runtime_config=_config(), shots=40, return_state=True, **kwargs)
        return await state.result(), state.name

    first, first_state = await cached_flow(True)
    second, second_state = await cached_flow(True)
    assert (first_state, second_state) == ("Completed", "Cached")
    assert first.job_id == second.job_id
    assert runtime_emulator.control.job_count() == 1

    third, _ = await cached_flow(False)
    fourth, _ = await cached_flow(False)
    assert len({first.job_id, third.job_id, fourth.job_id}) == 3
    assert runtime_emulator.control.job_count() == 3


def test_concurrent_identical_processes_submit_one_job(
    runtime_emulator: Any, start_worker: Callable[..., Any]
) -> None:
    processes = [start_worker("--scope", "global", "--shots", "43") for _ in range(10)]
    job_ids = set()
    for process in processes:
        stdout, stderr = process.communicate(timeout=240)
        assert process.returncode == 0, stderr[-3000:]
        events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        job_ids.add(events[-1]["job_id"])
    assert len(job_ids) == 1
    assert [job["id"] for job in runtime_emulator.control.jobs()] == list(job_ids)


def test_process_killed_right_after_post_rerun_adopts(
    runtime_emulator: Any, start_worker: Callable[..., Any]
) -> None:
    # The service creates the job and its answer is slow; the process is killed while it
    # waits: the job exists, Prefect never stored the submit result.
    control = runtime_emulator.control
    control.add_fault("POST", r"/jobs$", {"create_then_delay": 30})
    victim = start_worker("--scope", "global", "--shots", "41")
    deadline = time.monotonic() + 120
    while control.job_count() == 0:
        assert victim.poll() is None, victim.communicate()[1][-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.1)
    victim.kill()
    victim.wait()
    (job,) = control.jobs()
    control.clear_faults()

    rerun = start_worker("--scope", "global", "--shots", "41", "--fetch")
    stdout, stderr = rerun.communicate(timeout=240)
    assert rerun.returncode == 0, stderr[-3000:]
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert events[0] == {"event": "submitted", "job_id": job["id"], "reused": True}
    assert events[1]["job_id"] == job["id"]
    assert sum(events[1]["counts"].values()) == 41
    assert control.job_count() == 1


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"shots": 0}, "shots"),
        ({"shots": 2.5}, "shots"),
        ({"pubs": []}, "pubs"),
        ({"pubs": ["not a circuit"]}, "pubs"),
        ({"input_digest": "abc"}, "input_digest"),
        ({"repeat": -1}, "repeat"),
    ],
)
async def test_bad_input_submits_nothing(
    runtime_emulator: Any, isa_bell: QuantumCircuit, kwargs: dict[str, Any], argument: str
) -> None:
    call: dict[str, Any] = {"pubs": [isa_bell], "shots": 10, **kwargs}
    pubs = call.pop("pubs")

    @flow
    async def bad_flow() -> None:
        await submit_sampler_job_task(pubs, runtime_config=_config(), **call)

    with pytest.raises(InvalidInputError) as caught:
        await bad_flow()
    assert caught.value.argument == argument
    assert runtime_emulator.control.job_count() == 0


async def test_cache_key_fn_without_digest_is_refused(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    @flow
    async def forgot_digest_flow() -> None:
        await submit_sampler_job_task.with_options(
            cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
        )([isa_bell], runtime_config=_config(), shots=10)

    with pytest.raises(InvalidInputError, match="input_digest"):
        await forgot_digest_flow()
    assert runtime_emulator.control.job_count() == 0


async def test_both_or_neither_runtime_arguments_is_an_error(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    @flow
    async def neither_flow() -> None:
        await submit_sampler_job_task([isa_bell], shots=10)

    @flow
    async def both_flow() -> None:
        await submit_sampler_job_task(
            [isa_bell], runtime_config=_config(), runtime_block_name="x", shots=10
        )

    for bad in (neither_flow, both_flow):
        with pytest.raises(RuntimeConfigError, match="runtime_block_name"):
            await bad()
    assert runtime_emulator.control.job_count() == 0


async def test_local_channel_submit_and_fetch_in_one_process() -> None:
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    isa = generate_preset_pass_manager(backend=FakeManilaV2(), optimization_level=1).run(circuit)
    config = QiskitRuntimeConfig(channel="local", backend_name="fake_manila")

    @flow
    async def local_flow() -> tuple[JobReference, dict[str, Any]]:
        ref = await submit_sampler_job_task([isa], runtime_config=config, shots=200)
        out = await fetch_qiskit_job_result_task(runtime_config=config, job_reference=ref)
        return ref, dict(out)

    ref, output = await local_flow()
    assert ref.channel == "local" and ref.idempotency_tag is None
    counts = output["result"][0].data.meas.get_counts()
    assert sum(counts.values()) == 200
    assert counts.get("00", 0) + counts.get("11", 0) > 150  # noisy fake device, mostly Bell


@pytest.mark.parametrize(
    "action",
    [{"status": 429}, {"status": 429, "headers": {"Retry-After": "1"}}, {"reset": True}],
    ids=["429", "429-retry-after", "reset-before-create"],
)
async def test_transient_post_failure_without_a_job_is_posted_again(
    runtime_emulator: Any, isa_bell: QuantumCircuit, action: dict[str, Any]
) -> None:
    # The service refused (or the connection dropped) before creating anything: the tag lookup
    # proves no job exists, so the submit step posts once more instead of failing the run.
    runtime_emulator.control.add_fault("POST", r"/jobs$", action)

    @flow
    async def transient_flow() -> JobReference:
        return await submit_sampler_job_task([isa_bell], runtime_config=_config(), shots=12)

    ref = await transient_flow()
    assert [job["id"] for job in runtime_emulator.control.jobs()] == [ref.job_id]
    assert not ref.reused
