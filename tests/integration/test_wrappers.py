"""QCSCSamplerV2 / QCSCEstimatorV2 / QCSCPrimitiveJob in async and sync flows, on the emulator."""

from __future__ import annotations

import warnings
from datetime import timedelta
from typing import Any

import pytest
from prefect import flow
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit import (
    InvalidInputError,
    JobCancelledError,
    QCSCEstimatorV2,
    QCSCPrimitiveJob,
    QCSCSamplerV2,
    QiskitRuntimeConfig,
    RuntimeConfigError,
)

FEZ = "ibm_fez"


def _posts(emulator: Any) -> int:
    return sum(
        1 for e in emulator.control.log() if e["method"] == "POST" and e["path"].endswith("/jobs")
    )


def _result_downloads(emulator: Any) -> int:
    return sum(1 for e in emulator.control.log() if e["path"].endswith("/results"))


def _bell_ok(result: Any, shots: int) -> None:
    counts = result[0].data.meas.get_counts()
    assert sum(counts.values()) == shots
    assert set(counts) <= {"00", "11"}


async def test_spec_wrapper_flow_and_cached_rerun(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    @flow
    async def cached_wrapper_sampler_flow(pubs: list[QuantumCircuit]) -> Any:
        sampler = QCSCSamplerV2(runtime_config=QiskitRuntimeConfig(backend_name=FEZ))
        job = await sampler.arun(
            pubs,
            shots=100,
            cache_submit=True,
            cache_result=True,
            retry_fetch=True,
            cache_scope="flow",
            cache_expiration=timedelta(days=7),
            artifact_key="native-qiskit-sampler-wrapper",
        )
        assert isinstance(job, QCSCPrimitiveJob)
        output = await job.aoutput()
        assert await job.aresult() is output["result"]  # fetched once, kept
        return output

    first = await cached_wrapper_sampler_flow([isa_bell])
    _bell_ok(first["result"], 100)
    assert (_posts(runtime_emulator), _result_downloads(runtime_emulator)) == (1, 1)

    runtime_emulator.control.clear_log()
    second = await cached_wrapper_sampler_flow([isa_bell])
    assert second["job_id"] == first["job_id"]
    assert second["result"][0].data.meas.get_counts() == first["result"][0].data.meas.get_counts()
    # Submit restored from the cache, and the fetch too: the service saw no job request at all.
    assert (_posts(runtime_emulator), _result_downloads(runtime_emulator)) == (0, 0)
    assert runtime_emulator.control.job_count() == 1


def test_sync_flow_gets_values_not_coroutines(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    @flow
    def sync_wrapper_flow() -> tuple[str, Any, dict[str, Any]]:
        sampler = QCSCSamplerV2(runtime_config=QiskitRuntimeConfig(backend_name=FEZ))
        job = sampler.run([isa_bell], shots=40)
        assert isinstance(job, QCSCPrimitiveJob)
        result = job.result()
        output = sampler.run_and_fetch([isa_bell], shots=30, retry_fetch=True)
        return job.status(), result, dict(output)

    status, result, output = sync_wrapper_flow()
    assert status == "DONE"
    _bell_ok(result, 40)
    _bell_ok(output["result"], 30)
    assert runtime_emulator.control.job_count() == 2


async def test_sync_names_in_a_running_loop_still_work_with_a_deprecation_warning(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    """Before the ``a`` forms, ``await sampler.run(...)`` was the async convention: it still
    works, warning once per call; the ``a`` forms do not warn."""

    @flow
    async def old_style_flow() -> tuple[Any, str, list[str]]:
        sampler = QCSCSamplerV2(runtime_config=QiskitRuntimeConfig(backend_name=FEZ))
        with pytest.warns(DeprecationWarning, match=r"run\(\) was called inside a running event"):
            pending = sampler.run([isa_bell], shots=12)
        job = await pending  # type: ignore[misc]
        with pytest.warns(DeprecationWarning, match="use `await aresult"):
            result = await job.result()  # type: ignore[misc]
        with pytest.warns(DeprecationWarning, match="use `await astatus"):
            status = await job.status()  # type: ignore[misc]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await job.aoutput()
            await job.astatus()
        return result, status, [str(warning.message) for warning in caught]

    result, status, new_style_warnings = await old_style_flow()
    _bell_ok(result, 12)
    assert status == "DONE"
    assert not [message for message in new_style_warnings if "running event loop" in message]
    assert runtime_emulator.control.job_count() == 1


async def test_estimator_wrapper_and_run_and_fetch(
    runtime_emulator: Any, isa_estimator_pub: tuple[Any, Any]
) -> None:
    @flow
    async def wrapper_estimator_flow() -> tuple[Any, dict[str, Any]]:
        estimator = QCSCEstimatorV2(runtime_config=QiskitRuntimeConfig(backend_name=FEZ))
        job = await estimator.arun(
            [isa_estimator_pub], precision=0.2, cache_submit=True, retry_fetch=True
        )
        output = await estimator.arun_and_fetch(
            [isa_estimator_pub], precision=0.1, cache_submit=True, cache_result=True
        )
        return await job.aresult(), dict(output)

    result, output = await wrapper_estimator_flow()
    assert result[0].data.evs[0] == pytest.approx(1.0, abs=0.25)
    assert output["metadata"]["precision"] == 0.1
    assert output["primitive"] == "estimator"
    assert runtime_emulator.control.job_count() == 2


async def test_simple_mode_job_is_complete(runtime_emulator: Any, isa_bell: QuantumCircuit) -> None:
    @flow
    async def simple_wrapper_flow() -> tuple[str, bool, Any, dict[str, Any]]:
        sampler = QCSCSamplerV2(runtime_config=QiskitRuntimeConfig(backend_name=FEZ))
        job = await sampler.arun([isa_bell], shots=20, robust=False)
        return await job.astatus(), await job.acancel(), await job.aresult(), await job.aoutput()

    status, cancelled, result, output = await simple_wrapper_flow()
    assert (status, cancelled) == ("DONE", False)
    _bell_ok(result, 20)
    assert output["metadata"]["mode"] == "simple"
    assert runtime_emulator.control.job_count() == 1


async def test_status_and_cancel_before_fetch(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    runtime_emulator.control.configure(paused=True)

    @flow
    async def cancel_flow() -> tuple[str, bool]:
        sampler = QCSCSamplerV2(runtime_config=QiskitRuntimeConfig(backend_name=FEZ))
        job = await sampler.arun([isa_bell], shots=20)
        status = await job.astatus()
        accepted = await job.acancel()
        with pytest.raises(JobCancelledError):
            await job.aresult()
        return status, accepted

    assert await cancel_flow() == ("QUEUED", True)
    (job,) = runtime_emulator.control.jobs()
    assert job["status"] == "Cancelled"


async def test_global_scope_shares_a_job_across_flows(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    def make(name: str) -> Any:
        @flow(name=name)
        async def sharing_flow() -> str:
            sampler = QCSCSamplerV2(runtime_config=QiskitRuntimeConfig(backend_name=FEZ))
            job = await sampler.arun([isa_bell], shots=47, cache_submit=True, cache_scope="global")
            return job.job_id()

        return sharing_flow

    first = await make("flow-one")()
    second = await make("flow-two")()
    third_flow_scope = QCSCSamplerV2(runtime_config=QiskitRuntimeConfig(backend_name=FEZ))

    @flow(name="flow-three")
    async def flow_scoped() -> str:
        job = await third_flow_scope.arun([isa_bell], shots=47, cache_submit=True)
        return job.job_id()

    third = await flow_scoped()
    assert first == second != third
    assert runtime_emulator.control.job_count() == 2


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"robust": False, "cache_submit": True}, "robust"),
        ({"robust": False, "cache_result": True}, "robust"),
        ({"robust": False, "retry_fetch": True}, "robust"),
        ({"cache_scope": "flows"}, "cache_scope"),
        ({"cache_submit": "yes"}, "cache_submit"),
        ({"cache_expiration": 7}, "cache_expiration"),
        ({"shots": -1}, "shots"),
        ({"robust": False, "timeout": 5}, "timeout"),
    ],
)
async def test_bad_wrapper_arguments_submit_nothing(
    runtime_emulator: Any, isa_bell: QuantumCircuit, kwargs: dict[str, Any], argument: str
) -> None:
    @flow
    async def bad_flow() -> None:
        sampler = QCSCSamplerV2(runtime_config=QiskitRuntimeConfig(backend_name=FEZ))
        await sampler.arun([isa_bell], **{"shots": 10, **kwargs})

    with pytest.raises(InvalidInputError) as caught:
        await bad_flow()
    assert caught.value.argument == argument
    assert runtime_emulator.control.job_count() == 0


async def test_wrong_primitive_argument_is_named(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    sampler = QCSCSamplerV2(runtime_config=QiskitRuntimeConfig(backend_name=FEZ))
    with pytest.raises(InvalidInputError, match="precision"):
        await sampler.arun_and_fetch([isa_bell], shots=10, precision=0.1)
    assert runtime_emulator.control.job_count() == 0


def test_wrapper_needs_exactly_one_runtime_argument() -> None:
    with pytest.raises(RuntimeConfigError, match="exactly one"):
        QCSCSamplerV2()
    with pytest.raises(RuntimeConfigError, match="exactly one"):
        QCSCEstimatorV2(
            runtime_config=QiskitRuntimeConfig(backend_name=FEZ), runtime_block_name="x"
        )
