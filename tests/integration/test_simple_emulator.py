"""run_sampler_task / run_estimator_task against the Runtime emulator with the real client.

``QiskitRuntimeConfig(backend_name="ibm_fez")`` carries no account settings: the unmodified
``QiskitRuntimeService`` finds the emulator through the environment (account discovery),
exactly as it would find IBM Quantum Platform through a saved account.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest
from prefect import flow
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qcsc_prefect.integrations.qiskit import (
    BackendNotFoundError,
    FetchOutput,
    InvalidInputError,
    QiskitRuntimeConfig,
    run_estimator_task,
    run_sampler_task,
)

if TYPE_CHECKING:
    from qcsc_runtime_emulator import RuntimeEmulator

FEZ = QiskitRuntimeConfig(backend_name="ibm_fez")


def transpiled(circuit: QuantumCircuit) -> QuantumCircuit:
    backend = FEZ.get_backend()
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)


def bell(measure: bool = True) -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    if measure:
        circuit.measure_all()
    return circuit


async def test_sampler_via_account_discovery(runtime_emulator: RuntimeEmulator) -> None:
    isa = transpiled(bell())

    @flow
    async def sampler_flow() -> FetchOutput:
        return await run_sampler_task([isa, isa], runtime_config=FEZ, shots=100)

    output = await sampler_flow()
    assert runtime_emulator.control.job_count() == 1
    assert output["status"] == "DONE"
    assert output["backend_name"] == "ibm_fez"
    assert len(output["job_id"]) == 20  # a Runtime job id, not a local uuid
    for pub_result in output["result"]:
        counts = pub_result.data.meas.get_counts()
        assert sum(counts.values()) == 100
        assert set(counts) <= {"00", "11"}  # the emulator simulates without noise
    metadata = output["metadata"]
    assert metadata["num_pubs"] == 2 and metadata["shots"] == 100
    timings, usage = metadata["timings"], metadata["usage"]
    assert isinstance(timings, dict) and isinstance(usage, dict)
    assert timings["started"] is not None  # reported by the service's job metrics
    assert isinstance(usage["quantum_seconds"], float) and usage["quantum_seconds"] >= 0


async def test_estimator_via_account_discovery(runtime_emulator: RuntimeEmulator) -> None:
    isa = transpiled(bell(measure=False))
    observables = [SparsePauliOp(label).apply_layout(isa.layout) for label in ("ZZ", "XX", "ZI")]

    @flow
    async def estimator_flow() -> FetchOutput:
        return await run_estimator_task([(isa, observables)], runtime_config=FEZ, precision=0.05)

    output = await estimator_flow()
    assert runtime_emulator.control.job_count() == 1
    evs = np.asarray(output["result"][0].data.evs)
    assert evs[0] == pytest.approx(1.0, abs=0.2)
    assert evs[1] == pytest.approx(1.0, abs=0.2)
    assert evs[2] == pytest.approx(0.0, abs=0.2)


async def test_bad_input_submits_nothing(runtime_emulator: RuntimeEmulator) -> None:
    @flow
    async def not_isa() -> None:
        await run_sampler_task([bell()], runtime_config=FEZ, shots=10)

    with pytest.raises(InvalidInputError, match="generate_preset_pass_manager"):
        await not_isa()

    @flow
    async def unknown_backend() -> None:
        await run_sampler_task(
            [bell()], runtime_config=QiskitRuntimeConfig(backend_name="ibm_nope")
        )

    with pytest.raises(BackendNotFoundError, match="ibm_fez"):
        await unknown_backend()
    assert runtime_emulator.control.job_count() == 0


async def test_waiting_does_not_block_the_event_loop(runtime_emulator: RuntimeEmulator) -> None:
    # The job stays queued for a while; the task must keep the flow's event loop free.
    # (Local mode is not used here: its in-process simulation holds the GIL in long C calls,
    # which stalls every thread, whatever the task does.)
    runtime_emulator.control.configure(queue_delay=1.5)
    isa = transpiled(bell())
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    @flow
    async def concurrent() -> FetchOutput:
        ticking = asyncio.create_task(ticker())
        try:
            return await run_sampler_task([isa], runtime_config=FEZ, shots=10)
        finally:
            done.set()
            await ticking

    output = await concurrent()
    wall = output["metadata"]["timings"]["wall_seconds"]  # type: ignore[index]
    assert isinstance(wall, float) and wall >= 1.5
    assert len(gaps) > 50
    assert max(gaps) < 0.5, max(gaps)  # a blocked loop would show one gap of ~wall
