"""Workloads 5 and 7: robust submit/fetch flows with the documented cache settings.

Each job is submitted with ``submit_sampler_job_task.with_options(cache_key_fn=
qiskit_sampler_submit_cache_key, persist_result=True)`` and an input digest
(``cache_scope="global"``), then fetched with ``fetch_qiskit_job_result_task.with_options(
cache_key_fn=qiskit_result_fetch_cache_key, persist_result=True, result_serializer=...)``:
``qiskit-runtime-json`` for ours, the documented ``compressed/pickle`` for the incumbent (it has no
portable serializer). Identical code for both implementations.

* ``cached --jobs N``: one flow with N such jobs (distinct shot counts) gathered. Run it twice
  in fresh processes with the same result storage: the second run should touch nothing.
  ``--impl native`` runs N plain ``@task``s around the native call instead (no cache exists).
* ``once``: one job (the fault matrix). ``--retries`` gives the submit task Prefect retries;
  ``--crash-after-post`` kills this process right after the client's ``POST /jobs`` returned
  (before the library can record anything); ``--barrier DIR --parties 2`` makes two processes, once
  imported, enter the flow together.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from typing import Any

from _common import (
    BACKEND_NAME,
    emit,
    implementation,
    isa_bell,
    job_id_of,
    library,
    runtime_config,
)

CRASH_EXIT_CODE = 70


def crash_after_post() -> None:
    """Patch the native client so the process dies as soon as a job has been created."""
    from qiskit_ibm_runtime.api.client import RuntimeClient

    original = RuntimeClient.program_run

    def program_run(self: Any, *args: Any, **kwargs: Any) -> Any:
        response = original(self, *args, **kwargs)
        os._exit(CRASH_EXIT_CODE)
        return response  # pragma: no cover

    RuntimeClient.program_run = program_run


def serializer(impl: str) -> str:
    return "qiskit-runtime-json" if impl == "ours" else "compressed/pickle"


async def robust_job(lib: Any, impl: str, pubs: list[Any], shots: int, retries: int) -> str:
    config = runtime_config()
    digest = lib.build_qiskit_sampler_input_digest(
        pubs, backend_name=BACKEND_NAME, shots=shots, cache_scope="global"
    )
    submit = lib.submit_sampler_job_task.with_options(
        cache_key_fn=lib.qiskit_sampler_submit_cache_key,
        persist_result=True,
        retries=retries,
        retry_delay_seconds=0,
    )
    fetch = lib.fetch_qiskit_job_result_task.with_options(
        cache_key_fn=lib.qiskit_result_fetch_cache_key,
        persist_result=True,
        result_serializer=serializer(impl),
    )
    submit_state = await submit(
        pubs, runtime_config=config, shots=shots, input_digest=digest, return_state=True
    )
    reference = await submit_state.result()
    fetch_state = await fetch(
        runtime_config=config, job_reference=reference, pubs=pubs, return_state=True
    )
    output = await fetch_state.result()
    emit(
        kind="job",
        job_id=job_id_of(reference),
        submit_state=submit_state.name,
        fetch_state=fetch_state.name,
        counts=sum(output["result"][0].data.meas.get_counts().values()),
    )
    return job_id_of(reference)


def cached(impl: str, jobs: int) -> None:
    from prefect import flow, task

    bell = isa_bell()

    if impl == "native":
        from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2

        backend = QiskitRuntimeService().backend(BACKEND_NAME)

        @task
        def plain_task(shots: int) -> str:
            job = SamplerV2(mode=backend).run([bell], shots=shots)
            job.result()
            return str(job.job_id())

    lib = None if impl == "native" else library()

    @flow(name="bench-cached-rerun")
    async def cached_flow() -> list[str]:
        if lib is None:
            return [plain_task(100 + index) for index in range(jobs)]
        return list(
            await asyncio.gather(
                *(robust_job(lib, impl, [bell], 100 + index, 0) for index in range(jobs))
            )
        )

    started = time.perf_counter()
    ids = asyncio.run(cached_flow())
    emit(kind="cached-flow", impl=impl, jobs=jobs, wall=time.perf_counter() - started, ids=ids)


def wait_at_barrier(directory: Path, parties: int) -> None:
    """Wait until ``parties`` processes (this one included) have arrived, then go together."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + 300
    while len(list(directory.glob("ready-*"))) < parties and time.monotonic() < deadline:
        time.sleep(0.005)


def once(impl: str, shots: int, retries: int, barrier: Path | None, parties: int) -> None:
    from prefect import flow

    lib = library()
    bell = isa_bell()

    @flow(name="bench-fault-matrix")
    async def fault_flow() -> str:
        return await robust_job(lib, impl, [bell], shots, retries)

    if barrier is not None:
        wait_at_barrier(barrier, parties)
    emit(kind="flow-start", at=time.time())
    job_id = asyncio.run(fault_flow())
    emit(kind="fault-flow", impl=impl, job_id=job_id)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=("native", "lib"), required=True)
    sub = parser.add_subparsers(dest="command", required=True)
    cached_parser = sub.add_parser("cached")
    cached_parser.add_argument("--jobs", type=int, default=20)
    once_parser = sub.add_parser("once")
    once_parser.add_argument("--shots", type=int, default=77)
    once_parser.add_argument("--retries", type=int, default=0)
    once_parser.add_argument("--crash-after-post", action="store_true")
    once_parser.add_argument("--barrier", type=Path, default=None)
    once_parser.add_argument("--parties", type=int, default=2)
    args = parser.parse_args()
    impl = "native" if args.impl == "native" else implementation()
    if args.command == "cached":
        cached(impl, args.jobs)
    else:
        if args.crash_after_post:
            crash_after_post()
        once(impl, args.shots, args.retries, args.barrier, args.parties)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
