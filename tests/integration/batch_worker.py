"""A flow that submits ten jobs in Batch mode, in its own process (kill-and-rerun tests).

Usage: python batch_worker.py MODE

Prints ``{"event": "submitted", "job_id": ..., "session_id": ...}`` after each submission and
``{"event": "done", ...}`` at the end. The jobs are submitted one after another with global-scope
digests, so a rerun adopts the jobs a killed run created.
"""

from __future__ import annotations

import asyncio
import json
import sys

from prefect import flow
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime.fake_provider import FakeFez

from qcsc_prefect.integrations.qiskit import (
    QiskitRuntimeConfig,
    build_qiskit_sampler_input_digest,
    fetch_qiskit_job_result_task,
    qiskit_sampler_submit_cache_key,
    submit_sampler_job_task,
)

JOBS = 10


def _isa_bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    pm = generate_preset_pass_manager(backend=FakeFez(), optimization_level=1, seed_transpiler=7)
    return pm.run(circuit)


def _say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


@flow(name="batch-worker-flow")
async def ten_jobs_in_a_batch(mode: str) -> list[str]:
    pubs = [_isa_bell()]
    config = QiskitRuntimeConfig(backend_name="ibm_fez", execution_mode=mode)  # type: ignore[arg-type]
    submit = submit_sampler_job_task.with_options(
        cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
    )
    references = []
    for index in range(JOBS):
        shots = 300 + index
        digest = build_qiskit_sampler_input_digest(
            pubs, backend_name="ibm_fez", shots=shots, cache_scope="global"
        )
        reference = await submit(pubs, runtime_config=config, shots=shots, input_digest=digest)
        _say(event="submitted", job_id=reference.job_id, session_id=reference.session_id)
        references.append(reference)
    outputs = await asyncio.gather(
        *(
            fetch_qiskit_job_result_task(runtime_config=config, job_reference=ref)
            for ref in references
        )
    )
    return [output["job_id"] for output in outputs]


if __name__ == "__main__":
    job_ids = asyncio.run(ten_jobs_in_a_batch(sys.argv[1]))
    _say(event="done", job_ids=job_ids)
