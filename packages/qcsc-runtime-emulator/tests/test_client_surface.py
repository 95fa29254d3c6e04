"""The unmodified client's public surface, compared with what it expects of the service."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.providers.exceptions import QiskitBackendNotFoundError
from qiskit.quantum_info import SparsePauliOp
from qiskit_ibm_runtime import Batch, EstimatorV2, QiskitRuntimeService, SamplerV2, Session
from qiskit_ibm_runtime.exceptions import (
    IBMInputValueError,
    IBMRuntimeError,
    RuntimeInvalidStateError,
)
from qiskit_ibm_runtime.execution_span import ExecutionSpans
from qiskit_ibm_runtime.models import BackendProperties

from qcsc_runtime_emulator import RuntimeEmulator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def manila_bell(service: QiskitRuntimeService) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return transpile(qc, target=service.backend("ibmq_manila").target, seed_transpiler=3)


# job ---------------------------------------------------------------------------------
def test_inputs_return_the_submitted_params(service: Any, fez: Any, bell: Any) -> None:
    sampler = SamplerV2(mode=fez)
    sampler.options.environment.job_tags = ["inputs"]
    job = sampler.run([bell], shots=33)
    job.result(timeout=30)
    for handle in (job, service.job(job.job_id())):
        inputs = handle.inputs
        assert inputs["version"] == 2
        (pub,) = inputs["pubs"]
        assert isinstance(pub[0], QuantumCircuit) and pub[0] == bell
        assert pub[-1] == 33
        assert "options" in inputs


def test_finished_job_surface(
    runtime_emulator: RuntimeEmulator, service: Any, fez: Any, bell: Any
) -> None:
    job = SamplerV2(mode=fez).run([bell], shots=40)
    first = job.result(timeout=30)
    second = service.job(job.job_id()).result()
    assert first[0].data.meas.get_counts() == second[0].data.meas.get_counts()
    with pytest.raises(RuntimeInvalidStateError):
        job.cancel()
    assert job.status() == "DONE" and job.done() and job.in_final_state()
    assert job.error_message() is None
    metrics = job.metrics()
    assert metrics["usage"]["status"] == "completed"
    assert job.usage() == metrics["usage"]["qpu_charge_time_seconds"] >= 0
    assert f"Job {job.job_id()}" in job.logs()
    assert isinstance(job.properties(), BackendProperties)
    assert job.backend().name == "ibm_fez"
    assert isinstance(job.creation_date, datetime)
    assert job.usage_estimation["quantum_seconds"] is not None
    assert job.primitive_id == "sampler"
    assert runtime_emulator.control.jobs()[0]["result_reads"] == 2


def test_pending_job_usage_is_zero_until_final(
    runtime_emulator: RuntimeEmulator, fez: Any, bell: Any
) -> None:
    runtime_emulator.control.configure(paused=True)
    job = SamplerV2(mode=fez).run([bell], shots=10)
    assert job.usage() == 0
    assert job.metrics()["timestamps"]["running"] is None
    job.cancel()
    assert job.status() == "CANCELLED"
    with pytest.raises(RuntimeInvalidStateError):
        job.cancel()


# service.jobs() filters -------------------------------------------------------------------
def test_jobs_filters(
    runtime_emulator: RuntimeEmulator,
    service: Any,
    fez: Any,
    bell: Any,
    manila_bell: QuantumCircuit,
) -> None:
    manila = service.backend("ibmq_manila")
    sampler = SamplerV2(mode=fez)
    sampler.options.environment.job_tags = ["filter:a"]
    old = sampler.run([bell], shots=10)
    old.result(timeout=30)
    time.sleep(0.05)
    middle = datetime.now()
    on_manila = SamplerV2(mode=manila).run([manila_bell], shots=10)
    on_manila.result(timeout=30)
    runtime_emulator.control.configure(paused=True)
    pending = SamplerV2(mode=fez).run([bell], shots=10)

    def ids(**filters: Any) -> list[str]:
        return [j.job_id() for j in service.jobs(**filters)]

    assert ids() == [pending.job_id(), on_manila.job_id(), old.job_id()]
    assert ids(descending=False) == [old.job_id(), on_manila.job_id(), pending.job_id()]
    assert ids(backend_name="ibmq_manila") == [on_manila.job_id()]
    assert ids(pending=True) == [pending.job_id()]
    assert ids(pending=False) == [on_manila.job_id(), old.job_id()]
    assert ids(job_tags=["filter:a"]) == [old.job_id()]
    assert ids(created_after=middle) == [pending.job_id(), on_manila.job_id()]
    assert ids(created_before=middle) == [old.job_id()]
    assert ids(limit=1, skip=1) == [on_manila.job_id()]
    assert ids(limit=None, skip=2) == [old.job_id()]
    assert ids(program_id="estimator") == []


def test_service_usage(service: Any, fez: Any, bell: Any) -> None:
    SamplerV2(mode=fez).run([bell], shots=10).result(timeout=30)
    usage = service.usage()
    assert usage["usage_limit_reached"] is False
    assert usage["usage_consumed_seconds"] >= 0


# backends -------------------------------------------------------------------------------
def test_unknown_calibration_id_is_not_found(service: Any) -> None:
    with pytest.raises(QiskitBackendNotFoundError):
        service.backend("ibm_fez", calibration_id="no-such-calibration")


def test_known_calibration_id_runs(
    runtime_emulator: RuntimeEmulator, service: Any, bell: Any
) -> None:
    calibration_id = runtime_emulator.app.catalog.calibration_id("ibm_fez")
    fez = service.backend("ibm_fez", calibration_id=calibration_id)
    assert fez.calibration_id == calibration_id
    assert fez.properties().backend_name == "ibm_fez"
    assert fez.configuration().n_qubits == fez.target.num_qubits == 156
    result = SamplerV2(mode=fez).run([bell], shots=12).result(timeout=30)
    assert result[0].data.meas.num_shots == 12


# sessions and batches -----------------------------------------------------------------
def test_session_details_and_lifecycle(service: Any, fez: Any, bell: Any) -> None:
    session = Session(backend=fez, max_time=600)
    details = session.details()
    assert details["max_time"] == 600 and details["mode"] == "dedicated"
    assert details["backend_name"] == "ibm_fez"
    assert session.status() == "Pending"
    SamplerV2(mode=session).run([bell], shots=10).result(timeout=30)
    assert session.status() == "In progress, accepting new jobs"
    assert session.usage() is not None and session.usage() >= 0
    again = Session.from_id(session.session_id, service)
    assert again.session_id == session.session_id
    with pytest.raises(IBMInputValueError):
        Batch.from_id(session.session_id, service)
    session.close()
    assert session.details()["accepting_jobs"] is False
    with pytest.raises(IBMRuntimeError):
        SamplerV2(mode=again).run([bell], shots=10)


def test_batch_cancel_cancels_queued_jobs(
    runtime_emulator: RuntimeEmulator, fez: Any, bell: Any
) -> None:
    runtime_emulator.control.configure(paused=True)
    with Batch(backend=fez) as batch:
        job = SamplerV2(mode=batch).run([bell], shots=10)
        batch.cancel()
    assert job.status() == "CANCELLED"
    assert batch.status() == "Closed"
    assert batch.details()["closed_at"] is not None


def test_unknown_session_id(service: Any) -> None:
    with pytest.raises(IBMInputValueError):
        Session.from_id("0" * 20, service)


def test_session_max_time_closes_it(service: Any, fez: Any, bell: Any) -> None:
    session = Session(backend=fez, max_time=1)
    SamplerV2(mode=session).run([bell], shots=10).result(timeout=30)
    time.sleep(1.2)
    details = session.details()
    assert details["state"] == "closed" and details["accepting_jobs"] is False
    assert details["closed_at"] is not None
    with pytest.raises(IBMRuntimeError):
        SamplerV2(mode=session).run([bell], shots=10)


# wide estimator -----------------------------------------------------------------------
def test_observable_on_idle_qubits_is_simulated(fez: Any) -> None:
    qc = QuantumCircuit(156)
    qc.x(0)
    qc.rz(0.4, 0)
    isa = transpile(qc, target=fez.target, optimization_level=0)
    observable = SparsePauliOp("Z" * 156)  # Z on every qubit; 155 of them idle
    result = EstimatorV2(mode=fez).run([(isa, observable)]).result(timeout=60)
    assert np.isclose(float(result[0].data.evs), -1.0, atol=0.1)


def test_sampler_result_has_execution_spans(fez: Any, bell: Any) -> None:
    result = SamplerV2(mode=fez).run([(bell, None, 20), (bell, None, 30)]).result(timeout=30)
    spans = result.metadata["execution"]["execution_spans"]
    assert isinstance(spans, ExecutionSpans) and len(spans) == 2
    assert spans.start <= spans.stop
    assert spans.pub_idxs == [0, 1]
    assert spans[1].mask(1).shape == (30,)
    assert sum(span.size for span in spans) == 50
