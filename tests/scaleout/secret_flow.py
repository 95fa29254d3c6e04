"""A deployed flow that reads the IBM key from a saved Block, and the script that runs it.

``python secret_flow.py BLOCK_NAME POOL`` runs in an environment built from the stack's ``env``
file (so it authenticates with ``PREFECT_API_AUTH_STRING``). It saves a `QiskitRuntimeConfig`
Block whose ``token`` is the emulator's API key and whose ``lock_url`` is the lock URL (both
secrets), deploys `block_secret_flow` on the stack's work pool, creates one flow run, waits for
a terminal state and prints ``{"flow_run_id", "deployment_id", "state"}`` as JSON. A worker of
the stack runs the flow: it loads the Block, runs one sampler job with an artifact and persists
its result to the stack's shared result storage.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from prefect import flow
from pydantic import SecretStr
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from qcsc_prefect.integrations.qiskit import QiskitRuntimeConfig, run_sampler_task

REPO = Path(__file__).resolve().parents[2]
BACKEND = "ibm_fez"
SHOTS = 64
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


@flow(name="stack-block-secret", persist_result=True)
async def block_secret_flow(block_name: str) -> int:
    """Run a Bell pair with the configuration saved as ``block_name``; return the shot count."""
    config = await QiskitRuntimeConfig.aload(block_name)
    backend = await asyncio.to_thread(config.get_backend)
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell)
    output = await run_sampler_task(
        [isa], runtime_block_name=block_name, shots=SHOTS, artifact_key="stack-block-secret"
    )
    return sum(output["result"][0].data.meas.get_counts().values())


async def _deploy_and_run(block_name: str, pool: str) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.flows import Flow

    await QiskitRuntimeConfig(
        backend_name=BACKEND,
        channel="ibm_quantum_platform",
        token=SecretStr(os.environ["QISKIT_IBM_TOKEN"]),
        url=os.environ["QISKIT_IBM_URL"],
        instance=os.environ["QISKIT_IBM_INSTANCE"],
        lock_url=SecretStr(os.environ["QCSC_QISKIT_LOCK_URL"]),
    ).asave(block_name, overwrite=True)
    source = await Flow.afrom_source(
        source=str(REPO), entrypoint="tests/scaleout/secret_flow.py:block_secret_flow"
    )
    deployment_id = await source.adeploy(
        name="stack-security", work_pool_name=pool, build=False, push=False, print_next_steps=False
    )
    async with get_client() as client:
        run = await client.create_flow_run_from_deployment(
            deployment_id, parameters={"block_name": block_name}
        )
        deadline = time.monotonic() + 150
        state = "NONE"
        while time.monotonic() < deadline:
            current = await client.read_flow_run(run.id)
            state = current.state.type.value if current.state else "NONE"
            if state in TERMINAL:
                break
            await asyncio.sleep(0.5)
    return {"flow_run_id": str(run.id), "deployment_id": str(deployment_id), "state": state}


def main() -> int:
    """Save the Block, deploy, run once and print the outcome as JSON."""
    outcome = asyncio.run(_deploy_and_run(sys.argv[1], sys.argv[2]))
    print(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
