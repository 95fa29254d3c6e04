"""Example 1 of the guide: wrap an existing native Qiskit program in a Prefect task, unchanged.

Nothing from qcsc-prefect-qiskit is needed for this style: the service, backend, SamplerV2
and job.result() stay exactly as in the original program; Prefect only adds the task and
flow boundary (logs, state, retries if you want them).

It runs offline on the local channel. With an IBM Quantum account, replace the two marked
lines by the native account form:

    service = QiskitRuntimeService()
    backend = service.backend("ibm_fez")
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2

BACKEND_NAME = "fake_manila"  # with an account: "ibm_fez"


@task
def run_existing_qiskit_program(pubs: list[Any], shots: int) -> dict[str, Any]:
    service = QiskitRuntimeService(channel="local")  # with an account: QiskitRuntimeService()
    backend = service.backend(BACKEND_NAME)
    sampler = SamplerV2(mode=backend)
    job = sampler.run(pubs, shots=shots)
    return {"job_id": job.job_id(), "result": job.result()}


@flow
def my_flow(pubs: list[Any]) -> dict[str, Any]:
    return run_existing_qiskit_program(pubs, 100)


def bell_pubs() -> list[QuantumCircuit]:
    """Circuit construction and transpilation: unchanged native Qiskit code."""
    backend = QiskitRuntimeService(channel="local").backend(BACKEND_NAME)
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    isa_circuit = generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)
    return [isa_circuit]


if __name__ == "__main__":
    output = my_flow(bell_pubs())
    counts = output["result"][0].data.meas.get_counts()
    print(f"\njob {output['job_id']}: counts {dict(sorted(counts.items()))}")
