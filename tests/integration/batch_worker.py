"""A flow that submits ten jobs in Batch mode, in its own process (kill-and-rerun tests).

Usage: python batch_worker.py MODE

Prints ``{"event": "submitted", "job_id": ..., "session_id": ...}`` after each submission and
``{"event": "done", ...}`` at the end. The jobs are submitted one after another with global-scope
digests, so a rerun adopts the jobs a killed run created.
"""

from __future__ import annotations

import asyncio
import sys

from prefect import flow
from worker_common import isa_bell, say

from qcsc_prefect.integrations.qiskit import (
    QiskitRuntimeConfig,
    build_qiskit_sampler_input_digest,
    fetch_qiskit_job_result_task,
    qiskit_sampler_submit_cache_key,
    submit_sampler_job_task,
)

JOBS = 10


@flow(name="batch-worker-flow")
async def ten_jobs_in_a_batch(mode: str) -> list[str]:
    pubs = [isa_bell()]
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
        say(event="submitted", job_id=reference.job_id, session_id=reference.session_id)
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
    say(event="done", job_ids=job_ids)
