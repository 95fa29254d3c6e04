"""`make bench`: native Qiskit vs this library vs the incumbent, on one emulator, in one run.

Usage::

    .venv/bin/python benchmarks/run.py [--quick] [--only 1,3,7] [--no-install] [--update-docs]

What it does:

1. Creates (once; a stamp file records what was installed) ``benchmarks/.venv-incumbent`` with
   ``qcsc-prefect-qiskit==0.3.0`` under the project's ``constraints.txt`` (same pins as ours), and
   ``benchmarks/.venv-qiskit1`` with qiskit 1.x for the cross-version load of workload 6.
2. Starts ONE Prefect server (``prefect server start``, SQLite, temporary home) and ONE Runtime
   emulator (``qcsc-runtime-emulator serve --noise none``) for the whole run.
3. Runs every workload in fresh processes (``benchmarks/workloads/*.py``): native and ours with
   this interpreter, the incumbent with its venv's interpreter; several repetitions each.
4. Prints a Markdown table (median and [min-max] over repetitions, ratios, target, verdict),
   writes it to ``benchmarks/results/latest.md``, the raw numbers to ``latest.json``
   (git-ignored) and a chart of the timing rows to ``latest.png`` (needs matplotlib; skipped with
   a message otherwise). ``--update-docs`` also refreshes the table in ``docs/performance.md``.

``--quick`` uses tiny sizes and one repetition (the smoke test); it implies ``--no-install``:
missing venvs are reported, not created. Absolute times on a shared 2-core machine are noisy;
compare the ratios measured within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
WORK = BENCH / "workloads"
RESULTS = BENCH / "results"
DOCS_PAGE = ROOT / "docs" / "performance.md"
INCUMBENT = "qcsc-prefect-qiskit==0.3.0"
INCUMBENT_VENV = BENCH / ".venv-incumbent"
QISKIT1_VENV = BENCH / ".venv-qiskit1"
QISKIT1_REQUIREMENTS = ["qiskit>=1.4,<2", "qiskit-ibm-runtime>=0.37,<0.52", "prefect"]
DOCS_BEGIN = "<!-- bench:begin -->"
DOCS_END = "<!-- bench:end -->"

sys.path.insert(0, str(WORK))
from _common import MARKER, count_requests  # noqa: E402


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class Sizes:
    overhead_processes: int = 2
    overhead_rounds: int = 5
    overhead_pubs: str = "1,20"
    digest_pubs: int = 100
    digest_ours_processes: int = 2
    digest_ours_reps: int = 5
    digest_incumbent_reps: int = 2
    in_flight_jobs: int = 100
    in_flight_queue_delay: float = 1.0
    in_flight_reps: dict[str, int] = field(
        default_factory=lambda: {"native": 1, "ours": 2, "incumbent": 1}
    )
    cached_jobs: int = 20
    cached_reruns: int = 2
    persisted_pubs: int = 100
    persisted_shots: int = 4096
    persisted_qubits: int = 20
    load_reps: int = 5


QUICK = Sizes(
    overhead_processes=1,
    overhead_rounds=1,
    overhead_pubs="1,2",
    digest_pubs=4,
    digest_ours_processes=1,
    digest_ours_reps=1,
    digest_incumbent_reps=1,
    in_flight_jobs=4,
    in_flight_queue_delay=0.2,
    in_flight_reps={"native": 1, "ours": 1, "incumbent": 1},
    cached_jobs=2,
    cached_reruns=1,
    persisted_pubs=4,
    persisted_shots=256,
    persisted_qubits=20,
    load_reps=2,
)


# --------------------------------------------------------------------------- venvs


def _pip_install(python: Path, args: list[str]) -> tuple[bool, str]:
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *args],
        capture_output=True,
        text=True,
    )
    lines = [line for line in proc.stderr.splitlines() if "is ignored" not in line]
    return proc.returncode == 0, "\n".join(lines[-6:])


def ensure_venv(path: Path, installs: list[list[str]], install: bool) -> tuple[Path | None, str]:
    """Create ``path`` with the pip ``installs`` once; a stamp records what was installed."""
    python = path / "bin" / "python"
    recipe = json.dumps(installs) + (ROOT / "constraints.txt").read_text()
    stamp_text = hashlib.sha256(recipe.encode()).hexdigest()
    stamp = path / ".bench-stamp"
    if python.exists() and stamp.exists() and stamp.read_text() == stamp_text:
        return python, "ready"
    if not install:
        return None, f"{path.name} is not installed (run without --quick/--no-install)"
    log(f"creating {path.relative_to(ROOT)} (once; about 1-3 minutes)")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    for args in installs:
        ok, tail = _pip_install(python, args)
        if not ok:
            return None, f"pip install {' '.join(args)} failed: {tail}"
    stamp.write_text(stamp_text)
    return python, "created"


def incumbent_venv(install: bool) -> tuple[Path | None, str]:
    return ensure_venv(
        INCUMBENT_VENV,
        [
            [
                "-c",
                str(ROOT / "constraints.txt"),
                INCUMBENT,
                "-e",
                str(ROOT / "packages" / "qcsc-runtime-emulator"),
            ]
        ],
        install,
    )


def qiskit1_venv(install: bool) -> tuple[Path | None, str]:
    """A venv with qiskit 1.x and prefect; the two libraries are put on PYTHONPATH per load."""
    QISKIT1_VENV.mkdir(parents=True, exist_ok=True)
    derived = QISKIT1_VENV / "constraints-no-qiskit.txt"
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    derived.write_text(
        "\n".join(line for line in lines if not line.strip().lower().startswith("qiskit")) + "\n"
    )
    return ensure_venv(
        QISKIT1_VENV,
        [
            ["-c", str(derived), *QISKIT1_REQUIREMENTS],
            ["--no-deps", "--target", str(QISKIT1_VENV / "incumbent-src"), INCUMBENT],
        ],
        install,
    )


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[Any]) -> None:
    """Stop a server this runner started (its own process group)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@contextlib.contextmanager
def prefect_server(tmp: Path) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env.update(
        PREFECT_HOME=str(tmp / "server-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
    )
    prefect_cli = Path(sys.executable).parent / "prefect"
    with open(tmp / "prefect-server.log", "w") as out:
        process = subprocess.Popen(
            [str(prefect_cli), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError("the Prefect server exited; see prefect-server.log")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(url + "/health", timeout=5) as response:
                    if response.status == 200:
                        break
            if time.monotonic() > deadline:
                raise RuntimeError("the Prefect server did not start within 180 s")
            time.sleep(0.5)
        yield url
    finally:
        stop(process)


@contextlib.contextmanager
def emulator(tmp: Path) -> Iterator[dict[str, Any]]:
    cli = Path(sys.executable).parent / "qcsc-runtime-emulator"
    errors = open(tmp / "emulator.log", "w")
    process = subprocess.Popen(
        [str(cli), "serve", "--port", "0", "--noise", "none"],
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the emulator did not start; see emulator.log")
        yield json.loads(line)
    finally:
        stop(process)
        errors.close()


# --------------------------------------------------------------------------- running workers


class Runner:
    """Starts workload processes against the shared servers and collects their records."""

    def __init__(self, tmp: Path, api_url: str, emu: dict[str, Any], pythons: dict[str, Path]):
        self.tmp = tmp
        self.api_url = api_url
        self.emu = emu
        self.pythons = pythons
        self.count = 0
        os.environ["QCSC_BENCH_CONTROL_URL"] = emu["control_url"]

    def env(self, storage: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.emu["env"])
        env.update(
            QCSC_BENCH_CONTROL_URL=self.emu["control_url"],
            PREFECT_API_URL=self.api_url,
            PREFECT_HOME=str(self.tmp / "client-home"),
            PREFECT_LOCAL_STORAGE_PATH=str(self.tmp / "storage" / storage),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            DO_NOT_TRACK="1",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra or {})
        return env

    def start(
        self,
        impl: str,
        script: str,
        args: list[str],
        storage: str = "default",
        extra_env: dict[str, str] | None = None,
        python: Path | None = None,
    ) -> tuple[subprocess.Popen[str], Path]:
        self.count += 1
        logfile = self.tmp / "logs" / f"{self.count:03d}-{Path(script).stem}-{impl}.log"
        logfile.parent.mkdir(parents=True, exist_ok=True)
        interpreter = python or self.pythons[impl]
        process = subprocess.Popen(
            [str(interpreter), str(WORK / script), *args],
            env=self.env(storage, extra_env),
            stdout=subprocess.PIPE,
            stderr=open(logfile, "w"),
            text=True,
            cwd=str(ROOT),
        )
        return process, logfile

    @staticmethod
    def collect(
        process: subprocess.Popen[str], logfile: Path, timeout: float = 900
    ) -> tuple[list[dict[str, Any]], int, str]:
        stdout, _ = process.communicate(timeout=timeout)
        records = [
            json.loads(line[len(MARKER) :])
            for line in stdout.splitlines()
            if line.startswith(MARKER)
        ]
        tail = ""
        if process.returncode not in (0,):
            tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-8:])
        return records, process.returncode, tail

    def run(
        self, impl: str, script: str, args: list[str], **kwargs: Any
    ) -> tuple[list[dict[str, Any]], int, str]:
        process, logfile = self.start(impl, script, args, **kwargs)
        return self.collect(process, logfile)

    # emulator control (never counted as runtime requests)
    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.emu["control_url"] + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def reset(self) -> None:
        self.control("POST", "/reset", {})

    def jobs(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "/jobs")["jobs"])

    def requests(self) -> dict[str, int]:
        return count_requests(self.control("GET", "/log")["log"])


# --------------------------------------------------------------------------- statistics


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float], scale: float = 1.0, digits: int = 0) -> str:
    """``median [min-max]`` (n)."""
    if not values:
        return "n/a"
    fmt = f"{{:.{digits}f}}"
    middle = fmt.format(med(values) * scale)
    if len(values) == 1:
        return middle
    low = fmt.format(min(values) * scale)
    high = fmt.format(max(values) * scale)
    return f"{middle} [{low}\u2013{high}]"


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# --------------------------------------------------------------------------- workloads


LIBS = ("ours", "incumbent")


def w1_overhead(run: Runner, sizes: Sizes, libs: list[str]) -> dict[str, Any]:
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


def w4_in_flight(run: Runner, sizes: Sizes, libs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": [], "failures": {}}
    for impl in ["native", *libs]:
        reps = sizes.in_flight_reps[impl]
        for index in range(reps):
            log(f"4 in flight: {impl}, {sizes.in_flight_jobs} jobs, rep {index + 1}/{reps}")
            run.reset()
            run.control("POST", "/config", {"queue_delay": sizes.in_flight_queue_delay})
            flag = "native" if impl == "native" else "lib"
            records, code, tail = run.run(
                impl, "in_flight.py", ["--impl", flag, "--jobs", str(sizes.in_flight_jobs)]
            )
            jobs = run.jobs()
            run.reset()
            if code != 0 or not records:
                out["failures"][impl] = tail
                continue
            created = [parse_time(job["created"]) for job in jobs]
            finished = [parse_time(job["finished"]) for job in jobs]
            done = [t for t in finished if t is not None]
            record = records[-1]
            record["makespan"] = max(done) - min(t for t in created if t is not None)
            record["jobs_seen"] = len(jobs)
            record["completed"] = sum(job["status"] == "Completed" for job in jobs)
            out["runs"].append(record)
    return out


def w5_cached(run: Runner, sizes: Sizes, libs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for impl in ["native", *libs]:
        run.reset()
        storage = f"cached-{impl}"
        flag = "native" if impl == "native" else "lib"
        args = ["--impl", flag, "cached", "--jobs", str(sizes.cached_jobs)]
        entry: dict[str, Any] = {"reruns": []}
        for index in range(1 + sizes.cached_reruns):
            what = "first run" if index == 0 else f"rerun {index}"
            log(f"5 cached rerun: {impl}, {what} ({sizes.cached_jobs} jobs)")
            run.control("DELETE", "/log")
            records, code, tail = run.run(impl, "robust_flow.py", args, storage=storage)
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


def w6_persisted(
    run: Runner, sizes: Sizes, libs: list[str], qiskit1: Path | None, qiskit1_note: str
) -> dict[str, Any]:
    out: dict[str, Any] = {"qiskit1_note": qiskit1_note}
    for impl in libs:
        run.reset()
        log(f"6 persisted result: {impl}, producing")
        records, code, tail = run.run(
            impl,
            "persisted.py",
            [
                "produce",
                "--pubs",
                str(sizes.persisted_pubs),
                "--shots",
                str(sizes.persisted_shots),
                "--qubits",
                str(sizes.persisted_qubits),
            ],
            storage=f"persisted-{impl}",
        )
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
            log(f"6 persisted result: {impl}, loading under qiskit 1.x")
            path = (
                ROOT / "packages" / "qcsc-prefect-qiskit" / "src"
                if impl == "ours"
                else QISKIT1_VENV / "incumbent-src"
            )
            records, code, tail = run.run(
                impl,
                "persisted.py",
                load_args,
                python=qiskit1,
                extra_env={"PYTHONPATH": str(path)},
            )
            entry["cross"] = records[-1] if records else {"ok": False, "error": tail}
        out[impl] = entry
    return out


SCENARIOS = {
    "crash": "process killed right after POST /jobs, then the flow is rerun",
    "retry": "POST /jobs creates the job, connection dropped; submit task retries=1",
    "concurrent": "2 identical flow runs in 2 processes at the same moment",
    "client-retry": "POST /jobs creates the job, then 502: the client posts again",
}


FAULT_QUEUE_DELAY = 1.0


def w7_duplicates(run: Runner, libs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for impl in libs:
        for number, scenario in enumerate(SCENARIOS):
            log(f"7 fault matrix: {impl}, {scenario}")
            run.reset()
            # Jobs wait in the queue for a while, as on a real device: a duplicate can be
            # cancelled before it runs.
            run.control("POST", "/config", {"queue_delay": FAULT_QUEUE_DELAY})
            shots = 300 + number
            storage = f"faults-{impl}-{scenario}"
            base = ["--impl", "lib", "once", "--shots", str(shots)]
            codes: list[int] = []
            tails: list[str] = []
            if scenario == "crash":
                _, code, _ = run.run(
                    impl, "robust_flow.py", [*base, "--crash-after-post"], storage=storage
                )
                codes.append(code)
                _, code, tail = run.run(impl, "robust_flow.py", base, storage=storage)
                codes.append(code)
                tails.append(tail)
            elif scenario == "retry":
                run.control(
                    "POST",
                    "/faults",
                    {
                        "method": "POST",
                        "path": "/jobs$",
                        "action": {"create_then_reset": True},
                        "times": 1,
                    },
                )
                _, code, tail = run.run(
                    impl, "robust_flow.py", [*base, "--retries", "1"], storage=storage
                )
                codes.append(code)
                tails.append(tail)
            elif scenario == "concurrent":
                barrier = run.tmp / f"barrier-{impl}"
                started = [
                    run.start(
                        impl,
                        "robust_flow.py",
                        [*base, "--barrier", str(barrier), "--parties", "2"],
                        storage=storage,
                    )
                    for _ in range(2)
                ]
                for process, logfile in started:
                    _, code, tail = run.collect(process, logfile)
                    codes.append(code)
                    tails.append(tail)
            else:
                run.control(
                    "POST",
                    "/faults",
                    {
                        "method": "POST",
                        "path": "/jobs$",
                        "action": {"create_then_status": 502},
                        "times": 1,
                    },
                )
                _, code, tail = run.run(impl, "robust_flow.py", base, storage=storage)
                codes.append(code)
                tails.append(tail)
            time.sleep(0.5)  # let a cancel reach the emulator
            jobs = run.jobs()
            live = [job for job in jobs if job["status"] != "Cancelled"]
            ran = [job for job in jobs if job.get("running")]
            out.setdefault(impl, {})[scenario] = {
                "created": len(jobs),
                "live": len(live),
                "ran": len(ran),
                "exit_codes": codes,
                "errors": [tail for tail in tails if tail],
            }
    return out


# --------------------------------------------------------------------------- report


@dataclass
class Row:
    number: str
    figure: str
    native: str
    ours: str
    incumbent: str
    ratio: str
    target: str
    met: str


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**no**")


def overhead_rows(data: dict[str, Any], libs: list[str]) -> tuple[list[Row], dict[str, Any]]:
    calls = data["calls"]
    by: dict[tuple[str, str, int, int, int], float] = {}
    for call in calls:
        if call["round"] >= 0:
            key = (call["impl"], call["variant"], call["pubs"], call["process"], call["round"])
            by[key] = call["seconds"]
    pub_counts = sorted({call["pubs"] for call in calls})
    rows: list[Row] = []
    chart: dict[str, Any] = {}
    for mode in ("simple", "robust"):
        for count in pub_counts:
            native = [v for (i, var, p, _, _), v in by.items() if i == "native" and p == count]
            overheads: dict[str, list[float]] = {}
            plain: list[float] = []
            for impl in libs:
                pairs = [
                    v - by[(impl, "plain", count, proc, rnd)]
                    for (i, var, p, proc, rnd), v in by.items()
                    if i == impl
                    and var == mode
                    and p == count
                    and (impl, "plain", count, proc, rnd) in by
                ]
                overheads[impl] = pairs
                plain += [
                    v
                    for (i, var, p, _, _), v in by.items()
                    if i == impl and var == "plain" and p == count
                ]
            ours = overheads.get("ours", [])
            inc = overheads.get("incumbent", [])
            ratio_text, ok = overhead_ratio(ours, inc)
            label = "Bell" if count == 1 else f"{count} pubs"
            rows.append(
                Row(
                    "1",
                    f"Per-task overhead over a plain `@task`, {mode} mode, {label} (ms)",
                    f"native call {spread(native, 1000)}; plain task {spread(plain, 1000)}",
                    spread(ours, 1000),
                    spread(inc, 1000) if "incumbent" in libs else "not run",
                    ratio_text,
                    "≤ 0.5\u00d7 incumbent",
                    verdict(ok),
                )
            )
            chart[f"{mode}\n{label}"] = {impl: overheads.get(impl, []) for impl in libs}
    return rows, chart


def overhead_ratio(ours: list[float], inc: list[float]) -> tuple[str, bool | None]:
    """Ratio of median overheads; a median at or below zero is reported as such."""
    if not ours or not inc:
        return "n/a", None
    o, i = med(ours), med(inc)
    if i <= 0:
        return f"incumbent {i * 1000:.0f} ms \u2264 0", o <= i
    if o <= 0:
        return f"ours \u2264 0 (incumbent +{i * 1000:.0f} ms)", True
    return f"{o / i:.2f}\u00d7", o / i <= 0.5


def request_rows(data: dict[str, Any], libs: list[str]) -> list[Row]:
    calls = data["calls"]
    cold = data.get("native_cold") or {}
    native_cold = sum(phase.get("total", 0) for phase in cold.values()) if cold else None
    native_steady = [
        c["requests"]["total"]
        for c in calls
        if c["impl"] == "native" and c["round"] >= 0 and c["pubs"] == 1
    ]
    ns = med(native_steady) if native_steady else None

    def lib_cold(impl: str) -> int | None:
        first = [
            c
            for c in calls
            if c["impl"] == impl
            and c["variant"] == "simple"
            and c["round"] == -1
            and c["process"] == 0
        ]
        return first[0]["requests"]["total"] if first else None

    def lib_steady(impl: str, variant: str) -> list[float]:
        return [
            c["requests"]["total"]
            for c in calls
            if c["impl"] == impl and c["variant"] == variant and c["round"] >= 0 and c["pubs"] == 1
        ]

    def detail(impl: str, variant: str) -> str:
        sample = [
            c
            for c in calls
            if c["impl"] == impl and c["variant"] == variant and c["round"] >= 0 and c["pubs"] == 1
        ]
        if not sample:
            return ""
        counts = sample[len(sample) // 2]["requests"]
        parts = [f"{k} {v}" for k, v in sorted(counts.items()) if k != "total"]
        return " (" + ", ".join(parts) + ")"

    cold_text = "n/a"
    if cold:
        phases = ", ".join(
            f"{name} {cold[name]['total']}" for name in ("construction", "submit", "fetch")
        )
        cold_text = f"{native_cold} ({phases})"
    rows = []
    ours_cold, inc_cold = lib_cold("ours"), lib_cold("incumbent")
    rows.append(
        Row(
            "2",
            "HTTP requests, first job in a fresh process "
            "(simple mode; native: build service, submit, fetch)",
            cold_text,
            "n/a" if ours_cold is None else str(ours_cold),
            "n/a" if inc_cold is None else str(inc_cold),
            "n/a"
            if ours_cold is None or native_cold is None
            else f"native {ours_cold - native_cold:+d}",
            "≤ native + 2",
            verdict(
                None if ours_cold is None or native_cold is None else ours_cold <= native_cold + 2
            ),
        )
    )
    for variant in ("simple", "robust"):
        ours = lib_steady("ours", variant)
        inc = lib_steady("incumbent", variant)
        delta = None if not ours or ns is None else med(ours) - ns
        rows.append(
            Row(
                "2",
                f"HTTP requests per later job, {variant} mode (Bell)",
                "n/a" if ns is None else f"{ns:g}{detail('native', 'native')}",
                ("n/a" if not ours else f"{med(ours):g}{detail('ours', variant)}"),
                ("n/a" if not inc else f"{med(inc):g}{detail('incumbent', variant)}"),
                "n/a" if delta is None else f"native {delta:+g}",
                "≤ native + 2",
                verdict(None if delta is None else delta <= 2),
            )
        )
    return rows


def digest_rows(data: dict[str, Any], libs: list[str]) -> tuple[list[Row], dict[str, Any]]:
    if "error" in data:
        return [
            Row("3", "Input digest", "", f"failed: {data['error'][-200:]}", "", "", "", "**no**")
        ], {}
    runs = data["runs"]
    times = {impl: [t for r in runs.get(impl, []) for t in r["seconds"]] for impl in libs}
    peaks = {impl: [r["peak_bytes"] for r in runs.get(impl, [])] for impl in libs}
    info = data.get("inputs", {})
    ours_t, inc_t = times.get("ours", []), times.get("incumbent", [])
    speedup = med(inc_t) / med(ours_t) if ours_t and inc_t else None
    ours_mb = max(peaks.get("ours", [0])) / 1e6 if peaks.get("ours") else None
    inc_mb = max(peaks.get("incumbent", [0])) / 1e6 if peaks.get("incumbent") else None
    size = f"{info.get('pubs', '?')} pubs \u00d7 {info.get('qubits', '?')}-qubit circuits"
    rows = [
        Row(
            "3",
            f"Input digest, {size}: time (ms)",
            "—",
            spread(ours_t, 1000),
            spread(inc_t, 1000) if inc_t else "not run",
            "n/a" if speedup is None else f"{speedup:.1f}\u00d7 faster",
            "≥ 15\u00d7 faster",
            verdict(None if speedup is None else speedup >= 15),
        ),
        Row(
            "3",
            "Input digest: peak traced memory (MB)",
            "—",
            "n/a" if ours_mb is None else f"{ours_mb:.1f}",
            "n/a" if inc_mb is None else f"{inc_mb:.1f}",
            "n/a" if not ours_mb or not inc_mb else f"{inc_mb / ours_mb:.0f}\u00d7 less",
            "≤ 10 MB",
            verdict(None if ours_mb is None else ours_mb <= 10),
        ),
    ]
    return rows, {"digest": {impl: times.get(impl, []) for impl in libs}}


def in_flight_rows(
    data: dict[str, Any], libs: list[str], sizes: Sizes
) -> tuple[list[Row], dict[str, Any]]:
    runs = data["runs"]
    impls = ["native", *libs]
    ratio = {i: [r["wall"] / r["makespan"] for r in runs if r["impl"] == i] for i in impls}
    wall = {i: [r["wall"] for r in runs if r["impl"] == i] for i in impls}
    threads = {i: [r["peak_threads"] for r in runs if r["impl"] == i] for i in impls}

    def cell(impl: str, values: dict[str, list[float]], digits: int = 2, scale: float = 1.0) -> str:
        if impl in data["failures"] and not values[impl]:
            return "failed"
        return spread(values[impl], scale, digits) if values[impl] else "not run"

    def walls(impl: str) -> str:
        return f"{cell(impl, ratio)} (wall {cell(impl, wall, 1)} s)"

    ours_r = med(ratio["ours"]) if ratio.get("ours") else None
    ours_t = max(threads["ours"]) if threads.get("ours") else None
    n = sizes.in_flight_jobs
    rows = [
        Row(
            "4",
            f"{n} jobs in flight from one flow (queue delay {sizes.in_flight_queue_delay:g} s): "
            "wall / emulator makespan",
            walls("native"),
            walls("ours"),
            walls("incumbent") if "incumbent" in libs else "not run",
            "n/a"
            if not wall.get("incumbent") or not wall.get("ours")
            else f"wall {med(wall['ours']) / med(wall['incumbent']):.2f}\u00d7",
            "≤ 1.5\u00d7",
            verdict(None if ours_r is None else ours_r <= 1.5),
        ),
        Row(
            "4",
            f"{n} jobs in flight: peak OS threads",
            cell("native", threads, 0),
            cell("ours", threads, 0),
            cell("incumbent", threads, 0) if "incumbent" in libs else "not run",
            "n/a"
            if not threads.get("incumbent") or not ours_t
            else f"{max(threads['incumbent']) / ours_t:.1f}\u00d7 fewer",
            "≤ 20 threads",
            verdict(None if ours_t is None else ours_t <= 20),
        ),
    ]
    return rows, {"in_flight_wall": wall}


def cached_rows(
    data: dict[str, Any], libs: list[str], sizes: Sizes
) -> tuple[list[Row], dict[str, Any]]:
    def reqs(impl: str) -> str:
        entry = data.get(impl, {})
        if "error" in entry:
            return "failed"
        reruns = entry.get("reruns", [])
        if not reruns:
            return "n/a"
        totals = [r["requests"]["total"] for r in reruns]
        jobs = [r["requests"].get("submit", 0) for r in reruns]
        return f"{med(totals):g} requests, {med(jobs):g} new jobs"

    def walls(impl: str) -> str:
        entry = data.get(impl, {})
        if "first" not in entry:
            return "n/a"
        reruns = [r["wall"] for r in entry.get("reruns", [])]
        return f"{spread(reruns, 1, 2)} s (first run {entry['first']['wall']:.2f} s)"

    ours = data.get("ours", {}).get("reruns", [])
    ours_total = max((r["requests"]["total"] for r in ours), default=None)
    n = sizes.cached_jobs
    inc_wall = [r["wall"] for r in data.get("incumbent", {}).get("reruns", [])]
    ours_wall = [r["wall"] for r in ours]
    rows = [
        Row(
            "5",
            f"Cached rerun of a {n}-job robust flow: requests to the Runtime",
            reqs("native") + " (no cache)",
            reqs("ours"),
            reqs("incumbent") if "incumbent" in libs else "not run",
            "—",
            "0 requests",
            verdict(None if ours_total is None else ours_total == 0),
        ),
        Row(
            "5",
            f"Cached rerun of a {n}-job flow: flow wall time",
            walls("native"),
            walls("ours"),
            walls("incumbent") if "incumbent" in libs else "not run",
            "n/a"
            if not inc_wall or not ours_wall
            else f"{med(ours_wall) / med(inc_wall):.2f}\u00d7",
            "—",
            "—",
        ),
    ]
    return rows, {
        "cached_wall": {i: [r["wall"] for r in data.get(i, {}).get("reruns", [])] for i in libs}
    }


def persisted_rows(
    data: dict[str, Any], libs: list[str], sizes: Sizes
) -> tuple[list[Row], dict[str, Any]]:
    def entry(impl: str) -> dict[str, Any]:
        return data.get(impl, {})

    def size(impl: str) -> str:
        e = entry(impl)
        if "produced" not in e:
            return "failed" if "error" in e else "not run"
        return f"{e['produced']['bytes'] / 1e6:.2f} ({e['produced']['serializer']})"

    def load(impl: str) -> str:
        e = entry(impl).get("load")
        if not e:
            return "not run"
        if not e.get("ok"):
            return "failed: " + e.get("error", "")[:80]
        ok = e.get("fingerprint") == entry(impl)["produced"]["fingerprint"]
        return spread(e["seconds"], 1000, 0) + ("" if ok else " (bits differ!)")

    def cross(impl: str) -> tuple[str, bool | None]:
        e = entry(impl)
        c = e.get("cross")
        if c is None:
            return f"not measured: {data.get('qiskit1_note', '')}", None
        if not c.get("ok"):
            return f"no (qiskit {c.get('qiskit', '?')}: {c.get('error', '')[:70]})", False
        exact = c.get("fingerprint") == e["produced"]["fingerprint"]
        return (
            f"yes (qiskit {c['qiskit']}, {med(c['seconds']) * 1000:.0f} ms, exact)"
            if exact
            else f"loads under {c['qiskit']} but bits differ"
        ), exact

    ours_bytes = entry("ours").get("produced", {}).get("bytes")
    inc_bytes = entry("incumbent").get("produced", {}).get("bytes")
    ours_load = entry("ours").get("load", {})
    ours_ms = med(ours_load["seconds"]) * 1000 if ours_load.get("ok") else None
    inc_load = entry("incumbent").get("load", {})
    inc_ms = med(inc_load["seconds"]) * 1000 if inc_load.get("ok") else None
    ours_cross, ours_ok = cross("ours")
    inc_cross, _ = cross("incumbent") if "incumbent" in libs else ("not run", None)
    x = "\u00d7"
    shape = (
        f"{sizes.persisted_pubs} pubs {x} {sizes.persisted_shots} shots {x} "
        f"{sizes.persisted_qubits} qubits"
    )
    rows = [
        Row(
            "6",
            f"Persisted fetch result, {shape}, uniformly random bits: MB on disk",
            "—",
            size("ours"),
            size("incumbent") if "incumbent" in libs else "not run",
            "n/a" if not ours_bytes or not inc_bytes else f"{ours_bytes / inc_bytes:.2f}\u00d7",
            "≤ 1.5 MB",
            verdict(None if ours_bytes is None else ours_bytes <= 1.5e6),
        ),
        Row(
            "6",
            "Persisted result: load time in a fresh process (ms)",
            "—",
            load("ours"),
            load("incumbent") if "incumbent" in libs else "not run",
            "n/a" if ours_ms is None or inc_ms is None else f"{ours_ms / inc_ms:.2f}\u00d7",
            "≤ 50 ms",
            verdict(None if ours_ms is None else ours_ms <= 50),
        ),
        Row(
            "6",
            "Persisted result: loads under another qiskit major version",
            "—",
            ours_cross,
            inc_cross,
            "—",
            "yes",
            verdict(ours_ok),
        ),
    ]
    chart = {
        "load_ms": {
            i: entry(i).get("load", {}).get("seconds", [])
            if entry(i).get("load", {}).get("ok")
            else []
            for i in libs
        }
    }
    return rows, chart


def duplicate_rows(data: dict[str, Any], libs: list[str]) -> list[Row]:
    rows = []
    totals: dict[str, int] = {}

    def cell(impl: str, scenario: str) -> str:
        e = data.get(impl, {}).get(scenario)
        if e is None:
            return "not run"
        dup = e["live"] - 1
        totals[impl] = totals.get(impl, 0) + max(dup, 0)
        text = f"{dup} ({e['created']} created, {e['live']} live)"
        if e["live"] == 0:
            text = "no job (flow failed)"
        if e["errors"]:
            text += " — flow failed"
        return text

    ours_ok = True
    for scenario, description in SCENARIOS.items():
        ours = cell("ours", scenario)
        inc = cell("incumbent", scenario) if "incumbent" in libs else "not run"
        e = data.get("ours", {}).get(scenario)
        ok = None if e is None else e["live"] == 1 and not e["errors"]
        ours_ok = ours_ok and bool(ok)
        rows.append(
            Row("7", f"Duplicate jobs: {description}", "—", ours, inc, "—", "0", verdict(ok))
        )
    rows.append(
        Row(
            "7",
            "Duplicate jobs, whole fault matrix (jobs beyond one per flow that were left to run)",
            "—",
            str(totals.get("ours", "n/a")),
            str(totals.get("incumbent", "not run")),
            "—",
            "0 (incumbent expected 2\u20133)",
            verdict(ours_ok if "ours" in data else None),
        )
    )
    return rows


def table(rows: list[Row]) -> str:
    header = (
        "| # | Figure | Native Qiskit | Ours | Incumbent 0.3.0 | Ours vs incumbent "
        "| Target (ours) | Met |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [r.number, r.figure, r.native, r.ours, r.incumbent, r.ratio, r.target, r.met]
        lines.append(
            "| " + " | ".join(c.replace("|", "/").replace("\n", " ") for c in cells) + " |"
        )
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 1e6:.1f} GB RAM"
    load = ""
    with contextlib.suppress(OSError, AttributeError):
        load = f", load average {os.getloadavg()[0]:.1f} at the end"
    versions = []
    for name in ("prefect", "qiskit", "qiskit-ibm-runtime", "qiskit-aer"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions.append(f"{name} {version(name)}")
    return (
        f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} CPUs{memory}{load}; "
        f"Python {platform.python_version()}; " + ", ".join(versions)
    )


def chart(path: Path, series: dict[str, Any], libs: list[str]) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "chart skipped: matplotlib is not installed in this venv (pip install matplotlib)"
    colors = {"ours": "#1f77b4", "incumbent": "#d62728", "native": "#7f7f7f"}
    panels = [
        ("Per-task overhead over a plain @task (ms)", series.get("overhead", {}), 1000, False),
        ("Input digest (ms, log scale)", {"100 pubs": series.get("digest", {})}, 1000, True),
        (
            "100 jobs in flight: flow wall time (s)",
            {"wall": series.get("in_flight_wall", {})},
            1,
            False,
        ),
        (
            "Cached 20-job rerun: flow wall; persisted result: load (ms)",
            {
                "cached rerun (ms)": {
                    k: [v * 1000 for v in vals] for k, vals in series.get("cached_wall", {}).items()
                },
                "load result (ms)": {
                    k: [v * 1000 for v in vals] for k, vals in series.get("load_ms", {}).items()
                },
            },
            1,
            False,
        ),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    for ax, (title, groups, scale, log_scale) in zip(axes.flat, panels, strict=True):
        names = list(groups)
        impls = [i for i in ["native", *libs] if any(i in groups[g] for g in names)]
        width = 0.8 / max(len(impls), 1)
        for k, impl in enumerate(impls):
            xs, heights, low, high = [], [], [], []
            for j, group in enumerate(names):
                values = [v * scale for v in groups[group].get(impl, [])]
                if not values:
                    continue
                m = statistics.median(values)
                xs.append(j + (k - (len(impls) - 1) / 2) * width)
                heights.append(m)
                low.append(m - min(values))
                high.append(max(values) - m)
            if xs:
                ax.bar(
                    xs,
                    heights,
                    width,
                    yerr=[low, high],
                    capsize=3,
                    label=impl,
                    color=colors.get(impl),
                )
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, fontsize=8)
        ax.set_title(title, fontsize=10)
        if log_scale:
            ax.set_yscale("log")
        ax.axhline(0, color="black", linewidth=0.5)
        ax.legend(fontsize=8)
    fig.suptitle("qcsc-prefect-qiskit benchmarks (median, bars = min\u2013max)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"chart written to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"


def update_docs(markdown: str) -> None:
    text = DOCS_PAGE.read_text() if DOCS_PAGE.exists() else ""
    if DOCS_BEGIN in text and DOCS_END in text:
        head, rest = text.split(DOCS_BEGIN, 1)
        _, tail = rest.split(DOCS_END, 1)
        DOCS_PAGE.write_text(f"{head}{DOCS_BEGIN}\n{markdown}\n{DOCS_END}{tail}")
    else:
        log(f"{DOCS_PAGE.relative_to(ROOT)} has no bench markers; not updated")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 repetition")
    parser.add_argument("--only", default="1,2,3,4,5,6,7", help="workloads to run, e.g. 1,3")
    parser.add_argument("--no-install", action="store_true", help="do not create missing venvs")
    parser.add_argument("--no-incumbent", action="store_true", help="skip the incumbent")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for latest.*")
    parser.add_argument("--update-docs", action="store_true", help="refresh docs/performance.md")
    args = parser.parse_args(argv)
    started = time.monotonic()
    sizes = QUICK if args.quick else Sizes()
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    install = not (args.quick or args.no_install)

    notes: list[str] = []
    pythons: dict[str, Path] = {"native": Path(sys.executable), "ours": Path(sys.executable)}
    libs = ["ours"]
    # The two venvs are independent: install them side by side (pip mostly waits on I/O).
    with ThreadPoolExecutor(max_workers=2) as pool:
        incumbent = None if args.no_incumbent else pool.submit(incumbent_venv, install)
        old_qiskit = pool.submit(qiskit1_venv, install) if "6" in only else None
        if incumbent is not None:
            python, note = incumbent.result()
            if python is None:
                notes.append(f"Incumbent not measured: {note}")
            else:
                pythons["incumbent"] = python
                libs.append("incumbent")
        qiskit1: Path | None = None
        qiskit1_note = "skipped"
        if old_qiskit is not None:
            qiskit1, qiskit1_note = old_qiskit.result()
            if qiskit1 is None:
                notes.append(f"Cross-version load not measured: {qiskit1_note}")
    setup_seconds = time.monotonic() - started

    raw: dict[str, Any] = {"sizes": sizes.__dict__, "libs": libs}
    rows: list[Row] = []
    series: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="qcsc-bench-") as tmp_name:
        tmp = Path(tmp_name)
        log("starting one Prefect server and one Runtime emulator (--noise none)")
        with prefect_server(tmp) as api_url, emulator(tmp) as emu:
            run = Runner(tmp, api_url, emu, pythons)
            if only & {"1", "2"}:
                data = w1_overhead(run, sizes, libs)
                raw["overhead"] = data
                if "1" in only:
                    new, series["overhead"] = overhead_rows(data, libs)
                    rows += new
                if "2" in only:
                    rows += request_rows(data, libs)
                for impl, tail in data["failures"].items():
                    notes.append(f"Workload 1/2, {impl}: a process failed: {tail[-300:]}")
            if "3" in only:
                data = w3_digest(run, sizes, libs)
                raw["digest"] = data
                new, extra = digest_rows(data, libs)
                rows += new
                series.update(extra)
            if "4" in only:
                data = w4_in_flight(run, sizes, libs)
                raw["in_flight"] = data
                new, extra = in_flight_rows(data, libs, sizes)
                rows += new
                series.update(extra)
                for impl, tail in data["failures"].items():
                    notes.append(f"Workload 4, {impl}: failed: {tail[-300:]}")
            if "5" in only:
                data = w5_cached(run, sizes, libs)
                raw["cached"] = data
                new, extra = cached_rows(data, libs, sizes)
                rows += new
                series.update(extra)
            if "6" in only:
                data = w6_persisted(run, sizes, libs, qiskit1, qiskit1_note)
                raw["persisted"] = data
                new, extra = persisted_rows(data, libs, sizes)
                rows += new
                series.update(extra)
            if "7" in only:
                data = w7_duplicates(run, libs)
                raw["duplicates"] = data
                rows += duplicate_rows(data, libs)
            log_dir = tmp / "logs"
            if args.quick and log_dir.exists():
                keep = args.out / "logs"
                shutil.rmtree(keep, ignore_errors=True)
                shutil.copytree(log_dir, keep)

    total = time.monotonic() - started
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    mode = "quick (tiny sizes; not representative)" if args.quick else "full"
    body = table(rows)
    lines = [
        f"# Benchmark results ({mode})",
        "",
        f"Run {stamp}; total {total / 60:.1f} min (venv set-up {setup_seconds:.0f} s).",
        f"Machine: {machine()}.",
        "",
        "Cells: median [min\u2013max] over repetitions, each in a fresh process, all against one "
        "emulator (`--noise none`) and one Prefect server. Overhead = library task \u2212 plain "
        "`@task` around the native call on a reused backend, paired within a round.",
        "",
        body,
    ]
    if notes:
        lines += ["", "Notes:", *[f"- {note}" for note in notes]]
    markdown = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(markdown)
    (args.out / "latest.json").write_text(json.dumps(raw, indent=1, default=str))
    chart_note = chart(args.out / "latest.png", series, libs)
    print()
    print(markdown)
    print(chart_note)
    if args.update_docs:
        update_docs(markdown.split("\n", 2)[2])
    log(f"done in {total / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
