"""A robust submit/fetch flow, run by a freshly installed environment.

Usage: python robust_flow.py [--local]

Runs in its own process with no ``PREFECT_API_URL`` (so Prefect starts its temporary server) and
prints one JSON line: the final state and the counts. Without ``--local`` it uses IBM Quantum as
the environment names it: the test points it at a Runtime emulator served from the repository's
venv, so this environment needs nothing but the library's wheel. With ``--local`` it runs on
``channel="local"``, which needs the ``local`` extra.
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
    fetch_qiskit_job_result_task,
    submit_sampler_job_task,
)

SHOTS = 64


def _isa_bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    pm = generate_preset_pass_manager(backend=FakeFez(), optimization_level=1, seed_transpiler=7)
    return pm.run(circuit)


@flow(name="clean-install-robust-flow")
async def robust_flow(channel: str | None) -> dict[str, object]:
    pubs = [_isa_bell()]
    config = QiskitRuntimeConfig(channel=channel, backend_name="fake_fez" if channel else "ibm_fez")
    reference = await submit_sampler_job_task(pubs, runtime_config=config, shots=SHOTS)
    output = await fetch_qiskit_job_result_task(
        runtime_config=config, job_reference=reference, pubs=pubs
    )
    return {"counts": output["result"][0].data.meas.get_counts()}


def main() -> int:
    channel = "local" if "--local" in sys.argv[1:] else None
    state = asyncio.run(robust_flow(channel, return_state=True))
    value = state.result() if state.is_completed() else None
    error = None if value is not None else str(state.message)
    print(json.dumps({"state": state.type.value, "value": value, "error": error}))
    return 0 if state.is_completed() else 1


if __name__ == "__main__":
    sys.exit(main())
