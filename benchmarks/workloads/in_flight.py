"""Workload 4: N jobs in flight from one flow; wall time and peak OS threads.

* ``native``: the plain Qiskit way, no Prefect: submit every job with ``SamplerV2.run`` on one
  backend, then wait for each with ``job.result()``;
* ``lib`` (ours or the incumbent, by venv): one async flow that gathers N ``run_sampler_task``
  calls (simple mode, the one-task-per-job path).

Each job is a Bell circuit with a distinct shot count. The runner sets the emulator's queue delay
beforehand and computes the makespan (first job created to last job finished) from the emulator's
job records; this process reports its own wall time, the peak OS thread count seen while the
jobs were in flight and its peak resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from typing import Any

from _common import (
    BACKEND_NAME,
    ThreadPeak,
    emit,
    implementation,
    isa_bell,
    library,
    os_threads,
    runtime_config,
)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def native(jobs: int) -> tuple[float, int, int]:
    from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2

    bell = isa_bell()
    baseline = os_threads()
    with ThreadPeak() as peak:
        started = time.perf_counter()
        backend = QiskitRuntimeService().backend(BACKEND_NAME)
        sampler = SamplerV2(mode=backend)
        submitted = [sampler.run([bell], shots=100 + index) for index in range(jobs)]
        for job in submitted:
            job.result()
        wall = time.perf_counter() - started
    return wall, peak.peak, baseline


def with_library(jobs: int) -> tuple[float, int, int]:
    from prefect import flow

    lib = library()
    config = runtime_config()
    bell = isa_bell()
    outcome: dict[str, Any] = {}

    @flow(name="bench-in-flight")
    async def in_flight_flow() -> None:
        outcome["baseline"] = os_threads()
        with ThreadPeak() as peak:
            started = time.perf_counter()
            outputs = await asyncio.gather(
                *(
                    lib.run_sampler_task([bell], runtime_config=config, shots=100 + index)
                    for index in range(jobs)
                )
            )
            outcome["wall"] = time.perf_counter() - started
        outcome["peak"] = peak.peak
        outcome["done"] = len(outputs)

    asyncio.run(in_flight_flow())
    return outcome["wall"], outcome["peak"], outcome["baseline"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=("native", "lib"), required=True)
    parser.add_argument("--jobs", type=int, default=100)
    args = parser.parse_args()
    impl = "native" if args.impl == "native" else implementation()
    wall, peak, baseline = native(args.jobs) if impl == "native" else with_library(args.jobs)
    emit(
        kind="in-flight",
        impl=impl,
        jobs=args.jobs,
        wall=wall,
        peak_threads=peak,
        baseline=baseline,
        peak_rss_mb=peak_rss_mb(),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
