"""``make load``: a multi-host load test on the running stack (``make stack-up`` first).

What it does, in one run:

1. **Baseline.** ``native.py`` submits the 200 jobs below with plain qiskit-ibm-runtime from one
   process against the stack's emulator and waits for all results. Its wall time is the whole
   script's, from process start to exit (imports, service, transpilation included), as the
   stack's is from flow-run creation to the last terminal state (every flow-run process's
   start-up included); the part from first submit to last result is printed beside it.
2. **Hosts.** Three simulated hosts (``--hosts``): ``prefect worker start`` processes on the pool
   ``qcsc-load``, each with its own HOME, PREFECT_HOME, lock directory and local storage; they
   share only what ``.stack/env`` names.
3. **Overlap.** Two deployments of ``flows.py:load_batch`` (``overlap-a``, ``overlap-b``); 10 flow
   runs each, created together, 10 jobs per run. Run ``k`` of A submits inputs ``10k..10k+9``,
   run ``k`` of B ``10k+5..10k+14``: 200 submissions of 105 distinct global-scope inputs, every
   shared input submitted by two hosts at about the same moment.
4. **Faults.** ``POST /jobs``: 503 (no job created) and create-then-reset (job created, response
   lost); status reads: 503 and 429 with ``Retry-After``.
5. **A host dies.** Once flow runs are running, one host's worker and its flow-run processes are
   SIGKILLed; its runs are put back to ``Scheduled`` (a rerun) and finish on the other hosts.

The emulator answers each request after ``--latency`` seconds (default 0.04 s: a nearby
service; IBM Quantum's round trips are longer), for the baseline and the stack alike.

``--runs`` (default 3) repeats all of it with fresh hosts, deployments, flow runs and inputs.
It prints, per run, jobs created, jobs live, distinct inputs, results fetched, requests per job
(and by kind), p50/p95 submit and fetch latency, throughput as a ratio to the baseline and the
CPU-seconds of the stack's services and flow-run processes; then the medians, and the CPU
profile of the last flow run of each run (cpu_profile.py). It exits non-zero unless, in every
run, created = live = distinct inputs and every result was fetched.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import qcsc_stack as stack

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
POOL = "qcsc-load"
RUNS_PER_DEPLOYMENT = 10
JOBS_PER_RUN = 10
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}
#: How often one flow run is put back to Scheduled after its infrastructure died.
MAX_RERUNS = 3


sys.path.insert(0, str(REPO / "benchmarks"))
import cpu_usage  # noqa: E402  (this directory)
import report  # noqa: E402  (this directory: what make load prints)
from runner.config import SERVICE_LATENCY  # noqa: E402  (the benchmarks' one latency model)


def plan() -> list[tuple[str, list[int]]]:
    """(deployment, input indices) for every flow run; A and B of the same k overlap by 5."""
    runs: list[tuple[str, list[int]]] = []
    for k in range(RUNS_PER_DEPLOYMENT):
        runs.append(("overlap-a", list(range(10 * k, 10 * k + JOBS_PER_RUN))))
        runs.append(("overlap-b", list(range(10 * k + 5, 10 * k + 5 + JOBS_PER_RUN))))
    return runs


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc), deepest last."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        for child in parents.get(current, []):
            found.append(child)
            todo.append(child)
    return found


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def run_native(env: dict[str, str], salt: float, indices: list[int], home: Path) -> dict[str, Any]:
    """Run the plain qiskit-ibm-runtime baseline in its own process."""
    native_env = stack.host_env(home, env)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(HERE / "native.py"), str(salt), json.dumps(indices)],
        env=native_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"native baseline failed:\n{result.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    data["script_seconds"] = time.perf_counter() - started
    return data


async def _deploy() -> dict[str, Any]:
    from prefect.flows import Flow

    source = await Flow.afrom_source(
        source=str(REPO), entrypoint="benchmarks/load/flows.py:load_batch"
    )
    ids = {}
    for name in ("overlap-a", "overlap-b"):
        with contextlib.redirect_stdout(io.StringIO()):  # Prefect's deployment table
            ids[name] = await source.adeploy(
                name=name, work_pool_name=POOL, build=False, push=False, print_next_steps=False
            )
    return ids


def job_variables(args: argparse.Namespace, index: int, profile_dir: Path) -> dict[str, Any]:
    """The process worker's variables for flow run ``index`` of :func:`plan`.

    ``--engine direct`` (the default) gives the command ``python -m prefect.engine``: one
    process per flow run. Without a command, Prefect 3.9's process worker starts a workspace
    supervisor that imports Prefect, runs the pull steps, then execs that same engine command:
    Prefect is imported twice per flow run (``--engine supervisor`` measures it). The last
    ``--profile`` flow runs are profiled (cpu_profile.py): ``profiled_engine.py`` is their
    command; under the supervisor, flows.py starts the sampler when the flow starts.
    """
    variables: dict[str, Any] = {}
    command = [sys.executable, "-m", "prefect.engine"]
    if index >= len(plan()) - args.profile:
        command = [sys.executable, str(HERE / "profiled_engine.py")]
        variables["env"] = {"QCSC_LOAD_PROFILE": str(profile_dir)}
    if args.engine == "direct":
        variables["command"] = shlex.join(command)
    return variables


async def _ensure_pool() -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.workers.process import ProcessWorker

    async with get_client() as client:
        with contextlib.suppress(ObjectAlreadyExists):
            await client.create_work_pool(
                WorkPoolCreate(
                    name=POOL,
                    type="process",
                    base_job_template=ProcessWorker.get_default_base_job_template(),
                )
            )


async def _drive(
    args: argparse.Namespace, salt: float, workers: dict[str, int], profile_dir: Path
) -> tuple[float, list[Any], int]:
    """Create the runs, kill a host mid-run, reschedule its runs; return wall, runs, reruns."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.states import Scheduled

    deployments = await _deploy()
    async with get_client() as client:
        start = time.perf_counter()
        created = await asyncio.gather(  # every pair A_k, B_k at the same moment
            *(
                client.create_flow_run_from_deployment(
                    deployments[deployment],
                    parameters={"salt": salt, "indices": indices},
                    job_variables=job_variables(args, index, profile_dir),
                )
                for index, (deployment, indices) in enumerate(plan())
            )
        )
        run_ids = [run.id for run in created]
        killed: set[int] = set()
        killed_at: float | None = None
        pending_at_kill: set[Any] = set()
        reruns: dict[Any, int] = {}  # run id -> times put back to Scheduled
        rescheduled = 0
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            found = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=run_ids))
            )
            by_id = {run.id: run for run in found}
            runs = [by_id[run_id] for run_id in run_ids if run_id in by_id]
            states = [run.state.type.value if run.state else "NONE" for run in runs]
            running = [run for run, state in zip(runs, states, strict=True) if state == "RUNNING"]
            if not killed and len(running) >= args.kill_after_running:
                victim = _pick_victim(workers, running)
                if victim is not None:
                    name, pid = victim
                    tree = [pid, *_children(pid)]
                    for member in tree:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(member, signal.SIGKILL)
                    killed = set(tree)
                    killed_at = time.monotonic()
                    pending_at_kill = {
                        run.id
                        for run, state in zip(runs, states, strict=True)
                        if state == "PENDING" and not run.infrastructure_pid
                    }
                    workers.pop(name)
                    print(f"[load] SIGKILLed {name} and {len(tree) - 1} flow-run processes")
            changed = False
            for run, state in zip(runs, states, strict=True):
                if reruns.get(run.id, 0) >= MAX_RERUNS:
                    continue
                if state == "CRASHED":
                    pass  # infrastructure failure (here: the dead host, or a broken checkout)
                elif killed_at is None or run.id in reruns:
                    continue
                elif not _orphaned(run, state, killed, pending_at_kill):
                    continue
                elif run.id in pending_at_kill and time.monotonic() - killed_at < 30:
                    continue  # claimed but not started: give a live host time to start it
                await client.set_flow_run_state(
                    run.id, Scheduled(message="rerun after host loss"), force=True
                )
                reruns[run.id] = reruns.get(run.id, 0) + 1
                rescheduled += 1
                changed = True
            if (
                not changed
                and len(runs) == len(run_ids)
                and all(state in TERMINAL for state in states)
            ):
                return time.perf_counter() - start, runs, rescheduled
            await asyncio.sleep(2.0)
        raise SystemExit(f"load test did not finish within {args.timeout} s: {states}")


def _pick_victim(workers: dict[str, int], running: list[Any]) -> tuple[str, int] | None:
    """The worker that runs the most of the currently running flow runs."""
    busy = {int(run.infrastructure_pid) for run in running if run.infrastructure_pid}
    best: tuple[int, str, int] | None = None
    for name, pid in workers.items():
        mine = len(busy & set(_children(pid)))
        if mine and (best is None or mine > best[0]):
            best = (mine, name, pid)
    return None if best is None else (best[1], best[2])


def _orphaned(run: Any, state: str, killed: set[int], pending_at_kill: set[Any]) -> bool:
    """A run the dead host held: its process was killed, or it was claimed but never started."""
    if state == "CRASHED":
        return True
    if state not in ("RUNNING", "PENDING"):
        return False
    if run.infrastructure_pid:
        pid = int(run.infrastructure_pid)
        return pid in killed and not _pid_alive(pid)
    return state == "PENDING" and run.id in pending_at_kill


async def _results(runs: list[Any]) -> list[dict[str, Any]]:
    reports: list[dict[str, Any]] = []
    for run in runs:
        if run.state is None or not run.state.is_completed():
            reports.append({})
            continue
        reports.append(await run.state.result())
    return reports


def _inject_faults(control: Any) -> None:
    control.clear_faults()
    control.add_fault("POST", r"/jobs$", {"status": 503}, times=4)
    control.add_fault("POST", r"/jobs$", {"create_then_reset": True}, times=3)
    control.add_fault("GET", r"/jobs/[^/]+$", {"status": 503}, times=10)
    control.add_fault(
        "GET", r"/jobs/[^/]+$", {"status": 429, "headers": {"Retry-After": "1"}}, times=5
    )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="multi-host load test on the running stack")
    parser.add_argument("--runs", type=int, default=3, help="measurements; the median is printed")
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--limit", type=int, default=2, help="flow runs per host at once")
    parser.add_argument("--kill-after-running", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--skip-native", action="store_true", help="debugging: no baseline")
    parser.add_argument(
        "--profile", type=int, default=1, help="flow runs per measurement with a CPU profile"
    )
    parser.add_argument(
        "--engine",
        choices=("direct", "supervisor"),
        default="direct",
        help="flow-run command: python -m prefect.engine, or Prefect's workspace supervisor",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=SERVICE_LATENCY,
        help="seconds the emulator waits before answering each request (models the network)",
    )
    return parser.parse_args()


def main() -> int:
    """Run the load test ``--runs`` times; print each run, the medians, requests and profile.

    Non-zero when any run created a duplicate or lost a result.
    """
    args = _arguments()
    stack_dir = args.stack_dir = Path(os.environ.get("QCSC_STACK_DIR", REPO / ".stack"))
    env_path = stack_dir / "env"
    if not env_path.exists():
        print(f"{env_path} not found: run `make stack-up` first", file=sys.stderr)
        return 2
    env = stack.read_env_file(env_path)
    root = stack_dir / "load" / time.strftime("%Y%m%d-%H%M%S")
    os.environ.update(env)

    from qcsc_runtime_emulator import EmulatorControl

    control = EmulatorControl(env["QCSC_EMULATOR_URL"])
    control.clear_faults()
    latency_before = control.config().get("latency", 0.0)
    control.configure(latency=args.latency)
    print(f"[load] emulator latency: {args.latency * 1000:.0f} ms per request; {args.runs} runs")
    summaries: list[dict[str, Any]] = []
    profiles: list[dict[str, Any]] = []
    try:
        for number in range(1, args.runs + 1):
            work = root / f"run-{number}"
            work.mkdir(parents=True)
            os.environ["PREFECT_HOME"] = str(work / "driver-home")
            os.environ["PREFECT_LOCAL_STORAGE_PATH"] = str(work / "driver-storage")
            print(f"[load] run {number} of {args.runs}")
            summaries.append(_measure(args, env, work, control))
            profiles += report.read_profiles(work / "profile")
    finally:
        control.configure(latency=latency_before)
    return _print_all(args, summaries, profiles, root)


def _print_all(
    args: argparse.Namespace,
    summaries: list[dict[str, Any]],
    profiles: list[dict[str, Any]],
    root: Path,
) -> int:
    medians = report.print_runs(summaries)
    report.print_kinds(summaries)
    report.print_cpu(summaries)
    report.print_profile(profiles)
    result = {"engine": args.engine, "median": medians, "runs": summaries}
    (root / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    (root / "profiles.json").write_text(json.dumps(profiles, indent=1) + "\n")
    print("RESULT " + json.dumps({"median": medians, "runs": len(summaries)}))
    failed = [i + 1 for i, s in enumerate(summaries) if s["verdict"] != "PASS"]
    if failed:
        print(f"[load] FAIL: duplicates or lost results in run(s) {failed}")
        return 1
    print(f"[load] PASS: exactly-once held in all {len(summaries)} runs")
    return 0


def _measure(
    args: argparse.Namespace, env: dict[str, str], work: Path, control: Any
) -> dict[str, Any]:
    """Run the baseline, then the hosts; return the run's figures (``verdict``: PASS/FAIL)."""
    salt = round(random.uniform(0.1, 3.0), 6)
    submissions = [index for _, indices in plan() for index in indices]

    print(f"[load] baseline: {len(submissions)} native SamplerV2 jobs from one process")
    native: dict[str, Any] = (
        {"wall_seconds": float("nan"), "script_seconds": float("nan"), "job_ids": []}
        if args.skip_native
        else run_native(env, salt + 10.0, submissions, work / "native-host")
    )
    print(
        f"[load] baseline: script {native['script_seconds']:.1f} s "
        f"(first submit to last result {native['wall_seconds']:.1f} s)"
    )

    before = {job["id"] for job in control.jobs()}
    services = cpu_usage.service_pids(args.stack_dir)
    cpu_before = cpu_usage.snapshot(services)
    asyncio.run(_ensure_pool())
    workers: dict[str, int] = {}
    for index in range(args.hosts):
        name = f"load-host-{index + 1}"
        workers[name] = stack.start_host_worker(
            work / "hosts" / name,
            env,
            pool=POOL,
            name=f"{name}-{uuid.uuid4().hex[:6]}",
            limit=args.limit,
            cwd=REPO,
        )
    print(f"[load] {args.hosts} hosts started; {len(plan())} flow runs x {JOBS_PER_RUN} jobs")
    control.clear_log()
    _inject_faults(control)
    try:
        wall, runs, rescheduled = asyncio.run(_drive(args, salt, workers, work / "profile"))
        cpu = _cpu_spent(cpu_before, cpu_usage.snapshot(services), wall)
        cpu.update(cpu_usage.hosts_cpu(workers, work / "hosts"))
        reports = asyncio.run(_results(runs))
    finally:
        for pid in workers.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
        control.clear_faults()

    log = [entry for entry in control.log() if entry.get("kind") != "control"]
    jobs = [job for job in control.jobs() if job["id"] not in before | set(native["job_ids"])]
    summary = _summarize(args, native, wall, runs, rescheduled, reports, log, jobs)
    summary["cpu_s"] = cpu
    print("[load] run: " + json.dumps(summary))
    (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _cpu_spent(before: dict[str, float], after: dict[str, float], wall: float) -> dict[str, float]:
    """CPU-seconds each service used during the stack phase, and what the machine had."""
    spent = {name: round(after[name] - before.get(name, 0.0), 1) for name in after}
    spent["machine capacity"] = round(wall * (os.cpu_count() or 1), 1)
    spent["load average (1 min), end"] = round(os.getloadavg()[0], 1)
    return spent


def _summarize(
    args: argparse.Namespace,
    native: dict[str, Any],
    wall: float,
    runs: list[Any],
    rescheduled: int,
    reports: list[dict[str, Any]],
    log: list[dict[str, Any]],
    jobs: list[dict[str, Any]],
) -> dict[str, Any]:
    """One run's figures, and whether exactly-once held (``verdict``)."""
    submissions = [index for _, indices in plan() for index in indices]
    distinct = len(set(submissions))
    live = [job for job in jobs if job["status"] not in ("Cancelled", "Failed")]
    by_digest: dict[str, set[str]] = {}
    for batch in reports:
        for digest, job_id in batch.get("jobs", {}).items():
            by_digest.setdefault(digest, set()).add(job_id)
    fetched = sum(batch.get("fetched", 0) for batch in reports)
    submit_s = [s for batch in reports for s in batch.get("submit_seconds", [])]
    fetch_s = [s for batch in reports for s in batch.get("fetch_seconds", [])]
    completed = sum(1 for run in runs if run.state and run.state.is_completed())
    kinds = report.request_kinds(log)
    ok = (
        len(jobs) == len(live) == distinct
        and fetched == len(submissions)
        and completed == len(runs)
        and len(by_digest) == distinct
        and all(len(ids) == 1 for ids in by_digest.values())
    )
    return {
        "flow_runs": len(runs),
        "flow_runs_completed": completed,
        "flow_runs_rescheduled": rescheduled,
        "submissions": len(submissions),
        "jobs_created": len(jobs),
        "jobs_live": len(live),
        "distinct_inputs": distinct,
        "inputs_with_one_job_id": sum(1 for ids in by_digest.values() if len(ids) == 1),
        "results_fetched": fetched,
        "results_lost": len(submissions) - fetched,
        "requests_per_job": round(len(log) / max(1, len(jobs)), 2),
        "requests_by_kind": {**kinds, "total": len(log)},
        "submit_latency_p50_s": _quantile(submit_s, 0.5),
        "submit_latency_p95_s": _quantile(submit_s, 0.95),
        "fetch_latency_p50_s": _quantile(fetch_s, 0.5),
        "fetch_latency_p95_s": _quantile(fetch_s, 0.95),
        "stack_wall_s": round(wall, 1),
        "native_script_wall_s": round(native["script_seconds"], 1),
        "native_submit_to_results_s": round(native["wall_seconds"], 1),
        "throughput_ratio_vs_native": round(native["script_seconds"] / wall, 2),
        "emulator_latency_s": args.latency,
        "engine": args.engine,
        "verdict": "PASS" if ok else "FAIL",
    }


def _quantile(values: list[float], q: float) -> float | None:
    return round(percentile(values, q), 3) if values else None


if __name__ == "__main__":
    raise SystemExit(main())
