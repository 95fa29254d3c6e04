"""Workloads 1 and 2: per-task time and HTTP requests per job, in one fresh process.

``--impl native`` measures the native calls only: the cold path (service construction, submit,
fetch, each with its own request count), then rounds of a bare ``SamplerV2`` call on a reused
backend. ``--impl ours`` / ``--impl incumbent`` (run in that implementation's venv) add, per
round and pub count, in rotating order:

* ``plain``: a plain ``@task`` around the native call on a reused backend (the baseline);
* ``simple``: ``run_sampler_task``;
* ``robust``: ``submit_sampler_job_task`` then ``fetch_qiskit_job_result_task``.

The first call of each variant in the process is a warm-up and reported as ``cold``. The library
calls of the warm-up come first, simple then robust, so the first simple call is the first job
the library runs in this process. Every call's emulator requests are counted by kind.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from _common import (
    BACKEND_NAME,
    clear_log,
    count_requests,
    emit,
    implementation,
    isa_bell,
    library,
    read_log,
    runtime_config,
)

SHOTS = 100


def native_cold(pubs: list[Any]) -> dict[str, dict[str, int]]:
    from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2

    phases: dict[str, dict[str, int]] = {}
    clear_log()
    service = QiskitRuntimeService()
    backend = service.backend(BACKEND_NAME)
    phases["construction"] = count_requests(read_log())
    clear_log()
    job = SamplerV2(mode=backend).run(pubs, shots=SHOTS)
    phases["submit"] = count_requests(read_log())
    clear_log()
    job.result()
    phases["fetch"] = count_requests(read_log())
    return phases


async def measure(impl: str, rounds: int, pub_counts: list[int]) -> None:
    from prefect import flow, task
    from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2

    bell = isa_bell()
    if impl == "native":
        emit(kind="native-cold", phases=native_cold([bell]))

    backend = QiskitRuntimeService().backend(BACKEND_NAME)

    def native_call(pubs: list[Any]) -> Any:
        return SamplerV2(mode=backend).run(pubs, shots=SHOTS).result()

    @task
    def plain_task(pubs: list[Any]) -> Any:
        return native_call(pubs)

    lib = None if impl == "native" else library()
    config = None if lib is None else runtime_config()

    async def call(variant: str, pubs: list[Any]) -> tuple[float, dict[str, int], dict[str, int]]:
        """Run one variant; returns seconds, requests of the whole call, requests of fetch."""
        clear_log()
        fetch_requests: dict[str, int] = {}
        started = time.perf_counter()
        if variant == "native":
            native_call(pubs)
        elif variant == "plain":
            plain_task(pubs)
        elif variant == "simple":
            await lib.run_sampler_task(pubs, runtime_config=config, shots=SHOTS)
        else:
            reference = await lib.submit_sampler_job_task(pubs, runtime_config=config, shots=SHOTS)
            submit_log = len(read_log())
            await lib.fetch_qiskit_job_result_task(
                runtime_config=config, job_reference=reference, pubs=pubs
            )
            fetch_requests = count_requests(read_log()[submit_log:])
        seconds = time.perf_counter() - started
        return seconds, count_requests(read_log()), fetch_requests

    variants = ["native"] if impl == "native" else ["plain", "simple", "robust"]

    @flow(name="bench-task-overhead")
    async def overhead_flow() -> None:
        # Warm-up, reported as cold: library calls first so they meet a cold library.
        for variant in ["simple", "robust", "plain"] if impl != "native" else ["native"]:
            for count in pub_counts:
                seconds, requests, fetch = await call(variant, [bell] * count)
                emit(
                    kind="call",
                    impl=impl,
                    variant=variant,
                    pubs=count,
                    round=-1,
                    seconds=seconds,
                    requests=requests,
                    fetch_requests=fetch,
                )
        for index in range(rounds):
            shift = index % len(variants)
            order = variants[shift:] + variants[:shift]
            for count in pub_counts:
                for variant in order:
                    seconds, requests, fetch = await call(variant, [bell] * count)
                    emit(
                        kind="call",
                        impl=impl,
                        variant=variant,
                        pubs=count,
                        round=index,
                        seconds=seconds,
                        requests=requests,
                        fetch_requests=fetch,
                    )

    await overhead_flow()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=("native", "lib"), required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pubs", default="1,20")
    args = parser.parse_args()
    impl = "native" if args.impl == "native" else implementation()
    asyncio.run(measure(impl, args.rounds, [int(p) for p in args.pubs.split(",")]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
