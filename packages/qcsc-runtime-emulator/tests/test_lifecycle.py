"""Whole job lifecycles through the unmodified client."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from qiskit_ibm_runtime import Batch, EstimatorV2, QiskitRuntimeService, SamplerV2, Session
from qiskit_ibm_runtime.exceptions import RuntimeInvalidStateError

from qcsc_runtime_emulator import DEFAULT_INSTANCE, RuntimeEmulator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_bare_service_reaches_emulator(runtime_emulator: RuntimeEmulator) -> None:
    service = QiskitRuntimeService()
    assert service.active_account()["instance"] == DEFAULT_INSTANCE
    names = {b.name for b in service.backends()}
    assert {"ibm_fez", "ibm_torino", "ibmq_manila"} <= names
    fez = service.backend("ibm_fez")
    assert fez.num_qubits == 156
    assert fez.configuration().simulator is False
    assert fez.status().operational


def test_service_kwargs(runtime_emulator: RuntimeEmulator) -> None:
    service = QiskitRuntimeService(**runtime_emulator.service_kwargs())
    assert service.backend("ibmq_manila").num_qubits == 5
    assert runtime_emulator.service().backend("ibm_torino").num_qubits == 133


def test_sampler_lifecycle(
    runtime_emulator: RuntimeEmulator, fez: Any, bell: Any, until: Any
) -> None:
    ctl = runtime_emulator.control
    ctl.configure(paused=True, run_delay=0.6)
    job = SamplerV2(mode=fez).run([bell], shots=1000)
    assert len(job.job_id()) == 20
    assert job.status() == "QUEUED"
    ctl.configure(paused=False)
    until(lambda: job.status() == "RUNNING")
    result = job.result(timeout=30)
    assert job.status() == "DONE"
    counts = result[0].data.meas.get_counts()
    assert set(counts) == {"00", "11"}
    assert sum(counts.values()) == 1000
    metrics = job.metrics()
    assert metrics["timestamps"]["running"] and metrics["timestamps"]["finished"]
    assert job.usage() >= 0
    assert "Job" in job.logs()
    (summary,) = ctl.jobs()
    assert summary["status"] == "Completed"
    assert summary["program"] == "sampler" and summary["backend"] == "ibm_fez"


def test_estimator_lifecycle(fez: Any, bell_estimator_pub: Any) -> None:
    job = EstimatorV2(mode=fez).run([bell_estimator_pub])
    result = job.result(timeout=30)
    evs = result[0].data.evs
    assert np.allclose(evs, [1.0, 1.0, 0.0], atol=0.1)
    assert result[0].data.stds.shape == (3,)


def test_estimator_scalar_pub_has_array_fields(fez: Any, bell_estimator_pub: Any) -> None:
    circuit, obs = bell_estimator_pub
    result = EstimatorV2(mode=fez).run([(circuit, obs[0])]).result(timeout=30)
    assert result[0].data.stds.shape == ()
    assert float(result[0].data.evs) == pytest.approx(1.0, abs=0.1)


def test_jobs_by_tag_and_filters(service: QiskitRuntimeService, fez: Any, bell: Any) -> None:
    sampler = SamplerV2(mode=fez)
    sampler.options.environment.job_tags = ["idem:abc", "team:x"]
    tagged = sampler.run([bell], shots=10)
    other = SamplerV2(mode=fez).run([bell], shots=10)
    tagged.result(timeout=30)
    other.result(timeout=30)
    found = service.jobs(job_tags=["idem:abc"])
    assert [j.job_id() for j in found] == [tagged.job_id()]
    assert len(service.jobs(job_tags=["idem:abc", "team:x"])) == 1
    assert service.jobs(job_tags=["idem:abc", "nope"]) == []
    assert len(service.jobs(backend_name="ibm_fez")) == 2
    assert service.jobs(backend_name="ibm_torino") == []
    assert len(service.jobs(program_id="sampler")) == 2
    assert service.jobs(pending=True) == []
    newest_first = [j.job_id() for j in service.jobs()]
    assert newest_first == [other.job_id(), tagged.job_id()]
    assert [j.job_id() for j in service.jobs(descending=False)] == newest_first[::-1]
    assert [j.job_id() for j in service.jobs(limit=1, skip=1)] == [tagged.job_id()]
    tagged.update_tags(["renamed"])
    assert service.jobs(job_tags=["idem:abc"]) == []
    assert service.job(tagged.job_id()).tags == ["renamed"]
    service.delete_job(other.job_id())
    assert len(service.jobs()) == 1


def test_cancel(runtime_emulator: RuntimeEmulator, fez: Any, bell: Any) -> None:
    runtime_emulator.control.configure(paused=True)
    job = SamplerV2(mode=fez).run([bell])
    job.cancel()
    assert job.status() == "CANCELLED"
    with pytest.raises(RuntimeInvalidStateError):
        job.result(timeout=10)
    with pytest.raises(RuntimeInvalidStateError):
        job.cancel()  # 409: already final


def test_session(runtime_emulator: RuntimeEmulator, fez: Any, bell: Any) -> None:
    with Session(backend=fez) as session:
        assert session.session_id
        sampler = SamplerV2(mode=session)
        first = sampler.run([bell], shots=100)
        second = sampler.run([bell], shots=100)
        assert first.result(timeout=30)[0].data.meas.num_shots == 100
        second.result(timeout=30)
        details = session.details()
        assert details is not None and details["mode"] == "dedicated"
        assert details["backend_name"] == "ibm_fez"
        assert session.status() == "In progress, accepting new jobs"
    assert {j["session_id"] for j in runtime_emulator.control.jobs()} == {session.session_id}
    assert session.status() == "Closed"


def test_batch_and_cancel(runtime_emulator: RuntimeEmulator, fez: Any, bell: Any) -> None:
    batch = Batch(backend=fez)
    job = SamplerV2(mode=batch).run([bell], shots=100)
    assert job.result(timeout=30)[0].data.meas.num_shots == 100
    assert batch.details()["mode"] == "batch"
    runtime_emulator.control.configure(paused=True)
    queued = SamplerV2(mode=batch).run([bell], shots=100)
    batch.cancel()
    assert queued.status() == "CANCELLED"
    assert batch.status() == "Closed"
