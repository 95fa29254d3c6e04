"""Estimates before the bill (issue 22 item 3): a dry run on the mock_ device, seconds back."""

from __future__ import annotations

from typing import Any

import pytest
from prefect import flow
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qcsc_prefect.integrations.qiskit import (
    BackendNotFoundError,
    QiskitRuntimeConfig,
    estimate_estimator_usage_task,
    estimate_sampler_usage_task,
)


async def test_estimates_use_the_mock_device_only(
    runtime_emulator: Any,
    isa_bell: QuantumCircuit,
    isa_estimator_pub: tuple[QuantumCircuit, list[SparsePauliOp]],
) -> None:
    runtime_emulator.control.configure(run_delay=0.5)
    config = QiskitRuntimeConfig(backend_name="ibm_fez")

    @flow
    async def estimates() -> tuple[float, float]:
        sampler = await estimate_sampler_usage_task([isa_bell], runtime_config=config, shots=100)
        estimator = await estimate_estimator_usage_task(
            [isa_estimator_pub], runtime_config=config, precision=0.1
        )
        return sampler, estimator

    sampler, estimator = await estimates()
    assert sampler > 0 and estimator > 0
    jobs = runtime_emulator.control.jobs()
    assert [job["backend"] for job in jobs] == ["mock_fez", "mock_fez"]
    assert [job["estimated_seconds"] for job in jobs] == [sampler, estimator]
    assert all(job["usage_seconds"] == 0 for job in jobs)


async def test_no_mock_counterpart_is_a_clear_error(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    runtime_emulator.control.add_fault(
        "GET", r"/backends/mock_fez/configuration$", {"status": 404}, times=5
    )
    config = QiskitRuntimeConfig(backend_name="ibm_fez")

    @flow
    async def estimate() -> float:
        return await estimate_sampler_usage_task([isa_bell], runtime_config=config, shots=100)

    with pytest.raises(BackendNotFoundError, match="mock_"):
        await estimate()
    assert runtime_emulator.control.job_count() == 0
