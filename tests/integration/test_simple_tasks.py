"""run_sampler_task / run_estimator_task in real Prefect flows on the offline local channel."""

from __future__ import annotations

import json
import uuid
from typing import Any

import numpy as np
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_aer.noise import NoiseModel
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from qcsc_prefect.integrations.qiskit import (
    BackendNotFoundError,
    FetchOutput,
    InvalidInputError,
    QiskitRuntimeConfig,
    RuntimeConfigError,
    run_estimator_task,
    run_sampler_task,
)
from qcsc_prefect.integrations.qiskit.artifacts import acreate_result_artifacts

LOCAL = QiskitRuntimeConfig(backend_name="fake_manila", channel="local")
PASS_MANAGER = generate_preset_pass_manager(backend=FakeManilaV2(), optimization_level=1)
NOISELESS = {"simulator": {"noise_model": NoiseModel()}}


def bell(measure: bool = True) -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    if measure:
        circuit.measure_all()
    return PASS_MANAGER.run(circuit)


def ghz3() -> QuantumCircuit:
    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    circuit.measure_all()
    return PASS_MANAGER.run(circuit)


def unique_key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def assert_json_compatible(metadata: dict[str, object]) -> None:
    assert json.loads(json.dumps(metadata)) == metadata


async def test_sampler_in_an_async_flow() -> None:
    @flow
    async def sampler_flow() -> FetchOutput:
        return await run_sampler_task(
            [bell(), ghz3()], runtime_config=LOCAL, shots=300, options=NOISELESS
        )

    output = await sampler_flow()
    assert output["status"] == "DONE"
    assert output["primitive"] == "sampler"
    assert output["backend_name"] == "fake_manila"
    assert output["job_id"]
    bell_counts = output["result"][0].data.meas.get_counts()
    ghz_counts = output["result"][1].data.meas.get_counts()
    assert sum(bell_counts.values()) == 300
    assert sum(ghz_counts.values()) == 300
    assert set(bell_counts) <= {"00", "11"} and len(bell_counts) == 2  # noiseless Bell
    assert set(ghz_counts) <= {"000", "111"}
    metadata = output["metadata"]
    assert_json_compatible(metadata)
    assert metadata["mode"] == "simple"
    assert metadata["num_pubs"] == 2
    assert metadata["shots"] == 300
    assert metadata["job_status"] == "DONE"
    timings = metadata["timings"]
    assert isinstance(timings, dict)
    assert timings["submitted"] <= timings["finished"]
    assert 0 < timings["wall_seconds"] < 120


def test_sampler_in_a_sync_flow() -> None:
    @flow
    def sync_flow() -> FetchOutput:
        return run_sampler_task([bell()], runtime_config=LOCAL, shots=50)  # type: ignore[return-value]

    output = sync_flow()
    assert output["status"] == "DONE"
    assert sum(output["result"][0].data.meas.get_counts().values()) == 50


async def test_native_options_are_passed_through() -> None:
    seeded: dict[str, Any] = {"default_shots": 77, "simulator": {"seed_simulator": 1234}}

    @flow
    async def twice() -> tuple[FetchOutput, FetchOutput]:
        first = await run_sampler_task([bell()], runtime_config=LOCAL, options=seeded)
        second = await run_sampler_task([bell()], runtime_config=LOCAL, options=seeded)
        return first, second

    first, second = await twice()
    counts = first["result"][0].data.meas.get_counts()
    assert sum(counts.values()) == 77  # default_shots from the native options
    assert counts == second["result"][0].data.meas.get_counts()  # same seed, same counts
    assert first["job_id"] != second["job_id"]
    assert first["metadata"]["shots"] is None  # nothing requested explicitly


async def test_estimator_in_an_async_flow() -> None:
    circuit = bell(measure=False)
    observables = [
        SparsePauliOp(label).apply_layout(circuit.layout) for label in ("ZZ", "XX", "ZI")
    ]

    @flow
    async def estimator_flow() -> FetchOutput:
        return await run_estimator_task(
            [(circuit, observables)], runtime_config=LOCAL, precision=0.02
        )

    output = await estimator_flow()
    assert output["primitive"] == "estimator"
    evs = np.asarray(output["result"][0].data.evs)
    stds = np.asarray(output["result"][0].data.stds)
    assert evs.shape == (3,)
    # fake_manila's noise model applies (local mode ignores a noise_model option for the
    # estimator), so the Bell correlations are clearly positive but below 1.
    assert 0.7 < evs[0] <= 1.0
    assert 0.7 < evs[1] <= 1.0
    assert abs(evs[2]) < 0.15
    assert np.all(stds >= 0)
    assert output["metadata"]["precision"] == 0.02
    assert_json_compatible(output["metadata"])


def test_estimator_in_a_sync_flow() -> None:
    circuit = bell(measure=False)
    observable = SparsePauliOp("ZZ").apply_layout(circuit.layout)

    @flow
    def sync_flow() -> FetchOutput:
        return run_estimator_task(  # type: ignore[return-value]
            [(circuit, observable)], runtime_config=LOCAL, precision=0.05
        )

    output = sync_flow()
    assert float(output["result"][0].data.evs) > 0.5  # noisy, but clearly correlated


async def test_runtime_block_name() -> None:
    name = unique_key("local-manila")
    await QiskitRuntimeConfig(backend_name="fake_manila", channel="local").asave(name)

    @flow
    async def by_name() -> FetchOutput:
        return await run_sampler_task([bell()], runtime_block_name=name, shots=40)

    output = await by_name()
    assert output["backend_name"] == "fake_manila"
    assert sum(output["result"][0].data.meas.get_counts().values()) == 40


@pytest.mark.parametrize("task_name", ["sampler", "estimator"])
async def test_both_or_neither_configuration_is_an_error(task_name: str) -> None:
    run = run_sampler_task if task_name == "sampler" else run_estimator_task

    @flow
    async def both() -> None:
        await run([bell()], runtime_config=LOCAL, runtime_block_name="x")

    @flow
    async def neither() -> None:
        await run([bell()])

    for case in (both, neither):
        with pytest.raises(RuntimeConfigError, match="runtime_block_name"):
            await case()


async def test_missing_block_names_it_and_how_to_create_it() -> None:
    name = unique_key("nope")

    @flow
    async def missing() -> None:
        await run_sampler_task([bell()], runtime_block_name=name)

    with pytest.raises(RuntimeConfigError, match=name) as info:
        await missing()
    assert "prefect block register -m qcsc_prefect.integrations.qiskit" in str(info.value)


async def test_unknown_backend() -> None:
    @flow
    async def unknown() -> None:
        await run_sampler_task(
            [bell()],
            runtime_config=QiskitRuntimeConfig(backend_name="fake_nowhere", channel="local"),
        )

    with pytest.raises(BackendNotFoundError, match="fake_") as info:
        await unknown()
    assert info.value.available


async def test_bad_input_is_rejected_before_submission(caplog: pytest.LogCaptureFixture) -> None:
    cases: list[tuple[list[Any], Any, str]] = [
        ([], 10, "pubs"),
        ([bell()], 0, "shots"),
        ([bell(measure=False)], 10, "pubs"),
    ]

    @flow
    async def bad(case: int) -> None:  # circuits are not flow parameters: Prefect stores those
        pubs, shots, _ = cases[case]
        await run_sampler_task(pubs, runtime_config=LOCAL, shots=shots)

    for case, (_, _, argument) in enumerate(cases):
        with pytest.raises(InvalidInputError) as info:
            await bad(case)
        assert info.value.argument == argument
    assert "Submitted" not in caplog.text

    @flow
    async def bad_key() -> None:
        await run_sampler_task([bell()], runtime_config=LOCAL, artifact_key="Not_Valid")

    with pytest.raises(InvalidInputError) as key_info:
        await bad_key()
    assert key_info.value.argument == "artifact_key"
    assert "Submitted" not in caplog.text


async def _read_artifact(key: str) -> Any:
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    assert len(artifacts) == 1, key
    return artifacts[0]


async def test_artifacts_for_sampler_and_estimator() -> None:
    sampler_key = unique_key("sampler")
    estimator_key = unique_key("estimator")
    circuit = bell(measure=False)
    observables = [SparsePauliOp(label).apply_layout(circuit.layout) for label in ("ZZ", "XX")]

    @flow
    async def with_artifacts() -> tuple[FetchOutput, FetchOutput]:
        sampled = await run_sampler_task(
            [bell(), ghz3()], runtime_config=LOCAL, shots=128, artifact_key=sampler_key
        )
        estimated = await run_estimator_task(
            [(circuit, observables)],
            runtime_config=LOCAL,
            precision=0.05,
            artifact_key=estimator_key,
        )
        return sampled, estimated

    sampled, estimated = await with_artifacts()

    summary = await _read_artifact(sampler_key)
    assert summary.type == "markdown"
    assert sampled["job_id"] in summary.data
    assert "fake_manila" in summary.data and "| Shots | 128 |" in summary.data
    table = json.loads((await _read_artifact(f"{sampler_key}-pubs")).data)
    assert [row["pub"] for row in table] == [0, 1]
    assert all(row["register"] == "meas" and row["shots"] == 128 for row in table)
    top_outcome = max(sampled["result"][0].data.meas.get_counts().items(), key=lambda i: i[1])
    assert table[0]["top_counts"].startswith(f"{top_outcome[0]}: {top_outcome[1]}")

    estimator_summary = await _read_artifact(estimator_key)
    assert estimated["job_id"] in estimator_summary.data
    assert "| Precision | 0.05 |" in estimator_summary.data
    estimator_table = json.loads((await _read_artifact(f"{estimator_key}-pubs")).data)
    first_ev = float(np.asarray(estimated["result"][0].data.evs)[0])
    assert estimator_table[0]["shape"] == "(2,)"
    assert estimator_table[0]["evs_pm_stds"].startswith(f"{first_ev:.6g} ± ")


async def test_artifact_failures_are_warnings_not_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @flow
    async def artifact_fails() -> FetchOutput:
        output = await run_sampler_task([bell()], runtime_config=LOCAL, shots=10)
        # Bypass the task's own key check: Prefect itself rejects this key.
        await acreate_result_artifacts(output, "Invalid Key!")
        return output

    output = await artifact_fails()
    assert sum(output["result"][0].data.meas.get_counts().values()) == 10
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "artifact" in r.message]
    assert len(warnings) == 2, caplog.text
    assert output["job_id"] in warnings[0].getMessage()


async def test_standalone_task_call_outside_a_flow() -> None:
    output = await run_sampler_task([bell()], runtime_config=LOCAL, shots=30)
    assert sum(output["result"][0].data.meas.get_counts().values()) == 30
