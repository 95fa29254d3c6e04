"""Benchmark the Qiskit Runtime emulator against the native local-mode call.

Usage::

    python benchmarks/emulator.py [--noise none|reduced|device] [--repeats 7] [--queued 100]

Prints, for a Bell circuit on ``ibm_fez``: run → result latency through the
emulator (real client, HTTP), fetch-by-id latency (``service.job(id).result()``),
the same Bell job in qiskit-ibm-runtime's local mode, the time for N queued jobs,
and 10 concurrent submitters. Targets with ``--noise none``: run → result ≤ 300 ms,
fetch ≤ 200 ms, every queued and concurrent job completes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import warnings
from typing import Any

warnings.filterwarnings("ignore", category=DeprecationWarning)

from qiskit import QuantumCircuit, transpile  # noqa: E402
from qiskit_aer import AerSimulator  # noqa: E402
from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2  # noqa: E402

from qcsc_runtime_emulator import RuntimeEmulator  # noqa: E402


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def _bell() -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return qc


def main() -> int:
    """Run the benchmark and print a table plus one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--noise", choices=("none", "reduced", "device"), default="none")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--queued", type=int, default=100)
    parser.add_argument("--concurrent", type=int, default=10)
    args = parser.parse_args()

    report: dict[str, Any] = {"noise": args.noise}
    t0 = time.perf_counter()
    with RuntimeEmulator(noise=args.noise) as emu:
        report["start_s"] = round(time.perf_counter() - t0, 3)
        os.environ.update(emu.env())
        t = time.perf_counter()
        service = QiskitRuntimeService()
        report["service_ms"] = round((time.perf_counter() - t) * 1000, 1)
        fez = service.backend("ibm_fez")
        isa = transpile(_bell(), fez, optimization_level=1, seed_transpiler=1)
        sampler = SamplerV2(mode=fez)
        t = time.perf_counter()
        warm = sampler.run([isa], shots=1024)
        warm.result(timeout=600)
        report["first_job_s"] = round(time.perf_counter() - t, 3)

        run_result: list[float] = []
        fetch: list[float] = []
        last_id = warm.job_id()
        for _ in range(args.repeats):
            t = time.perf_counter()
            job = sampler.run([isa], shots=1024)
            job.result(timeout=600)
            run_result.append(time.perf_counter() - t)
            last_id = job.job_id()
        for _ in range(args.repeats):
            t = time.perf_counter()
            service.job(last_id).result(timeout=600)
            fetch.append(time.perf_counter() - t)
        report["bell_run_result_ms"] = _median_ms(run_result)
        report["fetch_by_id_ms"] = _median_ms(fetch)

        # Native local mode on a noiseless simulator.
        local_sampler = SamplerV2(mode=AerSimulator())
        local_sampler.run([_bell()], shots=1024).result()
        native: list[float] = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            local_sampler.run([_bell()], shots=1024).result()
            native.append(time.perf_counter() - t)
        report["native_local_ms"] = _median_ms(native)

        # N queued jobs.
        emu.control.configure(paused=True)
        t = time.perf_counter()
        queued = [sampler.run([isa], shots=100) for _ in range(args.queued)]
        submit_s = time.perf_counter() - t
        emu.control.configure(paused=False)
        errors = 0
        for job in queued:
            try:
                job.result(timeout=600)
            except Exception:
                errors += 1
        report["queued_jobs"] = args.queued
        report["queued_submit_s"] = round(submit_s, 2)
        report["queued_total_s"] = round(time.perf_counter() - t, 2)
        report["queued_errors"] = errors

        # Concurrent submitters.
        ids: list[str] = []
        failures: list[str] = []
        barrier = threading.Barrier(args.concurrent)

        def submit() -> None:
            try:
                barrier.wait(30)
                ids.append(SamplerV2(mode=fez).run([isa], shots=100).job_id())
            except Exception as exc:
                failures.append(repr(exc))

        threads = [threading.Thread(target=submit) for _ in range(args.concurrent)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        for job_id in ids:
            service.job(job_id).result(timeout=600)
        report["concurrent_clients"] = args.concurrent
        report["concurrent_ok"] = len(set(ids))
        report["concurrent_errors"] = len(failures)
        report["concurrent_total_s"] = round(time.perf_counter() - t, 2)

    width = max(len(k) for k in report)
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(report))
    ok = (
        report["queued_errors"] == 0
        and report["concurrent_ok"] == args.concurrent
        and (
            args.noise != "none"
            or (report["bell_run_result_ms"] <= 300 and report["fetch_by_id_ms"] <= 200)
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
