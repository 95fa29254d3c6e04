"""One function per workload: start the workload processes, return their raw records."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from qcsc_runtime_emulator.server import LOG_LIMIT

from . import timeline
from .config import QISKIT1_VENV, ROOT, Sizes, log
from .stats import parse_time

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .servers import Runner

#: The fault-matrix scenarios of workload 7, as the table describes them.
SCENARIOS = {
    "crash": "process killed right after POST /jobs, then the flow is rerun",
    "retry": "POST /jobs creates the job, connection dropped; submit task retries=1",
    "concurrent": "2 identical flow runs in 2 processes at the same moment",
    "client-retry": "POST /jobs creates the job, then 502: the client posts again",
}

#: Seconds a job waits in the emulator's queue during the fault matrix.
FAULT_QUEUE_DELAY = 1.0


def w1_overhead(run: Runner, sizes: Sizes, libs: list[str]) -> dict[str, Any]:
    """Workloads 1 and 2: per-call overhead and requests, in a few fresh processes each."""
    args = ["--rounds", str(sizes.overhead_rounds), "--pubs", sizes.overhead_pubs]
    out: dict[str, Any] = {"calls": [], "native_cold": None, "failures": {}}
    jobs = [("native", "native", 1)] + [(lib, "lib", sizes.overhead_processes) for lib in libs]
    for impl, flag, processes in jobs:
        for index in range(processes):
            log(f"1+2 overhead/requests: {impl}, process {index + 1}/{processes}")
            records, code, tail = run.run(impl, "task_overhead.py", ["--impl", flag, *args])
            if code != 0:
                out["failures"][impl] = tail
            for record in records:
                if record["kind"] == "native-cold":
                    out["native_cold"] = record["phases"]
                elif record["kind"] == "call":
                    record["process"] = index
                    out["calls"].append(record)
    return out


def w3_digest(run: Runner, sizes: Sizes, libs: list[str]) -> dict[str, Any]:
    """Workload 3: input digest time and memory, on pubs built once."""
    inputs = run.tmp / "digest-inputs"
    log("3 digest: building the pubs once (QPY + npz)")
    records, code, tail = run.run(
        "ours", "digest_time.py", ["make", "--out", str(inputs), "--pubs", str(sizes.digest_pubs)]
    )
    if code != 0:
        return {"error": tail}
    out: dict[str, Any] = {"inputs": records[0] if records else {}, "runs": {}, "failures": {}}
    plan = {
        "ours": (sizes.digest_ours_processes, sizes.digest_ours_reps),
        "incumbent": (1, sizes.digest_incumbent_reps),
    }
    for impl in libs:
        processes, reps = plan[impl]
        for index in range(processes):
            log(f"3 digest: {impl}, process {index + 1}/{processes}")
            records, code, tail = run.run(
                impl, "digest_time.py", ["measure", "--inputs", str(inputs), "--reps", str(reps)]
            )
            if code != 0:
                out["failures"][impl] = tail
            out["runs"].setdefault(impl, []).extend(records)
    return out


def in_flight_once(
    run: Runner,
    impl: str,
    jobs: int,
    queue_delay: float,
    extra_env: dict[str, str] | None = None,
) -> tuple[dict[str, Any] | None, str]:
    """One in-flight run on a fresh emulator; the record gains the emulator's makespan.

    Returns:
        The record (``None`` on failure) and the failing process's log tail.
    """
    run.reset()
    run.control.configure(queue_delay=queue_delay)
    flag = impl if impl in ("native", "plain") else "lib"
    args = ["--impl", flag, "--jobs", str(jobs)]
    # A run with more requests than the log keeps is read while it goes (see timeline.py).
    interval = 3.0 if jobs * 8 > LOG_LIMIT else None
    with timeline.LogCollector(run.emu["control_url"], interval) as requests:
        launched = time.time()
        records, code, tail = run.run(impl, "in_flight.py", args, extra_env=extra_env)
        exited = time.time()
    seen = run.jobs()
    run.reset()
    if code != 0 or not records:
        return None, tail
    created = [t for t in (parse_time(job["created"]) for job in seen) if t is not None]
    finished = [t for t in (parse_time(job["finished"]) for job in seen) if t is not None]
    record = records[-1]
    record["makespan"] = max(finished) - min(created)
    record["jobs_seen"] = len(seen)
    record["completed"] = sum(job["status"] == "Completed" for job in seen)
    record["timeline"] = timeline.build(record, seen, requests.entries(), launched, exited)
    record["timeline"]["log_overflowed"] = requests.overflowed
    record.pop("done_at", None)  # summarised in the timeline (lags); one entry per job
    return record, ""


def w4_in_flight(run: Runner, sizes: Sizes, libs: list[str]) -> dict[str, Any]:
    """Workload 4: jobs in flight from one flow, native first, each in a fresh process.

    ``plain`` is the Prefect floor: plain ``@task``s around the native call (see in_flight.py).
    """
    out: dict[str, Any] = {"runs": [], "failures": {}}
    for impl in ["native", "plain", *libs]:
        reps = sizes.in_flight_reps[impl]
        for index in range(reps):
            log(f"4 in flight: {impl}, {sizes.in_flight_jobs} jobs, rep {index + 1}/{reps}")
            record, tail = in_flight_once(
                run, impl, sizes.in_flight_jobs, sizes.in_flight_queue_delay
            )
            if record is None:
                out["failures"][impl] = tail
            else:
                out["runs"].append(record)
    return out


def w8_scale(run: Runner, sizes: Sizes) -> dict[str, Any]:
    """Workload 8: many jobs in flight from one flow of ours, against the emulator's makespan."""
    log(f"8 scale up: ours, {sizes.scale_jobs} jobs")
    record, tail = in_flight_once(run, "ours", sizes.scale_jobs, sizes.scale_queue_delay)
    return {"run": record, "error": tail}


def w9_imports(run: Runner, sizes: Sizes, libs: list[str]) -> dict[str, Any]:
    """Workload 9: import time of the library on top of Prefect + qiskit-ibm-runtime.

    Every repetition is a fresh process. Bytecode is cached as an installed wheel has it (this
    machine may set ``PYTHONDONTWRITEBYTECODE``, and our package is installed editable): all
    modules go to one cache directory, filled by one unrecorded warm-up process per library.
    """
    cache = {"PYTHONPYCACHEPREFIX": str(run.tmp / "pycache"), "PYTHONDONTWRITEBYTECODE": ""}
    out: dict[str, Any] = {"runs": [], "failures": {}}
    for impl in libs:
        for index in range(1 + sizes.import_reps):
            what = "warm-up (fills the bytecode cache)" if index == 0 else f"rep {index}"
            log(f"9 imports: {impl}, {what}")
            records, code, tail = run.run(impl, "import_time.py", [], extra_env=cache)
            if code != 0 or not records:
                out["failures"][impl] = tail
                break
            if index > 0:
                out["runs"].append(records[-1])
    return out


def w5_cached(run: Runner, sizes: Sizes, libs: list[str]) -> dict[str, Any]:
    """Workload 5: a robust flow, then reruns that should be served from the submit cache."""
    out: dict[str, Any] = {}
    for impl in ["native", *libs]:
        run.reset()
        flag = "native" if impl == "native" else "lib"
        args = ["--impl", flag, "cached", "--jobs", str(sizes.cached_jobs)]
        entry: dict[str, Any] = {"reruns": []}
        for index in range(1 + sizes.cached_reruns):
            what = "first run" if index == 0 else f"rerun {index}"
            log(f"5 cached rerun: {impl}, {what} ({sizes.cached_jobs} jobs)")
            run.control.clear_log()
            records, code, tail = run.run(impl, "robust_flow.py", args, storage=f"cached-{impl}")
            requests = run.requests()
            if code != 0 or not records:
                entry["error"] = tail
                break
            flow = [r for r in records if r["kind"] == "cached-flow"][-1]
            sample = {"wall": flow["wall"], "requests": requests}
            if index == 0:
                entry["first"] = sample
            else:
                entry["reruns"].append(sample)
        entry["jobs_on_service"] = len(run.jobs())
        out[impl] = entry
    return out


def _persisted_cross(run: Runner, impl: str, load_args: list[str], qiskit1: Path) -> dict[str, Any]:
    log(f"6 persisted result: {impl}, loading under qiskit 1.x")
    path = (
        ROOT / "packages" / "qcsc-prefect-qiskit" / "src"
        if impl == "ours"
        else QISKIT1_VENV / "incumbent-src"
    )
    records, _, tail = run.run(
        impl, "persisted.py", load_args, python=qiskit1, extra_env={"PYTHONPATH": str(path)}
    )
    return records[-1] if records else {"ok": False, "error": tail}


def w6_persisted(
    run: Runner, sizes: Sizes, libs: list[str], qiskit1: Path | None, qiskit1_note: str
) -> dict[str, Any]:
    """Workload 6: size of a persisted result and its load time, also under qiskit 1.x."""
    out: dict[str, Any] = {"qiskit1_note": qiskit1_note}
    produce = ["produce", "--pubs", str(sizes.persisted_pubs)]
    produce += ["--shots", str(sizes.persisted_shots), "--qubits", str(sizes.persisted_qubits)]
    for impl in libs:
        run.reset()
        log(f"6 persisted result: {impl}, producing")
        records, code, tail = run.run(impl, "persisted.py", produce, storage=f"persisted-{impl}")
        if code != 0 or not records:
            out[impl] = {"error": tail}
            continue
        produced = records[-1]
        entry: dict[str, Any] = {"produced": produced}
        load_args = ["load", "--record", produced["record"], "--reps", str(sizes.load_reps)]
        log(f"6 persisted result: {impl}, loading in a fresh process")
        records, code, tail = run.run(impl, "persisted.py", load_args)
        entry["load"] = records[-1] if records else {"ok": False, "error": tail}
        if qiskit1 is not None:
            entry["cross"] = _persisted_cross(run, impl, load_args, qiskit1)
        out[impl] = entry
    return out


# ----------------------------------------------------------------------- workload 7 scenarios

#: Exit codes and failing log tails of the flow runs of one scenario.
Runs = tuple[list[int], list[str]]


def _crash(run: Runner, impl: str, base: list[str], storage: str) -> Runs:
    _, first, _ = run.run(impl, "robust_flow.py", [*base, "--crash-after-post"], storage=storage)
    _, second, tail = run.run(impl, "robust_flow.py", base, storage=storage)
    return [first, second], [tail]


def _fault_once(run: Runner, action: dict[str, Any]) -> None:
    run.control.add_fault(method="POST", path="/jobs$", action=action, times=1)


def _retry(run: Runner, impl: str, base: list[str], storage: str) -> Runs:
    _fault_once(run, {"create_then_reset": True})
    _, code, tail = run.run(impl, "robust_flow.py", [*base, "--retries", "1"], storage=storage)
    return [code], [tail]


def _concurrent(run: Runner, impl: str, base: list[str], storage: str) -> Runs:
    barrier = run.tmp / f"barrier-{impl}"
    args = [*base, "--barrier", str(barrier), "--parties", "2"]
    started = [run.start(impl, "robust_flow.py", args, storage=storage) for _ in range(2)]
    codes: list[int] = []
    tails: list[str] = []
    for process, logfile in started:
        _, code, tail = run.collect(process, logfile)
        codes.append(code)
        tails.append(tail)
    return codes, tails


def _client_retry(run: Runner, impl: str, base: list[str], storage: str) -> Runs:
    _fault_once(run, {"create_then_status": 502})
    _, code, tail = run.run(impl, "robust_flow.py", base, storage=storage)
    return [code], [tail]


_SCENARIO_RUNS: dict[str, Callable[[Runner, str, list[str], str], Runs]] = {
    "crash": _crash,
    "retry": _retry,
    "concurrent": _concurrent,
    "client-retry": _client_retry,
}


def _scenario(run: Runner, impl: str, number: int, scenario: str) -> dict[str, Any]:
    log(f"7 fault matrix: {impl}, {scenario}")
    run.reset()
    # Jobs wait in the queue for a while, as on a real device: a duplicate can be
    # cancelled before it runs.
    run.control.configure(queue_delay=FAULT_QUEUE_DELAY)
    base = ["--impl", "lib", "once", "--shots", str(300 + number)]
    codes, tails = _SCENARIO_RUNS[scenario](run, impl, base, f"faults-{impl}-{scenario}")
    time.sleep(0.5)  # let a cancel reach the emulator
    jobs = run.jobs()
    return {
        "created": len(jobs),
        "live": sum(job["status"] != "Cancelled" for job in jobs),
        "ran": sum(bool(job.get("running")) for job in jobs),
        "exit_codes": codes,
        "errors": [tail for tail in tails if tail],
    }


def w7_duplicates(run: Runner, libs: list[str]) -> dict[str, Any]:
    """Workload 7: jobs left running after each fault scenario (one per flow is right)."""
    out: dict[str, Any] = {}
    for impl in libs:
        for number, scenario in enumerate(SCENARIOS):
            out.setdefault(impl, {})[scenario] = _scenario(run, impl, number, scenario)
    return out
