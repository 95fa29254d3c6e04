"""`make example-sqd`: the SQD flow end to end, offline, then a crash and a rerun.

It starts a Prefect server (SQLite, in the state directory) and the Qiskit Runtime emulator,
then runs ``flow.py`` three times, each in a new process, as a user would:

1. ``first``: a fresh run: it submits and downloads, then computes the energy;
2. ``crashed``: with fresh caches and a fresh emulator, ``--crash-after-sampling``: the jobs run
   and their results are downloaded, then the classical half fails;
3. ``rerun``: the same command without the flag, on the crashed run's caches: it must create
   0 jobs, download 0 results and find the first run's energy.

It prints one ``RESULT {...}`` line for ``first`` and one for ``rerun`` and exits non-zero if a
promise is broken (a job or download on rerun, a different energy, a non-variational energy).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qcsc_runtime_emulator import RuntimeEmulator

if TYPE_CHECKING:
    from collections.abc import Iterator

HERE = Path(__file__).resolve().parent
STATE = Path(os.environ.get("QCSC_SQD_STATE") or HERE.parents[1] / ".sqd-state")
#: The energies of the first run and the rerun must agree to this (Hartree).
SAME_ENERGY = 1e-8


@dataclass(frozen=True)
class Run:
    """One ``flow.py`` process: its exit code, what it printed and what it cost the service."""

    label: str
    returncode: int
    summary: dict[str, Any] | None
    jobs_created: int
    result_downloads: int
    seconds: float


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """A Prefect server on loopback with its SQLite database under ``home``; yields its API URL."""
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    command = [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host",
               "127.0.0.1", "--port", str(port), "--no-ui"]  # fmt: skip
    log = (home / "server.log").open("wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api"
    try:
        _wait_healthy(url, server, timeout=120)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _wait_healthy(url: str, server: subprocess.Popen[bytes], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the Prefect server stopped (exit {server.returncode}): see its log")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the Prefect server did not answer within {timeout:.0f} s")


def _service_totals(emulator: RuntimeEmulator) -> tuple[int, int]:
    """Jobs the emulator holds and results it served, over all jobs."""
    jobs = emulator.control.jobs()
    return len(jobs), sum(int(job.get("result_reads", 0)) for job in jobs)


def run_flow(label: str, emulator: RuntimeEmulator, env: dict[str, str], *flags: str) -> Run:
    """Run ``flow.py`` in a new process and measure what it asked of the service."""
    jobs_before, reads_before = _service_totals(emulator)
    print(f"\n=== {label}: flow.py {' '.join(flags)}".rstrip(), flush=True)
    started = time.monotonic()
    process = subprocess.run(
        [sys.executable, str(HERE / "flow.py"), "--output-dir", str(STATE / "plots"), *flags],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    print(process.stdout, end="", flush=True)
    summaries = [line[4:] for line in process.stdout.splitlines() if line.startswith("SQD {")]
    jobs_after, reads_after = _service_totals(emulator)
    return Run(
        label=label,
        returncode=process.returncode,
        summary=json.loads(summaries[-1]) if summaries else None,
        jobs_created=jobs_after - jobs_before,
        result_downloads=reads_after - reads_before,
        seconds=seconds,
    )


def _flow_env(api_url: str, emulator: RuntimeEmulator, caches: Path) -> dict[str, str]:
    """The environment of one flow process: this Prefect, this emulator, these caches."""
    return {
        **os.environ,
        **emulator.env(),
        "PREFECT_API_URL": api_url,
        "PREFECT_HOME": str(caches / "prefect-home"),
        "PREFECT_LOCAL_STORAGE_PATH": str(caches / "prefect-storage"),
        "QCSC_QISKIT_LOCK_DIR": str(caches / "locks"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        # One BLAS thread: threaded sums change the last bits of CCSD and of ffsim's
        # factorization from process to process, and with them the transpiled circuit (another
        # digest, another job). Two Dask worker processes use the 2 cores anyway.
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
    }


def result_line(run: Run) -> str:
    """The ``RESULT {...}`` line of a completed run."""
    summary = run.summary or {}
    fields = {
        "run": run.label,
        "jobs_created": run.jobs_created,
        "result_downloads": run.result_downloads,
        "energy": summary.get("energy"),
        "reference_energy": summary.get("reference_energy"),
        "hartree_fock_energy": summary.get("hartree_fock_energy"),
        "iterations": summary.get("iterations"),
    }
    return "RESULT " + json.dumps(fields)


def broken_promises(first: Run, crashed: Run, rerun: Run) -> list[str]:
    """Every way the three runs fall short of what the example promises."""
    problems = []
    if first.summary is None or rerun.summary is None:
        return ["the first run or the rerun did not finish: see its output above"]
    if first.jobs_created < 1 or first.result_downloads < 1:
        problems.append("the first run created no job or downloaded no result")
    if crashed.returncode == 0:
        problems.append("--crash-after-sampling did not make the flow fail")
    if crashed.jobs_created < 1:
        problems.append("the crashed run created no job: its rerun proves nothing")
    if rerun.jobs_created != 0 or rerun.result_downloads != 0:
        problems.append("the rerun asked the service again (jobs or result downloads)")
    if abs(first.summary["energy"] - rerun.summary["energy"]) > SAME_ENERGY:
        problems.append("the rerun found another energy than the first run")
    if first.summary["energy"] > first.summary["hartree_fock_energy"]:
        problems.append("the SQD energy is above Hartree-Fock (not variational)")
    return problems


def artifact_keys(api_url: str) -> set[str]:
    """The keys of every artifact the runs published (read from the Prefect API)."""
    request = urllib.request.Request(
        f"{api_url}/artifacts/filter",
        data=json.dumps({"limit": 200}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return {item["key"] for item in json.load(response) if item.get("key")}


def missing_artifacts(keys: set[str]) -> list[str]:
    """The artifacts a user would look at, and that the runs did not publish."""
    wanted = ["sqd-summary", "sqd-iteration-1"]
    problems = [f"no '{key}' artifact was published" for key in wanted if key not in keys]
    if not any(key.startswith("qiskit-usage-") for key in keys):
        problems.append("no usage table artifact was published")
    return problems


def main() -> int:
    shutil.rmtree(STATE, ignore_errors=True)
    (STATE / "prefect-server").mkdir(parents=True)
    started = time.monotonic()
    emulator = RuntimeEmulator(state_dir=STATE / "emulator").start()
    try:
        with prefect_server(STATE / "prefect-server") as api_url:
            first = run_flow("first", emulator, _flow_env(api_url, emulator, STATE / "first"))
            emulator.reset()  # the crash scenario starts from nothing, like a fresh clone
            crash_env = _flow_env(api_url, emulator, STATE / "crash")
            crashed = run_flow("crashed", emulator, crash_env, "--crash-after-sampling")
            rerun = run_flow("rerun", emulator, crash_env)
            artifacts = artifact_keys(api_url)
    finally:
        emulator.stop()
    print()
    for run in (first, crashed, rerun):
        print(f"{run.label}: exit {run.returncode}, {run.seconds:.1f} s, {run.jobs_created} "
              f"job(s) created, {run.result_downloads} result download(s)")  # fmt: skip
    print(f"total {time.monotonic() - started:.1f} s")
    print(result_line(first))
    print(result_line(rerun))
    problems = broken_promises(first, crashed, rerun) + missing_artifacts(artifacts)
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
