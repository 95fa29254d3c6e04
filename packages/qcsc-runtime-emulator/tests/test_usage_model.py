"""The usage endpoint and its limit, usage estimates, mock devices for dry runs, twirled shots."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from qiskit_ibm_runtime import EstimatorV2, QiskitRuntimeService, SamplerV2

from qcsc_runtime_emulator import RuntimeEmulator
from qcsc_runtime_emulator.usage_model import SECONDS_PER_SHOT, estimator_shots, job_shots

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_usage_grows_with_jobs_and_reports_the_limit(
    runtime_emulator: RuntimeEmulator, service: QiskitRuntimeService, fez: Any, bell: Any
) -> None:
    runtime_emulator.control.configure(run_delay=0.3)
    assert service.usage()["usage_consumed_seconds"] == 0
    assert "usage_limit_seconds" not in service.usage()
    job = SamplerV2(mode=fez).run([bell], shots=10)
    job.result(timeout=30)
    record = next(j for j in runtime_emulator.control.jobs() if j["id"] == job.job_id())
    assert record["usage_seconds"] >= 0.3
    assert service.usage()["usage_consumed_seconds"] == pytest.approx(record["usage_seconds"])
    runtime_emulator.control.configure(usage_limit_seconds=100, usage_consumed_seconds=50)
    usage = service.usage()
    assert usage["usage_limit_seconds"] == 100
    assert usage["usage_consumed_seconds"] == pytest.approx(50 + record["usage_seconds"])
    assert usage["usage_remaining_seconds"] == pytest.approx(50 - record["usage_seconds"])
    assert usage["usage_limit_reached"] is False


def test_reached_limit_warns_in_the_client_and_holds_jobs(
    runtime_emulator: RuntimeEmulator, service: QiskitRuntimeService, fez: Any, bell: Any
) -> None:
    emulator = RuntimeEmulator(usage_limit_seconds=10, usage_consumed_seconds=10)
    assert emulator.app.config["usage_limit_seconds"] == 10  # the constructor's keywords
    runtime_emulator.control.configure(usage_limit_seconds=10, usage_consumed_seconds=10)
    assert service.usage()["usage_limit_reached"] is True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        job = SamplerV2(mode=fez).run([bell], shots=10)
    assert any("usage limit" in str(w.message) for w in caught)
    assert job.status() == "QUEUED"  # workloads do not run until time is made available
    runtime_emulator.control.configure(usage_limit_seconds=1000)
    job.result(timeout=30)
    assert job.status() == "DONE"


def test_jobs_carry_an_estimate_that_follows_their_shots(
    runtime_emulator: RuntimeEmulator, fez: Any, bell: Any
) -> None:
    runtime_emulator.control.configure(run_delay=0.2)
    small = SamplerV2(mode=fez).run([bell], shots=100)
    large = SamplerV2(mode=fez).run([bell], shots=1000)
    assert small.usage_estimation["quantum_seconds"] == pytest.approx(0.2 + 100 * SECONDS_PER_SHOT)
    assert large.usage_estimation["quantum_seconds"] == pytest.approx(0.2 + 1000 * SECONDS_PER_SHOT)
    large.result(timeout=30)


def test_dry_run_goes_to_the_mock_device_and_uses_no_time(
    runtime_emulator: RuntimeEmulator, service: QiskitRuntimeService, fez: Any, bell: Any
) -> None:
    runtime_emulator.control.configure(run_delay=0.5)
    assert "mock_fez" not in [b.name for b in service.backends()]
    assert "mock_fez" in [b.name for b in service.backends(include_mocks=True)]
    job = SamplerV2(mode=fez).run([bell], shots=100, dry_run=True)
    # The estimate is the real device's (what the job would use there), not the mock's.
    assert job.usage_estimation["quantum_seconds"] == pytest.approx(0.5 + 100 * SECONDS_PER_SHOT)
    job.result(timeout=30)
    [record] = runtime_emulator.control.jobs()
    assert record["backend"] == "mock_fez"
    assert record["usage_seconds"] == 0
    assert service.usage()["usage_consumed_seconds"] == 0


def test_estimator_reports_twirled_shots(
    runtime_emulator: RuntimeEmulator, fez: Any, bell_estimator_pub: Any
) -> None:
    twirling = {"enable_gates": True, "num_randomizations": 16, "shots_per_randomization": 100}
    estimator = EstimatorV2(mode=fez, options={"twirling": twirling})
    job = estimator.run([bell_estimator_pub], precision=0.1)
    assert job.result(timeout=60)[0].metadata["shots"] == 1600
    plain = EstimatorV2(mode=fez).run([bell_estimator_pub], precision=0.1)
    assert plain.result(timeout=60)[0].metadata["shots"] == 100


def test_shot_counts_from_posted_parameters() -> None:
    sampler = {"pubs": [[{"__type__": "QuantumCircuit"}, {}, 300], [{}, {}]], "options": {}}
    assert job_shots("sampler", sampler) == 300 + 4096
    estimator = {"pubs": [[{}, {}, {}, 0.05]], "options": {"default_precision": 0.1}}
    assert job_shots("estimator", estimator) == 400
    assert job_shots("executor", {"pubs": "x"}) == 0
    assert estimator_shots(0.1, {"twirling": {"num_randomizations": 16}}) == 16 * 7
