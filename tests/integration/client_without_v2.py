"""Run by test_client_next_minor.py: the library on a client that no longer has the V2 classes.

Removes ``SamplerV2``, ``EstimatorV2`` and their options classes from ``qiskit_ibm_runtime``
before the library is imported (as qiskit-ibm-runtime 0.52 may), then runs the executor
sampler in simple and robust mode and the V2 sampler, printing one JSON line per outcome.
"""

from __future__ import annotations

import asyncio
import json

import qiskit_ibm_runtime

for name in ("SamplerV2", "EstimatorV2", "SamplerOptions", "EstimatorOptions"):
    delattr(qiskit_ibm_runtime, name)

from prefect import flow  # noqa: E402
from qiskit import QuantumCircuit  # noqa: E402
from qiskit.transpiler import generate_preset_pass_manager  # noqa: E402
from qiskit_ibm_runtime.fake_provider import FakeFez  # noqa: E402

from qcsc_prefect.integrations.qiskit import (  # noqa: E402
    QCSCSamplerV2,
    QiskitRuntimeConfig,
    RuntimeConfigError,
    fetch_qiskit_job_result_task,
    run_sampler_task,
    submit_sampler_job_task,
)


def _isa_bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return generate_preset_pass_manager(backend=FakeFez(), optimization_level=1).run(circuit)


@flow
async def without_v2() -> dict[str, object]:
    pubs = [_isa_bell()]
    executor = QiskitRuntimeConfig(backend_name="ibm_fez", primitive_api="executor")
    simple = await run_sampler_task(pubs, runtime_config=executor, shots=32)
    reference = await submit_sampler_job_task(pubs, runtime_config=executor, shots=32)
    fetched = await fetch_qiskit_job_result_task(runtime_config=executor, job_reference=reference)
    wrapped = await (await QCSCSamplerV2(runtime_config=executor).run(pubs, shots=32)).result()
    outcome: dict[str, object] = {
        "simple": sum(simple["result"][0].data.meas.get_counts().values()),
        "robust": sum(fetched["result"][0].data.meas.get_counts().values()),
        "wrapper": sum(wrapped[0].data.meas.get_counts().values()),
    }
    try:
        await run_sampler_task(pubs, runtime_config=QiskitRuntimeConfig(backend_name="ibm_fez"))
    except RuntimeConfigError as exc:
        outcome["v2_error"] = str(exc)
    return outcome


if __name__ == "__main__":
    print(json.dumps(asyncio.run(without_v2())))
