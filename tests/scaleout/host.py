"""One simulated host of the two-host test: submit the same global-scope inputs as the others.

Run as ``python host.py READY_FILE GO_FILE COUNT`` in an environment built from the stack's
``env`` file plus this host's own HOME, PREFECT_HOME, lock directory and local storage. It does
everything slow first (imports, backend, transpiling), writes READY_FILE, waits for GO_FILE, then
submits COUNT inputs at once in one flow run and prints ``{input_digest: job_id}`` as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from prefect import flow
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from qcsc_prefect.integrations.qiskit import (
    JobReference,
    QiskitRuntimeConfig,
    build_qiskit_sampler_input_digest,
    qiskit_sampler_submit_cache_key,
    submit_sampler_job_task,
)

BACKEND = "ibm_fez"


def _inputs(count: int) -> list[tuple[list[QuantumCircuit], int]]:
    """``count`` distinct inputs: the same Bell circuit with distinct shot counts."""
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    backend = QiskitRuntimeConfig(backend_name=BACKEND).get_backend()
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell)
    return [([isa], 1000 + 17 * index) for index in range(count)]


@flow(name="scaleout-two-hosts")
async def submit_all(inputs: list[tuple[list[QuantumCircuit], int]]) -> dict[str, str]:
    """Submit every input concurrently through the robust, globally cached submit task."""
    config = QiskitRuntimeConfig(backend_name=BACKEND)
    submit = submit_sampler_job_task.with_options(
        cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
    )
    digests = [
        build_qiskit_sampler_input_digest(
            pubs, backend_name=BACKEND, shots=shots, cache_scope="global"
        )
        for pubs, shots in inputs
    ]
    references: list[JobReference] = await asyncio.gather(
        *(
            submit(pubs, runtime_config=config, shots=shots, input_digest=digest)
            for (pubs, shots), digest in zip(inputs, digests, strict=True)
        )
    )
    return {digest: ref.job_id for digest, ref in zip(digests, references, strict=True)}


def main() -> int:
    """Prepare, signal readiness, wait for the start signal, submit, print the job ids."""
    ready, go, count = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    inputs = _inputs(count)
    ready.write_text("ready")
    deadline = time.monotonic() + 60
    while not go.exists():
        if time.monotonic() > deadline:
            print("no start signal", file=sys.stderr)
            return 2
        time.sleep(0.01)
    jobs = asyncio.run(submit_all(inputs))
    print(json.dumps(jobs, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
