"""Workload 4: N jobs in flight from one flow; wall time and peak OS threads.

* ``native``: the plain Qiskit way, no Prefect: submit every job with ``SamplerV2.run`` on one
  backend, then wait for each with ``job.result()``;
* ``lib`` (ours or the incumbent, by venv): one async flow that gathers N ``run_sampler_task``
  calls (simple mode, the one-task-per-job path).

Each job is a Bell circuit with a distinct shot count. The runner sets the emulator's queue delay
beforehand and computes the makespan (first job created to last job finished) from the emulator's
job records; this process reports its own wall time, the peak OS thread count seen while the
jobs were in flight and its peak resident memory.

For the runner's timeline it also reports wall-clock marks (``time.time()``, the emulator's clock
on the same machine): ``main`` (this script's first line of work), ``flow`` (the native run's
service construction, or the flow body's first line), ``gathered`` (every result in hand) and
``end`` (the flow has returned), and ``done_at``: when each job's result reached the caller, by
job id. With ``QCSC_BENCH_PROFILE=<file>`` the run is profiled with pyinstrument (installed
separately; never part of ``make bench``) and its text report written to that file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import time
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from collections.abc import Awaitable, Iterator

#: Wall-clock marks of this run (seconds since the epoch), filled as the run goes.
MARKS: dict[str, float] = {}
#: When each job's result reached the caller, by job id.
DONE_AT: dict[str, float] = {}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time of this process so far, user plus system, all threads (s)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def native(jobs: int) -> tuple[float, int, int]:
    from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2

    bell = isa_bell()
    baseline = os_threads()
    with ThreadPeak() as peak:
        started = time.perf_counter()
        backend = QiskitRuntimeService().backend(BACKEND_NAME)
        sampler = SamplerV2(mode=backend)
        MARKS["flow"] = time.time()
        submitted = [sampler.run([bell], shots=100 + index) for index in range(jobs)]
        for job in submitted:
            job.result()
            DONE_AT[job.job_id()] = time.time()
        wall = time.perf_counter() - started
    MARKS["gathered"] = MARKS["end"] = time.time()
    return wall, peak.peak, baseline


def plain_prefect(jobs: int) -> tuple[float, int, int]:
    """The Prefect floor: plain ``@task``s around the native call, one backend for all of them.

    The flow builds the service and the backend (inside the timer, as the native script does),
    then each task posts its job with ``SamplerV2.run`` and blocks on ``job.result()`` in a
    thread of its own (a thread pool as wide as the fan-out), so that nothing but Prefect's
    task runs stands between the native calls.
    """
    from prefect import flow, task
    from prefect.task_runners import ThreadPoolTaskRunner
    from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2

    bell = isa_bell()
    outcome: dict[str, Any] = {}

    @task
    def run_native(sampler: Any, shots: int) -> str:
        job = sampler.run([bell], shots=shots)
        job.result()
        DONE_AT[job.job_id()] = time.time()
        return str(job.job_id())

    @flow(name="bench-in-flight-plain", task_runner=ThreadPoolTaskRunner(max_workers=jobs))
    def in_flight_flow() -> None:
        MARKS["flow"] = time.time()
        outcome["baseline"] = os_threads()
        with ThreadPeak() as peak:
            started = time.perf_counter()
            sampler = SamplerV2(mode=QiskitRuntimeService().backend(BACKEND_NAME))
            futures = [run_native.submit(sampler, 100 + index) for index in range(jobs)]
            outcome["done"] = len([future.result() for future in futures])
            outcome["wall"] = time.perf_counter() - started
            MARKS["gathered"] = time.time()
        outcome["peak"] = peak.peak

    in_flight_flow()
    MARKS["end"] = time.time()
    return outcome["wall"], outcome["peak"], outcome["baseline"]


async def _noting_done(call: Awaitable[Any]) -> Any:
    """Await one task call; note when its result arrived (by job id, when it has one)."""
    output = await call
    job_id = output.get("job_id") if isinstance(output, dict) else None
    DONE_AT[str(job_id or len(DONE_AT))] = time.time()
    return output


def with_library(jobs: int) -> tuple[float, int, int]:
    from prefect import flow

    lib = library()
    run_sampler_task = lib.run_sampler_task  # imported before timing, as the native script does
    config = runtime_config()
    bell = isa_bell()
    outcome: dict[str, Any] = {}

    @flow(name="bench-in-flight")
    async def in_flight_flow() -> None:
        MARKS["flow"] = time.time()
        outcome["baseline"] = os_threads()
        with ThreadPeak() as peak:
            started = time.perf_counter()
            outputs = await asyncio.gather(
                *(
                    _noting_done(run_sampler_task([bell], runtime_config=config, shots=100 + index))
                    for index in range(jobs)
                )
            )
            outcome["wall"] = time.perf_counter() - started
            MARKS["gathered"] = time.time()
        outcome["peak"] = peak.peak
        outcome["done"] = len(outputs)

    asyncio.run(in_flight_flow())
    MARKS["end"] = time.time()
    return outcome["wall"], outcome["peak"], outcome["baseline"]


@contextlib.contextmanager
def _profiled() -> Iterator[None]:
    """Profile the block with pyinstrument when ``QCSC_BENCH_PROFILE`` names a file."""
    target = os.environ.get("QCSC_BENCH_PROFILE")
    if not target:
        yield
        return
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="disabled")
    with profiler:
        yield
    with open(target, "w") as out:
        out.write(profiler.output_text(unicode=True, show_all=False))


def main() -> int:
    MARKS["main"] = time.time()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=("native", "plain", "lib"), required=True)
    parser.add_argument("--jobs", type=int, default=100)
    args = parser.parse_args()
    impl = args.impl if args.impl in ("native", "plain") else implementation()
    run = {"native": native, "plain": plain_prefect}.get(impl, with_library)
    with _profiled():
        wall, peak, baseline = run(args.jobs)
    emit(
        kind="in-flight",
        impl=impl,
        jobs=args.jobs,
        wall=wall,
        peak_threads=peak,
        baseline=baseline,
        peak_rss_mb=peak_rss_mb(),
        cpu_s=cpu_seconds(),
        marks=MARKS,
        done_at=DONE_AT,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
