"""The ``executor`` program, driven by the unmodified client-side primitives over HTTP."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Parameter
from qiskit.primitives import PrimitiveResult
from qiskit.quantum_info import SparsePauliOp
from qiskit_ibm_runtime import Batch, QiskitRuntimeService, QuantumProgram, Session
from qiskit_ibm_runtime.exceptions import IBMRuntimeError, RuntimeJobFailureError
from qiskit_ibm_runtime.executor import Executor
from qiskit_ibm_runtime.executor_estimator import Estimator
from qiskit_ibm_runtime.executor_sampler import Sampler
from qiskit_ibm_runtime.quantum_program.params_converters import (
    QUANTUM_PROGRAM_PARAMS_CONVERTERS,
)
from qiskit_ibm_runtime.results import QuantumProgramResult
from samplomatic import build  # type: ignore[import-untyped, unused-ignore]
from samplomatic.quantum_program import (  # type: ignore[import-untyped, unused-ignore]
    CircuitItem,
    SamplexItem,
)
from samplomatic.transpiler import generate_boxing_pass_manager  # type: ignore[import-untyped, unused-ignore]

from qcsc_runtime_emulator import RuntimeEmulator

if TYPE_CHECKING:
    from conftest import Restartable

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def emulated(emu: RuntimeEmulator, job_id: str) -> dict[str, Any]:
    """The emulator's own record of a job."""
    return next(j for j in emu.control.jobs() if j["id"] == job_id)


@pytest.fixture
def manila(service: QiskitRuntimeService) -> Any:
    return service.backend("ibmq_manila")


def isa_bell(backend: Any, measure: bool = True) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    if measure:
        qc.measure_all()
    return transpile(qc, target=backend.target, optimization_level=1, seed_transpiler=7)


def test_sampler_bell(
    runtime_emulator: RuntimeEmulator, service: QiskitRuntimeService, fez: Any, bell: Any
) -> None:
    sampler = Sampler(mode=fez)
    job = sampler.run([bell], shots=500)
    assert job.primitive_id == "executor"
    result = job.result(timeout=60)
    assert isinstance(result, PrimitiveResult)
    counts = result[0].data.meas.get_counts()
    assert sum(counts.values()) == 500
    assert set(counts) <= {"00", "11"}
    assert result.metadata["shots"] == 500
    # The client decodes the posted executor v2.0 params back into a program.
    inputs = job.inputs
    assert inputs["schema_version"] == "v2.0"
    program = inputs["quantum_program"]
    assert isinstance(program, QuantumProgram) and program.shots == 500
    assert program._semantic_role == "sampler_v2"
    assert isinstance(program.items[0], CircuitItem)
    assert job.metrics()["usage"]["quantum_seconds"] >= 0
    assert job.usage() >= 0
    record = emulated(runtime_emulator, job.job_id())
    assert (record["program"], record["status"]) == ("executor", "Completed")
    # A later read in another client decodes the same way.
    again = service.job(job.job_id()).result()
    assert again[0].data.meas.num_shots == 500


def test_sampler_parameter_sweep(fez: Any) -> None:
    theta = Parameter("theta")
    qc = QuantumCircuit(1)
    qc.rx(theta, 0)
    qc.measure_all()
    isa = transpile(qc, target=fez.target, optimization_level=1, seed_transpiler=7)
    job = Sampler(mode=fez).run([(isa, [[0.0], [np.pi], [np.pi / 2]])], shots=400)
    item = job.inputs["quantum_program"].items[0]
    assert item.circuit_arguments.shape == (3, 1)
    meas = job.result(timeout=60)[0].data.meas
    assert meas.shape == (3,)
    assert meas[0].get_counts() == {"0": 400}
    assert meas[1].get_counts() == {"1": 400}
    assert set(meas[2].get_counts()) == {"0", "1"}


def test_sampler_twirled_uses_samplex_items(fez: Any, bell: Any) -> None:
    sampler = Sampler(mode=fez)
    sampler.options.twirling.enable_gates = True
    sampler.options.twirling.enable_measure = True
    sampler.options.twirling.num_randomizations = 8
    job = sampler.run([bell], shots=800)
    assert isinstance(job.inputs["quantum_program"].items[0], SamplexItem)
    pub = job.result(timeout=60)[0]
    counts = pub.data.meas.get_counts()
    # The emulator answers the measurement flips; the client undoes them.
    assert set(counts) <= {"00", "11"}
    assert sum(counts.values()) == 800
    assert pub.metadata["num_randomizations"] == 8


def test_estimator_bell(fez: Any) -> None:
    isa = isa_bell(fez, measure=False)
    observables = [SparsePauliOp(p).apply_layout(isa.layout) for p in ("ZZ", "XX", "YY")]
    estimator = Estimator(mode=fez)
    estimator.options.resilience_level = 0
    job = estimator.run([(isa, observables)], precision=0.05)
    assert job.inputs["quantum_program"]._semantic_role == "estimator_v2"
    result = job.result(timeout=60)
    assert isinstance(result, PrimitiveResult)
    evs = result[0].data.evs
    assert evs == pytest.approx([1.0, 1.0, -1.0], abs=1e-9)


def test_estimator_default_resilience(manila: Any) -> None:
    # Level 1: measurement twirling and TREX, i.e. samplex items and a calibration item.
    isa = isa_bell(manila, measure=False)
    observables = [SparsePauliOp(p).apply_layout(isa.layout) for p in ("ZZ", "ZI")]
    job = Estimator(mode=manila).run([(isa, observables)], precision=0.05)
    items = job.inputs["quantum_program"].items
    assert all(isinstance(item, SamplexItem) for item in items)
    data = job.result(timeout=120)[0].data
    assert data.evs[0] == pytest.approx(1.0, abs=0.05)
    assert abs(data.evs[1]) < 5 * max(float(data.stds[1]), 0.05)


# Noiseless data give ZNE zero standard errors; qiskit-mitigation then fits unweighted.
@pytest.mark.filterwarnings("ignore:No positive, finite standard errors:UserWarning")
def test_estimator_zne_and_dynamical_decoupling(manila: Any) -> None:
    isa = isa_bell(manila, measure=False)
    observables = [SparsePauliOp(p).apply_layout(isa.layout) for p in ("ZZ", "XX")]
    zne = Estimator(mode=manila)
    zne.options.resilience_level = 2  # gate-folding ZNE with twirling
    dd = Estimator(mode=manila)
    dd.options.resilience_level = 0
    dd.options.dynamical_decoupling.enable = True
    for estimator in (zne, dd):
        data = estimator.run([(isa, observables)], precision=0.1).result(timeout=120)[0].data
        assert data.evs == pytest.approx([1.0, 1.0], abs=0.2)


def test_estimator_default_resilience_on_156_qubits(fez: Any) -> None:
    # The program measures every qubit of the device: simulated with a bounded method.
    isa = isa_bell(fez, measure=False)
    observables = [SparsePauliOp("ZZ").apply_layout(isa.layout)]
    job = Estimator(mode=fez).run([(isa, observables)], precision=0.1)
    assert job.result(timeout=300)[0].data.evs[0] == pytest.approx(1.0, abs=0.05)


def test_executor_circuit_item_and_passthrough(fez: Any) -> None:
    theta = Parameter("theta")
    qc = QuantumCircuit(2)
    qc.rx(theta, 0)
    qc.cx(0, 1)
    qc.measure_all()
    isa = transpile(qc, target=fez.target, optimization_level=1, seed_transpiler=7)
    program = QuantumProgram(shots=64, passthrough_data={"note": "kept", "array": np.arange(3.0)})
    program.append_circuit_item(isa, circuit_arguments=np.array([[[0.0], [np.pi]]] * 2))
    job = Executor(mode=fez).run(program)
    result = job.result(timeout=60)
    assert isinstance(result, QuantumProgramResult)
    assert result.passthrough_data["note"] == "kept"
    assert np.array_equal(result.passthrough_data["array"], np.arange(3.0))
    bits = result[0]["meas"]
    assert bits.shape == (2, 2, 64, 2) and bits.dtype == bool
    assert not bits[:, 0].any() and bits[:, 1].all()
    span = result.metadata.chunk_timing[0]
    assert span.parts[0].idx_item == 0 and span.parts[0].size == 4


def test_executor_samplex_item_returns_measurement_flips(fez: Any, bell: Any) -> None:
    boxing = generate_boxing_pass_manager(enable_gates=True, enable_measures=True)
    template, samplex = build(boxing.run(bell))
    program = QuantumProgram(shots=32)
    program.append_samplex_item(template, samplex=samplex, shape=(5,))
    result = Executor(mode=fez).run(program).result(timeout=60)
    item = result[0]
    assert set(item) == {"meas", "measurement_flips.meas"}
    assert item["meas"].shape == (5, 32, 2)
    raw = item["meas"] ^ item["measurement_flips.meas"]
    assert (raw[..., 0] == raw[..., 1]).all()  # Bell correlations once the flips are undone


def test_executor_kerneled_measurements(fez: Any, bell: Any) -> None:
    program = QuantumProgram(shots=16, meas_level="kerneled")
    program.append_circuit_item(bell)
    item = Executor(mode=fez).run(program).result(timeout=60)[0]
    assert set(item) == {"meas_iq"}
    points = item["meas_iq"]
    assert points.shape == (16, 2) and np.iscomplexobj(points)
    bits = points.real > 0
    assert (bits[:, 0] == bits[:, 1]).all()


def test_batch_and_session(runtime_emulator: RuntimeEmulator, fez: Any, bell: Any) -> None:
    with Batch(backend=fez) as batch:
        jobs = [Sampler(mode=batch).run([bell], shots=50) for _ in range(2)]
        assert all(job.result(timeout=60)[0].data.meas.num_shots == 50 for job in jobs)
    assert {emulated(runtime_emulator, j.job_id())["session_id"] for j in jobs} == {
        batch.session_id
    }
    isa = isa_bell(fez, measure=False)
    zz = SparsePauliOp("ZZ").apply_layout(isa.layout)
    with Session(backend=fez) as session:
        estimator = Estimator(mode=session)
        estimator.options.resilience_level = 0
        job = estimator.run([(isa, zz)], precision=0.1)
        assert job.result(timeout=60)[0].data.evs == pytest.approx(1.0)
    assert emulated(runtime_emulator, job.job_id())["session_id"] == session.session_id


def test_job_tags(runtime_emulator: RuntimeEmulator, service: Any, fez: Any, bell: Any) -> None:
    sampler = Sampler(mode=fez)
    sampler.options.environment.job_tags = ["flow-run:abc", "sampler"]
    job = sampler.run([bell], shots=10)
    assert emulated(runtime_emulator, job.job_id())["tags"] == ["flow-run:abc", "sampler"]
    found = service.jobs(job_tags=["flow-run:abc"], program_id="executor")
    assert [j.job_id() for j in found] == [job.job_id()]
    estimator = Estimator(mode=fez, options={"environment": {"job_tags": ["est"]}})
    estimator.options.resilience_level = 0
    isa = isa_bell(fez, measure=False)
    job2 = estimator.run([(isa, SparsePauliOp("ZZ").apply_layout(isa.layout))], precision=0.1)
    assert emulated(runtime_emulator, job2.job_id())["tags"] == ["est"]


def test_bad_params_are_400(runtime_emulator: RuntimeEmulator, service: Any, fez: Any) -> None:
    program = QuantumProgram(shots=10)
    program.append_circuit_item(isa_bell(fez))
    converter = QUANTUM_PROGRAM_PARAMS_CONVERTERS["v2.0"]
    params = json.loads(converter.encoder(program, Executor(fez).options).model_dump_json())
    bad_shape = dict(params["quantum_program"]["items"][0])
    bad_shape["circuit_arguments"] = {"data": "eJwDAAAAAAE=", "shape": [1, 1], "dtype": "f64"}
    cases = [
        ({**params, "schema_version": "v9.9"}, "Unsupported executor schema_version"),
        (
            {**params, "quantum_program": {**params["quantum_program"], "shots": 0}},
            "quantum_program.shots",
        ),
        (
            {**params, "quantum_program": {**params["quantum_program"], "items": [bad_shape]}},
            "circuit_arguments",
        ),
    ]
    for bad, reason in cases:
        with pytest.raises(IBMRuntimeError) as info:
            service._run(program_id="executor", inputs=bad, options={"backend": fez.name})
        message = str(info.value)
        assert "400 Client Error" in message and '"code": "bad_request"' in message
        assert reason in message
    assert runtime_emulator.control.job_count() == 0


def test_non_isa_program_fails(runtime_emulator: RuntimeEmulator, fez: Any) -> None:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    program = QuantumProgram(shots=10)
    program.append_circuit_item(qc)
    job = Executor(mode=fez).run(program)
    with pytest.raises(RuntimeJobFailureError):
        job.result(timeout=60)
    assert emulated(runtime_emulator, job.job_id())["reason_code"] == 1517


def test_restart_keeps_executor_jobs(restartable: Restartable, bell: Any) -> None:
    service, done, inflight = restartable.finished_and_inflight(Sampler, bell, (30, 40))
    restartable.restart()
    assert service.job(done.job_id()).result()[0].data.meas.num_shots == 30
    requeued = service.job(inflight.job_id())
    assert requeued.result(timeout=60)[0].data.meas.num_shots == 40
    assert isinstance(requeued.inputs["quantum_program"], QuantumProgram)


@pytest.mark.slow
def test_reduced_noise(runtime_emulator: RuntimeEmulator, fez: Any, bell: Any) -> None:
    runtime_emulator.control.configure(noise="reduced")
    counts = Sampler(mode=fez).run([bell], shots=2000).result(timeout=120)[0].data.meas
    assert len(counts.get_counts()) > 2  # device noise gives 01/10 outcomes
