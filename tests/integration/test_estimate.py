"""Estimates before the bill (issue 22 item 3): a dry run on the mock_ device, seconds back."""

from __future__ import annotations

from typing import Any

import pytest
from prefect import flow
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qcsc_prefect.integrations.qiskit import (
    BackendNotFoundError,
    InvalidInputError,
    QCSCEstimatorV2,
    QCSCSamplerV2,
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


async def test_the_wrappers_estimate_what_their_run_would_post(
    runtime_emulator: Any,
    isa_bell: QuantumCircuit,
    isa_estimator_pub: tuple[QuantumCircuit, list[SparsePauliOp]],
) -> None:
    runtime_emulator.control.configure(run_delay=0.5)
    config = QiskitRuntimeConfig(backend_name="ibm_fez")
    # The wrapper's default options reach the dry run: 16 x 100 twirled shots are counted.
    twirled = {"twirling": {"num_randomizations": 16, "shots_per_randomization": 100}}

    @flow
    async def estimates() -> tuple[float, float]:
        sampler = QCSCSamplerV2(runtime_config=config)
        estimator = QCSCEstimatorV2(runtime_config=config, options=twirled)
        # run's own arguments are accepted unchanged (and checked as run checks them).
        sampled = await sampler.aestimate([isa_bell], shots=100, cache_submit=True, repeat=1)
        estimated = await estimator.aestimate([isa_estimator_pub], precision=0.1)
        with pytest.raises(InvalidInputError, match="robust=True"):
            await sampler.aestimate([isa_bell], robust=False, cache_submit=True)
        return sampled, estimated

    sampled, estimated = await estimates()
    jobs = runtime_emulator.control.jobs()
    assert [job["backend"] for job in jobs] == ["mock_fez", "mock_fez"]  # nothing on ibm_fez
    assert [job["estimated_seconds"] for job in jobs] == [sampled, estimated]
    # The emulator's model: run_delay + shots x 1e-4 s (one pub of 16 x 100 twirled shots).
    assert sampled == pytest.approx(0.5 + 100 * 1e-4)
    assert estimated == pytest.approx(0.5 + 1600 * 1e-4)


def test_the_wrappers_estimate_returns_seconds_without_an_event_loop(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    sampler = QCSCSamplerV2(runtime_config=QiskitRuntimeConfig(backend_name="ibm_fez"))

    @flow
    def estimate() -> Any:
        return sampler.estimate([isa_bell], shots=10)

    seconds = estimate()
    assert isinstance(seconds, float) and seconds > 0
    assert [job["backend"] for job in runtime_emulator.control.jobs()] == ["mock_fez"]
