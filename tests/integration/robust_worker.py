"""A flow run in its own process, for cross-process and crash tests of robust mode.

Usage: python robust_worker.py [--scope flow|global|none] [--shots N] [--fetch]

Prints one JSON line per milestone: {"event": "submitted", ...} and {"event": "fetched", ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from prefect import flow
from worker_common import isa_bell, say

from qcsc_prefect.integrations.qiskit.blocks import QiskitRuntimeConfig
from qcsc_prefect.integrations.qiskit.cache import qiskit_sampler_submit_cache_key
from qcsc_prefect.integrations.qiskit.digests import build_qiskit_sampler_input_digest
from qcsc_prefect.integrations.qiskit.fetch import fetch_qiskit_job_result_task
from qcsc_prefect.integrations.qiskit.submit import submit_sampler_job_task


@flow(name="robust-worker-flow")
async def robust_worker_flow(scope: str, shots: int, fetch: bool) -> None:
    pubs = [isa_bell()]
    config = QiskitRuntimeConfig(backend_name="ibm_fez")
    submit = submit_sampler_job_task
    kwargs: dict[str, object] = {}
    if scope != "none":
        kwargs["input_digest"] = build_qiskit_sampler_input_digest(
            pubs, backend_name="ibm_fez", shots=shots, cache_scope=scope
        )
        submit = submit_sampler_job_task.with_options(
            cache_key_fn=qiskit_sampler_submit_cache_key, persist_result=True
        )
    reference = await submit(pubs, runtime_config=config, shots=shots, **kwargs)
    say(event="submitted", job_id=reference.job_id, reused=reference.reused)
    if fetch:
        output = await fetch_qiskit_job_result_task(
            runtime_config=config, job_reference=reference, pubs=pubs
        )
        counts = output["result"][0].data.meas.get_counts()
        say(event="fetched", job_id=output["job_id"], counts=counts)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scope", choices=["flow", "global", "none"], default="global")
    parser.add_argument("--shots", type=int, default=64)
    parser.add_argument("--fetch", action="store_true")
    args = parser.parse_args()
    asyncio.run(robust_worker_flow(args.scope, args.shots, args.fetch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
