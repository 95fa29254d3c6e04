"""Reduced noise on a Heron device, time filters and the fixture's environment."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2

from qcsc_runtime_emulator import RuntimeEmulator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_fixture_applies_environment(runtime_emulator: RuntimeEmulator) -> None:
    for name, value in runtime_emulator.env().items():
        assert os.environ[name] == value
    assert os.environ["QISKIT_IBM_URL"].endswith("/experimental/api/v1")
    assert runtime_emulator.control.job_count() == 0


def test_created_filters(service: QiskitRuntimeService, fez: Any, bell: Any) -> None:
    before = datetime.now()
    time.sleep(0.05)
    job = SamplerV2(mode=fez).run([bell], shots=10)
    job.result(timeout=30)
    assert [j.job_id() for j in service.jobs(created_after=before)] == [job.job_id()]
    assert service.jobs(created_before=before) == []
    assert service.jobs(created_after=datetime.now() + timedelta(minutes=1)) == []
    assert service.jobs(session_id="nosuchsession") == []


def test_reduced_noise_on_fez_is_cached(
    runtime_emulator: RuntimeEmulator, fez: Any, bell: Any
) -> None:
    runtime_emulator.control.configure(noise="reduced")
    sampler = SamplerV2(mode=fez)
    first = sampler.run([bell], shots=2000).result(timeout=120)[0].data.meas.get_counts()
    assert len(first) > 2  # device noise gives 01/10 outcomes
    catalog = runtime_emulator.app.catalog
    cached = dict(catalog._reduced)
    assert len(cached) >= 1
    sampler.run([bell], shots=2000).result(timeout=60)
    # Same qubits: the restricted model is reused, not rebuilt (timings belong in benchmarks/).
    assert catalog._reduced.keys() == cached.keys()
    assert all(catalog._reduced[key] is model for key, model in cached.items())
