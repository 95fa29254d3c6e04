"""The instance's usage limit (issue 22 item 2): refused with 0 jobs, or submitted on override."""

from __future__ import annotations

import time
from typing import Any

import pytest
from prefect import flow
from qiskit import QuantumCircuit

from qcsc_prefect.integrations.qiskit import (
    QiskitRuntimeConfig,
    UsageLimitReachedError,
    submit_sampler_job_task,
)
from qcsc_prefect.integrations.qiskit.instance_limit import clear_readings


@pytest.fixture(autouse=True)
def _fresh_readings() -> None:
    clear_readings()  # another test's reading of the same service may be under a minute old


async def test_reached_limit_refuses_and_posts_nothing(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    runtime_emulator.control.configure(usage_limit_seconds=10, usage_consumed_seconds=10)
    config = QiskitRuntimeConfig(backend_name="ibm_fez")

    @flow
    async def one() -> object:
        return await submit_sampler_job_task([isa_bell], runtime_config=config, shots=10)

    with pytest.raises(UsageLimitReachedError) as info:
        await one()
    assert runtime_emulator.control.job_count() == 0
    assert info.value.limit_seconds == 10 and info.value.consumed_seconds == 10
    assert "submit_when_usage_limit_reached=True" in str(info.value)


async def test_override_submits_anyway(runtime_emulator: Any, isa_bell: QuantumCircuit) -> None:
    runtime_emulator.control.configure(usage_limit_seconds=10, usage_consumed_seconds=10)
    config = QiskitRuntimeConfig(backend_name="ibm_fez", submit_when_usage_limit_reached=True)

    @flow
    async def one() -> object:
        return await submit_sampler_job_task([isa_bell], runtime_config=config, shots=10)

    await one()
    assert runtime_emulator.control.job_count() == 1


async def test_failing_usage_call_never_blocks(
    runtime_emulator: Any, isa_bell: QuantumCircuit
) -> None:
    runtime_emulator.control.add_fault("GET", r"/instances/usage$", {"status": 400}, times=1)
    config = QiskitRuntimeConfig(backend_name="ibm_fez")

    @flow
    async def one() -> object:
        return await submit_sampler_job_task([isa_bell], runtime_config=config, shots=10)

    await one()
    assert runtime_emulator.control.job_count() == 1


async def test_stalled_usage_call_never_blocks_beyond_its_bound(
    runtime_emulator: Any, isa_bell: QuantumCircuit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The guard's own read stalls (the client's pre-submit read, the next one, does not): the
    # guard stops waiting at its bound, logs, and the job is posted.
    from qcsc_prefect.integrations.qiskit import guards

    monkeypatch.setattr(guards, "USAGE_READ_TIMEOUT", 0.5)
    stall = 8.0
    runtime_emulator.control.add_fault("GET", r"/instances/usage$", {"delay": stall}, times=1)
    config = QiskitRuntimeConfig(backend_name="ibm_fez")

    @flow
    async def one() -> object:
        return await submit_sampler_job_task([isa_bell], runtime_config=config, shots=10)

    started = time.monotonic()
    await one()
    assert runtime_emulator.control.job_count() == 1
    # Neither the guard nor the client's own check (which waits at most `answers.FLIGHT_WAIT`
    # for the guard's read in flight, then asks itself) waited for the stalled answer.
    took = time.monotonic() - started
    assert took < stall - 1.5
