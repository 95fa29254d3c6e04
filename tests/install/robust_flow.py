"""A robust submit/fetch flow on the Runtime emulator, run by a freshly installed environment.

Usage: python robust_flow.py

Runs in its own process with no ``PREFECT_API_URL`` (so Prefect starts its temporary server, which
needs a working fastapi) and prints one JSON line: the final state, the job id and the counts.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from prefect import flow
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime.fake_provider import FakeFez

from qcsc_prefect.integrations.qiskit import (
    QiskitRuntimeConfig,
    fetch_qiskit_job_result_task,
    submit_sampler_job_task,
)
from qcsc_runtime_emulator import RuntimeEmulator

SHOTS = 64


def _isa_bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    pm = generate_preset_pass_manager(backend=FakeFez(), optimization_level=1, seed_transpiler=7)
    return pm.run(circuit)


@flow(name="clean-install-robust-flow")
async def robust_flow() -> dict[str, object]:
    pubs = [_isa_bell()]
    config = QiskitRuntimeConfig(backend_name="ibm_fez")
    reference = await submit_sampler_job_task(pubs, runtime_config=config, shots=SHOTS)
    output = await fetch_qiskit_job_result_task(
        runtime_config=config, job_reference=reference, pubs=pubs
    )
    return {"job_id": output["job_id"], "counts": output["result"][0].data.meas.get_counts()}


def main() -> int:
    with RuntimeEmulator(port=0) as emulator:
        os.environ.update(emulator.env())
        state = asyncio.run(robust_flow(return_state=True))
        value = state.result() if state.is_completed() else None
        print(
            json.dumps(
                {"state": state.type.value, "value": value, "jobs": emulator.control.job_count()}
            )
        )
    return 0 if state.is_completed() else 1


if __name__ == "__main__":
    sys.exit(main())
